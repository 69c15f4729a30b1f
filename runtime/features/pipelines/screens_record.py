"""What pipelines add to the generic record page, through the ``record_panels`` and
``timeline_entries`` hooks: the path bar above the highlights, and the timeline's
stage changes (from the stage history, or from older ``stage`` field history) and
checklist ticks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runtime.definition.model import AppModel, Entity
from runtime.features.pipelines.definition import (
    Pipeline,
    Stage,
    pipeline_for_record,
    pipelines_for_entity,
    pipelines_of,
)
from runtime.features.screens import RecordPanel, TimelineSource
from runtime.timezones import as_utc
from runtime.web.record_view import Formatter, TimelineEntry

STAGE_KEYS = ("stage", "stage_entered_at")  # system columns the stage history covers
SAME_CHANGE_SECONDS = 2  # a field-history row this close to a stage-history row is that move
ENTRY_TEMPLATE = "runtime/_timeline_stage.html"
PATH_BAR_TEMPLATE = "runtime/_path_bar.html"


@dataclass
class StageEntry(TimelineEntry):
    """A stage change (kind "stage") or a checklist tick (kind "checklist"): the stages
    (None when the metadata no longer has them: the ids are shown instead) and the time
    spent in the previous one as (number, unit)."""

    from_stage: Stage | None = None
    from_id: str = ""
    to_stage: Stage | None = None
    to_id: str = ""
    spent: tuple[int, str] | None = None  # unit: day | hour | minute
    reopened: bool = False
    checked: bool = False  # kind "checklist": ticked (True) or unticked
    template: str = ENTRY_TEMPLATE


def _as_datetime(value: Any) -> datetime | None:
    return as_utc(value)


def spent_in_stage(seconds: Any) -> tuple[int, str] | None:
    """Seconds as the largest whole unit a reader cares about: (3, "day"), (5, "hour")."""
    if seconds is None:
        return None
    try:
        seconds = max(float(seconds), 0.0)
    except (TypeError, ValueError):
        return None
    if seconds >= 86400:
        return int(seconds // 86400), "day"
    if seconds >= 3600:
        return int(seconds // 3600), "hour"
    return max(int(seconds // 60), 1), "minute"


def read_stage_rows(fmt: Formatter, entity: Entity, record: Mapping[str, Any]) -> list[dict]:
    """The record's ``sys_stage_history`` rows (oldest first); [] without a pipeline.

    The caller has read the record through the repository, so the user may see it.
    """
    model = fmt.titles.model
    if not has_pipelines(model, entity):
        return []
    db = getattr(fmt.titles.repo, "db", None)
    if db is None or record.get("id") is None:
        return []
    from runtime.features.pipelines.stage_history import stage_history_of

    return stage_history_of(db, entity.id, int(record["id"]))


def checklist_entries(fmt: Formatter, entity: Entity, record: Mapping[str, Any]) -> list:
    """One entry per tick or untick of a stage's key action: who, which item, when."""
    model = fmt.titles.model
    db = getattr(fmt.titles.repo, "db", None)
    if db is None or record.get("id") is None:
        return []
    from runtime.features.pipelines.flow import checklist_item_label
    from runtime.features.pipelines.stage_checklist import ticks_of

    rows = ticks_of(db, entity.id, int(record["id"]))
    entries = []
    for row in rows:
        pipeline = pipelines_of(model).get(row["pipeline"])
        label = (
            checklist_item_label(pipeline, row["stage"], row["item"])
            if pipeline is not None
            else None
        )
        stage = pipeline.stage(row["stage"]) if pipeline is not None else None
        entries.append(
            StageEntry(
                "checklist",
                _as_datetime(row["changed_at"]),
                row.get("changed_by_name") or fmt.titles.user(row.get("changed_by")),
                icon="check" if row["checked"] else "x",
                title=label.get(fmt.locale) if label else row["item"],
                to_stage=stage,
                to_id=row["stage"],
                checked=bool(row["checked"]),
            )
        )
    return entries


def _stage_of(
    model: AppModel, entity: Entity, pipeline: Pipeline | None, stage_id: Any
) -> Stage | None:
    if stage_id in (None, ""):
        return None
    found = pipeline.stage(stage_id) if pipeline is not None else None
    if found is None:  # moved between pipelines, or the row names no pipeline
        for other in pipelines_for_entity(model, entity.id):
            found = other.stage(stage_id)
            if found is not None:
                break
    return found


