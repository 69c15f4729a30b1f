"""Group-by in lists: ``?group=<field>`` sorts the rows by that field first and heads each
group with its subtotals (count, and the sum of every numeric column shown), and a
totals row sums the whole filtered list; ``?totals=1`` shows the totals row alone.

The numbers come from ``Repository.aggregate`` (one GROUP BY and one ungrouped SELECT,
with the list's filters, search, row scope and field permissions), so a subtotal counts
the whole group, not only the rows on this page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runtime.definition.model import Entity, FieldDef
from runtime.errors import ValidationError
from runtime.fieldtypes import currency_key, type_of
from runtime.web.list_request import ListEnv, ListRequest, all_fields, shown_type
from runtime.web.query import QueryError, sortable_fields

GROUP_PARAM = "group"
TOTALS_PARAM = "totals"
MAX_GROUPS = 500  # subtotals beyond these are not fetched (the rows still show)


@dataclass(frozen=True)
class Subtotal:
    """One group's (or the whole list's) count and sums. ``sums``: column id ->
    ``[(amount, currency or None), ...]`` (money is never added across currencies)."""

    key: Any
    label: str
    count: int
    sums: Mapping[str, tuple[tuple[Any, str | None], ...]]


@dataclass(frozen=True)
class ListSummary:
    """The subtotals of ``field``'s groups (None: totals only) and the totals row."""

    field: FieldDef | None
    groups: Mapping[Any, Subtotal]
    totals: Subtotal
    summed: tuple[str, ...]  # the column ids summed
    has_more: bool = False


def groupable_fields(entity: Entity, readable: Sequence[str] | frozenset[str]) -> list[FieldDef]:
    """Fields a list may be grouped by: readable, sortable, one value per record that
    names a category (an option, a user, a linked record, yes/no, a date or short text)."""
    sortable = set(sortable_fields(entity)) & set(readable)
    found = []
    for f in all_fields(entity).values():
        if f.id not in sortable or f.id == "id" or not _is_category(f):
            continue
        found.append(f)
    return found


def _is_category(f: FieldDef) -> bool:
    ftype = type_of(f)
    if ftype.holds_rows or ftype.json_list:
        return False
    shown = shown_type(f)
    if shown.has_options or shown.references in ("user", "record"):
        return True
    if shown.boolean or (shown.temporal and not shown.instant):
        return True
    return shown.name in ("text", "email", "phone")


def read_group(
    entity: Entity, pairs: Sequence[tuple[str, str]], readable: Sequence[str] | frozenset[str]
) -> tuple[str | None, QueryError | None]:
    """The ``group=`` field of a query string, or None and the error that dropped it."""
    raw = next((v.strip() for k, v in pairs if k == GROUP_PARAM and v.strip()), None)
    if raw is None:
        return None, None
    if raw in {f.id for f in groupable_fields(entity, readable)}:
        return raw, None
    return None, QueryError(GROUP_PARAM, "Rows cannot be grouped by %(field)s.", field=raw)


def wants_totals(pairs: Sequence[tuple[str, str]]) -> bool:
    return any(
        k == TOTALS_PARAM and v.strip().lower() in ("1", "true", "yes", "on") for k, v in pairs
    )


def summed_columns(req: ListRequest) -> list[FieldDef]:
    """The shown columns whose values add up (numbers and money, not yes/no)."""
    return [
        c
        for c in req.columns
        if c.id != "id"
        and "." not in c.id
        and type_of(c).is_stored(c)
        and shown_type(c).numeric
        and not shown_type(c).boolean
    ]


def summarise(env: ListEnv, req: ListRequest, empty_label: str = "—") -> ListSummary | None:
    """The subtotals and totals of ``req`` (None when neither is asked for)."""
    if req.group is None and not req.totals:
        return None
    summed = summed_columns(req)
    try:
        totals = _aggregate(env, req, (), summed)
        groups = _aggregate(env, req, (req.group,), summed) if req.group else None
    except ValidationError as exc:  # a column the aggregate refuses: the others still add up
        summed = [c for c in summed if c.id not in exc.errors]
        totals = _aggregate(env, req, (), summed)
        groups = _aggregate(env, req, (req.group,), summed) if req.group else None
    field = all_fields(req.entity).get(req.group) if req.group else None
    by_key: dict[Any, Subtotal] = {}
    if groups is not None and field is not None:
        for key, rows in _rows_by_key(groups.rows, req.group).items():
            label = _group_label(env, field, key, rows[0].get("labels", {}).get(req.group))
            by_key[key] = _subtotal(key, label or empty_label, rows, summed)
    total = _subtotal(None, "", totals.rows, summed)
    return ListSummary(
        field, by_key, total, tuple(c.id for c in summed), bool(groups and groups.has_more)
    )


def _aggregate(env: ListEnv, req: ListRequest, group_by: Sequence[Any], summed: list[FieldDef]):
    return env.repo.aggregate(
        env.principal,
        req.entity.id,
        filters=list(req.filters),
        search=req.search,
        archived=None if req.show_archived else False,
        group_by=list(group_by),
        measures=["count", *(f"sum:{c.id}" for c in summed)],
        limit=MAX_GROUPS,
    )


def _rows_by_key(rows: Sequence[Mapping[str, Any]], key: str) -> dict[Any, list[Mapping]]:
    """Money splits a group into one row per currency: put them back together."""
    found: dict[Any, list[Mapping]] = {}
    for row in rows:
        found.setdefault(row.get(key), []).append(row)
    return found


def _subtotal(key: Any, label: str, rows: Sequence[Mapping[str, Any]], summed) -> Subtotal:
    """Rows of one group (one per currency combination) added up, each currency apart."""
    count = sum(int(row.get("count") or 0) for row in rows)
    sums: dict[str, dict[str | None, Any]] = {c.id: {} for c in summed}
    for row in rows:
        for c in summed:
            amount = row.get(f"sum:{c.id}")
            if amount is None:
                continue
            currency = row.get(currency_key(c)) if shown_type(c).has_currency else None
            found = sums[c.id]
            found[currency] = found.get(currency, 0) + amount
    return Subtotal(
        key, label, count, {k: tuple((a, cur) for cur, a in v.items()) for k, v in sums.items()}
    )


def _group_label(env: ListEnv, field: FieldDef, key: Any, label: str | None) -> str:
    if key is None or key == "":
        return ""
    if label:
        return label
    if shown_type(field).references:
        return ""  # a record or user the reader may not see: never reveal its id
    return type_of(field).format(field, key, env.locale, currency=None, tzinfo=env.timezone) or str(
        key
    )


__all__ = [
    "GROUP_PARAM",
    "TOTALS_PARAM",
    "ListSummary",
    "Subtotal",
    "groupable_fields",
    "read_group",
    "summarise",
    "summed_columns",
    "wants_totals",
]
