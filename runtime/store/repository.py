"""The record repository: the one door through which every layer reads and writes records.

Every write runs the same steps in the same order: permissions (entity, row scope,
field), coercion (field types), defaults, formulas, validation (all failing fields at
once), autonumbers, optimistic locking, the write itself, field history / audit, and
the features' steps in between (``write_steps``); domain events go to the outbox in the
same transaction and to the in-process bus after the commit only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    cast,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from runtime.definition.model import FieldDef, ViewFilter
from runtime.errors import (
    ConflictError,
    ExpressionError,
    FieldMessage,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from runtime.events import (
    RECORD_ARCHIVED,
    RECORD_CREATED,
    RECORD_RESTORED,
    RECORD_UPDATED,
    Event,
    EventBus,
)
from runtime.fieldtypes import (
    CoerceContext,
    FieldInvalid,
    format_autonumber,
    period_key,
    type_of,
)

from . import history
from . import system_tables as st
from .database import Database
from .keyset import Position, SortKey, StaleCursor, normalise_sort, order_by, phases
from .list_terms import has_user_token, user_token_clause
from .permissions import SYSTEM_GRANT, Grant, Permissions, scope_clause
from .plan import OWNER_FIELD, EntityPlan, RowsPlan, entity_plan
from .principal import Principal
from .query_clauses import ClauseContext, QueryClause, TermInvalid, clauses_for
from .sql_text import contains_pattern
from .write_hooks import WriteHook
from .write_steps import Write, WriteStep, as_steps, order_steps

MAX_PAGE_SIZE = 200
FILTER_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "isnull", "between")

Errors = dict[str, list[FieldMessage]]


@dataclass(frozen=True)
class Page:
    """One page of a list. ``next_key`` / ``prev_key``: the positions to pass as
    ``after`` / ``before`` for the pages on either side (None at either end)."""

    rows: list[dict[str, Any]]
    page: int
    page_size: int
    has_next: bool
    has_prev: bool = False
    next_key: Position | None = None
    prev_key: Position | None = None


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, list | tuple) and not value)


def _now() -> datetime:
    return datetime.now(UTC)


def _add(errors: Errors, key: str, code: str, **params: Any) -> None:
    errors.setdefault(key, []).append(FieldMessage(code, params))


def _condition(expression: Any, values: Mapping, old: Mapping | None, user: Principal) -> bool:
    """A visible_if / required_if / readonly_if: a condition that cannot be evaluated is false."""
    if expression is None:
        return False
    try:
        return bool(expression.evaluate(values, old=old, user=user))
    except ExpressionError:
        return False


@dataclass
class _Prepared:
    """A record after coercion, defaults and formulas, ready to validate and write."""

    values: dict[str, Any]  # the full record (current values + changes)
    written: set[str]  # record keys the caller wrote (after coercion)
    children: dict[str, list[dict[str, Any]]]  # child tables the caller wrote
    errors: Errors
    set_by_hooks: frozenset[str] = frozenset()  # written keys steps set (not coerced)
    coerced: frozenset[str] = frozenset()  # keys the caller's values coerced into


class Repository:
    """Create, read, list, update, archive and restore records of ``db``'s model."""

    def __init__(
        self,
        db: Database,
        bus: EventBus | None = None,
        hooks: Iterable[WriteHook | WriteStep] | None = None,
    ):
        self.db = db
        self.model = db.model
        self.bus = bus
        # The features taking part in every write: their steps go between the core steps
        # of each operation (see write_steps). None: those of the database's features.
        if hooks is None:
            hooks = db.features.gather("write_steps", db.model)
        self.hooks: tuple[WriteHook | WriteStep, ...] = tuple(hooks)
        self.write_steps = order_steps(as_steps(self.hooks))
        # The durable event outbox (runtime.jobs.outbox.Outbox), set by the wiring: events
        # are saved in the write's transaction and handed to the job queue after commit.
        self.outbox: Any = None
        self.permissions: Permissions = db.memo("permissions", lambda: Permissions(db.model))

    # ------------------------------------------------------------------ helpers

    def principal(self, user_id: int) -> Principal:
        from .users import UserService

        found = UserService(self.db).principal(user_id)
        if found is None:
            raise NotFound(f"no active user with id {user_id}")
        return found

    def plan(self, entity_id: str) -> EntityPlan:
        if entity_id not in self.model.entities:
            raise NotFound(f"no entity '{entity_id}'")
        return self.db.memo(
            ("plan", entity_id),
            lambda: entity_plan(
                self.model.entity(entity_id), self.db.tables[entity_id], self.db.child_tables
            ),
        )

    def grant(self, user: Principal, entity_id: str) -> Grant:
        return self.permissions.grant(user, entity_id)

    def _statement(self, *key: Any, build: Any) -> Any:
        """A statement built once per Database: plain bound parameters, so SQLAlchemy's
        compiled cache hits and nothing is rebuilt per write."""
        return self.db.memo(("statement", *key), build)

    def _context(self, user: Principal) -> CoerceContext:
        return CoerceContext(
            default_currency=self.model.default_currency,
            default_region=self.model.default_region,
            locale=user.locale or self.model.default_locale,
        )

    def _publish(self, events: list[Event]) -> None:
        if self.bus is not None:
            self.bus.publish_all(events)

    def _record_events(self, conn: Connection, events: list[Event]) -> list[int]:
        """Save ``events`` in the outbox, in the write's own transaction."""
        return self.outbox.record(conn, events) if self.outbox is not None and events else []

    def _dispatch(self, event_ids: list[int]) -> None:
        """After commit: the saved events go to the job queue."""
        if event_ids:
            self.outbox.dispatch(event_ids)

    def _label(self, plan: EntityPlan) -> str:
        return plan.entity.label.get("en")

    # ------------------------------------------------------------------ reads

    def get(self, user: Principal, entity_id: str, record_id: int) -> dict[str, Any]:
        """One record, or NotFound when it does not exist or lies outside the read scope."""
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        view = plan.read_view(grant)
        query = select(*view.columns).where(plan.table.c.id == _record_id(record_id))
        clause = self._scope(plan, grant, "read", user)
        if clause is not None:
            query = query.where(clause)
        with self.db.engine.connect() as conn:
            result = conn.execute(query)
            rows = self._records(conn, plan, view, result.keys(), result.all(), user)
        if not rows:
            raise NotFound(f"no {entity_id} with id {record_id}")
        return rows[0]

    def list(
        self,
        user: Principal,
        entity_id: str,
        *,
        filters: Iterable[Any] = (),
        sort: Sequence[str] = (),
        search: str | None = None,
        page: int = 1,
        page_size: int = 50,
        fields: Iterable[str] | None = None,
        archived: bool | None = False,
        after: Position | None = None,
        before: Position | None = None,
    ) -> Page:
        """One page of readable records. No COUNT: ``has_next`` comes from one extra row.

        ``after`` / ``before`` (a ``Position``, from a previous page's ``next_key`` /
        ``prev_key``) page by keyset: the rows right after or before that row in this
        sort, at the cost of page 1 however deep; without them ``page`` is an OFFSET.
        ``fields`` limits the fields returned (child tables are loaded only when asked
        for, or when all fields are); ``archived``: False = active only, True = archived
        only, None = both.
        """
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        page = max(int(page or 1), 1)
        page_size = min(max(int(page_size or 50), 1), MAX_PAGE_SIZE)
        keys = self._sort_keys(plan, grant, sort)
        spec = tuple(k.name for k in keys)
        anchor, backwards = (before, True) if before is not None else (after, False)
        if after is not None and before is not None:
            raise StaleCursor("before", "give after or before, not both")
        if anchor is not None and (tuple(anchor.sort) != spec or len(anchor.values) != len(spec)):
            raise StaleCursor("before" if backwards else "after")
        if backwards:
            keys = [k.flipped() for k in keys]
        view = plan.read_view(grant, frozenset(fields) if fields is not None else None)
        width = len(view.columns)
        base = select(*view.columns, *[k.expr.label(f"_sort{i}") for i, k in enumerate(keys)])
        where = self._where(plan, grant, user, filters, search, archived)
        if where:
            base = base.where(*where)
        base = base.order_by(*order_by(keys, nulls_clause=self.db.is_sqlite))
        raw: list[Any] = []
        names: list[str] = []
        with self.db.engine.connect() as conn:
            if anchor is None:
                query = base.limit(page_size + 1).offset((page - 1) * page_size)
                result = conn.execute(query)
                names = list(result.keys())[:width]
                raw = result.all()
            else:
                # Each phase is one indexed range; the next runs only if this one ran short.
                for clause in phases(keys, tuple(anchor.values)):
                    result = conn.execute(base.where(clause).limit(page_size + 1 - len(raw)))
                    names = list(result.keys())[:width]
                    raw += result.all()
                    if len(raw) > page_size:
                        break
            more = len(raw) > page_size
            raw = raw[:page_size]
            if backwards:
                raw.reverse()
            rows = self._records(conn, plan, view, names, [r[:width] for r in raw], user)
        first = Position(spec, tuple(raw[0][width:])) if raw else None
        last = Position(spec, tuple(raw[-1][width:])) if raw else None
        if backwards:
            # The anchor row follows (unless nothing at all is left before it).
            has_next, has_prev = bool(raw), more
        else:
            has_next, has_prev = more, anchor is not None or page > 1
        return Page(
            rows=rows,
            page=page,
            page_size=page_size,
            has_next=has_next,
            has_prev=has_prev,
            next_key=last if has_next else None,
            prev_key=first if has_prev else None,
        )

    def count(
        self,
        user: Principal,
        entity_id: str,
        *,
        filters: Iterable[Any] = (),
        search: str | None = None,
        archived: bool | None = False,
    ) -> int:
        """How many readable records match (a separate, explicit query; list never counts)."""
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        query = select(func.count()).select_from(plan.table)
        where = self._where(plan, grant, user, filters, search, archived)
        if where:
            query = query.where(*where)
        with self.db.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def titles(self, user: Principal, entity_id: str, ids: Iterable[int]) -> dict[int, str]:
        """Display titles of the readable records among ``ids`` (for link fields)."""
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        wanted = sorted({int(i) for i in ids if i is not None})
        if not wanted:
            return {}
        title = plan.entity.title_field
        title_field = plan.rows.by_id.get(title)
        readable = (
            title_field is not None
            and type_of(title_field).is_stored(title_field)
            and grant.may_read_field(title)
        )
        columns = [plan.table.c.id] + ([plan.table.c[title]] if readable else [])
        query = select(*columns).where(plan.table.c.id.in_(wanted))
        clause = self._scope(plan, grant, "read", user)
        if clause is not None:
            query = query.where(clause)
        with self.db.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {
            row[0]: (str(row[1]) if readable and row[1] is not None else f"#{row[0]}")
            for row in rows
        }

    def history(self, user: Principal, entity_id: str, record_id: int) -> list[dict[str, Any]]:
        """Field history of a readable record (newest first), for fields the user may read."""
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        self.get(user, entity_id, record_id)  # NotFound outside the read scope
        with self.db.engine.connect() as conn:
            entries = history.read_field_history(conn, entity_id, record_id)
        ctx = self._context(user)
        found = []
        for entry in entries:
            key = entry["field"]
            field = plan.field_of_key(key)
            field_id = field.id if field else key
            if not grant.may_read_field(field_id):
                continue
            if field is not None and not type_of(field).holds_rows and key == field.id:
                entry["old_value"] = _revive(field, entry["old_value"], ctx)
                entry["new_value"] = _revive(field, entry["new_value"], ctx)
            found.append(entry)
        return found

    def audit(self, user: Principal, entity_id: str, record_id: int) -> list[dict[str, Any]]:
        """Create / archive / restore entries of a readable record (newest first)."""
        self.get(user, entity_id, record_id)
        with self.db.engine.connect() as conn:
            return history.read_audit(conn, entity_id, record_id)

    # ------------------------------------------------------------------ read helpers

    def _scope(self, plan: EntityPlan, grant: Grant, action: str, user: Principal):
        if grant.unrestricted:
            return None
        return scope_clause(grant.scopes(action), plan.table, user)

    def _records(
        self,
        conn: Connection,
        plan: EntityPlan,
        view: Any,
        keys: Sequence[str],
        rows: Sequence[Any],
        user: Principal,
    ) -> list[dict[str, Any]]:
        keys = tuple(keys)
        records = [dict(zip(keys, row, strict=True)) for row in rows]
        if not records:
            return records
        if view.converters:
            for record in records:
                for field, ftype in view.converters:
                    record.update(ftype.from_db(field, record))
        if view.children:
            self._attach_children(conn, plan, records, view.children)
        if view.virtual:
            for record in records:
                self._compute_formulas(view.virtual, record, user)
        if view.drop:
            for record in records:
                for key in view.drop:
                    record.pop(key, None)
        return records

    def _attach_children(
        self,
        conn: Connection,
        plan: EntityPlan,
        records: list[dict[str, Any]],
        field_ids: Iterable[str],
    ) -> None:
        by_id = {r["id"]: r for r in records}
        for field_id in field_ids:
            table, rows_plan = plan.children[field_id]
            for record in records:
                record[field_id] = []
            result = conn.execute(
                select(table)
                .where(table.c.parent_id.in_(list(by_id)))
                .order_by(table.c.parent_id, table.c.position, table.c.id)
            )
            keys = tuple(result.keys())
            for raw in result:
                row = dict(zip(keys, raw, strict=True))
                parent = row.pop("parent_id")
                for field, ftype in rows_plan.converters:
                    row.update(ftype.from_db(field, row))
                virtual = [f for f in rows_plan.formulas if not type_of(f).is_stored(f)]
                if virtual:
                    self._compute_formulas(virtual, row, None)
                by_id[parent][field_id].append(row)

    def _compute_formulas(
        self, formulas: Iterable[FieldDef], values: dict[str, Any], user: Principal | None
    ) -> None:
        ctx = (
            self._context(user)
            if user is not None
            else CoerceContext(default_currency=self.model.default_currency)
        )
        for field in formulas:
            try:
                result = field.expression.evaluate(values, user=user)
                values[field.id] = type_of(field).coerce(field, result, ctx)
            except (ExpressionError, FieldInvalid):
                values[field.id] = None

    # ------------------------------------------------------------------ filters and sorting

    def _where(
        self,
        plan: EntityPlan,
        grant: Grant,
        user: Principal,
        filters: Iterable[Any],
        search: str | None,
        archived: bool | None,
    ) -> list[Any]:
        table = plan.table
        where = []
        clause = self._scope(plan, grant, "read", user)
        if clause is not None:
            where.append(clause)
        if archived is False:
            where.append(self._not_archived(table))
        elif archived is True:
            where.append(table.c.archived_at.is_not(None))
        errors: Errors = {}
        ctx = self._context(user)
        for item in filters or ():
            if isinstance(item, ViewFilter):
                name, op, value = item.field, item.op, item.value
            elif isinstance(item, Mapping):
                name, op, value = item["field"], item.get("op", "eq"), item.get("value")
            else:
                name, op, value = item
            try:
                where.append(self._filter(plan, grant, name, op, value, ctx, user))
            except FieldInvalid as exc:
                errors.setdefault(name, []).append(exc.message)
            except TermInvalid:
                errors.setdefault(name, []).append(FieldMessage("invalid"))
        if errors:
            raise ValidationError(errors)
        if search and search.strip() and plan.search_fields:
            columns = [table.c[f] for f in plan.search_fields if grant.may_read_field(f)]
            for word in search.split()[:10]:
                pattern = contains_pattern(word)
                if columns:
                    where.append(or_(*[c.ilike(pattern, escape="\\") for c in columns]))
                else:
                    where.append(false())
        return where

    def _not_archived(self, table: Any) -> Any:
        column = table.c.archived_at
        if self.db.is_sqlite:
            # Without ANALYZE statistics SQLite picks the archived_at index for "IS NULL"
            # (true for nearly every row) and then sorts the whole table; a unary plus
            # keeps the term out of index selection so the sort index is walked instead.
            column = UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)
        return column.is_(None)

    def _clauses(self, plan: EntityPlan) -> dict[str, QueryClause]:
        """The named clauses the features offer on ``plan``'s entity (once per Database)."""
        return self.db.memo(
            ("query_clauses", plan.entity.id),
            lambda: clauses_for(self.db, self.db.features, plan.entity, plan.table),
        )

    def _sort_orders(self, plan: EntityPlan) -> dict[str, Any]:
        """Column -> the ORDER BY expression features give it (``Feature.sort_orders``)."""

        def build() -> dict[str, Any]:
            orders = self.db.features.merge("sort_orders", self.model)
            found = {}
            for name, order in orders.items():
                if name in plan.table.c:
                    expression = order(self.db, plan.entity, plan.table)
                    if expression is not None:
                        found[name] = expression
            return found

        return self.db.memo(("sort_orders", plan.entity.id), build)

    def _filter_target(self, plan: EntityPlan, grant: Grant, name: str) -> tuple[Any, FieldDef]:
        table = plan.table
        if name in plan.system_keys:
            return table.c[name], plan.system_fields[name]
        field = plan.field_of_key(name)
        if field is None or not grant.may_read_field(field.id) or name not in table.c:
            raise FieldInvalid(FieldMessage("unknown_field"))
        if name != field.id:  # a money field's currency
            return table.c[name], FieldDef(name, "text", field.label)
        return table.c[name], field

    def _filter(
        self,
        plan: EntityPlan,
        grant: Grant,
        name: str,
        op: str,
        value: Any,
        ctx: CoerceContext,
        user: Principal | None = None,
    ) -> Any:
        clause = self._clauses(plan).get(name)
        if clause is not None:
            # A feature's named clause (runtime.store.query_clauses), e.g. "idle".
            context = ClauseContext(self.db, plan.entity, plan.table, user, grant, op, value)
            return clause.build(context)
        column, field = self._filter_target(plan, grant, name)
        ftype = type_of(field)
        if op not in FILTER_OPERATORS:
            raise FieldInvalid(FieldMessage("invalid"))
        if ftype.references == "user" and user is not None and has_user_token(value):
            # me / my_team: resolved for the reader, so one saved view serves everyone.
            return user_token_clause(column, op, value, user, lambda v: ftype.coerce(field, v, ctx))
        if op == "isnull":
            want_null = value not in (False, "false", "0", 0, "no")
            null = column.is_(None)
            if ftype.json_list:
                null = or_(null, cast(column, String) == "null")
            return null if want_null else not_(null)
        if op == "contains":
            if ftype.json_list:
                option = ftype.coerce(field, [value], ctx)
                token = f'"{option[0]}"' if option else '""'
                return cast(column, String).like(contains_pattern(token), escape="\\")
            return column.ilike(contains_pattern(str(value)), escape="\\")
        if op == "in":
            items = value if isinstance(value, list | tuple | set) else [value]
            coerced = [ftype.coerce(field, v, ctx) for v in items]
            return column.in_([v for v in coerced if v is not None])
        if op == "between":
            if not isinstance(value, list | tuple) or len(value) != 2:
                raise FieldInvalid(FieldMessage("invalid"))
            low, high = (ftype.coerce(field, v, ctx) for v in value)
            parts = []
            if low is not None:
                parts.append(column >= low)
            if high is not None:
                parts.append(column <= high)
            return and_(*parts) if parts else true()
        coerced = ftype.coerce(field, value, ctx)
        if op == "eq":
            return column.is_(None) if coerced is None else column == coerced
        if op == "ne":
            if coerced is None:
                return column.is_not(None)
            return or_(column != coerced, column.is_(None))
        if coerced is None:
            raise FieldInvalid(FieldMessage("invalid"))
        return {
            "lt": column < coerced,
            "lte": column <= coerced,
            "gt": column > coerced,
            "gte": column >= coerced,
        }[op]

    def _sort_keys(self, plan: EntityPlan, grant: Grant, sort: Sequence[str]) -> list[SortKey]:
        """The ORDER BY of a list as keys (``normalise_sort``: ``id`` last), each a column
        the user may read; a hidden or unsortable field is refused like an unknown one."""
        table = plan.table
        keys = []
        for item in normalise_sort(sort):
            desc = item.startswith("-")
            name = item.lstrip("-+")
            ranked = self._sort_orders(plan).get(name)
            if ranked is not None:
                # A feature's order for this column (never NULL), not the column's own.
                keys.append(SortKey(item, ranked, desc, False))
                continue
            if name in plan.system_keys:
                column = table.c[name]
            else:
                field = plan.field_of_key(name)
                if field is None or not grant.may_read_field(field.id):
                    raise ValidationError({name: [FieldMessage("unknown_field")]})
                sort_column = type_of(field).sort_column(field) if name == field.id else name
                if sort_column is None:
                    raise ValidationError({name: [FieldMessage("unknown_field")]})
                column = table.c[sort_column]
            keys.append(SortKey(item, column, desc, bool(column.nullable)))
        return keys

    # ------------------------------------------------------------------ writes: create

    def create(self, user: Principal, entity_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Create one record; returns it as the user may read it."""
        records = self._create_many(user, entity_id, [values], single=True)
        return records[0]

    def bulk_create(
        self, user: Principal, entity_id: str, rows: Iterable[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Create many records in one transaction with the same checks; all or nothing.

        A ValidationError names failing fields as ``"<row index>.<field>"``.
        """
        return self._create_many(user, entity_id, list(rows), single=False)

    def _create_many(
        self, user: Principal, entity_id: str, rows: list[Mapping[str, Any]], single: bool
    ) -> list[dict[str, Any]]:
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        if not grant.create:
            raise PermissionDenied(f"you may not create {self._label(plan)} records")
        if not rows:
            return []
        ctx = self._context(user)
        steps = self.write_steps["create"]
        split = steps.index("write")  # every record is checked before any is written
        now = _now()  # known to every step (a feature's step before "write" stamps with it)
        with self.db.engine.begin() as conn:
            writes = [
                Write("create", user, plan, grant, conn, ctx, values=values, index=index, now=now)
                for index, values in enumerate(rows)
            ]
            errors: Errors = {}
            for w in writes:
                self._run_steps(steps[:split], w)
                prefix = "" if single else f"{w.index}."
                for key, messages in w.item.errors.items():
                    errors.setdefault(prefix + key, []).extend(messages)
            if not single:
                self._check_unique_within(plan, [w.item for w in writes], errors)
            if errors:
                raise ValidationError(errors)
            for w in writes:
                self._run_steps(steps[split:], w)
            events = [event for w in writes for event in w.events]
            event_ids = self._record_events(conn, events)
        self._dispatch(event_ids)
        results = [self._present(plan, grant, w.saved, user) for w in writes]
        self._publish(
            [
                dataclasses.replace(event, record=result)
                for w, result in zip(writes, results, strict=True)
                for event in w.events
            ]
        )
        return results

    # ------------------------------------------------------------------ the steps

    def _run_steps(self, steps: Sequence[str | WriteStep], w: Write) -> None:
        for step in steps:
            if w.done:
                return
            if isinstance(step, str):
                getattr(self, f"_step_{step}")(w)
            else:
                step.run(self, w)

    def _step_load(self, w: Write) -> None:
        action = "update" if w.op == "update" else "archive"
        w.current, w.may = self._load_for_write(w.conn, w.user, w.plan, w.grant, w.record_id,
                                                action)  # fmt: skip

    def _step_permissions(self, w: Write) -> None:
        plan, current = w.plan, w.current
        if w.op == "create":
            self._check_field_permissions(plan, w.grant, w.values, None, w.ctx)
            return
        if not w.may:
            verb = "change" if w.op == "update" else w.op
            raise PermissionDenied(f"you may not {verb} this {self._label(plan)}")
        if w.op == "update" and current["archived_at"] is not None:
            raise ValidationError({"__all__": [FieldMessage("record_archived")]})
        if w.row_version is not None and int(w.row_version) != current["row_version"]:
            raise self._conflict(
                w.conn, plan, w.grant, w.record_id, int(w.row_version), current["row_version"]
            )
        if w.op != "update":
            if (current["archived_at"] is not None) == (w.op == "archive"):
                w.saved = self._reload(w.conn, plan, w.record_id, w.user)  # nothing to do
                w.done = True
            return
        needed = self._children_needed(plan, w.values)
        if needed:  # before the permission check: it compares rows with the stored ones
            self._attach_children(w.conn, plan, [current], needed)
        self._check_field_permissions(plan, w.grant, w.values, current, w.ctx)

    def _step_coercion(self, w: Write) -> None:
        w.item = self._prepare(w.conn, w.user, w.plan, w.grant, w.values, w.current, w.ctx)

    def _step_defaults(self, w: Write) -> None:
        item, user = w.item, w.user
        if w.current is None:
            if item.values.get("owner_id") is None:  # not given, or blank: the creator owns it
                item.values["owner_id"] = user.actor_id
            self._apply_defaults(w.plan.rows, item.values, set(item.coerced), user, w.ctx,
                                 item.errors)  # fmt: skip
        elif (
            "owner_id" in item.coerced
            and item.values.get("owner_id") is None
            and not w.grant.unrestricted
        ):
            _add(item.errors, "owner_id", "owner_required")  # a record never loses its owner

    def _step_formulas(self, w: Write) -> None:
        item = w.item
        item.set_by_hooks = frozenset(item.written.difference(item.coerced))
        # Every formula, stored or not: stored ones may read computed-on-read ones, rules too.
        self._compute_formulas(w.plan.rows.formulas, item.values, w.user)

    def _step_validation(self, w: Write) -> None:
        self._validate(w.conn, w.user, w.plan, w.item, w.current)
        if w.op == "update" and w.item.errors:
            raise ValidationError(w.item.errors)

    def _step_changes(self, w: Write) -> None:
        w.changes = self._changes(w.plan, w.item, w.current)
        if not w.changes:
            w.saved = self._reload(w.conn, w.plan, w.record_id, w.user)
            w.done = True
            return
        w.now = _now()

    def _step_write(self, w: Write) -> None:
        if w.op == "create":
            w.saved = self._insert(w.conn, w.user, w.plan, w.item, w.now, w.stamped)
        elif w.op == "update":
            self._write_update(w)
        else:
            self._write_archived(w)

    def _step_field_history(self, w: Write) -> None:
        plan, conn, user, saved = w.plan, w.conn, w.user, w.saved
        entity_id = plan.entity.id
        if w.op == "create":
            history.write_audit(conn, entity_id, saved["id"], "create", user_id=user.actor_id,
                                at=w.now)  # fmt: skip
            return
        if w.op != "update":
            history.write_audit(conn, entity_id, w.record_id, w.op, user_id=user.actor_id,
                                at=w.now)  # fmt: skip
            return
        changes = w.changes
        tracked = {k: v for k, v in changes.items() if self._tracked(plan, k)}
        history.write_field_changes(
            conn, entity_id, w.record_id, tracked,
            user_id=user.actor_id, at=w.now, row_version=saved["row_version"],
        )  # fmt: skip

    def _step_events(self, w: Write) -> None:
        entity_id, actor, saved = w.plan.entity.id, w.user.actor_id, w.saved
        if w.op == "create":
            changes = {
                k: (None, v)
                for k, v in saved.items()
                if v is not None and k not in w.plan.system_keys and not _empty(v)
            }
            w.events.append(Event(RECORD_CREATED, entity_id, saved["id"], actor, changes, saved))
        elif w.op == "update":
            w.events.append(Event(RECORD_UPDATED, entity_id, w.record_id, actor, w.changes))
        else:
            name = RECORD_ARCHIVED if w.op == "archive" else RECORD_RESTORED
            change = {"archived_at": (w.current["archived_at"], saved["archived_at"])}
            w.events.append(Event(name, entity_id, w.record_id, actor, change))

    def _insert(
        self,
        conn: Connection,
        user: Principal,
        plan: EntityPlan,
        item: _Prepared,
        now: datetime,
        stamped: Mapping[str, Any],
    ) -> dict[str, Any]:
        values = item.values
        for field in plan.autonumbers:
            if values.get(field.id) is None:
                values[field.id] = self._next_number(conn, plan, field, now)
        row: dict[str, Any] = {}
        for field in plan.rows.stored:
            row.update(type_of(field).to_db(field, values))
        row.update(
            created_at=now,
            updated_at=now,
            created_by=user.actor_id,
            owner_id=values.get("owner_id"),
            row_version=1,
        )
        system = {f.id: values.get(f.id) for f in plan.entity.system_fields}
        system.update(stamped)
        row.update(system)
        try:
            stmt = self._statement(
                "insert", plan.entity.id,
                build=lambda: plan.table.insert().returning(plan.table.c.id),
            )  # fmt: skip
            record_id = conn.execute(stmt, row).scalar_one()
        except IntegrityError as exc:
            raise self._integrity_error(exc) from None
        record = {
            "id": record_id,
            "created_at": now,
            "updated_at": now,
            "created_by": user.actor_id,
            "owner_id": row["owner_id"],
            "row_version": 1,
            "archived_at": None,
        }
        record.update(system)
        for key in plan.rows.key_field:
            record[key] = values.get(key)
        for field_id in plan.children:
            rows = values.get(field_id) or []
            record[field_id] = self._sync_children(conn, plan, field_id, record_id, rows, [])
        return record

    def _next_number(
        self, conn: Connection, plan: EntityPlan, field: FieldDef, now: datetime
    ) -> str:
        """The next counter of an autonumber, taken inside the caller's transaction.

        An upsert that increments and returns in one statement: on PostgreSQL the row
        lock it takes serialises concurrent creates until commit; on SQLite the writer
        lock does.
        """
        today = now.astimezone().date()
        period = period_key(field.pattern, today)
        stmt = self.db.memo("next_number", self._next_number_statement)
        params = {"entity": plan.entity.id, "field": field.id, "period": period}
        counter = conn.execute(stmt, params).scalar_one()
        return format_autonumber(field.pattern, counter, today)

    def _next_number_statement(self) -> Any:
        t = st.sequences
        insert = pg_insert if self.db.is_postgres else sqlite_insert
        return (
            insert(t)
            .values(
                entity=bindparam("entity"),
                field=bindparam("field"),
                period=bindparam("period"),
                value=1,
            )
            .on_conflict_do_update(
                index_elements=[t.c.entity, t.c.field, t.c.period],
                set_={"value": t.c.value + 1},
            )
            .returning(t.c.value)
        )

    # ------------------------------------------------------------------ writes: update

    def update(
        self,
        user: Principal,
        entity_id: str,
        record_id: int,
        values: Mapping[str, Any],
        row_version: int | None = None,
    ) -> dict[str, Any]:
        """Change fields of one record. With ``row_version``, a stale version raises
        ConflictError naming the fields changed since; without, the last write wins."""
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        record_id = _record_id(record_id)
        return self._run_one(
            "update", user, plan, grant, values=values, record_id=record_id,
            row_version=row_version,
        )  # fmt: skip

    def _run_one(self, op: str, user: Principal, plan: EntityPlan, grant: Grant, **given: Any):
        """Run ``op``'s steps on one record in one transaction; the record as the user sees it."""
        with self.db.engine.begin() as conn:
            w = Write(op, user, plan, grant, conn, self._context(user), **given)
            self._run_steps(self.write_steps[op], w)
            event_ids = self._record_events(conn, w.events)
        self._dispatch(event_ids)
        result = self._present(plan, grant, w.saved, user)
        self._publish([dataclasses.replace(event, record=result) for event in w.events])
        return result

    def _write_update(self, w: Write) -> None:
        conn, plan, grant, item, current = w.conn, w.plan, w.grant, w.item, w.current
        changes, now, record_id, user = w.changes, w.now, w.record_id, w.user
        new_version = current["row_version"] + 1
        row: dict[str, Any] = {"updated_at": now, "row_version": new_version}
        for key in changes:
            field = plan.field_of_key(key)
            if field is not None and type_of(field).is_stored(field):
                row.update(type_of(field).to_db(field, {key: item.values[key]}))
            elif key == "owner_id" or key in plan.writable_system:
                row[key] = item.values[key]
        row.update(w.stamped)
        table = plan.table
        stmt = self._statement(
            "update", plan.entity.id,
            build=lambda: table.update().where(
                table.c.id == bindparam("_record_id"),
                table.c.row_version == bindparam("_seen_version"),
            ),
        )  # fmt: skip
        row["_record_id"] = record_id
        row["_seen_version"] = current["row_version"]
        try:
            done = conn.execute(stmt, row).rowcount
        except IntegrityError as exc:
            raise self._integrity_error(exc) from None
        if done != 1:
            raise self._conflict(
                conn, plan, grant, record_id, current["row_version"], current["row_version"] + 1
            )
        for field_id in plan.children:
            if field_id in changes:
                item.values[field_id] = self._sync_children(
                    conn, plan, field_id, record_id, item.children[field_id],
                    current.get(field_id) or [],
                )  # fmt: skip
        w.saved = self._saved(conn, user, plan, item, current, changes, now, new_version)
        w.saved.update(w.stamped)

    def _saved(
        self,
        conn: Connection,
        user: Principal,
        plan: EntityPlan,
        item: _Prepared,
        current: Mapping[str, Any],
        changes: Mapping[str, Any],
        now: datetime,
        new_version: int,
    ) -> dict[str, Any]:
        """The record as just written, built from what was loaded and written (what
        ``_reload`` would read back: coercion already gives the stored, canonical values)."""
        view = plan.read_view(_FULL)
        saved = {key: item.values.get(key) for key in view.keys}
        if item.set_by_hooks:
            # Hooks set plain values (a stage's probability as 25): store them as the
            # column reads them back (Decimal("25.00")), as the field type coerces them.
            ctx = self._context(user)
            for key in item.set_by_hooks:
                field = plan.field_of_key(key)
                if field is None or key != field.id or saved.get(key) is None:
                    continue
                try:
                    saved[key] = type_of(field).coerce(field, saved[key], ctx)
                except FieldInvalid:
                    return self._reload(conn, plan, item.values["id"], user)
        saved["updated_at"] = now
        saved["row_version"] = new_version
        missing = []
        for field_id in view.children:
            if field_id in current and field_id not in changes:
                saved[field_id] = current[field_id]
            else:
                missing.append(field_id)
        if missing:
            self._attach_children(conn, plan, [saved], missing)
        if view.virtual:
            self._compute_formulas(view.virtual, saved, user)
        return saved

    def _tracked(self, plan: EntityPlan, key: str) -> bool:
        field = plan.field_of_key(key)
        return field.track_history if field is not None else True

    def _children_needed(self, plan: EntityPlan, values: Mapping[str, Any]) -> list[str]:
        """Child tables an update must load: written ones and those formulas/rules read."""
        if not plan.children:
            return []
        reads: set[str] = set()
        for field in plan.rows.formulas:
            reads |= field.expression.names
        for rule in plan.entity.rules:
            reads |= rule.expression.names
        return [f for f in plan.children if f in values or f in reads]

    def _load_for_write(
        self,
        conn: Connection,
        user: Principal,
        plan: EntityPlan,
        grant: Grant,
        record_id: int,
        action: str,
    ) -> tuple[dict[str, Any], bool]:
        """The full current record (locked on PostgreSQL) and whether ``action`` is allowed."""
        table = plan.table
        view = plan.read_view(_FULL)
        read = self._scope(plan, grant, "read", user)
        allowed = self._scope(plan, grant, action, user)

        def build(read: Any, allowed: Any) -> Any:
            may = literal(True) if allowed is None else allowed
            query = select(*view.columns, may.label("_may")).where(
                table.c.id == bindparam("_record_id")
            )
            if read is not None:
                query = query.where(read)
            if self.db.is_postgres:
                query = query.with_for_update(of=table)
            return query

        if read is None and allowed is None:  # every row: the same statement every time
            query = self._statement("load", plan.entity.id, build=lambda: build(None, None))
        else:
            query = build(read, allowed)
        result = conn.execute(query, {"_record_id": record_id})
        keys = tuple(result.keys())
        row = result.first()
        if row is None:
            raise NotFound(f"no {plan.entity.id} with id {record_id}")
        record = dict(zip(keys, row, strict=True))
        may_act = bool(record.pop("_may"))
        for field, ftype in view.converters:
            record.update(ftype.from_db(field, record))
        return record, may_act

    def _reload(self, conn: Connection, plan: EntityPlan, record_id: int, user: Principal) -> dict:
        view = plan.read_view(_FULL)
        result = conn.execute(select(*view.columns).where(plan.table.c.id == record_id))
        return self._records(conn, plan, view, result.keys(), result.all(), user)[0]

    def _changes(
        self, plan: EntityPlan, item: _Prepared, current: Mapping[str, Any]
    ) -> dict[str, tuple[Any, Any]]:
        changes: dict[str, tuple[Any, Any]] = {}
        keys = set(item.written)
        for field in plan.rows.formulas:
            if type_of(field).is_stored(field):
                keys.add(field.id)
        for key in sorted(keys, key=_key_order(plan)):
            if key in plan.children:
                old_rows = [_row_values(r) for r in current.get(key) or []]
                new_rows = [_row_values(r) for r in item.children.get(key, [])]
                if key in item.children and (
                    old_rows != new_rows
                    or [r.get("id") for r in current.get(key) or []]
                    != [r.get("id") for r in item.children[key]]
                ):
                    changes[key] = (old_rows, new_rows)
                continue
            old, new = current.get(key), item.values.get(key)
            if old != new:
                changes[key] = (old, new)
        return changes

    def _conflict(
        self,
        conn: Connection,
        plan: EntityPlan,
        grant: Grant,
        record_id: int,
        seen: int,
        current: int,
    ) -> ConflictError:
        """The error for a stale version, naming only changes the user may read."""
        # A version from "the future" saw everything; clamping also keeps a 19-digit
        # version out of SQL, where the 32-bit row_version column would overflow.
        seen = min(seen, current)
        changes = {
            key: change
            for key, change in history.changes_since(conn, plan.entity.id, record_id, seen).items()
            if (field := plan.field_of_key(key)) is None or grant.may_read_field(field.id)
        }
        latest = conn.execute(
            select(plan.table.c.row_version).where(plan.table.c.id == record_id)
        ).scalar()
        return ConflictError(latest if latest is not None else current, changes)

    # ------------------------------------------------------------------ writes: archive

    def archive(
        self, user: Principal, entity_id: str, record_id: int, row_version: int | None = None
    ) -> dict[str, Any]:
        return self._set_archived(user, entity_id, record_id, True, row_version)

    def restore(
        self, user: Principal, entity_id: str, record_id: int, row_version: int | None = None
    ) -> dict[str, Any]:
        return self._set_archived(user, entity_id, record_id, False, row_version)

    def _set_archived(
        self,
        user: Principal,
        entity_id: str,
        record_id: int,
        archive: bool,
        row_version: int | None,
    ) -> dict[str, Any]:
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        record_id = _record_id(record_id)
        op = "archive" if archive else "restore"
        return self._run_one(op, user, plan, grant, record_id=record_id, row_version=row_version)

    def _write_archived(self, w: Write) -> None:
        w.now = _now()
        table = w.plan.table
        w.conn.execute(
            table.update()
            .where(table.c.id == w.record_id)
            .values(
                archived_at=w.now if w.op == "archive" else None,
                updated_at=w.now,
                row_version=w.current["row_version"] + 1,
            )
        )
        w.saved = self._reload(w.conn, w.plan, w.record_id, w.user)

    # ------------------------------------------------------------------ the write pipeline

    def _check_field_permissions(
        self,
        plan: EntityPlan,
        grant: Grant,
        values: Mapping[str, Any],
        current: Mapping[str, Any] | None,
        ctx: CoerceContext,
    ) -> None:
        """Writing a changed value into a read-only or hidden field is refused outright."""
        if grant.unrestricted or not grant.field_access:
            return
        refused = []
        for key, raw in values.items():
            # a writable system field is guarded by the field permissions of its id
            field = (
                OWNER_FIELD
                if key == "owner_id"
                else plan.writable_system.get(key) or plan.field_of_key(key)
            )
            if field is None or grant.may_write_field(field.id):
                continue
            if _changes_value(plan, field, key, raw, current, ctx):
                refused.append(field.id)
        if refused:
            names = ", ".join(sorted(set(refused)))
            exc = PermissionDenied(f"you may not change: {names}")
            exc.fields = sorted(set(refused))  # type: ignore[attr-defined]
            raise exc

    def _prepare(
        self,
        conn: Connection,
        user: Principal,
        plan: EntityPlan,
        grant: Grant,
        values: Mapping[str, Any],
        current: dict[str, Any] | None,
        ctx: CoerceContext,
    ) -> _Prepared:
        errors: Errors = {}
        rows = plan.rows
        system = grant.unrestricted
        creating = current is None
        out: dict[str, Any] = {}
        touched: list[FieldDef] = []
        seen: set[str] = set()
        for key in values:
            field = rows.key_field.get(key)
            if field is None:
                if key in plan.ignored_on_write:
                    continue
                special = OWNER_FIELD if key == "owner_id" else plan.writable_system.get(key)
                if special is not None:
                    try:
                        out[key] = type_of(special).coerce(special, values[key], ctx)
                    except FieldInvalid as exc:
                        errors.setdefault(key, []).append(exc.message)
                    continue
                _add(errors, key, "unknown_field")
                continue
            kind = type_of(field)
            if kind.computed or (kind.assigned_on_create and not system):
                continue  # computed by the system; what the caller sent does not matter
            if field.id not in seen:
                seen.add(field.id)
                touched.append(field)
        children: dict[str, list[dict[str, Any]]] = {}
        for field in touched:
            ftype = type_of(field)
            if ftype.holds_rows:
                rows_out = self._coerce_child_rows(
                    plan, field, values[field.id], current, ctx, errors, user
                )
                if rows_out is not None:
                    children[field.id] = rows_out
                    out[field.id] = rows_out
                continue
            try:
                ftype.coerce_into(field, values, out, ctx, current)
            except FieldInvalid as exc:
                errors.setdefault(field.id, []).append(exc.message)
        if not system:
            for field in touched:
                readonly = field.readonly or _condition(
                    field.readonly_if, current if current is not None else {**out}, current, user
                )
                if not readonly:
                    continue
                for key in type_of(field).keys(field):
                    if key not in out:
                        continue
                    new = out.pop(key)
                    old = current.get(key) if current is not None else None
                    if new != old and not (creating and new is None):
                        if FieldMessage("readonly") not in errors.get(field.id, []):
                            _add(errors, field.id, "readonly")
                children.pop(field.id, None)
        merged: dict[str, Any] = dict(current) if current is not None else {}
        merged.update(out)
        # defaults, feature steps and formulas follow as steps of their own
        return _Prepared(merged, set(out), children, errors, coerced=frozenset(out))

    def _apply_defaults(
        self,
        rows: RowsPlan,
        merged: dict[str, Any],
        given: set[str],
        user: Principal,
        ctx: CoerceContext,
        errors: Errors,
        prefix: str = "",
    ) -> None:
        for field in rows.writable:
            if field.id in given or field.default is None:
                continue
            ftype = type_of(field)
            default = field.default
            try:
                if hasattr(default, "evaluate"):
                    default = default.evaluate(merged, user=user)
                ftype.coerce_into(field, {field.id: default}, merged, ctx, None)
            except ExpressionError as exc:
                _add(errors, prefix + field.id, "expression_failed", detail=exc.message)
            except FieldInvalid as exc:
                errors.setdefault(prefix + field.id, []).append(exc.message)

    def _coerce_child_rows(
        self,
        plan: EntityPlan,
        field: FieldDef,
        raw: Any,
        current: Mapping[str, Any] | None,
        ctx: CoerceContext,
        errors: Errors,
        user: Principal,
    ) -> list[dict[str, Any]] | None:
        try:
            raw_rows = type_of(field).coerce(field, raw, ctx)
        except FieldInvalid as exc:
            errors.setdefault(field.id, []).append(exc.message)
            return None
        _, rows_plan = plan.children[field.id]
        existing = {r["id"]: r for r in (current or {}).get(field.id) or []}
        result = []
        for index, raw_row in enumerate(raw_rows):
            prefix = f"{field.id}.{index}."
            base = existing.get(raw_row.get("id")) if raw_row.get("id") is not None else None
            out: dict[str, Any] = {}
            for key in raw_row:
                if key in ("id", "position") or key in rows_plan.key_field:
                    continue
                _add(errors, prefix + key, "unknown_field")
            for child in rows_plan.writable:
                try:
                    type_of(child).coerce_into(child, raw_row, out, ctx, base)
                except FieldInvalid as exc:
                    errors.setdefault(prefix + child.id, []).append(exc.message)
            row = dict(base) if base is not None else {}
            row.update(out)
            if base is None:
                row.pop("id", None)
                self._apply_defaults(rows_plan, row, set(out), user, ctx, errors, prefix)
            row["_written"] = set(out) if base is not None else set(rows_plan.key_field)
            self._compute_formulas(rows_plan.formulas, row, user)
            result.append(row)
        return result

    # ------------------------------------------------------------------ validation

    def _validate(
        self,
        conn: Connection,
        user: Principal,
        plan: EntityPlan,
        item: _Prepared,
        current: Mapping[str, Any] | None,
    ) -> None:
        """Add every failing check to ``item.errors`` (nothing is raised here)."""
        errors = item.errors
        values = item.values
        creating = current is None
        written = item.written
        if not creating:
            written = written | {
                f.id
                for f in plan.rows.formulas
                if type_of(f).is_stored(f) and values.get(f.id) != current.get(f.id)
            }
        links: list[tuple[str, str, int]] = []  # (target entity or "" for users, error key, id)
        for field in plan.rows.fields:
            if field.id in errors:
                continue
            ftype = type_of(field)
            touched = creating or field.id in written
            if type_of(field).holds_rows:
                if field.id in item.children:
                    self._validate_rows(plan, field, item.children[field.id], errors, links)
                if touched and field.required and not values.get(field.id):
                    _add(errors, field.id, "required")
                continue
            if type_of(field).computed:
                continue
            value = values.get(field.id)
            if _empty(value):
                if self._is_required(field, values, current, user, touched, written):
                    _add(errors, field.id, "required")
                continue
            if not touched:
                continue
            for message in ftype.check_bounds(field, value):
                errors.setdefault(field.id, []).append(message)
            refers_to = type_of(field).references
            if refers_to and (creating or value != current.get(field.id)):
                links.append((field.target if refers_to == "record" else "", field.id, value))
            if field.unique and field.id not in errors:
                taken = self._taken(conn, plan, field, value, None if creating else current["id"])
                if taken is not None:
                    errors.setdefault(field.id, []).append(
                        self._duplicate_message(conn, user, plan, taken)
                    )
        owner = values.get("owner_id")
        if (
            owner is not None
            and "owner_id" in item.written
            and (creating or owner != current.get("owner_id"))
        ):
            links.append(("", "owner_id", owner))
        self._check_links(conn, user, links, errors)
        self._check_rules(plan, values, current, user, written, errors)

    def _is_required(
        self,
        field: FieldDef,
        values: Mapping[str, Any],
        current: Mapping[str, Any] | None,
        user: Principal,
        touched: bool,
        written: set[str],
    ) -> bool:
        """Required, or required_if true - checked on create, and on update for what the
        update touches (the field itself, or a field its condition reads)."""
        if field.visible_if is not None and not _condition(field.visible_if, values, current, user):
            return False
        if field.required and touched:
            return True
        if field.required_if is None:
            return False
        if not touched and not (field.required_if.names & written):
            return False
        return _condition(field.required_if, values, current, user)

    def _validate_rows(
        self,
        plan: EntityPlan,
        field: FieldDef,
        rows: list[dict[str, Any]],
        errors: Errors,
        links: list[tuple[str, str, int]],
    ) -> None:
        _, rows_plan = plan.children[field.id]
        for index, row in enumerate(rows):
            prefix = f"{field.id}.{index}."
            written = row.get("_written", set())
            for child in rows_plan.fields:
                key = prefix + child.id
                if key in errors or type_of(child).computed:
                    continue
                value = row.get(child.id)
                if _empty(value):
                    if child.required:
                        _add(errors, key, "required")
                    continue
                if child.id not in written:
                    continue
                for message in type_of(child).check_bounds(child, value):
                    errors.setdefault(key, []).append(message)
                refers_to = type_of(child).references
                if refers_to:
                    links.append((child.target if refers_to == "record" else "", key, value))

    def _taken(
        self, conn: Connection, plan: EntityPlan, field: FieldDef, value: Any, record_id: int | None
    ) -> int | None:
        """The id of another record holding ``value`` in the unique ``field``, if any."""
        table = plan.table
        query = select(table.c.id).where(table.c[field.id] == value)
        if record_id is not None:
            query = query.where(table.c.id != record_id)
        return conn.execute(query.order_by(table.c.id).limit(1)).scalar()

    def _duplicate_message(
        self, conn: Connection, user: Principal, plan: EntityPlan, record_id: int
    ) -> FieldMessage:
        """ "Account “Acme” already has this value", naming (and letting the web edge link
        to) the record it duplicates - only when the user may read that record and its
        title; otherwise the plain message, so a refusal reveals nothing more."""
        grant = self.grant(user, plan.entity.id)
        title_field = plan.rows.by_id.get(plan.entity.title_field)
        if title_field is None or not type_of(title_field).is_stored(title_field):
            return FieldMessage("not_unique")
        if not grant.may_read_field(title_field.id):
            return FieldMessage("not_unique")
        table = plan.table
        query = select(table.c[title_field.id]).where(table.c.id == record_id)
        clause = self._scope(plan, grant, "read", user)
        if clause is not None:
            query = query.where(clause)
        row = conn.execute(query).first()
        if row is None:
            return FieldMessage("not_unique")
        return FieldMessage(
            "duplicate_of",
            {
                "entity": plan.entity.label,
                "title": "" if row[0] is None else str(row[0]),
                "entity_id": plan.entity.id,
                "record_id": record_id,
            },
        )

    def _check_unique_within(
        self, plan: EntityPlan, prepared: list[_Prepared], errors: Errors
    ) -> None:
        for field in plan.rows.stored:
            if not field.unique:
                continue
            seen: dict[Any, int] = {}
            for index, item in enumerate(prepared):
                value = item.values.get(field.id)
                if value is None:
                    continue
                if value in seen:
                    _add(errors, f"{index}.{field.id}", "not_unique")
                seen.setdefault(value, index)

    def _check_links(
        self,
        conn: Connection,
        user: Principal,
        links: list[tuple[str, str, int]],
        errors: Errors,
    ) -> None:
        """Linked records must exist and be readable; users must exist and be active."""
        by_target: dict[str, set[int]] = {}
        for target, _key, value in links:
            by_target.setdefault(target, set()).add(value)
        found: dict[str, set[int]] = {}
        queries = []
        for target in by_target:
            found[target] = set()
            if target != "" and target not in self.db.tables:
                continue
            queries.append(target)
        if queries:
            # One round trip for every target: the existence checks UNION ALL-ed, each
            # tagged with its position and with its own bound ids.
            params: dict[str, Any] = {}
            parts = []
            tagged = len(queries) > 1
            for index, target in enumerate(queries):
                ids = sorted(by_target[target])
                parts.append(self._link_query(user, target, len(ids), index if tagged else None))
                params.update((f"_link{index}_{i}", v) for i, v in enumerate(ids))
            if not tagged:
                found[queries[0]] = {row[0] for row in conn.execute(parts[0], params)}
            else:
                for row in conn.execute(union_all(*parts), params):
                    found[queries[row[1]]].add(row[0])
        for target, key, value in links:
            if value in found[target]:
                continue
            if target == "":
                _add(errors, key, "unknown_user", value=value)
            else:
                label = (
                    self.model.entities[target].label if target in self.model.entities else target
                )
                _add(errors, key, "unknown_record", entity=label, value=value)

    def _link_query(self, user: Principal, target: str, count: int, tag: int | None) -> Any:
        """SELECT id of ``target`` (``""`` = active users) among ``count`` bound ids
        ``_link<tag>_0`` .. inside the user's read scope; with ``tag``, a second column
        holding it (a part of the UNION ALL of several targets)."""
        part = 0 if tag is None else tag

        def build(clause: Any = None) -> Any:
            t = st.users if target == "" else self.plan(target).table
            ids = [bindparam(f"_link{part}_{i}", type_=t.c.id.type) for i in range(count)]
            columns = [t.c.id] if tag is None else [t.c.id, literal(tag).label("_target")]
            query = select(*columns)
            query = query.where(t.c.id == ids[0] if count == 1 else t.c.id.in_(ids))
            if target == "":
                query = query.where(t.c.is_active.is_(True))
            if clause is not None:
                query = query.where(clause)
            return query

        clause = None
        if target != "":
            target_plan = self.plan(target)
            clause = self._scope(target_plan, self.grant(user, target), "read", user)
        if clause is None and count <= 8:
            return self._statement("links", target, count, tag, build=build)
        return build(clause)

    def _check_rules(
        self,
        plan: EntityPlan,
        values: Mapping[str, Any],
        current: Mapping[str, Any] | None,
        user: Principal,
        written: set[str],
        errors: Errors,
    ) -> None:
        for rule in plan.entity.rules:
            if current is not None and not (rule.expression.names & written):
                continue  # an update is checked for what it touches
            keys = list(rule.fields) or ["__all__"]
            try:
                ok = rule.expression.evaluate(values, old=current, user=user)
            except ExpressionError as exc:
                for key in keys:
                    _add(errors, key, "expression_failed", detail=exc.message)
                continue
            if not ok:
                for key in keys:
                    _add(errors, key, "rule_failed", message=rule.message, rule=rule.id)

    # ------------------------------------------------------------------ child rows

    def _sync_children(
        self,
        conn: Connection,
        plan: EntityPlan,
        field_id: str,
        parent_id: int,
        rows: list[dict[str, Any]],
        existing: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Make the stored rows equal ``rows``: update kept ids, insert new, delete missing."""
        table, rows_plan = plan.children[field_id]
        before = {r["id"]: r for r in existing}
        kept: set[int] = set()
        saved = []
        for position, row in enumerate(rows):
            row = {k: v for k, v in row.items() if k != "_written"}
            db_row: dict[str, Any] = {"position": position}
            for field in rows_plan.stored:
                db_row.update(type_of(field).to_db(field, row))
            row_id = row.get("id")
            if row_id in before:
                kept.add(row_id)
                conn.execute(table.update().where(table.c.id == row_id).values(db_row))
            else:
                db_row["parent_id"] = parent_id
                row_id = conn.execute(table.insert().returning(table.c.id), db_row).scalar_one()
            saved.append(
                {
                    "id": row_id,
                    "position": position,
                    **{k: v for k, v in row.items() if k not in ("id", "position")},
                }
            )
        gone = set(before) - kept
        if gone:
            conn.execute(table.delete().where(table.c.id.in_(sorted(gone))))
        return saved

    # ------------------------------------------------------------------ output

    def _present(
        self, plan: EntityPlan, grant: Grant, record: dict[str, Any], user: Principal
    ) -> dict[str, Any]:
        """The record as ``grant`` may read it: hidden fields removed, read formulas computed."""
        view = plan.read_view(grant)
        out = dict(record)
        for field_id in plan.children:
            out[field_id] = [
                {k: v for k, v in r.items() if k != "_written"} for r in out.get(field_id) or []
            ]
        if view.virtual:
            self._compute_formulas(view.virtual, out, user)
        for field in plan.rows.fields:
            if not grant.may_read_field(field.id):
                for key in type_of(field).keys(field):
                    out.pop(key, None)
        return out

    def _integrity_error(self, exc: IntegrityError) -> ValidationError:
        # A unique value taken by a concurrent writer between our check and the write.
        return ValidationError({"__all__": [FieldMessage("not_unique")]})


# The view of every column, used internally by writes (never handed to callers).
_FULL = SYSTEM_GRANT


def _key_order(plan: EntityPlan):
    order = {f.id: i for i, f in enumerate(plan.rows.fields)}

    def key(name: str) -> tuple[int, str]:
        field = plan.field_of_key(name)
        return (order.get(field.id, -1) if field else -1, name)

    return key


def _row_values(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("id", "position", "parent_id", "_written")}


def _record_id(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound(f"no record with id {value!r}") from None
    if number <= 0 or number > 2**63 - 1:
        raise NotFound(f"no record with id {value!r}")
    return number


def _changes_value(
    plan: EntityPlan,
    field: FieldDef,
    key: str,
    raw: Any,
    current: Mapping[str, Any] | None,
    ctx: CoerceContext,
) -> bool:
    """Would writing ``raw`` to ``key`` change the stored value (or, on create, the default)?"""
    if type_of(field).computed:
        return False
    out: dict[str, Any] = {}
    try:
        if type_of(field).holds_rows:
            rows = type_of(field).coerce(field, raw, ctx)
            if current is None:
                return bool(rows)
            return _rows_change(plan, field, rows, current.get(field.id) or [], ctx)
        type_of(field).coerce_into(field, {key: raw}, out, ctx, current)
    except FieldInvalid:
        return True
    new = out.get(key)
    if current is None:
        if new is None:
            return False
        default_out: dict[str, Any] = {}
        if field.default is not None and not hasattr(field.default, "evaluate"):
            try:
                type_of(field).coerce_into(field, {field.id: field.default}, default_out, ctx, None)
            except FieldInvalid:
                return True
        return new != default_out.get(key)
    return new != current.get(key)


def _rows_change(
    plan: EntityPlan,
    field: FieldDef,
    rows: list[dict[str, Any]],
    stored: list[Mapping[str, Any]],
    ctx: CoerceContext,
) -> bool:
    """Would these rows add, remove, reorder or edit any stored row of ``field``?

    Values are compared after coercion, so rows read from the API and sent back as
    they were (9.99 for a stored Decimal) change nothing.
    """
    if len(rows) != len(stored):
        return True
    _, rows_plan = plan.children[field.id]
    for row, old in zip(rows, stored, strict=True):
        if row.get("id") != old.get("id"):
            return True  # a new row (no id) in place of a stored one, or a reorder
        for child in rows_plan.writable:
            keys = [k for k in type_of(child).keys(child) if k in row]
            if not keys:
                continue  # left out: the stored value stays
            out: dict[str, Any] = {}
            type_of(child).coerce_into(child, row, out, ctx, old)
            if any(k in out and out[k] != old.get(k) for k in keys):
                return True
    return False


def _revive(field: FieldDef, value: Any, ctx: CoerceContext) -> Any:
    """A JSON history value back as the field's canonical value (best effort)."""
    if value is None:
        return None
    try:
        return type_of(field).coerce(field, value, ctx)
    except Exception:  # noqa: BLE001 - history shows what it can
        return value
