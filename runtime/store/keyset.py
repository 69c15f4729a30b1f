"""Keyset ("seek") paging: the WHERE clauses that continue a sorted list after or before a row.

A list is ordered by its sort keys and then ``id``, with NULL sorting as if larger than
any value (PostgreSQL's default, which the repository also asks of SQLite). A
``Position`` holds the sort spec and the key values of one row; the page after it is

    (k0, k1, ..., id) "comes after" (v0, v1, ..., vid)

spelled out per key, because the keys may mix directions and hold NULLs. So that an
index on the leading key is searched rather than walked from the start, the leading
key gets a plain range (``k0 >= v0``) and the rows of the other NULL class (the NULLs
after the last value of an ascending key, the values after the NULLs of a descending
one) are read by a second query only when the first one runs out: see ``phases``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, false, literal, or_

DEFAULT_SORT = ("-updated_at",)


@dataclass(frozen=True)
class Position:
    """Where a page starts or ends: the normalised sort spec and that row's key values."""

    sort: tuple[str, ...]
    values: tuple[Any, ...]


class StaleCursor(ValueError):
    """A position that does not fit the list's sort (another sort, another app version)."""

    def __init__(self, param: str, message: str = "does not fit this list's sort"):
        self.param = param
        self.message = message
        super().__init__(f"{param}: {message}")


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY term: its name in the sort spec, the SQL expression, its direction."""

    name: str
    expr: Any
    desc: bool
    nullable: bool
    path: Any = None  # a ResolvedPath the statement joins for ``expr`` (a sort by a path)

    def flipped(self) -> SortKey:
        return SortKey(self.name, self.expr, not self.desc, self.nullable, self.path)


def normalise_sort(sort: Sequence[str]) -> tuple[str, ...]:
    """The spec the repository orders by: the default when empty, nothing after ``id``,
    and ``id`` last in the direction of the key before it (``("-amount", "-id")``)."""
    spec: list[str] = []
    last_desc = True
    for item in sort or DEFAULT_SORT:
        desc = item.startswith("-")
        name = item.lstrip("-+")
        last_desc = desc
        if name == "id":
            break
        spec.append(("-" if desc else "") + name)
    spec.append("-id" if last_desc else "id")
    return tuple(spec)


def order_by(keys: Sequence[SortKey], nulls_clause: bool) -> list[Any]:
    """ORDER BY terms with NULL as the largest value: PostgreSQL's default, asked of
    SQLite (``nulls_clause``) with NULLS FIRST / LAST on the leading key. A nullable key
    after the first is ordered as ``key IS NULL, key``: the same order, in a form both
    databases read from an index (``runtime.store.indexes``), where SQLite sorts for a
    NULLS clause beyond the leading key."""
    terms = []
    for n, key in enumerate(keys):
        term = key.expr.desc() if key.desc else key.expr.asc()
        if key.nullable and n > 0:
            empty = key.expr.is_(None)
            terms.append(empty.desc() if key.desc else empty.asc())
        elif key.nullable and nulls_clause:
            term = term.nulls_first() if key.desc else term.nulls_last()
        terms.append(term)
    return terms


def _equal(key: SortKey, value: Any) -> Any:
    return key.expr.is_(None) if value is None else key.expr == value


def _beyond(key: SortKey, value: Any) -> Any:
    """Rows whose ``key`` comes strictly after ``value`` in the list's order."""
    if key.desc:
        return key.expr.is_not(None) if value is None else key.expr < value
    if value is None:
        return false()
    return or_(key.expr > value, key.expr.is_(None)) if key.nullable else key.expr > value


def _after_from(keys: Sequence[SortKey], values: Sequence[Any], start: int) -> Any:
    """keys[start:] come after values[start:] (lexicographically, NULL largest)."""
    key, value = keys[start], values[start]
    if start == len(keys) - 1:
        return _beyond(key, value)
    return or_(_beyond(key, value), and_(_equal(key, value), _after_from(keys, values, start + 1)))


def phases(keys: Sequence[SortKey], values: Sequence[Any]) -> list[Any]:
    """WHERE clauses, read in turn, that together give every row after ``values``.

    The first keeps to the leading key's NULL class (values, or NULLs) with a plain
    range on it; the second, when there is one, is the whole next class. An empty
    list: nothing comes after.
    """
    if not keys or len(keys) != len(values):
        raise StaleCursor("after")
    # Bound with the column's type (a plain True would not compare with ">").
    values = [
        None if v is None else literal(v, k.expr.type) for k, v in zip(keys, values, strict=True)
    ]
    lead, value = keys[0], values[0]
    rest = _after_from(keys, values, 1) if len(keys) > 1 else None
    found: list[Any] = []
    if value is None:
        if rest is not None:
            found.append(and_(lead.expr.is_(None), rest))
        if lead.desc:  # every value follows the NULLs of a descending key
            found.append(lead.expr.is_not(None))
        return found
    strictly = lead.expr < value if lead.desc else lead.expr > value
    if rest is None:
        found.append(strictly)
    else:
        bound = lead.expr <= value if lead.desc else lead.expr >= value
        found.append(and_(bound, or_(strictly, and_(lead.expr == value, rest))))
    if not lead.desc and lead.nullable:  # the NULLs follow the last value
        found.append(lead.expr.is_(None))
    return found


__all__ = [
    "DEFAULT_SORT",
    "Position",
    "SortKey",
    "StaleCursor",
    "normalise_sort",
    "order_by",
    "phases",
]
