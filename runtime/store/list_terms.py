"""User tokens the repository resolves for the reader: ``me`` and ``my_team``.

``owner_id = me`` or ``owner_id in [my_team]`` mean the signed-in user and the members
of their teams, resolved when the query runs (so one saved view serves everyone).
A feature's own named terms are query clauses (``runtime.store.query_clauses``).

Everything is SQLAlchemy Core built from the compiled model; values are bound.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import false, or_, select

from runtime.definition.filter_terms import (
    ME,
    MY_TEAM,
    USER_FILTER_TOKENS,
    USER_TOKEN_OPERATORS,
)

from . import system_tables as st
from .principal import Principal
from .query_clauses import TermInvalid, term_values

USER_TOKENS = USER_FILTER_TOKENS


# --------------------------------------------------------------------------- me / my team


def has_user_token(value: Any) -> bool:
    return any(isinstance(v, str) and v.strip() in USER_TOKENS for v in term_values(value))


def team_member_ids(user: Principal) -> Any:
    """A subquery of the ids of the members of the user's teams (their own and managed)."""
    users = st.users
    return select(users.c.id).where(users.c.team_id.in_(sorted(user.team_ids)))


def user_token_clause(column: Any, op: str, value: Any, user: Principal, coerce) -> Any:
    """SQL for a user field compared with ``me`` / ``my_team`` (and user ids) for ``user``.

    ``my_team`` always includes the user, also one who belongs to no team.
    """
    if op not in USER_TOKEN_OPERATORS:
        raise TermInvalid(op)
    parts: list[Any] = []
    ids: set[int] = set()
    for item in term_values(value):
        word = item.strip() if isinstance(item, str) else item
        if word == ME:
            ids.add(user.id)
        elif word == MY_TEAM:
            ids.add(user.id)
            if user.team_ids:
                parts.append(column.in_(team_member_ids(user)))
        else:
            coerced = coerce(item)
            if coerced is not None:
                ids.add(int(coerced))
    if ids:
        parts.insert(0, column.in_(sorted(ids)))
    clause = or_(*parts) if parts else false()
    if op == "ne":
        return or_(~clause, column.is_(None))
    return clause


def user_token_values(values: Iterable[Any]) -> list[str]:
    """The tokens among ``values`` (for messages and labels)."""
    return [v for v in values if isinstance(v, str) and v in USER_TOKENS]


__all__ = [
    "ME",
    "MY_TEAM",
    "USER_TOKEN_OPERATORS",
    "TermInvalid",
    "USER_TOKENS",
    "has_user_token",
    "team_member_ids",
    "user_token_clause",
]
