"""What pipelines add to the home page and the sidebar, through the ``home_sections``
and ``nav_items`` hooks: per pipeline entity, the viewer's open records and those
closing this month (counts, totals per currency, a few rows); the boards as screens
the app's navigation may link to (``/p/<pipeline>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import url_for
from werkzeug.routing import BuildError

from runtime.definition.model import AppModel, Entity, FieldDef
from runtime.errors import PermissionDenied
from runtime.features.pipelines.board_queries import (
    BoardFilters,
    BoardQueries,
    StageTotals,
    add_totals,
)
from runtime.features.pipelines.definition import Pipeline, pipelines_for_entity, pipelines_of
from runtime.features.screens import HomeSection, NavItem
from runtime.web.home import CLOSING_LIMIT, month_bounds, navigation_entities
from runtime.web.templating import can_read_entity

HOME_TEMPLATE = "runtime/_home_pipeline.html"


@dataclass
class PipelinePanel:
    """The signed-in user's open records of one pipeline entity, and those closing this
    month: counts, totals per currency (never added across currencies), a few rows."""

    entity: Entity
    pipeline: Pipeline
    open_totals: StageTotals
    closing_totals: StageTotals
    closing_rows: list[dict[str, Any]]
    largest_rows: list[dict[str, Any]]  # the user's biggest open records
    stage_labels: dict[str, Any]  # stage id -> Label, over the entity's pipelines
    close_field: FieldDef | None
    amount_field: FieldDef | None
    month_start: date
    month_end: date
    board_url: str = ""  # the kanban of the pipeline, when the board screen is mounted


def pipeline_panels(model: AppModel, services, principal, day: date) -> list[PipelinePanel]:
    """One panel per pipeline entity in the navigation the user may read."""
    panels = []
    queries = BoardQueries(services.db, services.repo.permissions, services.repo)
    start, end = month_bounds(day)
    for entity_id in navigation_entities(model):
        pipelines = pipelines_for_entity(model, entity_id)
        if not pipelines or not can_read_entity(model, principal, entity_id):
            continue
        try:
            panel = _pipeline_panel(model, services.repo, queries, principal, pipelines, day)
        except PermissionDenied:
            continue
        panel.month_start, panel.month_end = start, end
        try:
            panel.board_url = url_for("pipelines.board", pipeline_id=panel.pipeline.id)
        except BuildError:
            panel.board_url = ""
        panels.append(panel)
    return panels


def _pipeline_panel(model, repo, queries, principal, pipelines, day: date) -> PipelinePanel:
    start, end = month_bounds(day)
    mine = BoardFilters(owner_id=principal.id)
    closing = BoardFilters(owner_id=principal.id, close_from=start, close_to=end)
    open_parts, closing_parts, open_stages = [], [], []
    for pipeline in pipelines:
        stages = {s.id for s in pipeline.stages if s.kind == "open"}
        open_stages += [s for s in stages if s not in open_stages]
        for filters, parts in ((mine, open_parts), (closing, closing_parts)):
            totals = queries.totals(principal, pipeline, filters, day)
            parts += [t for stage, t in totals.items() if stage in stages]
    first = pipelines[0]
    entity = model.entities[first.entity]
    grant = repo.grant(principal, entity.id)
    close = first.fields.close_date
    close_field = entity.field(close) if close and grant.may_read_field(close) else None
    amount_id = queries.sum_column(first, queries.grant(principal, first))
    amount_field = entity.field(amount_id) if amount_id else None
    mine_open = [("owner_id", "eq", principal.id), ("stage", "in", sorted(open_stages))]
    largest: list[dict[str, Any]] = []
    if amount_field is not None:
        page = repo.list(
            principal, entity.id, filters=mine_open, sort=[f"-{amount_field.id}"], page_size=3
        )
        largest = list(page.rows)
    rows: list[dict[str, Any]] = []
    if close_field is not None:
        filters = [
            ("owner_id", "eq", principal.id),
            ("stage", "in", sorted(open_stages)),
            (close_field.id, "between", [start.isoformat(), end.isoformat()]),
        ]
        page = repo.list(
            principal, entity.id, filters=filters, sort=[close_field.id], page_size=CLOSING_LIMIT
        )
        rows = list(page.rows)
    return PipelinePanel(
        entity=entity,
        pipeline=first,
        open_totals=add_totals(open_parts),
        closing_totals=add_totals(closing_parts),
        closing_rows=rows,
        largest_rows=largest,
        stage_labels={s.id: s.label for p in reversed(pipelines) for s in p.stages},
        close_field=close_field,
        amount_field=amount_field,
        month_start=start,
        month_end=end,
    )


def home_panels(services: Any, principal: Any, day: date) -> list[PipelinePanel]:
    return pipeline_panels(services.model, services, principal, day)


def home_sections(_model: AppModel) -> list[HomeSection]:
    return [HomeSection("pipelines", HOME_TEMPLATE, home_panels)]


def nav_items(model: AppModel) -> list[NavItem]:
    """One item per board: a link the app's navigation gives to ``/p/<pipeline>`` is
    shown to the users who may read the pipeline's entity."""
    return [
        NavItem(
            pipeline.label,
            f"/p/{pipeline.id}",
            visible=lambda principal, entity_id=pipeline.entity: can_read_entity(
                model, principal, entity_id
            ),
        )
        for pipeline in pipelines_of(model).values()
    ]


__all__ = ["PipelinePanel", "home_sections", "nav_items", "pipeline_panels"]
