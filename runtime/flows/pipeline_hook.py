"""The repository write hook that enforces pipelines: transitions and gates on every
create and update (UI, board, API, imports alike), the values a stage sets, and the
pipeline columns of the stage history row the repository writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from runtime.definition.model import AppModel, Entity
from runtime.errors import ValidationError
from runtime.features.pipelines.definition import (
    pipeline_for_record,
    pipelines_for_entity,
    pipelines_of,
)
from runtime.store import stage_checklist, stage_history
from runtime.store.principal import Principal
from runtime.store.write_hooks import PendingWrite

from .pipeline import STAGE, STAGE_ENTERED_AT, plan_stage_change


class PipelineHook:
    """One per app model; stateless, so one instance serves every request."""

    def __init__(self, model: AppModel):
        self.model = model
        self.entities = frozenset(
            e.id
            for e in model.entities.values()
            if e.has_stage and pipelines_for_entity(model, e.id)
        )
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
            if key != STAGE_ENTERED_AT:  # the repository stamps it with the write's time
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
        """The pipeline columns of the stage-history row the repository inserts for this
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

    def after_write(
        self,
        conn: Connection,
        user: Principal,
        entity: Entity,
        current: Mapping[str, Any] | None,
        record: Mapping[str, Any],
    ) -> None:
        """Nothing left to do: the stage-history row got its pipeline columns at insert
        (``stage_history_values``, which the repository asks every hook for)."""


def write_hooks(model: AppModel) -> list[PipelineHook]:
    """The hooks of the flows layer for ``model`` (pass to ``Repository(..., hooks=...)``)."""
    hook = PipelineHook(model)
    return [hook] if hook.entities else []


__all__ = ["PipelineHook", "write_hooks"]
