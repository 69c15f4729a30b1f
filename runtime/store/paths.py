"""Link paths in SQL: ``account.industry`` as a correlated value (select, sort, group
by) or as a semi-join filter (``account IN (SELECT id FROM account WHERE ...)``),
checked hop by hop against the reader's grants and row scopes.

Every hop must be readable: the link field on its entity, some read scope on the
entity it reaches, and the field at the end; otherwise the path is refused exactly
like an unknown field (``unknown_field``), never answered with an empty result. A
linked record outside the reader's read scope counts as not linked: its values are
never shown and never match. A lookup field is its path under another name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, and_, literal, not_, null, or_, select

from runtime.definition.model import FieldDef
from runtime.definition.paths import USERS, PathError, walk_path
from runtime.errors import FieldMessage
from runtime.fieldtypes import FieldInvalid, LookupType, type_of

from . import system_tables as st
from .permissions import Grant, readable, scope_clause
from .principal import Principal

# What a path may read of a user, as columns of sys_users.
USER_COLUMNS = {"name": "name", "team": "team_id"}
MAX_NESTED_LOOKUPS = 4  # a lookup showing a lookup...: the compiler refuses cycles


def unknown() -> FieldInvalid:
    return FieldInvalid(FieldMessage("unknown_field"))


@dataclass(frozen=True)
class Step:
    """One link followed in SQL: ``link`` (a column of the row before) and the aliased
    table it reaches, with the reader's read scope on it (None: every row)."""

    link: Any
    table: Any
    scope: Any


@dataclass(frozen=True)
class ResolvedPath:
    """A path the reader may follow: its steps, the column at the end (of the last
    step's table) and the field it holds."""

    steps: tuple[Step, ...]
    column: Any
    field: FieldDef

    def value(self) -> Any:
        """The value for each row of the base table: nested correlated scalar subqueries
        (NULL where a link is empty or reaches a record out of scope)."""
        value = self.column
        for step in reversed(self.steps):
            query = select(value).where(step.table.c.id == step.link)
            if step.scope is not None:
                query = query.where(step.scope)
            value = query.scalar_subquery()
        return value

    def outer_joined(self, source: Any) -> Any:
        """``source`` LEFT JOIN each hop's table on its link and the reader's scope of
        it, so ``column`` is the value (NULL where a link is empty or out of scope): what
        a sort by a path reads, as a join the planner can drive from either side instead
        of one subquery per row. The aliases must be this path's own (``resolve_path``'s
        ``prefix``): a semi-join of the same alias would correlate to the join."""
        for step in self.steps:
            on = step.table.c.id == step.link
            if step.scope is not None:
                on = and_(on, step.scope)
            source = source.outerjoin(step.table, on)
        return source

    def matching(self, condition: Any, matches_null: bool) -> Any:
        """Rows whose value at the end meets ``condition`` (an SQL clause over
        ``column``), as semi-joins hop by hop (indexed by each link column).

        ``matches_null``: the condition holds for NULL too (``isnull``, ``ne``), so a
        row whose path reaches nothing matches: then the rows that do NOT match are
        the ones reaching a value that fails it."""
        inner = not_(condition) if matches_null else condition
        for step in reversed(self.steps):
            query = select(step.table.c.id).where(inner)
            if step.scope is not None:
                query = query.where(step.scope)
            inner = step.link.in_(query)
        if not matches_null:
            return inner
        first = self.steps[0].link
        return or_(first.is_(None), not_(inner))


def _alias(repo: Any, table: Any, entity_id: str, depth: int, hop: int, prefix: str = "lp") -> Any:
    """The alias of ``table`` for hop ``hop`` of a path at lookup depth ``depth``, made
    once per Database: building a wide table's alias costs more than the query, and
    the name is stable, so two hops of one statement never share one."""
    name = f"{prefix}{depth}_{hop}_{entity_id}"
    db = getattr(repo, "db", None)
    if db is None:
        return table.alias(name)
    return db.memo(("path_alias", name), lambda: table.alias(name))


