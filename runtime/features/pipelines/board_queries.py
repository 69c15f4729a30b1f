"""Read queries of a pipeline board: cards per column, column totals, idle records and
stage history, all under the reader's row scope and field access.

Records are read through the repository: the queries aggregate over
``Repository.readable_rows`` (the rows and columns the reader may see, the filters and
named clauses applied there), never over the entity's table. The two condition
builders ``membership`` and ``idle_clause`` are what the repository itself compiles
for the ``in_pipeline`` and ``idle`` clauses, on the table it hands them. Writes never
happen here (moves go through the repository).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Numeric,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.engine import Connection

from runtime.errors import PermissionDenied, ValidationError
from runtime.features.pipelines.definition import Pipeline, Stage, pipelines_for_entity
from runtime.fieldtypes import type_of
from runtime.store import system_tables as st
from runtime.store.database import Database
from runtime.store.permissions import Grant, Permissions
from runtime.store.principal import SYSTEM, Principal

from . import stage_history
from .clauses import IDLE, IN_PIPELINE

MAX_SEARCH_WORDS = 10


@dataclass(frozen=True)
class BoardFilters:
    """What the filter bar asks for; every part optional."""

    owner_id: int | None = None
    team_id: int | None = None
    close_from: date | None = None
    close_to: date | None = None
    fields: tuple[tuple[str, str], ...] = ()  # (field id, option id) equality filters
    search: str = ""
    idle_only: bool = False


@dataclass(frozen=True)
class SumTotal:
    """The total of a board's sum field in one currency (``None`` for a plain number)."""

    currency: str | None
    amount: Decimal = Decimal(0)
    weighted: Decimal | None = None  # None when the pipeline has no probabilities


@dataclass(frozen=True)
class StageTotals:
    """A column's count and, when the board sums a field, one total per currency
    (amounts in different currencies are never added together)."""

    count: int = 0
    sums: tuple[SumTotal, ...] = ()

    def amount(self, currency: str | None) -> Decimal:
        return next((t.amount for t in self.sums if t.currency == currency), Decimal(0))

    def weighted(self, currency: str | None) -> Decimal | None:
        return next((t.weighted for t in self.sums if t.currency == currency), None)


