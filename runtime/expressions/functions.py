"""The functions expressions may call, each bounding its own input, and the registry
(``FUNCTIONS``) the checker and the evaluator read."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any

from runtime.errors import ExpressionLimitError

from .clock import now, today
from .limits import MAX_DAYS, MAX_DIGITS, MAX_NUMBER_TEXT, MAX_PLACES, MAX_TEXT_LENGTH
from .values import as_date, as_numeric, values_equal


def _text_input(function: str, value: Any) -> None:
    if isinstance(value, str) and len(value) > MAX_TEXT_LENGTH:
        raise ExpressionLimitError(
            f"{function}() takes text of at most {MAX_TEXT_LENGTH:,} characters, "
            f"got {len(value):,}",
            "shorten the text or the field it comes from",
        )


def _too_many_digits(value: Any, digits: int) -> bool:
    """Whether |value| >= 10**digits, decided without building a huge number."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return False
    if isinstance(value, Decimal):
        return not value.is_finite() or (value != 0 and value.adjusted() >= digits)
    if isinstance(value, float):
        return value != value or abs(value) >= 10.0**digits
    return value.bit_length() > 4 * digits or abs(value) >= 10**digits


def _number_input(function: str, value: Any) -> None:
    """Text read as a number is short, and the number has at most MAX_DIGITS digits."""
    if isinstance(value, str):
        if len(value.strip()) > MAX_NUMBER_TEXT:
            raise ExpressionLimitError(
                f"{function}() reads numbers of at most {MAX_NUMBER_TEXT} characters, "
                f"got {len(value.strip()):,}"
            )
        try:
            value = Decimal(value.strip())
        except ArithmeticError:
            return  # not a number: the function itself says so
    if _too_many_digits(value, MAX_DIGITS):
        raise ExpressionLimitError(
            f"{function}() takes numbers below 10**{MAX_DIGITS}, got {short_number(value)}"
        )


