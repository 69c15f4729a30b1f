"""Named list terms the repository resolves for the reader: stage kinds, stage order, me / my team.

A list filter may say ``stage_kind in [open]`` instead of naming stage ids, so a view
keeps up when a stage is added; ``owner_id = me`` or ``owner_id in [my_team]`` mean
the signed-in user and the members of their teams, resolved when the query runs (so
one saved view serves everyone). Sorting by ``stage`` follows the pipeline's order
(open stages first, then won, then lost), not the alphabet.

Everything is SQLAlchemy Core built from the compiled model; values are bound.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, false, literal, or_, select, true

from runtime.definition.filter_terms import (
    ME,
    MY_TEAM,
    USER_FILTER_TOKENS,
    USER_TOKEN_OPERATORS,
)
from runtime.features.pipelines.definition import (
    STAGE_KIND_FILTER,
    STAGE_KIND_OPERATORS,
    STAGE_KIND_VALUES,
    pipelines_for_entity,
)

from . import system_tables as st
from .principal import Principal
from .query_clauses import TermInvalid

STAGE_KIND = STAGE_KIND_FILTER
STAGE_KINDS = STAGE_KIND_VALUES
USER_TOKENS = USER_FILTER_TOKENS
KIND_RANK = {kind: n for n, kind in enumerate(STAGE_KINDS)}
UNKNOWN_STAGE_RANK = 10_000  # a stage no pipeline lists any more sorts after all others


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    if isinstance(value, str) and "," in value:
        return [part.strip() for part in value.split(",")]
    return [value]


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
    kinds = [str(v).strip() for v in _as_list(value)]
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
                parts.append(queries.membership(pipeline) & column.in_(ids))
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


# --------------------------------------------------------------------------- me / my team


def has_user_token(value: Any) -> bool:
    return any(isinstance(v, str) and v.strip() in USER_TOKENS for v in _as_list(value))


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
    for item in _as_list(value):
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
    "STAGE_KIND",
    "STAGE_KIND_OPERATORS",
    "USER_TOKEN_OPERATORS",
    "TermInvalid",
    "USER_TOKENS",
    "has_user_token",
    "stage_ids_by_kind",
    "stage_kind_clause",
    "stage_order_column",
    "team_member_ids",
    "user_token_clause",
]
