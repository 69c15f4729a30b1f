"""How expression values compare and combine: Decimal with float, dates with
date-times, naive with aware, and the operators with their size limits."""

from __future__ import annotations

import ast
import operator as op
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from runtime.errors import ExpressionError, ExpressionLimitError

from .clock import now
from .limits import MAX_TEXT_LENGTH


def _to_decimal(value: float) -> Decimal:
    # repr gives the shortest text that round-trips, so 0.1 becomes Decimal("0.1").
    return Decimal(repr(value))


def as_date(value: date) -> date:
    """The calendar day of a date or datetime; naive datetimes are taken as UTC."""
    if not isinstance(value, datetime):
        return value
    zone = now().tzinfo or UTC
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(zone).date()


def _align(a: Any, b: Any) -> tuple[Any, Any]:
    """Make two operands comparable: Decimal with float, date with datetime, naive with aware."""
    if isinstance(a, Decimal) and isinstance(b, float):
        return a, _to_decimal(b)
    if isinstance(b, Decimal) and isinstance(a, float):
        return _to_decimal(a), b
    if isinstance(a, date) and isinstance(b, date):
        if isinstance(a, datetime) != isinstance(b, datetime):
            return as_date(a), as_date(b)
        if isinstance(a, datetime) and (a.tzinfo is None) != (b.tzinfo is None):
            return _aware(a), _aware(b)
    return a, b


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _kind(value: Any) -> str:
    kinds = [
        (bool, "yes/no"), (str, "text"), (int, "number"), (float, "number"),
        (Decimal, "number"), (datetime, "date-time"), (date, "date"),
        (list, "list"), (tuple, "list"), (type(None), "empty"),
    ]  # fmt: skip
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def as_numeric(value: Any) -> Any:
    return _to_decimal(value) if isinstance(value, float) else value


def values_equal(a: Any, b: Any) -> bool:
    a, b = _align(a, b)
    return a == b


def _aligned(fn: Callable[[Any, Any], Any], verb: str) -> Callable[[Any, Any], Any]:
    """``fn`` on aligned operands; a type mismatch says it cannot ``verb`` them."""

    def run(a: Any, b: Any) -> Any:
        a, b = _align(a, b)
        try:
            return fn(a, b)
        except TypeError:
            raise ExpressionError(f"cannot {verb} {_kind(a)} with {_kind(b)}") from None

    return run


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return _aligned(compare, "compare")


def _arithmetic(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    return _aligned(fn, "combine")


def _sized(value: Any) -> bool:
    return isinstance(value, str | list | tuple)


def _too_long(what: str, length: int) -> ExpressionLimitError:
    return ExpressionLimitError(
        f"{what} would build text or a list too long: {length:,} items "
        f"(the limit is {MAX_TEXT_LENGTH:,})",
        "shorten the text, or repeat it fewer times",
    )


def _times(a: Any, b: Any) -> Any:
    """``*``, with text and lists repeated only up to MAX_TEXT_LENGTH (checked first)."""
    for sequence, count in ((a, b), (b, a)):
        if _sized(sequence) and isinstance(count, int) and count > 0:
            if len(sequence) and count > MAX_TEXT_LENGTH // len(sequence):
                raise _too_long("*", count * len(sequence))
    return a * b


def _plus(a: Any, b: Any) -> Any:
    """``+``, with joined text and lists kept within MAX_TEXT_LENGTH."""
    if _sized(a) and _sized(b) and len(a) + len(b) > MAX_TEXT_LENGTH:
        raise _too_long("+", len(a) + len(b))
    return a + b


def _modulo(a: Any, b: Any) -> Any:
    if isinstance(a, str):
        # '%999999999d' % 1 would build a huge string: text formatting is not offered.
        raise ExpressionError("% cannot be used on text")
    return a % b


def is_member(item: Any, container: Any) -> bool:
    if container is None:
        return False
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    return any(values_equal(item, x) for x in container)


OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: _arithmetic(_plus),
    ast.Sub: _arithmetic(op.sub),
    ast.Mult: _arithmetic(_times),
    ast.Div: _arithmetic(op.truediv),
    ast.FloorDiv: _arithmetic(op.floordiv),
    ast.Mod: _arithmetic(_modulo),
    ast.Eq: values_equal,
    ast.NotEq: lambda a, b: not values_equal(a, b),
    ast.Lt: _ordered(op.lt),
    ast.LtE: _ordered(op.le),
    ast.Gt: _ordered(op.gt),
    ast.GtE: _ordered(op.ge),
    ast.In: is_member,
    ast.NotIn: lambda a, b: not is_member(a, b),
    ast.Is: lambda a, b: a is b,
    ast.IsNot: lambda a, b: a is not b,
    ast.Not: op.not_,
    ast.USub: op.neg,
    ast.UAdd: op.pos,
}
ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod)
SYMBOL = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
    ast.Mod: "%", ast.Pow: "**", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
}  # fmt: skip