def stage_entries(
    entity: Entity,
    record: Mapping[str, Any],
    rows: list[Mapping[str, Any]],
    fmt: Formatter,
) -> list[TimelineEntry]:
    """One entry per stage change: from -> to (labels and colours), who, when, and how
    long the record had been in the stage it left."""
    model = fmt.titles.model
    current = pipeline_for_record(model, entity.id, record)
    entries = []
    for row in rows:
        at = _as_datetime(row.get("changed_at"))
        if at is None:
            continue
        pipeline = pipelines_of(model).get(row.get("pipeline") or "") or current
        source = _stage_of(model, entity, pipeline, row.get("from_stage"))
        target = _stage_of(model, entity, pipeline, row.get("to_stage"))
        entries.append(
            StageEntry(
                "stage",
                at,
                fmt.titles.user(row.get("changed_by")),
                icon="kanban",
                from_stage=source,
                from_id=str(row.get("from_stage") or ""),
                to_stage=target,
                to_id=str(row.get("to_stage") or ""),
                spent=spent_in_stage(row.get("seconds_in_from_stage"))
                if row.get("from_stage")
                else None,
                reopened=bool(source and target and source.is_closed and target.is_open),
            )
        )
    return entries


def _without_stage_fields(
    entity: Entity,
    record: Mapping[str, Any],
    history: list[Mapping[str, Any]],
    stage_rows: list[Mapping[str, Any]],
    fmt: Formatter,
) -> tuple[list[Mapping[str, Any]], list[TimelineEntry]]:
    """Field history minus the ``stage``/``stage_entered_at`` changes a stage-history
    row already tells; a ``stage`` change no row covers (older data) becomes a stage
    entry of its own, so a move is shown exactly once."""
    moments = [
        at for at in (_as_datetime(r.get("changed_at")) for r in stage_rows) if at is not None
    ]

    def covered(at: datetime | None) -> bool:
        return at is not None and any(
            abs((at - m).total_seconds()) <= SAME_CHANGE_SECONDS for m in moments
        )

    kept: list[Mapping[str, Any]] = []
    uncovered: list[dict[str, Any]] = []
    for row in history:
        field_id = row.get("field")
        if field_id not in STAGE_KEYS or entity.has_field(field_id):
            kept.append(row)
            continue
        at = _as_datetime(row.get("changed_at") or row.get("at"))
        if field_id == "stage" and not covered(at):
            uncovered.append(
                {
                    "changed_at": at,
                    "changed_by": row.get("changed_by"),
                    "from_stage": row.get("old_value"),
                    "to_stage": row.get("new_value"),
                }
            )
    return kept, stage_entries(entity, record, uncovered, fmt)


def has_pipelines(model: AppModel, entity: Entity) -> bool:
    return entity.system_field("stage") is not None and bool(pipelines_for_entity(model, entity.id))


def stage_timeline(
    fmt: Formatter, entity: Entity, record: Mapping[str, Any], history: list[Mapping[str, Any]]
) -> tuple[list[Mapping[str, Any]], list[TimelineEntry]]:
    """The stage history's entries and the checklist's; the ``stage`` field-history rows
    they tell are taken out of ``history`` (a move is shown exactly once)."""
    stage_rows = read_stage_rows(fmt, entity, record)
    history, moves = _without_stage_fields(entity, record, history, stage_rows, fmt)
    moves += stage_entries(entity, record, list(stage_rows), fmt)
    moves += checklist_entries(fmt, entity, record)
    return history, moves


def path_bar_context(_entity: Entity, _record: Mapping[str, Any]) -> Mapping[str, Any]:
    return {}  # _path_bar.html asks pipeline_path() itself (it is also served alone)


def record_panels(model: AppModel, entity: Entity) -> list[RecordPanel]:
    if not has_pipelines(model, entity):
        return []
    return [RecordPanel("path_bar", PATH_BAR_TEMPLATE, path_bar_context)]


def timeline_sources(model: AppModel, entity: Entity) -> list[TimelineSource]:
    if not has_pipelines(model, entity):
        return []
    return [TimelineSource("stages", stage_timeline)]


__all__ = ["StageEntry", "record_panels", "spent_in_stage", "stage_timeline", "timeline_sources"]
