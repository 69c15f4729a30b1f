"""Relative dates in filters: each period's half-open range of days, at the edges of
weeks, months, quarters and years."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from runtime.relative_dates import as_instants, relative_range

D = date


@pytest.mark.parametrize(
    ("token", "today", "expected"),
    [
        ("today", D(2026, 12, 31), (D(2026, 12, 31), D(2027, 1, 1))),
        ("yesterday", D(2027, 1, 1), (D(2026, 12, 31), D(2027, 1, 1))),
        ("this_week", D(2026, 12, 3), (D(2026, 11, 30), D(2026, 12, 7))),  # Monday to Monday
        ("last_week", D(2026, 12, 3), (D(2026, 11, 23), D(2026, 11, 30))),
        ("this_month", D(2026, 2, 14), (D(2026, 2, 1), D(2026, 3, 1))),
        ("next_month", D(2026, 12, 3), (D(2027, 1, 1), D(2027, 2, 1))),
        ("this_quarter", D(2026, 12, 3), (D(2026, 10, 1), D(2027, 1, 1))),
        ("last_quarter", D(2026, 2, 1), (D(2025, 10, 1), D(2026, 1, 1))),
        ("next_quarter", D(2026, 11, 30), (D(2027, 1, 1), D(2027, 4, 1))),
        ("last_year", D(2026, 6, 1), (D(2025, 1, 1), D(2026, 1, 1))),
        ("last_30_days", D(2026, 3, 1), (D(2026, 1, 31), D(2026, 3, 2))),
        ("next_7_days", D(2026, 12, 30), (D(2026, 12, 30), D(2027, 1, 6))),
        (" This_Quarter ", D(2026, 5, 5), (D(2026, 4, 1), D(2026, 7, 1))),
    ],
)
def test_each_period_is_a_half_open_range_of_days(token, today, expected):
    assert relative_range(token, today) == expected


@pytest.mark.parametrize(
    "value", ["2026-12-03", "last_0_days", "last_1000_days", "quarter", 5, None]
)
def test_anything_else_is_not_a_relative_date(value):
    assert relative_range(value, D(2026, 12, 3)) is None


def test_instants_are_the_midnights_of_the_apps_zone():
    start, end = as_instants((D(2026, 12, 3), D(2026, 12, 4)), ZoneInfo("Asia/Shanghai"))
    assert start == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 3, 16, 0, tzinfo=UTC)
