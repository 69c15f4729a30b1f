"""The jobs pages (``/admin/jobs``, ``/admin/mail``, admin only) and their API twin
(``GET /api/v1/admin/jobs``): the event outbox, periodic job runs and kept e-mail."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, request, url_for
from flask_login import current_user

from runtime.web.admin import ADMIN_ROLE, is_admin
from runtime.web.i18n import gettext as _
from runtime.web.templating import render_screen

bp = Blueprint("admin_jobs", __name__, url_prefix="/admin")
api_bp = Blueprint("admin_jobs_api", __name__, url_prefix="/api/v1/admin")

STATES = ("pending", "failed", "done")
PAGE = 100


@bp.before_request
def _admins_only():
    if current_user.is_authenticated and not is_admin():
        abort(403)


@api_bp.before_request
def _admin_keys_only():
    # API keys act for their user: an admin's key may read the jobs log.
    if current_user.is_authenticated and ADMIN_ROLE not in current_user.roles:
        abort(403, description=_("Only administrators may read the jobs log."))


def _jobs():
    return current_app.extensions["trellis"].jobs


def _state_arg() -> str | None:
    state = request.args.get("state") or None
    if state is not None and state not in STATES:
        abort(400, description=_("state must be one of: %(states)s", states=", ".join(STATES)))
    return state


def _runs(limit: int = 50) -> list[dict[str, Any]]:
    return _jobs().recent_runs(limit)


@bp.route("/jobs")
def jobs():
    queue = _jobs()
    state = _state_arg()
    return render_screen(
        "admin_jobs",
        tab="jobs",
        state=state,
        counts=queue.outbox.counts(),
        events=queue.outbox.recent(state, PAGE),
        runs=_runs(),
        queue_mode=queue.mode,
        schedules=queue.schedules,
        feature_event_labels=current_app.extensions["trellis"].features.merge("event_labels"),
    )


@bp.route("/jobs/<int:event_id>/retry", methods=["POST"])
def retry(event_id: int):
    if _jobs().outbox.retry(event_id):
        flash(_("Event #%(id)d is queued again.", id=event_id), "success")
    else:
        flash(_("Event #%(id)d has not failed: nothing to retry.", id=event_id), "error")
    return redirect(url_for("admin_jobs.jobs", state=request.args.get("state") or None))


@bp.route("/mail")
def mail():
    return render_screen("admin_jobs", tab="mail", mails=_jobs().mail.recent(PAGE))


def _iso(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


@api_bp.route("/jobs")
def jobs_json():
    queue = _jobs()
    state = _state_arg()
    events = queue.outbox.recent(state, PAGE)
    return jsonify(
        {
            "queue": queue.mode,
            "counts": queue.outbox.counts(),
            "events": [_iso({k: v for k, v in e.items() if k != "claimed_until"}) for e in events],
            "periodic": [_iso(r) for r in _runs()],
        }
    )


class _Screens:
    """Registers both blueprints (the app factory calls ``register``)."""

    @staticmethod
    def register(app) -> None:
        app.register_blueprint(bp)
        app.register_blueprint(api_bp)


register = _Screens.register
