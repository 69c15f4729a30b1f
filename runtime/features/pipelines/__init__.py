"""The pipelines feature: stages, gates, the board and the path bar, plugged in
through the feature hooks like any outside extension (see docs/internals.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runtime.features import Feature

_HERE = str(Path(__file__).resolve().parent)  # where pipeline.schema.json lives


class PipelinesFeature(Feature):
    name = "pipelines"
    docs = "docs/pipelines.md"

    def compile_steps(self) -> Mapping[str, Any]:
        from runtime.features.pipelines.definition import EXTENSION_KEY, compile_pipelines

        return {EXTENSION_KEY: compile_pipelines}

    def kinds(self) -> Sequence[Any]:
        from runtime.definition.loader import Kind

        return (Kind("pipeline", "pipelines", "pipeline.schema.json", schema_dir=_HERE),)

    def check_codes(self) -> Sequence[Any]:
        from runtime.features.pipelines.codes import CODES

        return CODES

    def entity_system_fields(self, documents, entity_id: str) -> Sequence[Any]:
        from runtime.features.pipelines.system_fields import stage_fields_of

        return stage_fields_of(documents, entity_id)

    def reserved_field_ids(self) -> Sequence[str]:
        from runtime.features.pipelines.system_fields import STAGE_FIELD_IDS

        return STAGE_FIELD_IDS

    def view_filter_terms(self) -> Mapping[str, Any]:
        from runtime.features.pipelines.definition import STAGE_KIND_FILTER
        from runtime.features.pipelines.filter_checks import check_stage_kind_filter

        return {STAGE_KIND_FILTER: check_stage_kind_filter}

    def view_filter_value_checks(self) -> Sequence[Any]:
        from runtime.features.pipelines.filter_checks import check_stage_filter_values

        return (check_stage_filter_values,)

    def value_sets(self, model) -> Mapping[str, frozenset[str]]:
        from runtime.features.pipelines.definition import EXTENSION_KEY
        from runtime.features.pipelines.system_fields import STAGE

        sets: dict[str, set[str]] = {}
        for pipeline in (model.extensions.get(EXTENSION_KEY) or {}).values():
            sets.setdefault(f"{pipeline.entity}.{STAGE}", set()).update(
                s.id for s in pipeline.stages
            )
        return {key: frozenset(ids) for key, ids in sets.items()}

    def record_value_moves(self, conn, entity_id: str, field_id: str, moves) -> None:
        from runtime.features.pipelines.stage_history import history_row, write_stage_history
        from runtime.features.pipelines.system_fields import STAGE

        if field_id != STAGE:
            return
        write_stage_history(
            conn,
            (
                history_row(
                    entity=entity_id,
                    record_id=record_id,
                    pipeline=None,
                    from_stage=old,
                    to_stage=new,
                    changed_by=None,
                    changed_at=at,
                    seconds_in_previous=None,
                )
                for record_id, old, new, at in moves
            ),
        )

    def define_tables(self, metadata) -> None:
        from runtime.features.pipelines import stage_checklist, stage_history

        stage_history.table.to_metadata(metadata)
        stage_checklist.table.to_metadata(metadata)

    def write_steps(self, model) -> Sequence[Any]:
        from runtime.features.pipelines.write_steps import write_hooks

        return write_hooks(model)

    def query_clauses(self, model) -> Mapping[str, Any]:
        from runtime.features.pipelines.clauses import query_clauses

        return query_clauses(model)

    def sort_orders(self, model) -> Mapping[str, Any]:
        from runtime.features.pipelines.clauses import sort_orders

        return sort_orders(model)

    def event_labels(self) -> Mapping[str, Any]:
        from runtime.features.pipelines.write_steps import STAGE_CHANGED
        from runtime.web.i18n import lazy_gettext

        return {STAGE_CHANGED: lazy_gettext("Stage changed")}

    def blueprints(self) -> Sequence[Any]:
        from runtime.features.pipelines import screens  # registers its blueprint and globals

        return (screens,)

    # The screens' hooks (runtime.features.screens types), web-side modules of the feature.

    def list_columns(self, model, entity) -> Sequence[Any]:
        from runtime.features.pipelines.screens_list import list_columns

        return list_columns(model, entity)

    def list_filters(self, model, entity) -> Sequence[Any]:
        from runtime.features.pipelines.screens_list import list_filters

        return list_filters(model, entity)

    def record_panels(self, model, entity) -> Sequence[Any]:
        from runtime.features.pipelines.screens_record import record_panels

        return record_panels(model, entity)

    def timeline_entries(self, model, entity) -> Sequence[Any]:
        from runtime.features.pipelines.screens_record import timeline_sources

        return timeline_sources(model, entity)

    def nav_items(self, model) -> Sequence[Any]:
        from runtime.features.pipelines.screens_home import nav_items

        return nav_items(model)

    def home_sections(self, model) -> Sequence[Any]:
        from runtime.features.pipelines.screens_home import home_sections

        return home_sections(model)


FEATURE = PipelinesFeature()