def resolve_path(
    repo: Any,
    plan: Any,
    grant: Grant,
    user: Principal | None,
    name: str,
    base: Any = None,
    depth: int = 0,
    first_link: Any = None,
    prefix: str = "lp",
) -> ResolvedPath:
    """``name`` (``account.industry``) from ``plan``'s entity for ``user``, or
    FieldInvalid ``unknown_field`` when it does not walk or a hop is not readable.
    ``base`` is the table (or alias) the first link is a column of; ``prefix`` names
    the aliases (a path joined to the statement needs its own)."""
    try:
        walked = walk_path(repo.model.entities, plan.entity.id, name)
    except (PathError, KeyError):
        raise unknown() from None
    table = plan.table if base is None else base
    here_grant, here_plan = grant, plan
    steps: list[Step] = []
    for hop in walked.hops:
        if not readable(here_grant, hop.link.id) or hop.link.id not in table.c:
            raise unknown()
        link = table.c[hop.link.id] if first_link is None or steps else first_link
        if hop.target == USERS:
            target = _alias(repo, st.users, "sys_users", depth, len(steps), prefix)
            steps.append(Step(link, target, None))
            here_plan, here_grant, table = None, None, target
            continue
        here_plan = repo.plan(hop.target)
        if user is None and not grant.unrestricted:
            raise unknown()  # whose scopes would the hop apply? never assume the system's
        here_grant = repo.grant(user, hop.target) if user is not None else _system(repo)
        if not here_grant.unrestricted and not here_grant.read:
            raise unknown()
        target = _alias(repo, here_plan.table, hop.target, depth, len(steps), prefix)
        scope = None
        if not here_grant.unrestricted:
            linked = repo._linked(user) if hasattr(repo, "_linked") else None
            scope = scope_clause(here_grant.scopes("read"), target, user, linked)
        steps.append(Step(link, target, scope))
        table = target
    end = walked.field
    if here_plan is None:  # a user's name or team
        return ResolvedPath(tuple(steps), table.c[USER_COLUMNS[end.id]], end)
    column, field = end_column(repo, here_plan, here_grant, user, end.id, table, depth, prefix)
    return ResolvedPath(tuple(steps), column, field)


def end_column(
    repo: Any,
    plan: Any,
    grant: Grant,
    user: Principal | None,
    name: str,
    table: Any,
    depth: int = 0,
    prefix: str = "lp",
) -> tuple[Any, FieldDef]:
    """The SQL of field ``name`` of ``plan``'s entity over ``table`` (the entity's
    table or an alias): its column, a system column, or a lookup's own path."""
    if name in plan.system_keys:
        if not readable(grant, name):
            raise unknown()
        return table.c[name], plan.system_fields.get(name) or plan.system_fields[name]
    field = plan.field_of_key(name)
    if field is None or not readable(grant, field.id):
        raise unknown()
    if is_lookup(field):
        if depth >= MAX_NESTED_LOOKUPS:
            raise unknown()
        path = LookupType.path(field)
        inner = resolve_path(
            repo, plan, grant, user, path, base=table, depth=depth + 1, prefix=prefix
        )
        return inner.value(), field
    if name not in table.c:
        raise unknown()
    if name != field.id:  # a money field's currency
        return table.c[name], FieldDef(name, "text", field.label)
    return table.c[name], field


def is_lookup(field: FieldDef) -> bool:
    return isinstance(type_of(field), LookupType)


def lookup_value(repo: Any, plan: Any, grant: Grant, user: Principal | None, field: FieldDef):
    """The SQL value of lookup ``field`` of ``plan``'s entity, for ``user``."""
    path = LookupType.path(field)
    return resolve_path(repo, plan, grant, user, path).value()


def lookups_of_values(repo: Any, conn: Any, plan: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Every lookup of ``plan``'s entity for a record still in memory (a write's values,
    links as just written), read in ``conn`` (the write's transaction) with one
    statement: what gates, rules and formulas of the write see."""
    from .permissions import SYSTEM_GRANT

    columns = []
    for field in plan.rows.fields:
        if not is_lookup(field):
            continue
        first = LookupType.path(field).split(".")[0]
        link = plan.rows.by_id.get(first) or plan.system_fields.get(first)
        key = link.id if link is not None else first
        raw = values.get(key)
        given = literal(raw, BigInteger()) if isinstance(raw, int) else null()
        try:
            resolved = resolve_path(
                repo, plan, SYSTEM_GRANT, None, LookupType.path(field), first_link=given
            )
        except FieldInvalid:
            continue
        columns.append((field, resolved.value().label(field.id)))
    if not columns:
        return {}
    row = conn.execute(select(*(c for _f, c in columns))).first()
    found = {}
    for field, _column in columns:
        value = row._mapping[field.id] if row is not None else None
        found[field.id] = None if value is None else type_of(field).value_from_db(field, value)
    return found


def lookups_moved(plan: Any, written: set[str]) -> set[str]:
    """The lookups of ``plan``'s entity whose first link is among ``written`` keys (an
    update re-pointing a link changes them: the rules reading them are checked)."""
    from runtime.definition.paths import SYSTEM_ALIASES

    found = set()
    for field in plan.rows.fields:
        if is_lookup(field):
            first = LookupType.path(field).split(".")[0]
            if first in written or SYSTEM_ALIASES.get(first) in written:
                found.add(field.id)
    return found


def _system(repo: Any) -> Grant:
    from .permissions import SYSTEM_GRANT

    return SYSTEM_GRANT


ConditionBuilder = Callable[[Any, FieldDef], Any]

__all__ = [
    "ResolvedPath",
    "Step",
    "end_column",
    "is_lookup",
    "lookup_value",
    "resolve_path",
]
