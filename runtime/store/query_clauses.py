"""Named query clauses: filter terms a feature contributes, compiled to SQL inside the
repository's one filter translation.

A feature's ``query_clauses(model)`` hook returns ``{name: QueryClause}``. A list or
count filter naming the clause - ``("idle", "eq", "1")``, ``{"field": "idle", "value":
"1"}`` or a view's ``ViewFilter`` - is compiled by the clause's ``build`` into one
SQLAlchemy expression of the entity's table (never a list of ids), combined with the
row scope, the other filters and the search like any field filter. A field or column
of the same name wins over a clause, and a clause is offered only on the entities its
``applies`` accepts (elsewhere the name is an unknown field).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class TermInvalid(ValueError):
    """A named term used with an operator or value it does not take (the filter is then
    refused as ``invalid`` on its name)."""


@dataclass(frozen=True)
class ClauseContext:
    """What a clause is compiled for: one filter term of one query."""

    db: Any  # runtime.store.Database
    entity: Any  # runtime.definition.model.Entity
    table: Any  # the entity's sqlalchemy Table
    user: Any  # runtime.store.Principal (None for system reads)
    grant: Any  # runtime.store.permissions.Grant of the reader
    op: str  # the filter's operator ("eq" unless given)
    value: Any  # the filter's value, as sent

    @property
    def model(self) -> Any:
        return self.db.model


def _everywhere(_model: Any, _entity: Any) -> bool:
    return True


@dataclass(frozen=True)
class QueryClause:
    """A named filter term: ``build(context)`` returns the SQL expression, or raises
    ``TermInvalid`` for an operator or value it does not take. ``applies(model, entity)``
    says on which entities the name is offered (default: every entity); ``reads``, the
    columns its answer depends on."""

    name: str
    build: Callable[[ClauseContext], Any]
    applies: Callable[[Any, Any], bool] = _everywhere
    description: str = ""
    # The record keys the clause's answer depends on (``("stage",)``), or None when it
    # does not say (or depends on the time or on other tables): a stored value filtered
    # by the clause (a rollup) is then recomputed on every write of the record.
    reads: tuple[str, ...] | None = None


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def term_values(value: Any) -> list[Any]:
    """The values of a filter term: a list as given, ``"a,b"`` split at the commas, one
    value as a list of one."""
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    if isinstance(value, str) and "," in value:
        return [part.strip() for part in value.split(",")]
    return [value]


def flag_value(value: Any) -> bool | None:
    """A yes/no filter value (``True``, ``1``, ``"1"``, ``"true"``, ``"on"`` ...) as a bool,
    None when it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def clauses_for(db: Any, features: Any, entity: Any, table: Any) -> dict[str, QueryClause]:
    """The clauses ``features`` offer on ``entity`` (columns of the table win)."""
    offered = features.merge("query_clauses", db.model) if features is not None else {}
    return {
        name: clause
        for name, clause in offered.items()
        if name not in table.c and clause.applies(db.model, entity)
    }


__all__ = [
    "ClauseContext",
    "QueryClause",
    "TermInvalid",
    "clauses_for",
    "flag_value",
    "term_values",
]
