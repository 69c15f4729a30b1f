"""Role grants turned into answers: may this user create, which rows, which fields.

A user with several roles gets the union of their grants: every row scope any role
gives (OR-ed in SQL), and for each field the widest access (write > read > none) of
the roles that grant the entity at all. ``"*"`` in a role stands for every entity an
entry of its own does not name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, false, or_, select, union

from runtime.definition.model import MAX_VIA_DEPTH, AppModel, EntityPermission, Scope
from runtime.definition.paths import USERS
from runtime.errors import ExpressionError

from . import system_tables as st
from .principal import Principal
from .scope_paths import scope_columns

ACCESS_RANK = {"none": 0, "read": 1, "write": 2}
ALL = Scope("all")
ACTIONS = ("read", "update", "archive")


@dataclass(frozen=True)
class Grant:
    """What one principal may do with one entity."""

    create: bool = False
    read: tuple[Scope, ...] = ()
    update: tuple[Scope, ...] = ()
    archive: tuple[Scope, ...] = ()
    # field id -> "read" | "none"; unlisted fields are "write"
    field_access: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    unrestricted: bool = False  # SYSTEM: no row, field or read-only checks

    def scopes(self, action: str) -> tuple[Scope, ...]:
        return getattr(self, action)

    def access(self, field_id: str) -> str:
        return self.field_access.get(field_id, "write")

    def may_read_field(self, field_id: str) -> bool:
        return self.field_access.get(field_id, "write") != "none"

    def may_write_field(self, field_id: str) -> bool:
        return self.field_access.get(field_id, "write") == "write"

    @property
    def hidden(self) -> frozenset[str]:
        return frozenset(f for f, a in self.field_access.items() if a == "none")


SYSTEM_GRANT = Grant(True, (ALL,), (ALL,), (ALL,), MappingProxyType({}), unrestricted=True)
NO_GRANT = Grant()


def _entity_permission(role_permissions: Mapping[str, EntityPermission], entity_id: str):
    return role_permissions.get(entity_id) or role_permissions.get("*")


def _union_scopes(scopes: Iterable[Scope]) -> tuple[Scope, ...]:
    found: list[Scope] = []
    for scope in (part for listed in scopes for part in listed.flat()):
        if scope.kind == "none":
            continue
        if scope.kind == "all":
            return (ALL,)
        if scope not in found:
            found.append(scope)
    return tuple(found)


def combine(permissions: list[EntityPermission]) -> Grant:
    """The union of several roles' permissions on one entity."""
    if not permissions:
        return NO_GRANT
    granting = [p for p in permissions if p.create or p.read.kind != "none"] or permissions
    mentioned = {f for p in granting for f in p.fields}
    access = {}
    for field_id in mentioned:
        best = max((p.fields.get(field_id, "write") for p in granting), key=ACCESS_RANK.__getitem__)
        if best != "write":
            access[field_id] = best
    return Grant(
        create=any(p.create for p in permissions),
        read=_union_scopes(p.read for p in permissions),
        update=_union_scopes(p.update for p in permissions),
        archive=_union_scopes(p.archive for p in permissions),
        field_access=MappingProxyType(access),
    )


class Permissions:
    """Grants of a model, computed once per (roles, entity)."""

    def __init__(self, model: AppModel):
        self.model = model
        self._cache: dict[tuple[frozenset[str], str], Grant] = {}

    def grant(self, principal: Principal, entity_id: str) -> Grant:
        if principal.is_system:
            return SYSTEM_GRANT
        return self._grant(principal.roles, entity_id, frozenset())

    def _grant(self, roles: frozenset[str], entity_id: str, visiting: frozenset[str]) -> Grant:
        key = (roles, entity_id)
        found = self._cache.get(key)
        if found is None:
            base = self._declared(roles, entity_id)
            found = self._with_derived(roles, entity_id, base, visiting | {entity_id})
            found = self._cache.setdefault(key, found)
        return found

    def _declared(self, roles: frozenset[str], entity_id: str) -> Grant:
        """The union of the roles' grants as written (derived fields not yet checked)."""
        perms = []
        for role_id in sorted(roles):
            role = self.model.roles.get(role_id)
            if role is not None:
                perm = _entity_permission(role.permissions, entity_id)
                if perm is not None:
                    perms.append(perm)
        return combine(perms)

    def _with_derived(
        self, roles: frozenset[str], entity_id: str, grant: Grant, visiting: frozenset[str]
    ) -> Grant:
        """``grant`` with every derived field hidden whose sources the roles may not all
        read (a lookup of a hidden field, a rollup over children they cannot see), so
        its value is never shown, filtered, sorted or grouped on."""
        entity = self.model.entities.get(entity_id)
        if entity is None:
            return grant
        hidden = set()
        for fdef in entity.fields:
            sources = field_sources(fdef, entity_id, self.model)
            if sources and not all(
                self._may_read(roles, grant, entity_id, source, visiting) for source in sources
            ):
                hidden.add(fdef.id)
        if not hidden:
            return grant
        access = {**grant.field_access, **dict.fromkeys(hidden, "none")}
        return replace(grant, field_access=MappingProxyType(access))

    def _may_read(
        self,
        roles: frozenset[str],
        own: Grant,
        entity_id: str,
        source: tuple[str, str],
        visiting: frozenset[str],
    ) -> bool:
        source_entity, field_id = source
        if source_entity == USERS:
            return True  # every signed-in user sees users' names and teams
        if source_entity == entity_id:
            grant = own
        elif source_entity in visiting:
            # Entities reading each other (a lookup one way, a rollup back): the other
            # side's grant as declared; its own derived fields are checked on its turn.
            grant = self._declared(roles, source_entity)
        else:
            grant = self._grant(roles, source_entity, visiting)
        return readable(grant, field_id)


