"""List screens of entities: ``/e/<entity>`` with its htmx partial, JSON, exports and lookups.

Routes (blueprint ``entities``):

==========================================  ===========================================
``GET  /e/<entity>``                        the list page; with ``HX-Request`` and
                                            ``HX-Target: list-results`` only the rows
``GET  /e/<entity>.json``                   the same list context as JSON
``GET  /e/<entity>/export.csv|.xlsx``       the current view, every page (capped)
``GET  /e/<entity>/lookup?q=``              id + title of matching records (pickers)
``POST /e/<entity>/views``                  save the current list as a named view
``POST /e/<entity>/views/<id>/delete``      delete one of your saved views
==========================================  ===========================================

The record screens (``/e/<entity>/<id>``, ``/new``, ``/<id>/edit``) belong to
``runtime.web.records``; ``register(app)`` registers that blueprint too when the app
factory does not list it itself.
"""

from __future__ import annotations

import importlib
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    stream_with_context,
)
from flask_login import current_user

from runtime.errors import PermissionDenied
from runtime.web import export as exporting
from runtime.web.cursors import codec_for
from runtime.web.i18n import get_locale, get_timezone
from runtime.web.i18n import gettext as _
from runtime.web.list_view import (
    ListEnv,
    build_list_context,
    can_read,
    record_title_text,
    resolve_list_request,
)
from runtime.web.saved_views import register_routes, saved_view_store
from runtime.web.templating import render_screen, screen_templates

bp = Blueprint("entities", __name__)

LOOKUP_LIMIT = 10
PARTIAL_TARGET = "list-results"


def _env(entity_id: str) -> ListEnv:
    """The list environment for a readable entity, else 404 (unknown) / 403 (no grant)."""
    services = current_app.extensions["trellis"]
    if entity_id not in services.model.entities:
        abort(404)
    env = ListEnv(
        services=services,
        principal=current_user.principal,
        locale=get_locale(),
        timezone=get_timezone(),
        cursors=codec_for(current_app),
    )
    if not can_read(env, entity_id):
        raise PermissionDenied(f"may not read {entity_id}")
    return env


def _base_url(entity_id: str) -> str:
    return f"/e/{entity_id}"


def _context(entity_id: str):
    env = _env(entity_id)
    return env, build_list_context(
        env,
        entity_id,
        request.args,
        base_url=_base_url(entity_id),
        gettext=_,
        saved_views=saved_view_store(),
    )


def _wants_partial() -> bool:
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Target") == PARTIAL_TARGET
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


@bp.get("/e/<entity>")
def list_view(entity: str):
    _env_, ctx = _context(entity)
    if _wants_partial():
        body = render_template(screen_templates("_list_rows", entity), list=ctx, partial=True)
        response = Response(body, mimetype="text/html")
        response.headers["HX-Push-Url"] = ctx.url  # the clean URL, without empty inputs
    else:
        response = Response(render_screen("list", entity=entity, list=ctx), mimetype="text/html")
    response.headers["Vary"] = "HX-Request, HX-Target"
    return response


@bp.get("/e/<entity>.json")
def list_json(entity: str):
    _env_, ctx = _context(entity)
    return jsonify(ctx.as_json())


def _export_request(entity_id: str):
    env = _env(entity_id)
    req = resolve_list_request(env, entity_id, request.args, saved_views=saved_view_store())
    return env, req


@bp.get("/e/<entity>/export.csv")
def export_csv(entity: str):
    env, req = _export_request(entity)
    headers = exporting.export_headers(req, env.locale, _)
    rows = exporting.export_rows(env, req)
    first = next(rows, None)  # fail before the 200 goes out if the repository refuses

    def chained():
        if first is not None:
            yield first
        yield from rows

    # Rows are read batch by batch while the response is sent, inside this request.
    body = stream_with_context(exporting.stream_csv(headers, chained()))
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{exporting.export_filename(entity, "csv")}"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/e/<entity>/export.xlsx")
def export_xlsx(entity: str):
    env, req = _export_request(entity)
    headers = exporting.export_headers(req, env.locale, _)
    path = exporting.write_xlsx(
        req.entity.plural.get(env.locale), headers, exporting.export_rows(env, req)
    )
    response = Response(exporting.stream_file(path), mimetype=exporting.XLSX_MIME)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{exporting.export_filename(entity, "xlsx")}"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/e/<entity>/lookup")
def lookup(entity: str):
    """Records matching ``q`` that the user may read, for link pickers."""
    env = _env(entity)
    target = env.model.entities[entity]
    q = " ".join((request.args.get("q") or "").split())[:200]
    page = env.repo.list(
        env.principal,
        entity,
        filters=[("archived_at", "isnull", True)],
        sort=[target.title_field] if target.has_field(target.title_field) else [],
        search=q or None,
        page=1,
        page_size=LOOKUP_LIMIT,
    )
    results = [
        {"id": row["id"], "title": record_title_text(target, row, env.locale)} for row in page.rows
    ]
    return _lookup_response(results)


def _lookup_response(results: list[dict[str, Any]]):
    return jsonify({"results": results})


register_routes(bp, _env, _base_url)


def register(app: Flask) -> None:
    """Register this blueprint, and the record screens' when the factory does not."""
    app.register_blueprint(bp)
    try:
        from runtime.web import app as factory

        listed = "runtime.web.records" in getattr(factory, "BLUEPRINT_MODULES", ())
    except ImportError:  # pragma: no cover
        listed = False
    if listed:
        return
    try:
        records = importlib.import_module("runtime.web.records")
    except ModuleNotFoundError as exc:
        if exc.name != "runtime.web.records":
            raise
        return
    records_bp = getattr(records, "bp", None)
    if hasattr(records, "register"):
        records.register(app)
    elif records_bp is not None and records_bp.name not in app.blueprints:
        app.register_blueprint(records_bp)
