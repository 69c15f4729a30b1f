"""Relative dates in filters: ``this_quarter``, ``last_30_days``, ``today``... as a
half-open range of calendar days ``[start, end)`` judged in the app's time zone.

A filter on a date or date-time field may name one instead of a date:
``("close_date", "eq", "this_quarter")`` keeps the records whose close date falls in
this quarter; ``ne`` those outside it (or without one); ``gte`` / ``gt`` from its first
day / after its last; ``lte`` / ``lt`` up to its last day / before its first. A
date-time field compares with the midnights of those days in the app's zone, so "today"
for a Shanghai team is Shanghai's today. Weeks start on Monday (ISO).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import or_

UNITS = ("week", "month", "quarter", "year")
PERIOD = re.compile(r"(this|last|next)_(week|month|quarter|year)")
DAYS = re.compile(r"(last|next)_(\d{1,3})_days")
MAX_DAYS = 999
# The tokens as a JSON Schema pattern (the API's filter parameters of date fields).
PATTERN = (
    "^(today|yesterday|tomorrow|(this|last|next)_(week|month|quarter|year)"
    "|(last|next)_[1-9][0-9]{0,2}_days)$"
)
RELATIVE_OPERATORS = frozenset({"eq", "ne", "lt", "lte", "gt", "gte"})  # the ones that take one

TOKENS = (
    "today",
    "yesterday",
    "tomorrow",
    *(f"{w}_{u}" for w in ("this", "last", "next") for u in UNITS),
    "last_N_days",
    "next_N_days",
)


def _start_of(unit: str, day: date) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def _shift(unit: str, start: date, steps: int) -> date:
    """The start of the period ``steps`` periods after the one starting at ``start``."""
    if unit == "week":
        return start + timedelta(weeks=steps)
    months = {"month": 1, "quarter": 3, "year": 12}[unit] * steps
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def relative_range(token: Any, today: date) -> tuple[date, date] | None:
    """``[start, end)`` of the named period around ``today``, or None for a value that
    is not a relative date (then it is read as a date as usual)."""
    if not isinstance(token, str):
        return None
    word = token.strip().lower()
    if word in ("today", "yesterday", "tomorrow"):
        day = today + timedelta(days={"today": 0, "yesterday": -1, "tomorrow": 1}[word])
        return day, day + timedelta(days=1)
    match = PERIOD.fullmatch(word)
    if match:
        which, unit = match.groups()
        start = _shift(unit, _start_of(unit, today), {"this": 0, "last": -1, "next": 1}[which])
        return start, _shift(unit, start, 1)
    match = DAYS.fullmatch(word)
    if match:
        which, count = match.group(1), int(match.group(2))
        if not 1 <= count <= MAX_DAYS:
            return None
        if which == "last":  # the N days up to and including today
            return today - timedelta(days=count - 1), today + timedelta(days=1)
        return today, today + timedelta(days=count)
    return None


def is_relative(token: Any) -> bool:
    """Whether ``token`` names a relative date (``this_quarter``, ``last_30_days``...)."""
    return relative_range(token, date(2000, 1, 1)) is not None


def range_clause(column: Any, op: str, bounds: tuple[Any, Any]) -> Any | None:
    """SQL for ``op`` against the half-open range ``bounds`` (None: the operator does not
    take a relative date)."""
    start, end = bounds
    return {
        "eq": lambda: (column >= start) & (column < end),
        "ne": lambda: or_(column < start, column >= end, column.is_(None)),
        "gte": lambda: column >= start,
        "gt": lambda: column >= end,
        "lte": lambda: column < end,
        "lt": lambda: column < start,
    }.get(op, lambda: None)()


def as_instants(bounds: tuple[date, date], zone: tzinfo) -> tuple[datetime, datetime]:
    """The midnights (in ``zone``) that open and close the days, as UTC instants."""
    return tuple(  # type: ignore[return-value]
        datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC) for day in bounds
    )


__all__ = [
    "RELATIVE_OPERATORS",
    "TOKENS",
    "as_instants",
    "is_relative",
    "range_clause",
    "relative_range",
]
