"""The reports JSON API (blueprint ``reports_api`` under ``/api/v1``), made per app by
``register``; boards' pages (``screens*.py``) are built on it.

==============================================  ==========================================
``GET    /dashboards``                          the boards the viewer sees
``GET    /dashboards/<id>``                     one board: filters, widgets with layouts
``GET    /dashboards/<id>/data?<filter>=...``   every widget's result, in one request
``GET    /dashboards/<id>/widgets/<w>/data``    one widget's result
``GET    /dashboards/<id>/widgets/<w>/export``  its data as ``?format=csv`` or ``xlsx``
``POST   /widgets/preview``                     a widget configuration's result (editor)
``POST   /widgets/export?format=csv|xlsx``      a configuration's data as a file
``POST   /dashboards``                          a personal board (``shared_roles/teams``)
``PUT    /dashboards/<id>``                     replace it (owner only)
``PUT    /dashboards/<id>/layout``              ``{"layout": {widget id: {x,y,w,h}}}``
``DELETE /dashboards/<id>``                     remove it (owner only)
==============================================  ==========================================
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from flask_login import current_user

from runtime.features.reports.service import ConfigInvalid, ReportService
from runtime.web.i18n import get_timezone

SERVICE_KEY = "trellis_reports"


class ApiRefusal(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _service() -> ReportService:
    return current_app.extensions[SERVICE_KEY]


def _json(payload: Any, status: int = 200) -> Response:
    from runtime.web.api import json_response

    return json_response(payload, status)


def _user():
    if not current_user or not current_user.is_authenticated:
        raise ApiRefusal(401, "unauthorized", "Sign in, or send a valid API key.")
    return current_user.principal


def _locale(user) -> str:
    locales = list(_service().model.locales)
    if request.headers.get("Accept-Language"):
        best = request.accept_languages.best_match(locales)
        if best:
            return best
    return getattr(user, "locale", None) or (locales[0] if locales else "en")


def _context(user):
    today = datetime.now(get_timezone()).date()
    locale = _locale(user)
    # option and link labels come from the store in the principal's language
    viewer = replace(user, locale=locale) if getattr(user, "locale", locale) != locale else user
    return _service().context(viewer, locale, today, "/e/{entity}")


def _board_or_404(user, board_id: str) -> dict:
    board = _service().board(user, board_id)
    if board is None:
        raise ApiRefusal(404, "not_found", f"no dashboard '{board_id}'")
    return board


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiRefusal(400, "bad_request", "send a JSON object", field="")
    return body


def _values() -> dict[str, str]:
    return {k: v for k, v in request.args.items() if k not in ("format",)}


# --------------------------------------------------------------------------- reading


def list_boards():
    user = _user()
    boards = _service().boards(user)
    return _json({"data": [_summary(b, user) for b in boards]})


def _summary(board: dict, user) -> dict:
    return {
        "id": board["id"],
        "label": board.get("label"),
        "stored": board.get("stored", False),
        "editable": bool(_service().may_edit(user, board)),
        "widgets": len(board.get("widgets") or []),
    }


def get_board(board_id: str):
    user = _user()
    board = _board_or_404(user, board_id)
    return _json({**board, "editable": bool(_service().may_edit(user, board))})


def board_data(board_id: str):
    user = _user()
    board = _board_or_404(user, board_id)
    ctx = _context(user)
    results = [_service().run(ctx, w, board, _values()) for w in board["widgets"]]
    return _json({"id": board["id"], "widgets": results})


def _widget_of(board: dict, widget_id: str) -> dict:
    found = next((w for w in board["widgets"] if w.get("id") == widget_id), None)
    if found is None:
        raise ApiRefusal(404, "not_found", f"no widget '{widget_id}'")
    return found


def widget_data(board_id: str, widget_id: str):
    user = _user()
    board = _board_or_404(user, board_id)
    return _json(_service().run(_context(user), _widget_of(board, widget_id), board, _values()))


def preview():
    user = _user()
    body = _body()
    widget = {k: v for k, v in body.items() if k != "board_filters"}
    widget.setdefault("id", "preview")
    _service().check_widget(widget)
    return _json(_service().run(_context(user), widget, None, {}))


def export_widget(board_id: str, widget_id: str):
    user = _user()
    board = _board_or_404(user, board_id)
    widget = _widget_of(board, widget_id)
    return _export(_service().run(_context(user), widget, board, _values()), widget)


def export_preview():
    user = _user()
    widget = {**_body()}
    widget.setdefault("id", "export")
    _service().check_widget(widget)
    return _export(_service().run(_context(user), widget, None, {}), widget)


def _export(result: dict, widget: dict):
    from runtime.features.reports.export import export_table
    from runtime.web.export import stream_csv, stream_file, write_xlsx

    if "error" in result:
        raise ApiRefusal(400, result["error"]["code"], result["error"]["message"])
    fmt = request.args.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        raise ApiRefusal(400, "bad_query", "format: csv or xlsx", param="format")
    headers, rows = export_table(result)
    name = f"{widget.get('id') or 'widget'}.{fmt}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "csv":
        return Response(stream_csv(headers, iter(rows)), mimetype="text/csv", headers=disposition)
    path = write_xlsx(result.get("title") or name, headers, iter(rows))
    mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(stream_file(path), mimetype=mimetype, headers=disposition)


# --------------------------------------------------------------------------- writing


def _sharing(body: dict) -> tuple[dict, list[str], list[int]]:
    roles = body.pop("shared_roles", []) or []
    teams = body.pop("shared_teams", []) or []
    for key in ("stored", "owner_id", "version", "editable"):
        body.pop(key, None)
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ApiRefusal(400, "invalid", "shared_roles: a list of role ids", field="shared_roles")
    if not isinstance(teams, list) or not all(isinstance(t, int) for t in teams):
        raise ApiRefusal(400, "invalid", "shared_teams: a list of team ids", field="shared_teams")
    return body, roles, teams


def create_board():
    user = _user()
    body, roles, teams = _sharing(_body())
    body.setdefault("id", "board")
    _service().check_board(body)
    key = _service().store.create(user.id, body, roles, teams)
    return _json(_service().board(user, key), 201)


def _own_board(user, board_id: str) -> dict:
    board = _board_or_404(user, board_id)
    if not _service().may_edit(user, board):
        raise ApiRefusal(403, "forbidden", "only the owner of a personal board may change it")
    return board


def update_board(board_id: str):
    user = _user()
    _own_board(user, board_id)
    body, roles, teams = _sharing(_body())
    body["id"] = "board"
    _service().check_board(body)
    _service().store.save(board_id, body, roles, teams)
    return _json(_service().board(user, board_id))


def save_layout(board_id: str):
    user = _user()
    board = _own_board(user, board_id)
    layout = _body().get("layout")
    if not isinstance(layout, dict):
        raise ApiRefusal(
            400, "invalid", "layout: an object of widget id -> {x, y, w, h}", field="layout"
        )
    stored = _service().store.get(board_id)
    doc = {
        k: v
        for k, v in stored.items()
        if k not in ("shared_roles", "shared_teams", "stored", "owner_id", "version")
    }
    doc["id"] = "board"
    for widget in doc.get("widgets") or []:
        wid = widget.get("id") or widget.get("report")
        if wid in layout:
            widget["layout"] = layout[wid]
    _service().check_board(doc)
    _service().store.save(board_id, doc, board["shared_roles"], board["shared_teams"])
    return _json(_service().board(user, board_id))


def delete_board(board_id: str):
    user = _user()
    _own_board(user, board_id)
    _service().store.delete(board_id)
    return Response(status=204)


# --------------------------------------------------------------------------- wiring


def _refused(exc: ApiRefusal):
    return _json({"error": {"code": exc.code, "message": exc.message, **exc.extra}}, exc.status)


def _invalid(exc: ConfigInvalid):
    first = exc.problems[0]
    fields = {p.field or "": p.message for p in exc.problems}
    return _json(
        {"error": {"code": "invalid_config", "message": f"{first.field}: {first.message}",
                   "field": first.field, "fields": fields}}, 400,
    )  # fmt: skip


ROUTES = (
    ("/dashboards", "list_boards", list_boards, ("GET",)),
    ("/dashboards", "create_board", create_board, ("POST",)),
    ("/dashboards/<board_id>", "get_board", get_board, ("GET",)),
    ("/dashboards/<board_id>", "update_board", update_board, ("PUT",)),
    ("/dashboards/<board_id>", "delete_board", delete_board, ("DELETE",)),
    ("/dashboards/<board_id>/layout", "save_layout", save_layout, ("PUT",)),
    ("/dashboards/<board_id>/data", "board_data", board_data, ("GET",)),
    ("/dashboards/<board_id>/widgets/<widget_id>/data", "widget_data", widget_data, ("GET",)),
    ("/dashboards/<board_id>/widgets/<widget_id>/export", "export_widget", export_widget, ("GET",)),
    ("/widgets/preview", "preview", preview, ("POST",)),
    ("/widgets/export", "export_preview", export_preview, ("POST",)),
)


def register(app: Flask) -> None:
    """The ``reports_api`` blueprint and the app's report service (its cache)."""
    bp = Blueprint("reports_api", __name__, url_prefix="/api/v1")
    for rule, endpoint, view, methods in ROUTES:
        bp.add_url_rule(rule, endpoint, view, methods=list(methods))
    bp.register_error_handler(ApiRefusal, _refused)
    bp.register_error_handler(ConfigInvalid, _invalid)
    app.register_blueprint(bp)
    app.extensions[SERVICE_KEY] = ReportService(app.extensions["trellis"])
