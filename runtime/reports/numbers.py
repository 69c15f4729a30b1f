"""Numbers as chart labels: 万/亿 in Chinese, K/M/B in English (precomputed strings,
since option JSON cannot carry formatter functions)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def as_float(value: Any) -> float:
    if value is None:
        return 0.0
    return float(value) if isinstance(value, (int, float, Decimal)) else 0.0


def short_number(value: Any, locale: str) -> str:
    """``12345678`` -> ``1234.57万`` (zh) / ``12.35M`` (en); small numbers as they are."""
    number = as_float(value)
    steps = ((1e8, "亿"), (1e4, "万")) if locale.startswith("zh") else (
        (1e9, "B"), (1e6, "M"), (1e3, "K"),
    )  # fmt: skip
    for size, suffix in steps:
        if abs(number) >= size:
            return f"{number / size:.2f}".rstrip("0").rstrip(".") + suffix
    if number == int(number):
        return f"{int(number):,}"
    return f"{number:,.2f}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"