def add_totals(parts: Iterable[StageTotals]) -> StageTotals:
    """Several columns' totals as one (the board's header): per currency, in first-seen order."""
    count = 0
    amounts: dict[str | None, Decimal] = {}
    weights: dict[str | None, Decimal | None] = {}
    for part in parts:
        count += part.count
        for t in part.sums:
            amounts[t.currency] = amounts.get(t.currency, Decimal(0)) + t.amount
            if t.weighted is None:
                weights.setdefault(t.currency, None)
            else:
                weights[t.currency] = (weights.get(t.currency) or Decimal(0)) + t.weighted
    ordered = sorted(amounts, key=lambda c: c or "")  # the order every column uses
    return StageTotals(count, tuple(SumTotal(c, amounts[c], weights.get(c)) for c in ordered))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class BoardQueries:
    def __init__(self, db: Database, permissions: Permissions | None = None, repo: Any = None):
        self.db = db
        self.model = db.model
        self.permissions = permissions or db.memo("permissions", lambda: Permissions(db.model))
        self._repo = repo  # the door: the board reads records through repo.readable_rows
        # One board page asks for its columns' cards and totals on one set of rows: they
        # are built once per BoardQueries (one per request), never kept beyond it.
        self._rows: dict[Any, tuple[Any, list[Any]]] = {}
        self._touch: dict[Any, Any] = {}

    @property
    def repo(self) -> Any:
        if self._repo is None:  # (the clause builders below never need one)
            from runtime.store import Repository

            self._repo = Repository(self.db, hooks=())  # reads only
        return self._repo

    # ------------------------------------------------------------------ building blocks

    def grant(self, user: Principal, pipeline: Pipeline) -> Grant:
        grant = self.permissions.grant(user, pipeline.entity)
        if not grant.unrestricted and not grant.read:
            raise PermissionDenied(f"you may not read {pipeline.entity} records")
        return grant

    def readable(self, pipeline: Pipeline, grant: Grant, field_id: str | None) -> bool:
        entity = self.model.entities[pipeline.entity]
        return bool(field_id) and entity.has_field(field_id) and grant.may_read_field(field_id)

    def membership(self, pipeline: Pipeline, table: Any) -> Any:
        """SQL over ``table`` (the entity's, as the repository compiles a named clause):
        records that belong to ``pipeline`` by its selector (or as the default)."""
        if not pipeline.is_default:
            if pipeline.selector is None:
                return false()
            return table.c[pipeline.selector.field].in_(pipeline.selector.values)
        others = [
            value
            for p in pipelines_for_entity(self.model, pipeline.entity)
            if p.id != pipeline.id and p.selector is not None
            for value in p.selector.values
        ]
        selector_field = next(
            (
                p.selector.field
                for p in pipelines_for_entity(self.model, pipeline.entity)
                if p.selector
            ),
            None,
        )
        if not others or selector_field is None:
            return true()
        column = table.c[selector_field]
        return or_(column.is_(None), column.not_in(others))

    def rows(
        self, user: Principal, pipeline: Pipeline, grant: Grant, filters: BoardFilters, today: date
    ) -> tuple[Any, list[Any]]:
        """The pipeline's records the reader may see, as the repository gives them
        (``readable_rows``: row scope, field access, the filters, named clauses, and
        ``_may_update``), and the conditions on its columns the repository has no term
        for (an owner's team). Built once per request: the totals and every column's
        cards share them."""
        key = (user, pipeline.id, filters, today)
        if key in self._rows:
            return self._rows[key]
        terms: list[tuple[str, str, Any]] = [(IN_PIPELINE, "eq", pipeline.id)]
        if filters.owner_id is not None:
            terms.append(("owner_id", "eq", filters.owner_id))
        close = pipeline.fields.close_date
        if close and self.readable(pipeline, grant, close):
            if filters.close_from is not None:
                terms.append((close, "gte", filters.close_from))
            if filters.close_to is not None:
                terms.append((close, "lte", filters.close_to))
        for field_id, value in filters.fields:
            if field_id in pipeline.filter_fields and self.readable(pipeline, grant, field_id):
                terms.append((field_id, "eq", value))
        if filters.idle_only:
            terms.append((IDLE, "eq", today))
        search = " ".join(filters.search.split()[:MAX_SEARCH_WORDS]) or None
        extra: list[Any] = []
        try:
            base = self.repo.readable_rows(
                user, pipeline.entity, filters=terms, search=search, update_flag=True
            )
        except ValidationError as exc:  # a value no record can have (an unknown option)
            kept = [t for t in terms if t[0] not in exc.errors]
            base = self.repo.readable_rows(
                user, pipeline.entity, filters=kept, search=search, update_flag=True
            )
            extra.append(false())
        if filters.team_id is not None:
            members = select(st.users.c.id).where(st.users.c.team_id == filters.team_id)
            extra.append(base.c.owner_id.in_(members.scalar_subquery()))
        self._rows[key] = (base, extra)
        return base, extra

    def last_touch_column(self, pipeline: Pipeline, rows: Any, today: date | None = None) -> Any:
        """A correlated subquery: the record's last completed activity up to today (or
        NULL), read through the repository (every activity counts, whoever reads)."""
        idle = pipeline.idle
        if idle is None:
            return literal(None)
        key = (id(rows), pipeline.id, today)
        if key not in self._touch:
            self._touch[key] = (rows, self._last_touch(pipeline, idle, rows, today))
        return self._touch[key][1]

    def _last_touch(self, pipeline: Pipeline, idle: Any, rows: Any, today: date | None) -> Any:
        source = self.repo.readable_rows(SYSTEM, idle.entity)
        query = select(func.max(source.c[idle.date])).where(
            source.c[idle.link] == rows.c.id,
            source.c[idle.date] <= (today or date.today()),  # planned activities don't count
        )
        if idle.done:
            query = query.where(source.c[idle.done].is_(True))
        return query.scalar_subquery()

    def idle_clause(self, pipeline: Pipeline, table: Any, today: date) -> Any:
        """SQL over ``table`` (as the repository compiles the ``idle`` clause): records idle
        in their stage, nothing happened for more than its idle_days."""
        parts = []
        for stage in pipeline.stages:
            if not stage.is_open or stage.idle_days is None:
                continue
            cutoff = today - timedelta(days=stage.idle_days + 1)
            quiet = [
                table.c.stage == stage.id,
                table.c.stage_entered_at < _midnight(cutoff + timedelta(days=1)),
            ]
            idle = pipeline.idle
            if idle is not None:
                source = self.db.tables[idle.entity]
                recent = select(source.c.id).where(
                    source.c[idle.link] == table.c.id,
                    source.c.archived_at.is_(None),
                    source.c[idle.date] > cutoff,
                    source.c[idle.date] <= today,
                )
                if idle.done:
                    recent = recent.where(source.c[idle.done].is_(True))
                quiet.append(not_(exists(recent)))
            parts.append(and_(*quiet))
        return or_(*parts) if parts else false()

    # ------------------------------------------------------------------ totals

    def sum_column(self, pipeline: Pipeline, grant: Grant) -> str | None:
        """The field the board totals, when this reader may see it."""
        fid = pipeline.board_sum
        if not self.readable(pipeline, grant, fid):
            return None
        field = self.model.entities[pipeline.entity].field(fid)
        return fid if type_of(field).is_stored(field) else None

    def currency_of(
        self, pipeline: Pipeline, field_id: str, rows: Any = None
    ) -> tuple[Any, str | None]:
        """The column holding each record's currency of ``field_id`` (or None), and the
        currency a record without one is in (the field's, else the app's; None for a
        plain number field)."""
        fdef = self.model.entities[pipeline.entity].field(field_id)
        if not type_of(fdef).value_type(fdef).has_currency:
            return None, None
        key = f"{field_id}_currency"
        column = rows.c[key] if rows is not None and key in rows.c else None
        return column, fdef.currency or self.model.default_currency

    def totals(
        self,
        user: Principal,
        pipeline: Pipeline,
        filters: BoardFilters = BoardFilters(),
        today: date | None = None,
        conn: Connection | None = None,
    ) -> dict[str, StageTotals]:
        """Count per stage and, when the board sums a field the reader may see, its sum
        and weighted sum (amount x probability) per stage and currency."""
        today = today or date.today()
        grant = self.grant(user, pipeline)
        rows, where = self.rows(user, pipeline, grant, filters, today)
        counts = select(rows.c.stage, func.count().label("n")).where(*where)
        counts = counts.group_by(rows.c.stage)
        sum_field = (
            pipeline.board_sum if pipeline.board_sum and pipeline.board_sum in rows.c else None
        )
        weigh = pipeline.has_probabilities
        result: dict[str, StageTotals] = {}
        sums: dict[str, dict[str | None, tuple[Decimal, Decimal | None]]] = {}
        with self._connection(conn) as c:
            if sum_field is not None:
                amount = rows.c[sum_field]
                currency_column, fallback = self.currency_of(pipeline, sum_field, rows)
                columns = [rows.c.stage, func.sum(amount).label("amount")]
                if currency_column is not None:
                    columns.append(currency_column.label("currency"))
                if weigh:
                    columns.append(
                        func.sum(
                            cast(amount, Numeric(20, 4)) * self._probability(pipeline, rows) / 100
                        ).label("weighted")
                    )
                query = select(*columns).where(*where, amount.is_not(None))
                group = [rows.c.stage] + ([] if currency_column is None else [currency_column])
                query = query.group_by(*group)
                for row in c.execute(query):
                    # a record without a currency is in the field's (or the app's) one
                    parts = sums.setdefault(row.stage, {})
                    code = row._mapping.get("currency") or fallback
                    amount_so_far, weighted_so_far = parts.get(code, (Decimal(0), Decimal(0)))
                    parts[code] = (
                        amount_so_far + Decimal(str(row.amount or 0)),
                        weighted_so_far + Decimal(str(row.weighted or 0)) if weigh else None,
                    )
            for row in c.execute(counts):
                parts = sorted(sums.get(row.stage, {}).items(), key=lambda kv: kv[0] or "")
                result[row.stage] = StageTotals(
                    int(row.n),
                    tuple(
                        SumTotal(
                            code,
                            total.quantize(Decimal("0.01")),
                            None if weighted is None else weighted.quantize(Decimal("0.01")),
                        )
                        for code, (total, weighted) in parts
                    ),
                )
        return result

    def _probability(self, pipeline: Pipeline, rows: Any) -> Any:
        """The record's probability where the reader may see it, else its stage's."""
        fid = pipeline.fields.probability
        if fid and fid in rows.c:
            return func.coalesce(rows.c[fid], self._stage_probability(pipeline, rows))
        return self._stage_probability(pipeline, rows)

    def _stage_probability(self, pipeline: Pipeline, rows: Any) -> Any:
        whens = [
            (rows.c.stage == s.id, s.probability)
            for s in pipeline.stages
            if s.probability is not None
        ]
        return case(*whens, else_=0) if whens else literal(0)

    # ------------------------------------------------------------------ cards

    def card_columns(self, pipeline: Pipeline, rows: Any) -> list[str]:
        entity = self.model.entities[pipeline.entity]
        fields = pipeline.fields
        wanted = [entity.title_field, fields.amount, fields.close_date, fields.probability]
        wanted += list(pipeline.card_fields)
        out: list[str] = []
        for fid in wanted:
            if fid and fid not in out and fid in rows.c:
                out.append(fid)
                if f"{fid}_currency" in rows.c:
                    out.append(f"{fid}_currency")
        return out

    def cards(
        self,
        user: Principal,
        pipeline: Pipeline,
        stage_id: str,
        filters: BoardFilters = BoardFilters(),
        *,
        offset: int = 0,
        limit: int = 20,
        today: date | None = None,
        record_ids: Sequence[int] | None = None,
    ) -> list[dict[str, Any]]:
        """One column's cards (or the given records), ordered by close date then id;
        ``movable``: the reader may change the card's stage (write access to the stage
        and the record within their update scope, the repository's own rules)."""
        today = today or date.today()
        grant = self.grant(user, pipeline)
        rows, where = self.rows(user, pipeline, grant, filters, today)
        names = self.card_columns(pipeline, rows)
        users = st.users.alias("owner")
        may_move = rows.c._may_update if grant.may_write_field("stage") else false()
        columns = [
            rows.c.id,
            rows.c.stage,
            rows.c.stage_entered_at,
            rows.c.row_version,
            rows.c.owner_id,
            users.c.name.label("owner_name"),
            self.last_touch_column(pipeline, rows, today).label("last_activity"),
            (true() if grant.unrestricted else may_move).label("movable"),
            *[rows.c[n] for n in names],
        ]
        query = (
            select(*columns)
            .select_from(rows.outerjoin(users, users.c.id == rows.c.owner_id))
            .where(*where)
        )
        if record_ids is not None:
            query = query.where(rows.c.id.in_(list(record_ids)))
        else:
            query = query.where(rows.c.stage == stage_id)
        close = pipeline.fields.close_date
        order = [rows.c[close].asc().nulls_last()] if close in names else []
        query = (
            query.order_by(*order, rows.c.id).offset(max(offset, 0)).limit(max(min(limit, 200), 1))
        )
        with self.db.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    # ------------------------------------------------------------------ history

    def stage_history(self, entity_id: str, record_id: int) -> list[dict[str, Any]]:
        """Oldest first, with the name of who moved it (callers check read access)."""
        table = stage_history.table
        query = (
            select(table, st.users.c.name.label("changed_by_name"))
            .select_from(table.outerjoin(st.users, st.users.c.id == table.c.changed_by))
            .where(table.c.entity == entity_id, table.c.record_id == record_id)
            .order_by(table.c.changed_at, table.c.id)
        )
        with self.db.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def last_activity(self, pipeline: Pipeline, record_id: int) -> Any:
        """The record's last completed activity (callers check read access)."""
        rows = self.repo.readable_rows(SYSTEM, pipeline.entity, archived=None)
        query = select(self.last_touch_column(pipeline, rows)).where(rows.c.id == record_id)
        with self.db.engine.connect() as conn:
            return conn.execute(query).scalar()

    def idle_touches(
        self,
        entity_id: str,
        pipelines: Sequence[Pipeline],
        record_ids: Sequence[int],
        fields: Iterable[str],
        today: date,
    ) -> list[dict[str, Any]]:
        """The idle ones among ``record_ids`` (a page its reader has read): id, stage,
        stage_entered_at, ``fields`` and ``touch_<n>``, the last touch in ``pipelines[n]``."""
        rows = self.repo.readable_rows(
            SYSTEM, entity_id, filters=[("id", "in", list(record_ids)), (IDLE, "eq", today)]
        )
        columns = [rows.c.id, rows.c.stage, rows.c.stage_entered_at]
        columns += [rows.c[f] for f in sorted(set(fields)) if f in rows.c]
        columns += [
            self.last_touch_column(p, rows, today).label(f"touch_{n}")
            for n, p in enumerate(pipelines)
        ]
        with self.db.engine.connect() as conn:
            return [dict(row) for row in conn.execute(select(*columns)).mappings()]

    # ------------------------------------------------------------------ pickers

    def owners(self) -> list[dict[str, Any]]:
        query = (
            select(st.users.c.id, st.users.c.name, st.users.c.team_id)
            .where(st.users.c.is_active.is_(True))
            .order_by(st.users.c.name)
        )
        with self.db.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def teams(self) -> list[dict[str, Any]]:
        query = select(st.teams.c.id, st.teams.c.name).order_by(st.teams.c.name)
        with self.db.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # ------------------------------------------------------------------ helpers

    def _connection(self, conn: Connection | None):
        if conn is not None:
            from contextlib import nullcontext

            return nullcontext(conn)
        return self.db.engine.connect()


def stage_ids(stages: Iterable[Stage]) -> list[str]:
    return [s.id for s in stages]


def as_mapping(totals: Mapping[str, StageTotals]) -> dict[str, dict[str, Any]]:
    """Totals as JSON: ``{stage: {count, sums: [{currency, amount, weighted}]}}``, amounts
    as decimal strings (``weighted`` null when the pipeline has no probabilities)."""
    return {
        k: {
            "count": v.count,
            "sums": [
                {
                    "currency": t.currency,
                    "amount": str(t.amount),
                    "weighted": None if t.weighted is None else str(t.weighted),
                }
                for t in v.sums
            ],
        }
        for k, v in totals.items()
    }


__all__ = ["BoardFilters", "BoardQueries", "StageTotals", "SumTotal", "add_totals", "as_mapping"]
