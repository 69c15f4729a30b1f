"""Pipeline screens: the routes of the board, moves and the path bar, their shared
plumbing and permission checks, and the ``pipelines`` blueprint built per app.

The screens themselves are ``screens_board`` (the board, lazy columns, records.json),
``screens_moves`` (moves, the missing-fields form) and ``screens_path`` (the path bar,
checklist ticks). Routes (blueprint ``pipelines``, made by ``register``):

=====================================  =====================================================
``GET  /p/<pipeline>``                 the board (filters in the query string)
``GET  /p/<pipeline>/column/<stage>``  more cards of one column (htmx, ``?offset=``)
``GET  /p/<pipeline>/records.json``    the filtered records (``?stage=``, ``?idle=1``)
``POST /p/<pipeline>/move``            move a record (JSON answer; 422 with the form)
``GET  /p/<pipeline>/gate``            the missing-fields form for ``record_id``/``to_stage``
``POST /p/<pipeline>/gate-state``      that form again for the values typed (htmx, on change)
``GET  /p/path/<entity>/<id>``         the record page's path bar (htmx refresh)
``POST /p/checklist/<entity>/<id>``    tick or untick a stage checklist item (JSON)
=====================================  =====================================================

Every move goes through ``repo.update`` like any other write: the pipeline write hook
enforces transitions and gates there, so the board, the path bar, the API and
imports give the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from flask import Blueprint, Flask, abort, current_app, request
from flask_login import current_user

from runtime.definition.model import Entity
from runtime.features.pipelines import stage_checklist
from runtime.features.pipelines.board_queries import BoardQueries
from runtime.features.pipelines.definition import Pipeline, pipelines_of
from runtime.store.permissions import record_in_scope
from runtime.web.i18n import get_locale, get_timezone
from runtime.web.i18n import gettext as _
from runtime.web.templating import can_read_entity

# --------------------------------------------------------------------------- plumbing


def _services():
    return current_app.extensions["trellis"]


def _principal():
    return current_user.principal


def _today() -> date:
    return datetime.now(get_timezone()).date()


def _queries() -> BoardQueries:
    services = _services()
    return BoardQueries(services.db, services.repo.permissions, services.repo)


def _pipeline(pipeline_id: str) -> tuple[Pipeline, Entity]:
    model = _services().model
    pipeline = pipelines_of(model).get(pipeline_id)
    if pipeline is None or not can_read_entity(model, _principal(), pipeline.entity):
        abort(404)
    return pipeline, model.entities[pipeline.entity]


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def int_arg(name: str) -> int | None:
    return whole_number((request.args.get(name) or "").strip())


def whole_number(raw: str) -> int | None:
    """A database id or version (1 to 18 ASCII digits); None for anything else."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


def _can_move(entity: Entity) -> bool:
    grant = _services().repo.grant(_principal(), entity.id)
    return bool(grant.unrestricted or grant.update)


def _owner_team(user_id: int) -> int | None:
    other = _services().users.principal(user_id)
    return other.team_id if other is not None else None


def _in_update_scope(grant: Any, record: Mapping[str, Any]) -> bool:
    user = _principal()
    linked = _services().repo.linked_in_scope(user)  # via scopes: asked of the database
    return record_in_scope(grant.update, record, user, _owner_team, linked)


def may_update_record(entity: Entity, record: Mapping[str, Any]) -> bool:
    """Update rights on this record (its row scope); an archived record is read-only."""
    if record.get("archived_at"):
        return False
    grant = _services().repo.grant(_principal(), entity.id)
    if grant.unrestricted:
        return True
    return _in_update_scope(grant, record)


def ticked_items(entity_id: str, record_id: int) -> frozenset[tuple[str, str]]:
    return stage_checklist.ticked_items_of(_services().db, entity_id, record_id)


def may_move_record(entity: Entity, record: Mapping[str, Any]) -> bool:
    """Whether the user may change this record's stage: update rights on the record
    (its row scope) and write access to the stage; an archived record does not move."""
    if record.get("archived_at"):
        return False
    grant = _services().repo.grant(_principal(), entity.id)
    if grant.unrestricted:
        return True
    if not grant.may_write_field("stage"):
        return False
    return _in_update_scope(grant, record)


def board_texts() -> dict[str, str]:
    """Texts every card repeats, translated once per page rather than once per card."""
    return {
        "move": _("Move"),
        "close": _("Expected close"),
        "owner": _("Owner"),
        "age": _("Time in this stage"),
        "fixed": _("You may not move this record."),
    }


def stage_kind_text(pipeline: Pipeline | None, kind: str) -> str:
    """The app's word for a kind of stage in the user's language ("Hired", "录用"):
    ``kind_labels`` of the pipeline, else a neutral default."""
    if pipeline is None:
        from runtime.features.pipelines.definition import DEFAULT_KIND_LABELS

        label = DEFAULT_KIND_LABELS.get(kind)
        return label.get(get_locale()) if label else kind
    return pipeline.kind_label(kind).get(get_locale())


def routes() -> tuple[tuple[str, str, Any, tuple[str, ...]], ...]:
    """(rule, endpoint, view, methods) of every screen above."""
    from runtime.features.pipelines import screens_board as board
    from runtime.features.pipelines import screens_moves as moves
    from runtime.features.pipelines import screens_path as path

    return (
        ("/p/<pipeline_id>", "board", board.board, ("GET",)),
        ("/p/<pipeline_id>/column/<stage_id>", "column", board.column, ("GET",)),
        ("/p/<pipeline_id>/records.json", "records_json", board.records_json, ("GET",)),
        ("/p/<pipeline_id>/move", "move", moves.move, ("POST",)),
        ("/p/<pipeline_id>/gate", "gate", moves.gate, ("GET",)),
        ("/p/<pipeline_id>/gate-state", "gate_state", moves.gate_state, ("POST",)),
        ("/p/checklist/<entity_id>/<int:record_id>", "checklist", path.checklist, ("POST",)),
        ("/p/path/<entity_id>/<int:record_id>", "path_bar", path.path_bar, ("GET",)),
    )


def register(app: Flask) -> None:
    """The ``pipelines`` blueprint (made per app: nothing is registered on import) and
    the Jinja globals the board, its cards and the path bar use."""
    from runtime.features.pipelines.screens_board import board_figures
    from runtime.features.pipelines.screens_path import path_context

    bp = Blueprint("pipelines", __name__)
    for rule, endpoint, view, methods in routes():
        bp.add_url_rule(rule, endpoint, view, methods=list(methods))
    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        pipeline_path=path_context,
        pipelines_of=pipelines_of,
        board_texts=board_texts,
        stage_kind_text=stage_kind_text,
        board_figures=board_figures,
    )