def readable(grant: Grant, field_id: str) -> bool:
    """Whether ``grant`` reads ``field_id`` on some records (a read scope, field access)."""
    return grant.unrestricted or (bool(grant.read) and grant.may_read_field(field_id))


def field_sources(fdef: Any, entity_id: str, model: AppModel) -> tuple[tuple[str, str], ...]:
    """The (entity, field) pairs a derived field's value is read from (FieldType
    ``reads_through``); () for a field that holds its own value."""
    from runtime.fieldtypes import type_of

    return tuple(type_of(fdef).reads_through(fdef, entity_id, model))


# --------------------------------------------------------------------------- row scopes

# ``linked(entity_id, alias)``: an alias of a linked entity's table by that name (made
# once: a wide table's alias costs to build) and the viewer's read scopes on the entity
# (None: every row), for the ``via`` scopes; the repository supplies it.
Linked = Callable[[str, str], tuple[Any, "tuple[Scope, ...] | None"]]


def scope_clause(
    scopes: tuple[Scope, ...],
    table: Table,
    principal: Principal,
    linked: Linked | None = None,
    depth: int = 0,
) -> ColumnElement | None:
    """A WHERE clause selecting the rows in any of ``scopes``; None means every row.

    A ``via`` scope becomes ``link IN (SELECT id FROM target WHERE <target's read scope>
    [AND <where>])``: one statement, however many links it follows. Archived linked
    records count like the others (archiving is not deleting)."""
    parts: list[ColumnElement] = []
    for scope in scopes:
        if scope.kind == "all":
            return None
        if scope.kind == "own":
            parts.append(table.c.owner_id == principal.id)
        elif scope.kind == "team":
            parts.append(_team_clause(table, principal))
        elif scope.kind == "expression":
            columns = scope_columns(scope, table, linked, depth)
            parts.append(scope.expression.to_sql(columns, principal))
        elif scope.kind == "assigned":
            parts.append(table.c[scope.field] == principal.id)
        elif scope.kind == "via":
            targets = via_targets(scope, principal, linked, depth)
            if targets is not None:
                parts.append(table.c[scope.field].in_(targets.scalar_subquery()))
    if not parts:
        return false()
    if len(parts) == 1:
        return parts[0]
    if any(scope.kind == "via" for scope in scopes):
        # ``id IN (SELECT id ... UNION SELECT id ...)``: each branch reads its own index
        # (owner_id, the link column); an OR of subqueries would scan the whole table.
        branches = [select(table.c.id).where(part).correlate(None) for part in parts]
        return table.c.id.in_(union(*branches).scalar_subquery())
    return or_(*parts)


def via_targets(
    scope: Scope, principal: Principal, linked: Linked | None, depth: int = 0
) -> Select | None:
    """``SELECT id FROM target WHERE ...``: the linked records a via scope lets through;
    None when there is nothing to ask (no resolver, or deeper than the compiler allows)."""
    if linked is None or depth >= MAX_VIA_DEPTH:
        return None
    # An alias of its own, never correlated: the outer query may join the same table.
    target, target_scopes = linked(scope.target, f"scope_{depth}_{scope.target}"[:63])
    conditions: list[ColumnElement] = []
    if target_scopes is not None:
        inner = scope_clause(target_scopes, target, principal, linked, depth + 1)
        if inner is not None:
            conditions.append(inner)
    if scope.expression is not None:
        columns = scope_columns(scope, target, linked, depth + 1)
        conditions.append(scope.expression.to_sql(columns, principal))
    return select(target.c.id).where(*conditions).correlate(None)


def _team_clause(table: Table, principal: Principal) -> ColumnElement:
    teams = principal.team_ids
    own = table.c.owner_id == principal.id
    if not teams:
        return own
    members = select(st.users.c.id).where(st.users.c.team_id.in_(sorted(teams)))
    return or_(own, table.c.owner_id.in_(members.scalar_subquery()))


def record_in_scope(
    scopes: tuple[Scope, ...],
    record: Mapping[str, Any],
    principal: Principal,
    owner_team: Callable[[int], int | None],
    linked_in_scope: Callable[[Scope, int], bool] | None = None,
) -> bool:
    """The same answer as ``scope_clause`` for one record already in memory.

    ``owner_team(user_id)`` looks up a user's team; it is called only for ``team``.
    ``linked_in_scope(scope, linked_id)`` asks the database whether a ``via`` scope lets
    the linked record through (without it, a via scope lets nothing through).
    """
    owner = record.get("owner_id")
    for scope in scopes:
        if scope.kind == "all":
            return True
        if scope.kind == "own" and owner is not None and owner == principal.id:
            return True
        if scope.kind == "team" and owner is not None:
            if owner == principal.id or owner_team(owner) in principal.team_ids:
                return True
        if scope.kind == "expression":
            try:
                if scope.expression.evaluate(record, user=principal):
                    return True
            except ExpressionError:
                continue
        if scope.kind == "assigned" and _id_of(record.get(scope.field)) == principal.id:
            return True
        if scope.kind == "via" and linked_in_scope is not None:
            linked_id = _id_of(record.get(scope.field))
            if linked_id is not None and linked_in_scope(scope, linked_id):
                return True
    return False


def _id_of(value: Any) -> int | None:
    """A link or user value as an id (records in memory may carry ``{"id": ...}``)."""
    if isinstance(value, Mapping):
        value = value.get("id")
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
