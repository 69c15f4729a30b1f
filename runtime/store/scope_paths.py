"""Link paths in row scopes' SQL: ``account.industry == 'manufacturing'`` in a role's
``read: {expression: ...}`` as a correlated subquery through the link chain.

A row scope is admin metadata: the path is followed with full access (the linked
record need not be readable by the user; only the rows the scope selects are shown,
never the values read). An empty link, or one reaching an archived record, gives NULL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import null, select

from runtime.definition.model import Scope
from runtime.definition.paths import USERS, WalkedPath

from . import system_tables as st

# What a path may read of a user, as columns of sys_users.
_USER_COLUMNS = {"name": "name", "team": "team_id"}


def scope_columns(scope: Scope, table: Any, linked: Any, depth: int = 0) -> Callable[[str], Any]:
    """``column_for`` of ``scope.expression.to_sql`` over ``table``: a field's column, or
    a walked link path's value."""
    paths = dict(scope.paths)
    if not paths:
        return lambda name: table.c[name]

    def column_for(name: str) -> Any:
        walked = paths.get(name)
        if walked is None:
            return table.c[name]
        return walked_value(walked, table, linked, depth)

    return column_for


def walked_value(walked: WalkedPath, table: Any, linked: Any, depth: int = 0) -> Any:
    """The value of ``walked`` for each row of ``table``: nested correlated subqueries
    (each on the next table's primary key), NULL through an archived record."""
    if linked is None:
        return null()  # no way to reach the linked tables: the path matches nothing
    hops = []
    here = table
    for n, hop in enumerate(walked.hops):
        link = here.c[hop.link.id]
        if hop.target == USERS:
            target = st.users
        else:
            target = linked(hop.target, f"xp{depth}_{n}_{hop.target}")[0]
        hops.append((link, target))
        here = target
    end = walked.field.id
    value = here.c[_USER_COLUMNS[end] if walked.end == USERS else end]
    for link, target in reversed(hops):
        query = select(value).where(target.c.id == link)
        if "archived_at" in target.c:
            query = query.where(target.c.archived_at.is_(None))
        value = query.scalar_subquery()
    return value


__all__ = ["scope_columns", "walked_value"]
