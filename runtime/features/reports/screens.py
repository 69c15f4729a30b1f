"""The dashboards screens: ``/dashboards`` (the boards the viewer may see, a new board)
and ``/dashboards/<id>`` (the grid). The pages are shells: ``js/dashboards.js`` reads
the board and every widget's result from the reports API in one request, draws the
charts with ECharts from the server's option JSON and saves the layout as it changes."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, redirect, render_template
from flask_login import current_user, login_required

from runtime.definition.model import Label
from runtime.features.screens import NavItem

NAV_LABEL = Label({"en": "Dashboards", "zh": "仪表板"})


def _service():
    from runtime.features.reports.api import _service as service

    return service()


def _principal():
    return current_user.principal


@login_required
def dashboards():
    boards = _service().boards(_principal())
    return render_template("runtime/dashboards.html", boards=boards)


@login_required
def dashboard(board_id: str):
    service = _service()
    board = service.board(_principal(), board_id)
    if board is None:
        abort(404)
    return render_template(
        "runtime/dashboard.html", board=board, editable=bool(service.may_edit(_principal(), board))
    )


@login_required
def reports():
    return redirect("/dashboards")


def routes():
    return (
        ("/dashboards", "dashboards", dashboards, ("GET",)),
        ("/dashboards/<board_id>", "dashboard", dashboard, ("GET",)),
        ("/reports", "reports", reports, ("GET",)),
    )


def nav_items(_model) -> list[NavItem]:
    return [NavItem(NAV_LABEL, "/dashboards", icon="chart")]


def register(app: Flask) -> None:
    """The ``dashboards`` blueprint (made per app: nothing is registered on import)."""
    bp = Blueprint("dashboards", __name__)
    for rule, endpoint, view, methods in routes():
        bp.add_url_rule(rule, endpoint, view, methods=list(methods))
    app.register_blueprint(bp)


__all__ = ["nav_items", "register", "routes"]
