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

from sqlalchemy import and_, case, false, or_

from runtime.features.pipelines.definition import STAGE_KIND_FILTER, pipelines_for_entity
from runtime.store.query_clauses import ClauseContext, QueryClause, TermInvalid, flag_value

IDLE = "idle"
IDLE_OPERATORS = ("eq", "ne")


def _stage_kind(ctx: ClauseContext) -> Any:
    from runtime.store.list_terms import stage_kind_clause

    return stage_kind_clause(ctx.db, ctx.entity.id, ctx.table, ctx.op, ctx.value)


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


def idle_condition(db: Any, entity_id: str, today: date) -> Any:
    """SQL: the record is idle in its stage on ``today``; each pipeline's stages and
    thresholds apply to its own records (``membership``)."""
    from runtime.store.board_queries import BoardQueries

    queries = BoardQueries(db)
    parts = [
        and_(queries.membership(p), queries.idle_clause(p, today))
        for p in pipelines_for_entity(db.model, entity_id)
    ]
    return or_(*parts) if parts else false()


def _idle(ctx: ClauseContext) -> Any:
    if ctx.op not in IDLE_OPERATORS:
        raise TermInvalid(ctx.op)
    wanted, today = idle_as_of(ctx.value, ctx.model)
    condition = idle_condition(ctx.db, ctx.entity.id, today)
    if wanted == (ctx.op == "eq"):
        return condition
    return case((condition, 1), else_=0) == 0  # not idle, a record without a stage too


def query_clauses(_model: Any) -> dict[str, QueryClause]:
    return {
        STAGE_KIND_FILTER: QueryClause(
            STAGE_KIND_FILTER,
            _stage_kind,
            description="the stage's kind: open, won or lost (eq, ne, in)",
        ),
        IDLE: QueryClause(
            IDLE,
            _idle,
            applies=_has_pipelines,
            description="idle in its stage (1 / 0, or an ISO date to judge as of)",
        ),
    }


def _stage_order(db: Any, entity: Any, table: Any) -> Any:
    from runtime.store.list_terms import stage_order_column

    return stage_order_column(db.model, entity.id, table)


def sort_orders(_model: Any) -> dict[str, Any]:
    """Sorting by ``stage`` follows the pipelines' order: open stages, then won, then lost."""
    return {"stage": _stage_order}


__all__ = ["IDLE", "idle_as_of", "idle_condition", "query_clauses", "sort_orders"]
