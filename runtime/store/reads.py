"""Repository reads: get, list (filters, named clauses, sort, keyset paging), count, titles
and history, always inside the reader's row scope and field access."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Boolean, String, and_, case, cast, false, func, not_, null, or_, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from runtime.definition.model import FieldDef, Label
from runtime.definition.paths import PathError, is_path, walk_path
from runtime.errors import FieldMessage, NotFound, PermissionDenied, ValidationError
from runtime.fieldtypes import CoerceContext, FieldInvalid, LookupType, type_of
from runtime.relative_dates import RELATIVE_OPERATORS, as_instants, range_clause, relative_range

from . import history
from .filter_groups import compile_condition, group_of
from .indexes import list_index
from .keyset import Position, SortKey, StaleCursor, normalise_sort, order_by, phases
from .list_terms import has_user_token, user_token_clause
from .paths import ResolvedPath, end_column, is_lookup, lookup_value, resolve_path
from .permissions import Grant
from .plan import EntityPlan
from .principal import Principal
from .query_clauses import ClauseContext, QueryClause, TermInvalid, clauses_for
from .repository_base import _FULL, Errors, RepositoryBase, _record_id
from .sql_text import contains_pattern

MAX_PAGE_SIZE = 200


FILTER_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "isnull", "between")


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


class RecordReads(RepositoryBase):
    """Reading records the way ``grant`` allows."""

    def get(self, user: Principal, entity_id: str, record_id: int) -> dict[str, Any]:
        """One record, or NotFound when it does not exist or lies outside the read scope."""
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        view = plan.read_view(grant)
        query = select(*self._view_columns(plan, grant, user, view)).where(
            plan.table.c.id == _record_id(record_id)
        )
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
        keys = self._sort_keys(plan, grant, sort, user)
        spec = tuple(k.name for k in keys)
        anchor, backwards = (before, True) if before is not None else (after, False)
        if after is not None and before is not None:
            raise StaleCursor("before", "give after or before, not both")
        if anchor is not None and (tuple(anchor.sort) != spec or len(anchor.values) != len(spec)):
            raise StaleCursor("before" if backwards else "after")
        if backwards:
            keys = [k.flipped() for k in keys]
        wanted = list(fields) if fields is not None else None
        paths = self._path_columns(plan, grant, user, [f for f in wanted or () if is_path(f)])
        if wanted is not None:
            wanted = [f for f in wanted if not is_path(f)]
        view = plan.read_view(grant, frozenset(wanted) if wanted is not None else None)
        columns = self._view_columns(plan, grant, user, view)
        columns += [value.label(name) for name, (value, _field) in paths.items()]
        width = len(columns)
        base = select(*columns, *[k.expr.label(f"_sort{i}") for i, k in enumerate(keys)])
        base = base.select_from(_joined_for_sort(plan.table, keys))
        filters = list(filters or ())
        where = self._where(plan, grant, user, filters, search, archived)
        if where and archived is False and not search:
            leaves = [f for f in filters if group_of(f) is None]  # groups name no index
            where = self._toward_index(plan, leaves, spec, where)
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
        for name, (_value, field) in paths.items():
            for row in rows:
                if row.get(name) is not None:
                    row[name] = type_of(field).value_from_db(field, row[name])
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

    def readable_rows(
        self,
        user: Principal,
        entity_id: str,
        *,
        filters: Iterable[Any] = (),
        search: str | None = None,
        archived: bool | None = False,
        update_flag: bool = False,
    ) -> Any:
        """The records ``user`` may read, as a subquery to aggregate or join over (a
        board's column totals, a feature's read service): its columns are the stored
        columns the reader may see (``.c.<field>``, system columns too), and the row
        scope, ``filters`` (named clauses included) and ``search`` are applied here, once,
        exactly as ``list`` applies them. A caller never sees the table itself.

        ``update_flag`` adds ``_may_update``: whether the reader's update scope takes
        the row (a board card's "may move")."""
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        if not grant.unrestricted and not grant.read:
            raise PermissionDenied(f"you may not read {entity_id} records")
        view = plan.read_view(grant)
        columns: list[Any] = [c for c in view.columns if c.name not in view.drop]
        columns += [self._lookup_column(plan, grant, user, f) for f in view.lookups]
        if update_flag:
            columns.append(self._update_flag(plan, grant, user).label("_may_update"))
        query = select(*columns)
        where = self._where(plan, grant, user, filters, search, archived)
        if where:
            query = query.where(*where)
        return query.subquery(f"readable_{entity_id}")

    def _update_flag(self, plan: EntityPlan, grant: Grant, user: Principal) -> Any:
        if grant.unrestricted:
            return true()
        if not grant.update:
            return false()
        scope = self._scope(plan, grant, "update", user)
        return true() if scope is None else case((scope, true()), else_=false())

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
        if view.lookups:
            for record in records:
                _revive_lookups(view.lookups, record)
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

    def _reload(self, conn: Connection, plan: EntityPlan, record_id: int, user: Principal) -> dict:
        view = plan.read_view(_FULL)
        result = conn.execute(select(*view.columns).where(plan.table.c.id == record_id))
        return self._records(conn, plan, view, result.keys(), result.all(), user)[0]

    def _present(
        self, plan: EntityPlan, grant: Grant, record: dict[str, Any], user: Principal
    ) -> dict[str, Any]:
        """The record as ``grant`` may read it: hidden fields removed, read formulas computed."""
        view = plan.read_view(grant)
        out = dict(record)
        if view.lookups and out.get("id") is not None:
            out.update(self._lookups_of(plan, grant, user, view, out["id"]))
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

    def path_field(self, user: Principal, entity_id: str, path: str) -> FieldDef | None:
        """The field at the end of link path ``path`` as a column of ``entity_id``'s
        lists, for ``user``: the end field under the path's id with a label naming each
        hop ("Account · Industry", in every locale); None when the path does not walk
        or a hop is not readable (the list leaves the column out)."""
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        try:
            resolved = resolve_path(self, plan, grant, user, path)
            walked = walk_path(self.model.entities, entity_id, path)
        except (FieldInvalid, PathError):
            return None
        labels = [hop.link.label for hop in walked.hops] + [walked.field.label]
        locales = dict.fromkeys(["en", *self.model.locales])
        texts = {loc: " · ".join(label.get(loc) for label in labels) for loc in locales}
        return dataclasses.replace(
            resolved.field, id=path, label=Label(MappingProxyType(texts)), readonly=True
        )

    def _path_columns(
        self, plan: EntityPlan, grant: Grant, user: Principal | None, names: Sequence[str]
    ) -> dict[str, tuple[Any, FieldDef]]:
        """Link paths asked for as list fields (``account.industry``): their values by
        name; a path the reader may not follow is refused like an unknown field."""
        found: dict[str, tuple[Any, FieldDef]] = {}
        errors: Errors = {}
        for name in dict.fromkeys(names):
            try:
                resolved = resolve_path(self, plan, grant, user, name)
            except FieldInvalid as exc:
                errors.setdefault(name, []).append(exc.message)
                continue
            found[name] = (resolved.value(), resolved.field)
        if errors:
            raise ValidationError(errors)
        return found

    def _view_columns(
        self, plan: EntityPlan, grant: Grant, user: Principal | None, view: Any
    ) -> list[Any]:
        """The columns ``view`` selects, and its lookups computed for this reader."""
        if not view.lookups:
            return list(view.columns)
        return [*view.columns, *(self._lookup_column(plan, grant, user, f) for f in view.lookups)]

    def _lookup_column(
        self, plan: EntityPlan, grant: Grant, user: Principal | None, field: FieldDef
    ) -> Any:
        """A lookup's value for this reader; NULL where a hop is not readable (a formula
        may read a lookup its reader cannot see: it then sees nothing through it)."""
        try:
            return lookup_value(self, plan, grant, user, field).label(field.id)
        except FieldInvalid:
            return null().label(field.id)

    def _lookups_of(
        self, plan: EntityPlan, grant: Grant, user: Principal | None, view: Any, record_id: int
    ) -> dict[str, Any]:
        """The current lookup values of one record as ``user`` reads them (after a
        write: the link may have changed)."""
        columns = [self._lookup_column(plan, grant, user, f) for f in view.lookups]
        with self.db.engine.connect() as conn:
            row = conn.execute(select(*columns).where(plan.table.c.id == record_id)).first()
        found = dict(row._mapping) if row is not None else {f.id: None for f in view.lookups}
        _revive_lookups(view.lookups, found)
        return found

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

        def report(name: str, message: FieldMessage) -> None:
            if message not in errors.get(name, []):
                errors.setdefault(name, []).append(message)

        def leaf(name: str, op: str, value: Any) -> Any:
            try:
                return self._filter(plan, grant, name, op, value, ctx, user)
            except FieldInvalid as exc:
                report(name, exc.message)
            except TermInvalid:
                report(name, FieldMessage("invalid"))
            return None

        # A leaf or a nested any/all/not group (filter_groups); errors name the field.
        for item in filters or ():
            clause = compile_condition(item, leaf, report)
            if clause is not None:
                where.append(clause)
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

    def _toward_index(
        self, plan: EntityPlan, filters: list[Any], spec: Sequence[str], where: list[Any]
    ) -> list[Any]:
        """On SQLite, the terms of a list whose shape has its own derived index, with
        every term but the index's equality columns kept out of index selection.

        Without statistics SQLite's planner takes an ``IN`` on any indexed column (a
        stage kind, a team's owners) for selective, reads those rows through that index
        and sorts them all; with the other terms under a unary plus it walks the index
        made for this list (``runtime.store.indexes``) in order and stops at the page.
        PostgreSQL plans from its statistics and is left alone."""
        if not self.db.is_sqlite:
            return where
        found = list_index(
            self.db.indexes.get(plan.entity.id, ()),
            plan.entity,
            plan.table,
            filters,
            spec,
            frozenset(self._sort_orders(plan)),
        )
        if found is None:
            return where
        _index, equal = found
        return [term if _compares_column(term, equal) else _unindexed(term) for term in where]

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

    def _filter_target(
        self, plan: EntityPlan, grant: Grant, name: str, user: Principal | None = None
    ) -> tuple[Any, FieldDef]:
        """The SQL expression of ``name`` for this reader and the field it holds: a
        column, a system column, a lookup, or a link path (``account.industry``, a
        correlated value; ``runtime.store.paths``). Unknown, hidden or unreadable
        through any hop: FieldInvalid ``unknown_field``."""
        if is_path(name):
            resolved = resolve_path(self, plan, grant, user, name)
            return resolved.value(), resolved.field
        return end_column(self, plan, grant, user, name, plan.table)

    def _resolved_path(
        self,
        plan: EntityPlan,
        grant: Grant,
        name: str,
        user: Principal | None,
        prefix: str = "lp",
    ) -> ResolvedPath | None:
        """The path ``name`` follows (a link path, or a lookup field's), else None."""
        if is_path(name):
            return resolve_path(self, plan, grant, user, name, prefix=prefix)
        field = plan.field_of_key(name)
        if field is not None and is_lookup(field):
            if not grant.may_read_field(field.id):
                raise FieldInvalid(FieldMessage("unknown_field"))
            return resolve_path(self, plan, grant, user, LookupType.path(field), prefix=prefix)
        return None

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
        if op not in FILTER_OPERATORS:
            raise FieldInvalid(FieldMessage("invalid"))
        resolved = self._resolved_path(plan, grant, name, user)
        if resolved is not None and resolved.steps:
            # A semi-join per hop (indexed on each link), never a subquery per row.
            condition = self._compare(resolved.column, resolved.field, op, value, ctx, user)
            matches_null = _null_matches(resolved.field, op, value, ctx)
            return resolved.matching(condition, matches_null)
        column, field = self._filter_target(plan, grant, name, user)
        return self._compare(column, field, op, value, ctx, user)

    def _compare(
        self,
        column: Any,
        field: FieldDef,
        op: str,
        value: Any,
        ctx: CoerceContext,
        user: Principal | None,
    ) -> Any:
        """The clause ``column <op> value`` for a value of ``field``."""
        ftype = type_of(field)
        if ftype.references == "user" and user is not None and has_user_token(value):
            # me / my_team: resolved for the reader, so one saved view serves everyone.
            return user_token_clause(column, op, value, user, lambda v: ftype.coerce(field, v, ctx))
        if ftype.temporal and op in RELATIVE_OPERATORS:
            zone = self._business_zone()
            bounds = relative_range(value, datetime.now(zone).date())
            if bounds is not None:  # "this_quarter", "last_30_days"... (relative_dates)
                if ftype.instant:
                    bounds = as_instants(bounds, zone)
                return range_clause(column, op, bounds)
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

    def _sort_keys(
        self,
        plan: EntityPlan,
        grant: Grant,
        sort: Sequence[str],
        user: Principal | None = None,
    ) -> list[SortKey]:
        """The ORDER BY of a list as keys (``normalise_sort``: ``id`` last), each a column
        the user may read; a hidden or unsortable field is refused like an unknown one."""
        table = plan.table
        keys = []
        for n, item in enumerate(normalise_sort(sort)):
            desc = item.startswith("-")
            name = item.lstrip("-+")
            ranked = self._sort_orders(plan).get(name)
            if ranked is not None:
                # A feature's order for this column (never NULL), not the column's own.
                keys.append(SortKey(item, ranked, desc, False))
                continue
            resolved = None
            try:
                resolved = self._resolved_path(plan, grant, name, user, prefix=f"ls{n}_")
            except FieldInvalid:
                raise ValidationError({name: [FieldMessage("unknown_field")]}) from None
            if resolved is not None:
                if not type_of(resolved.field).sortable or type_of(resolved.field).holds_rows:
                    raise ValidationError({name: [FieldMessage("unknown_field")]})
                # A path or a lookup: the column of its outer-joined hops, NULL where
                # nothing (readable) is linked.
                keys.append(SortKey(item, resolved.column, desc, True, resolved))
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


def _joined_for_sort(table: Any, keys: Sequence[SortKey]) -> Any:
    """``table`` with the hops of every path the keys sort by, outer-joined."""
    for key in keys:
        if key.path is not None:
            table = key.path.outer_joined(table)
    return table


def _revive_lookups(lookups: Sequence[FieldDef], record: dict[str, Any]) -> None:
    """Lookup values as read from SQL, made canonical by the type of the field shown."""
    for field in lookups:
        value = record.get(field.id)
        if value is not None:
            record[field.id] = type_of(field).value_from_db(field, value)


def _null_matches(field: FieldDef, op: str, value: Any, ctx: CoerceContext) -> bool:
    """Whether ``op value`` holds for an empty value (what ``_compare`` says of NULL):
    ``isnull``, ``eq`` nothing, ``ne`` something, an open-ended ``between``."""
    ftype = type_of(field)

    def empty(item: Any) -> bool:
        if isinstance(item, str) and has_user_token(item):
            return False
        return ftype.coerce(field, item, ctx) is None

    if op == "isnull":
        return value not in (False, "false", "0", 0, "no")
    if op == "eq":
        return empty(value)
    if op == "ne":
        return not empty(value)
    if op == "between" and isinstance(value, list | tuple) and len(value) == 2:
        return all(empty(v) for v in value)
    return False


def _compares_column(term: Any, columns: frozenset[str]) -> bool:
    """``term`` is ``column = value`` or ``column IS NULL`` on one of ``columns``."""
    left = getattr(term, "left", None)
    return (
        getattr(term, "operator", None) in (operators.eq, operators.is_)
        and getattr(left, "name", None) in columns
        and getattr(left, "table", None) is not None
    )


def _unindexed(term: Any) -> Any:
    """``+(term)``: the same truth value, which SQLite never reads through an index."""
    left = getattr(term, "left", None)
    if isinstance(getattr(left, "element", left), UnaryExpression):
        return term  # ``+archived_at IS NULL`` as the partial indexes repeat it
    return UnaryExpression(term.self_group(), operator=operators.custom_op("+"), type_=Boolean())


def _revive(field: FieldDef, value: Any, ctx: CoerceContext) -> Any:
    """A JSON history value back as the field's canonical value (best effort)."""
    if value is None:
        return None
    try:
        return type_of(field).coerce(field, value, ctx)
    except Exception:  # noqa: BLE001 - history shows what it can
        return value