def short_number(value: Any) -> str:
    text = f"{value:.3e}" if isinstance(value, int) and value.bit_length() > 128 else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _whole_input(function: str, value: Any, bound: int, what: str) -> None:
    """A count argument (places, days) lies within +-bound."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return
    if _too_many_digits(value, len(str(bound))) or abs(value) > bound:
        raise ExpressionLimitError(
            f"{function}() {what.format(bound=f'{bound:,}')}, got {short_number(value)}"
        )


def _places_input(function: str, value: Any) -> None:
    _whole_input(function, value, MAX_PLACES, "rounds to at most {bound} places")


def _days_input(function: str, value: Any) -> None:
    _whole_input(function, value, MAX_DAYS, "moves a date by at most {bound} days")


def days_between(a: date | None, b: date | None) -> int | None:
    if a is None or b is None:
        return None
    return (as_date(b) - as_date(a)).days


def days_since(d: date | None) -> int | None:
    return days_between(d, today())


def add_days(d: date | None, n: Any) -> date | None:
    _days_input("add_days", n)
    if d is None or n is None:
        return None
    return d + timedelta(days=int(n))


def year(d: date | None) -> int | None:
    return None if d is None else as_date(d).year


def month(d: date | None) -> int | None:
    return None if d is None else as_date(d).month


def length(x: Any) -> int:
    return 0 if x is None else len(x)


def lower(s: Any) -> str | None:
    _text_input("lower", s)
    return None if s is None else str(s).lower()


def upper(s: Any) -> str | None:
    _text_input("upper", s)
    return None if s is None else str(s).upper()


def contains(haystack: Any, needle: Any) -> bool:
    _text_input("contains", haystack)
    _text_input("contains", needle)
    if haystack is None or needle is None:
        return False
    if isinstance(haystack, str):
        return str(needle) in haystack
    return any(values_equal(item, needle) for item in haystack)


def startswith(s: Any, prefix: Any) -> bool:
    _text_input("startswith", s)
    _text_input("startswith", prefix)
    if s is None or prefix is None:
        return False
    return str(s).startswith(str(prefix))


def round_half_up(x: Any, n: int = 0) -> Any:
    """Round half away from zero, as people do on paper (2.5 -> 3)."""
    _number_input("round", x)
    _places_input("round", n)
    if x is None:
        return None
    exact = x if isinstance(x, Decimal) else Decimal(repr(x))
    rounded = exact.quantize(Decimal(1).scaleb(-int(n)), rounding=ROUND_HALF_UP)
    if isinstance(x, Decimal):
        return rounded
    return int(rounded) if int(n) <= 0 else float(rounded)


def absolute(x: Any) -> Any:
    return None if x is None else abs(x)


def _numbers(values: Iterable[Any]) -> list:
    """The values that are not none; floats become Decimal when Decimals are present."""
    present = [v for v in values if v is not None]
    if any(isinstance(v, Decimal) for v in present):
        present = [as_numeric(v) for v in present]
    return present


def _present(args: tuple) -> list:
    # min(a, b, c) and min([a, b, c]) both work, as in Python.
    return _numbers(args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args)


def minimum(*args: Any) -> Any:
    present = _present(args)
    return min(present) if present else None


def maximum(*args: Any) -> Any:
    present = _present(args)
    return max(present) if present else None


def coalesce(*args: Any) -> Any:
    return next((v for v in args if v is not None), None)


def to_int(x: Any) -> int | None:
    _number_input("int", x)
    if x is None or x == "":
        return None
    try:
        return int(Decimal(x.strip()) if isinstance(x, str) else x)
    except (ArithmeticError, ValueError, TypeError):
        raise ValueError(f"cannot turn {x!r} into a whole number") from None


def to_float(x: Any) -> float | None:
    _number_input("float", x)
    if x is None or x == "":
        return None
    try:
        return float(x)
    except (ValueError, TypeError):
        raise ValueError(f"cannot turn {x!r} into a number") from None


def to_str(x: Any) -> str:
    _text_input("str", x)
    if isinstance(x, int) and _too_many_digits(x, MAX_DIGITS * 10):
        raise ExpressionLimitError(f"str() writes numbers below 10**{MAX_DIGITS * 10}")
    return "" if x is None else str(x)


def sum_of(rows: Any, field_id: str) -> Any:
    present = _numbers(row.get(field_id) for row in rows or ())
    return sum(present, start=Decimal(0) if any(isinstance(v, Decimal) for v in present) else 0)


def count_of(rows: Any) -> int:
    return len(rows or ())


def is_blank(x: Any) -> bool:
    if x is None:
        return True
    if isinstance(x, str):
        return not x.strip()
    if isinstance(x, list | tuple | set | frozenset | dict):
        return not x
    return False


FUNCTIONS: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {
        "today": today,
        "now": now,
        "days_since": days_since,
        "days_between": days_between,
        "len": length,
        "lower": lower,
        "upper": upper,
        "contains": contains,
        "startswith": startswith,
        "round": round_half_up,
        "abs": absolute,
        "min": minimum,
        "max": maximum,
        "coalesce": coalesce,
        "int": to_int,
        "float": to_float,
        "str": to_str,
        "sum_of": sum_of,
        "count_of": count_of,
        "is_blank": is_blank,
        "year": year,
        "month": month,
        "add_days": add_days,
    }
)


def _arity(fn: Callable[..., Any]) -> tuple[int, int | None]:
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 1, None
    required = sum(1 for p in params if p.default is p.empty)
    return required, len(params)


ARITY = {name: _arity(fn) for name, fn in FUNCTIONS.items()}
# The bound each argument position must keep, checked on literals when the model
# compiles (so `int('1e1000000')` is refused by `trellis validate`) and on values at
# run time.
INPUT_BOUNDS: Mapping[str, tuple[Callable[[str, Any], None] | None, ...]] = MappingProxyType(
    {
        "int": (_number_input,),
        "float": (_number_input,),
        "round": (_number_input, _places_input),
        "add_days": (None, _days_input),
        "lower": (_text_input,),
        "upper": (_text_input,),
        "str": (_text_input,),
        "contains": (_text_input, _text_input),
        "startswith": (_text_input, _text_input),
    }
)
