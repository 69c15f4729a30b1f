"""The pipelines' named query clauses - ``stage_kind`` (the stage's kind: open, won,
lost) and ``idle`` (the record is idle in its stage) - and their sort order of ``stage``,
compiled to SQL by the repository.

``idle`` takes a yes/no value (``("idle", "eq", "1")``: idle today in the app's time
zone; ``"0"``: not idle) or an ISO date (idle as of that day: how a screen passes the
reader's own "today"). It follows the board's rule: an open stage with ``idle_days``,
entered before the threshold, with no completed activity since (``BoardQueries``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, false, literal, or_, true

from runtime.features.pipelines.definition import (
    STAGE_KIND_FILTER,
    STAGE_KIND_OPERATORS,
    STAGE_KIND_VALUES,
    pipelines_for_entity,
    pipelines_of,
)
from runtime.store.query_clauses import (
    ClauseContext,
    QueryClause,
    TermInvalid,
    flag_value,
    term_values,
)

IDLE = "idle"
IN_PIPELINE = "in_pipeline"  # a board's records: the pipeline's share of the entity
IDLE_OPERATORS = ("eq", "ne")
STAGE_KINDS = STAGE_KIND_VALUES
KIND_RANK = {kind: n for n, kind in enumerate(STAGE_KINDS)}
UNKNOWN_STAGE_RANK = 10_000  # a stage no pipeline lists any more sorts after all others


# --------------------------------------------------------------------------- stage kinds


def stage_ids_by_kind(model: Any, entity_id: str) -> dict[str, tuple[str, ...]]:
    """Kind -> the stage ids of that kind in any pipeline of the entity (retired ones too:
    records may still sit there)."""
    found: dict[str, dict[str, None]] = {kind: {} for kind in STAGE_KINDS}
    for pipeline in pipelines_for_entity(model, entity_id):
        for stage in pipeline.stages:
            found[stage.kind].setdefault(stage.id)
    return {kind: tuple(ids) for kind, ids in found.items()}


def stage_kind_clause(db: Any, entity_id: str, table: Any, op: str, value: Any) -> Any:
    """SQL: the record's stage is (``ne``: is not) of one of the kinds in ``value``.

    A stage id whose kind differs between two pipelines is matched per pipeline (its
    selector), so a "won" in one pipeline never counts as "open" in another.
    """
    if op not in STAGE_KIND_OPERATORS:
        raise TermInvalid(op)
    kinds = [str(v).strip() for v in term_values(value)]
    if not kinds or any(k not in STAGE_KINDS for k in kinds):
        raise TermInvalid(value)
    pipelines = pipelines_for_entity(db.model, entity_id)
    if "stage" not in table.c or not pipelines:
        return false() if op != "ne" else true()
    kinds_of: dict[str, set[str]] = {}
    for pipeline in pipelines:
        for stage in pipeline.stages:
            kinds_of.setdefault(stage.id, set()).add(stage.kind)
    column = table.c.stage
    plain = sorted(s for s, found in kinds_of.items() if len(found) == 1 and found <= set(kinds))
    parts = [column.in_(plain)] if plain else []
    mixed = {s for s, found in kinds_of.items() if len(found) > 1}
    if mixed:
        from .board_queries import BoardQueries  # the pipelines' membership rule

        queries = BoardQueries(db)
        for pipeline in pipelines:
            ids = sorted(s.id for s in pipeline.stages if s.id in mixed and s.kind in kinds)
            if ids:
                parts.append(queries.membership(pipeline, table) & column.in_(ids))
    clause = or_(*parts) if parts else false()
    if op == "ne":
        return or_(~clause, column.is_(None))
    return clause


def stage_order_column(model: Any, entity_id: str, table: Any) -> Any | None:
    """A sort expression for ``stage``: open stages in pipeline order, then won, then lost.

    Stages of several pipelines interleave by position (every pipeline's first stage,
    then every second ...), which keeps "early" and "late" together across pipelines.
    """
    # The default pipeline first: its stages win ties with the other pipelines'.
    pipelines = sorted(pipelines_for_entity(model, entity_id), key=lambda p: not p.is_default)
    if not pipelines or "stage" not in table.c:
        return None
    ranked: list[tuple[tuple[int, int, int], str]] = []
    for p_index, pipeline in enumerate(pipelines):
        position = {kind: 0 for kind in STAGE_KINDS}
        for stage in pipeline.stages:
            ranked.append(((KIND_RANK[stage.kind], position[stage.kind], p_index), stage.id))
            position[stage.kind] += 1
    order: dict[str, int] = {}
    for _key, stage_id in sorted(ranked):
        order.setdefault(stage_id, len(order))
    return case(order, value=table.c.stage, else_=literal(UNKNOWN_STAGE_RANK))


def _stage_kind(ctx: ClauseContext) -> Any:
    return stage_kind_clause(ctx.db, ctx.entity.id, ctx.table, ctx.op, ctx.value)


# --------------------------------------------------------------------------- idle


def _has_pipelines(model: Any, entity: Any) -> bool:
    return entity.system_field("stage") is not None and bool(pipelines_for_entity(model, entity.id))


def _today(model: Any) -> date:
    from runtime.timezones import zone_named

    return datetime.now(zone_named(model.timezone)).date()


def idle_as_of(value: Any, model: Any) -> tuple[bool, date]:
    """(idle wanted?, the day judged) from an ``idle`` filter value."""
    if isinstance(value, datetime):
        return True, value.date()
    if isinstance(value, date):
        return True, value
    flag = flag_value(value)
    if flag is not None:
        return flag, _today(model)
    try:
        return True, date.fromisoformat(str(value).strip())
    except ValueError:
        raise TermInvalid(value) from None


def idle_condition(db: Any, entity_id: str, table: Any, today: date) -> Any:
    """SQL over ``table``: the record is idle in its stage on ``today``; each pipeline's
    stages and thresholds apply to its own records (``membership``)."""
    from runtime.features.pipelines.board_queries import BoardQueries

    queries = BoardQueries(db)
    parts = [
        and_(queries.membership(p, table), queries.idle_clause(p, table, today))
        for p in pipelines_for_entity(db.model, entity_id)
    ]
    return or_(*parts) if parts else false()


def _in_pipeline(ctx: ClauseContext) -> Any:
    """SQL: the record belongs to the pipeline named by the value (its selector, or the
    default pipeline's share): what a board shows."""
    from runtime.features.pipelines.board_queries import BoardQueries

    pipeline = pipelines_of(ctx.model).get(str(ctx.value))
    if ctx.op != "eq":
        raise TermInvalid(ctx.op)
    if pipeline is None or pipeline.entity != ctx.entity.id:
        raise TermInvalid(ctx.value)
    return BoardQueries(ctx.db).membership(pipeline, ctx.table)


def _idle(ctx: ClauseContext) -> Any:
    if ctx.op not in IDLE_OPERATORS:
        raise TermInvalid(ctx.op)
    wanted, today = idle_as_of(ctx.value, ctx.model)
    condition = idle_condition(ctx.db, ctx.entity.id, ctx.table, today)
    if wanted == (ctx.op == "eq"):
        return condition
    return case((condition, 1), else_=0) == 0  # not idle, a record without a stage too


def query_clauses(_model: Any) -> dict[str, QueryClause]:
    return {
        STAGE_KIND_FILTER: QueryClause(
            STAGE_KIND_FILTER,
            _stage_kind,
            description="the stage's kind: open, won or lost (eq, ne, in)",
            reads=("stage",),
        ),
        IDLE: QueryClause(
            IDLE,
            _idle,
            applies=_has_pipelines,
            description="idle in its stage (1 / 0, or an ISO date to judge as of)",
        ),
        IN_PIPELINE: QueryClause(
            IN_PIPELINE,
            _in_pipeline,
            applies=_has_pipelines,
            description="belongs to the pipeline whose id is given (its board's records)",
        ),
    }


# --------------------------------------------------------------------------- stage order


def _stage_order(db: Any, entity: Any, table: Any) -> Any:
    return stage_order_column(db.model, entity.id, table)


def sort_orders(_model: Any) -> dict[str, Any]:
    """Sorting by ``stage`` follows the pipelines' order: open stages, then won, then lost."""
    return {"stage": _stage_order}


__all__ = [
    "IDLE",
    "IN_PIPELINE",
    "STAGE_KINDS",
    "idle_as_of",
    "idle_condition",
    "query_clauses",
    "sort_orders",
    "stage_ids_by_kind",
    "stage_kind_clause",
    "stage_order_column",
]
