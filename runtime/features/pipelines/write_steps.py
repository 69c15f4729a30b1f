"""The pipelines' write steps: transitions and gates on every create and update (UI,
board, API, imports alike), the values a stage sets, the time a stage was entered,
the stage-history row and the ``stage.changed`` event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from runtime.definition.model import AppModel, Entity
from runtime.errors import ValidationError
from runtime.events import Event
from runtime.features.pipelines import stage_checklist, stage_history
from runtime.features.pipelines.definition import (
    pipeline_for_record,
    pipelines_for_entity,
    pipelines_of,
)
from runtime.features.pipelines.system_fields import has_stage
from runtime.store.write_hooks import PendingWrite
from runtime.store.write_steps import Write, WriteStep, hook_steps

from .flow import STAGE, STAGE_ENTERED_AT, plan_stage_change

STAGE_CHANGED = "stage.changed"  # the event a stage change is also published as


class PipelineHook:
    """One per app model; stateless, so one instance serves every request."""

    def __init__(self, model: AppModel):
        self.model = model
        self.entities = frozenset(
            e.id
            for e in model.entities.values()
            if has_stage(e) and pipelines_for_entity(model, e.id)
        )
        # Entities whose records have a stage (a pipeline's system fields): the stage's
        # entry time, its history rows and events are kept for them.
        self.staged = frozenset(e.id for e in model.entities.values() if has_stage(e))
        self.checklist_gates = any(
            stage.gate.checklist for p in pipelines_of(model).values() for stage in p.stages
        )

    def before_write(self, conn: Connection, write: PendingWrite) -> None:
        if write.entity.id not in self.entities:
            return
        try:
            change = plan_stage_change(
                self.model,
                write.entity,
                write.current,
                write.changes,
                user=write.user,
                ticked=self._ticked(conn, write),
            )
        except ValidationError as exc:
            write.add_errors(exc.errors)
            return
        if change is None:
            return
        for key, value in change.updates.items():
            if key != STAGE_ENTERED_AT:  # stamped with the write's time (stamp_entry)
                write.set(key, value)

    def _ticked(self, conn: Connection, write: PendingWrite) -> frozenset[tuple[str, str]]:
        """The record's ticked checklist items, read only when a gate could ask."""
        if write.current is None or not write.changes.get(STAGE):
            return frozenset()
        if not self.checklist_gates:
            return frozenset()
        return stage_checklist.ticked_items(conn, write.entity.id, write.current["id"])

    def stage_history_values(
        self,
        entity: Entity,
        current: Mapping[str, Any] | None,
        record: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        """The pipeline columns of the stage-history row written for this
        write (pipeline, and the amount / close date / probability snapshot), so the row
        is written once, complete, instead of inserted and then updated."""
        if entity.id not in self.entities:
            return None
        before = (current or {}).get(STAGE)
        if record.get(STAGE) is None or (current is not None and record.get(STAGE) == before):
            return None
        pipeline = pipeline_for_record(self.model, entity.id, record)
        if pipeline is None:
            return None
        snapshot = current if current is not None else record  # values when it left from_stage
        fields = pipeline.fields
        row = stage_history.history_row(
            entity=entity.id,
            record_id=record["id"],
            pipeline=pipeline.id,
            from_stage=before,
            to_stage=record.get(STAGE),
            changed_by=None,
            changed_at=record.get("updated_at") or record.get(STAGE_ENTERED_AT),
            seconds_in_previous=None,
            amount=snapshot.get(fields.amount) if fields.amount else None,
            close_date=snapshot.get(fields.close_date) if fields.close_date else None,
            probability=snapshot.get(fields.probability) if fields.probability else None,
        )
        return {k: row[k] for k in ("pipeline", "amount", "close_date", "probability")}

    # ------------------------------------------------------------------ write steps

    def stamp_entry(self, _repo: Any, w: Write) -> None:
        """Before ``write``: a record entering a stage is stamped with the write's time."""
        if w.entity.id not in self.staged:
            return
        if w.current is None:
            if w.item.values.get(STAGE) is not None:
                w.stamped[STAGE_ENTERED_AT] = w.now
        elif STAGE in w.changes:
            w.stamped[STAGE_ENTERED_AT] = w.now

    def record_history(self, _repo: Any, w: Write) -> None:
        """After ``field_history``: one stage-history row per stage entered, complete
        (pipeline and snapshot columns) in one INSERT."""
        if w.entity.id not in self.staged:
            return
        saved = w.saved
        if w.current is None:
            if saved.get(STAGE) is None:
                return
            before, entered_at, record_id = None, None, saved["id"]
        elif STAGE in w.changes:
            before, entered_at = w.changes[STAGE][0], w.current.get(STAGE_ENTERED_AT)
            record_id = w.record_id
        else:
            return
        stage_history.write_stage_change(
            w.conn, w.entity.id, record_id, before, saved.get(STAGE),
            user_id=w.user.actor_id, at=w.now, entered_at=entered_at,
            extra=self.stage_history_values(w.entity, w.current, saved),
        )  # fmt: skip

    def stage_event(self, _repo: Any, w: Write) -> None:
        """After ``events``: a stage change is also a ``stage.changed`` event."""
        if STAGE in w.changes and w.entity.id in self.staged:
            w.events.append(
                Event(STAGE_CHANGED, w.entity.id, w.record_id, w.user.actor_id,
                      {STAGE: w.changes[STAGE]})
            )  # fmt: skip

    def steps(self) -> list[WriteStep]:
        written = frozenset({"create", "update"})
        # gates, transitions and the stage's values, before formulas
        gates = hook_steps(self) if self.entities else []
        return [
            *gates,
            WriteStep("pipelines.stage_entered", self.stamp_entry, before="write", ops=written),
            WriteStep(
                "pipelines.stage_history", self.record_history, after="field_history", ops=written
            ),  # fmt: skip
            WriteStep(
                "pipelines.stage_event", self.stage_event, after="events", ops=frozenset({"update"})
            ),  # fmt: skip
        ]


def write_hooks(model: AppModel) -> list[WriteStep]:
    """The pipelines' write steps for ``model`` (pass to ``Repository(..., hooks=...)``)."""
    hook = PipelineHook(model)
    return hook.steps() if hook.staged else []


__all__ = ["PipelineHook", "write_hooks"]
