"""The record page's path bar: every stage, the current one, time in stage, guidance,
the checklist and its ticks (``GET /p/path/<entity>/<id>``, ``POST /p/checklist/...``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import abort, current_app, jsonify, render_template, request

from runtime.definition.model import Entity
from runtime.errors import NotFound
from runtime.features.pipelines import stage_checklist
from runtime.features.pipelines.definition import (
    Pipeline,
    Stage,
    pipeline_for_record,
)
from runtime.features.pipelines.flow import (
    format_duration,
    idle_days,
    is_idle,
    last_touch,
    time_in_stages,
)
from runtime.features.pipelines.screens import (
    _principal,
    _queries,
    _services,
    _today,
    may_move_record,
    may_update_record,
)
from runtime.features.pipelines.stage_history import entries_of
from runtime.features.pipelines.system_fields import has_stage
from runtime.web.i18n import get_locale
from runtime.web.i18n import gettext as _

# --------------------------------------------------------------------------- path bar


@dataclass
class PathStep:
    stage: Stage
    state: str  # done | current | todo | closed
    seconds: float = 0.0
    duration: str = ""


def path_context(entity_id: str, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """What ``_path_bar.html`` shows for a record (None when it has no pipeline)."""
    services = current_app.extensions.get("trellis")
    if services is None or not record or "stage" not in record:
        return None
    model = services.model
    entity = model.entities.get(entity_id)
    if entity is None or not has_stage(entity):
        return None
    pipeline = pipeline_for_record(model, entity_id, record)
    if pipeline is None:
        return None
    queries = _queries()
    rows = queries.stage_history(entity_id, record["id"])
    now = datetime.now(UTC)
    current = pipeline.stage(record.get("stage"))
    entries = entries_of(rows)
    if not entries and record.get("stage_entered_at"):
        entries = [(record.get("stage"), record["stage_entered_at"])]
    totals = time_in_stages(
        entries, now=now, include_current=current is not None and current.is_open
    )
    locale = get_locale()
    steps = []
    reached = current.index if current is not None else -1
    for stage in pipeline.stages:
        if stage.retired and stage is not current:
            continue
        if stage.is_closed:
            continue  # won/lost are drawn as the final step
        state = "current" if stage is current else ("done" if stage.index < reached else "todo")
        if current is not None and current.is_closed:
            state = "done" if stage.id in totals else "todo"
        seconds = totals.get(stage.id, 0.0)
        steps.append(
            PathStep(stage, state, seconds, format_duration(seconds, locale) if seconds else "")
        )
    entered = record.get("stage_entered_at")
    touched = last_touch(entered, queries.last_activity(pipeline, record["id"]))
    today = _today()
    history = []
    for row in reversed(rows):
        history.append(
            {
                "from": pipeline.stage(row["from_stage"]),
                "from_id": row["from_stage"],
                "to": pipeline.stage(row["to_stage"]),
                "to_id": row["to_stage"],
                "at": row["changed_at"],
                "by": row.get("changed_by_name") or "",
                "spent": format_duration(row["seconds_in_from_stage"], locale)
                if row.get("seconds_in_from_stage")
                else "",
            }
        )
    ticks = _checklist_state(entity_id, record["id"], locale)
    return {
        "pipeline": pipeline,
        "entity": entity,
        "record": record,
        "current": current,
        "checklist": ticks,
        "can_tick": may_update_record(entity, record),
        "steps": steps,
        "won": pipeline.first_of_kind("won"),
        "lost": pipeline.first_of_kind("lost"),
        # every closing stage, in pipeline order: two lost stages (Rejected, Withdrawn)
        # are both reachable from the record page
        "closing": [
            s for s in pipeline.closed_stages if pipeline.allows(record.get("stage"), s.id)
        ],
        "time_in_stage": format_duration((now - entered).total_seconds(), locale)
        if entered
        else "",
        "idle": is_idle(current, touched, today),
        "idle_days": idle_days(touched, today),
        "history": history,
        "reopenable": current is not None and current.is_closed and pipeline.transitions.reopen,
        "can_move": may_move_record(entity, record),
        "allows": lambda to: pipeline.allows(record.get("stage"), to),
    }


def _checklist_state(entity_id: str, record_id: int, locale: str) -> dict[str, dict[str, Any]]:
    """ "stage.item" -> {checked, by, at} for the record's latest tick of each item."""
    rows = stage_checklist.ticks_of(_services().db, entity_id, record_id)
    return {
        f"{stage}.{item}": {
            "checked": bool(row["checked"]),
            "by": row.get("changed_by_name") or "",
            "at": row["changed_at"],
        }
        for (stage, item), row in stage_checklist.current_state(rows).items()
    }


def checklist_item(pipeline: Pipeline, stage_id: str, item_id: str) -> Any:
    stage = pipeline.stage(stage_id)
    return next((i for i in stage.checklist if i.id == item_id), None) if stage else None


def tick_item(
    pipeline: Pipeline, entity: Entity, record_id: int, stage_id: str, item_id: str, checked: bool
) -> dict[str, Any]:
    return stage_checklist.tick(
        _services().db,
        entity=entity.id,
        record_id=record_id,
        pipeline=pipeline.id,
        stage=stage_id,
        item=item_id,
        checked=checked,
        user_id=_principal().actor_id,
    )


def checklist(entity_id: str, record_id: int):
    """Tick (``checked=1``) or untick one key action of a stage, on the record: who and
    when are kept, the timeline shows it, and a gate may require it."""
    services = _services()
    entity = services.model.entities.get(entity_id)
    if entity is None or not has_stage(entity):
        abort(404)
    try:
        record = services.repo.get(_principal(), entity_id, record_id)
    except NotFound:
        return jsonify(
            {"ok": False, "message": _("The record does not exist, or you cannot see it.")}
        ), 404
    pipeline = pipeline_for_record(services.model, entity_id, record)
    stage_id = (request.form.get("stage") or "").strip()
    item_id = (request.form.get("item") or "").strip()
    if pipeline is None or checklist_item(pipeline, stage_id, item_id) is None:
        return jsonify(
            {
                "ok": False,
                "code": "unknown_checklist_item",
                "fields": {"item": [_("No such checklist item in this stage.")]},
                "message": _("No such checklist item in this stage."),
            }
        ), 422
    if not may_update_record(entity, record):
        return jsonify(
            {
                "ok": False,
                "code": "permission_denied",
                "message": _("You may not change this record's checklist."),
            }
        ), 403
    checked = (request.form.get("checked") or "").strip().lower() in ("1", "true", "on", "yes")
    row = tick_item(pipeline, entity, record_id, stage_id, item_id, checked)
    return jsonify(
        {
            "ok": True,
            "stage": stage_id,
            "item": item_id,
            "checked": checked,
            "by": _principal().name,
            "at": row["changed_at"].isoformat(),
        }
    )


def path_bar(entity_id: str, record_id: int):
    if entity_id not in _services().model.entities:
        abort(404)
    try:
        record = _services().repo.get(_principal(), entity_id, record_id)
    except NotFound:
        abort(404)
    return render_template(
        "runtime/_path_bar.html", record=record, ent=_services().model.entities[entity_id]
    )
