"""The one expression engine: checks metadata expressions once, then evaluates them safely many times."""

from __future__ import annotations

import ast
import difflib
import functools
import inspect
import operator as op
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal, DecimalException
from time import perf_counter
from types import MappingProxyType
from typing import Any

from simpleeval import InvalidExpression, SimpleEval

from runtime.errors import ExpressionError, ExpressionLimitError

MAX_SOURCE_LENGTH = 1000
MAX_DEPTH = 30
MAX_LITERAL = 10**15
MAX_STEPS = 10_000
TIME_BUDGET_SECONDS = 0.25
# One function call is a single step, so each function bounds its own input: the time
# budget is only read between steps (int('1e1000000') alone once took 52 seconds).
MAX_TEXT_LENGTH = 100_000  # characters a text function takes (simpleeval's cap for + and *)
MAX_NUMBER_TEXT = 100  # characters of text that int() and float() read as a number
MAX_DIGITS = 30  # digits before the point of a number int() or round() builds
MAX_PLACES = 30  # digits round() may round to, either side of the point
MAX_DAYS = 1_000_000  # days add_days() moves a date (about 2,700 years)

USER_ATTRS = frozenset({"id", "team_id", "email", "name", "roles", "locale"})
SQL_USER_ATTRS = frozenset({"id", "team_id", "email"})
CONSTANTS: Mapping[str, Any] = MappingProxyType(
    {"true": True, "false": False, "none": None, "True": True, "False": False, "None": None}
)
_RESERVED = frozenset({"old", "user", *CONSTANTS})


# --------------------------------------------------------------------------- clock


def system_clock() -> datetime:
    """The current time, aware, in the server's time zone."""
    return datetime.now(UTC).astimezone()


_CLOCK: ContextVar[Callable[[], datetime]] = ContextVar("trellis_clock", default=system_clock)


@contextmanager
def use_clock(clock: Callable[[], datetime]) -> Iterator[None]:
    """Make today() and now() read ``clock`` inside the block (tests, back-dated runs)."""
    token = _CLOCK.set(clock)
    try:
        yield
    finally:
        _CLOCK.reset(token)


def clock_in_zone(zone_of: Callable[[], tzinfo]) -> Token:
    """From now on in this context, today() and now() are the active clock's instant
    seen in ``zone_of()`` (the web layer: the viewer's zone, so a Shanghai team's
    ``=today()`` default is their today). Undo with ``restore_clock(token)``."""
    outer = _CLOCK.get()
    return _CLOCK.set(lambda: outer().astimezone(zone_of()))


def restore_clock(token: Token) -> None:
    _CLOCK.reset(token)


# --------------------------------------------------------------------------- value helpers


def _to_decimal(value: float) -> Decimal:
    # repr gives the shortest text that round-trips, so 0.1 becomes Decimal("0.1").
    return Decimal(repr(value))


def _as_date(value: date) -> date:
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
            return _as_date(a), _as_date(b)
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


def _numeric(value: Any) -> Any:
    return _to_decimal(value) if isinstance(value, float) else value


# --------------------------------------------------------------------------- input bounds


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
            f"{function}() takes numbers below 10**{MAX_DIGITS}, got {_short_number(value)}"
        )


def _short_number(value: Any) -> str:
    text = f"{value:.3e}" if isinstance(value, int) and value.bit_length() > 128 else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _whole_input(function: str, value: Any, bound: int, what: str) -> None:
    """A count argument (places, days) lies within +-bound."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return
    if _too_many_digits(value, len(str(bound))) or abs(value) > bound:
        raise ExpressionLimitError(
            f"{function}() {what.format(bound=f'{bound:,}')}, got {_short_number(value)}"
        )


def _places_input(function: str, value: Any) -> None:
    _whole_input(function, value, MAX_PLACES, "rounds to at most {bound} places")


def _days_input(function: str, value: Any) -> None:
    _whole_input(function, value, MAX_DAYS, "moves a date by at most {bound} days")


# --------------------------------------------------------------------------- functions


def now() -> datetime:
    """The current date and time (from the active clock)."""
    return _CLOCK.get()()


def today() -> date:
    """Today's date (from the active clock)."""
    return now().date()


def days_between(a: date | None, b: date | None) -> int | None:
    if a is None or b is None:
        return None
    return (_as_date(b) - _as_date(a)).days


def days_since(d: date | None) -> int | None:
    return days_between(d, today())


def add_days(d: date | None, n: Any) -> date | None:
    _days_input("add_days", n)
    if d is None or n is None:
        return None
    return d + timedelta(days=int(n))


def year(d: date | None) -> int | None:
    return None if d is None else _as_date(d).year


def month(d: date | None) -> int | None:
    return None if d is None else _as_date(d).month


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
    return any(_equal(item, needle) for item in haystack)


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
        present = [_numeric(v) for v in present]
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


_ARITY = {name: _arity(fn) for name, fn in FUNCTIONS.items()}
# The bound each argument position must keep, checked on literals when the model
# compiles (so `int('1e1000000')` is refused by `trellis validate`) and on values at
# run time.
_INPUT_BOUNDS: Mapping[str, tuple[Callable[[str, Any], None] | None, ...]] = MappingProxyType(
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


# --------------------------------------------------------------------------- operators


def _equal(a: Any, b: Any) -> bool:
    a, b = _align(a, b)
    return a == b


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def run(a: Any, b: Any) -> bool:
        a, b = _align(a, b)
        try:
            return compare(a, b)
        except TypeError:
            raise ExpressionError(f"cannot compare {_kind(a)} with {_kind(b)}") from None

    return run


def _arithmetic(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def run(a: Any, b: Any) -> Any:
        a, b = _align(a, b)
        try:
            return fn(a, b)
        except TypeError:
            raise ExpressionError(f"cannot combine {_kind(a)} with {_kind(b)}") from None

    return run


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


def _member(item: Any, container: Any) -> bool:
    if container is None:
        return False
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    return any(_equal(item, x) for x in container)


_OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: _arithmetic(_plus),
    ast.Sub: _arithmetic(op.sub),
    ast.Mult: _arithmetic(_times),
    ast.Div: _arithmetic(op.truediv),
    ast.FloorDiv: _arithmetic(op.floordiv),
    ast.Mod: _arithmetic(_modulo),
    ast.Eq: _equal,
    ast.NotEq: lambda a, b: not _equal(a, b),
    ast.Lt: _ordered(op.lt),
    ast.LtE: _ordered(op.le),
    ast.Gt: _ordered(op.gt),
    ast.GtE: _ordered(op.ge),
    ast.In: _member,
    ast.NotIn: lambda a, b: not _member(a, b),
    ast.Is: lambda a, b: a is b,
    ast.IsNot: lambda a, b: a is not b,
    ast.Not: op.not_,
    ast.USub: op.neg,
    ast.UAdd: op.pos,
}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod)
_SYMBOL = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
    ast.Mod: "%", ast.Pow: "**", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
}  # fmt: skip


# --------------------------------------------------------------------------- static check


def _suggest(word: str, candidates: Iterable[str]) -> str:
    aliases = {"null": "none", "nil": "none", "nothing": "none"}
    if word.lower() in aliases:
        return f"did you mean '{aliases[word.lower()]}'?"
    by_lower = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    return f"did you mean '{by_lower[match[0]]}'?" if match else ""


class _Refusal(Exception):
    def __init__(self, node: ast.AST | None, message: str, hint: str = "", limit: bool = False):
        super().__init__(message)
        self.node, self.message, self.hint = node, message, hint
        self.limit = limit  # a constant beyond a run-time bound (its own check code)


_REFUSED_NODES = {
    ast.Lambda: ("lambdas are not allowed", ""),
    ast.ListComp: ("comprehensions are not allowed", "use sum_of() or count_of() on rows"),
    ast.SetComp: ("comprehensions are not allowed", ""),
    ast.DictComp: ("comprehensions are not allowed", ""),
    ast.GeneratorExp: ("comprehensions are not allowed", "use sum_of() or count_of() on rows"),
    ast.JoinedStr: ("f-strings are not allowed", "join text with +: 'Deal ' + name"),
    ast.Starred: ("starred arguments (*x) are not allowed", ""),
    ast.NamedExpr: ("assignment (:=) is not allowed", "compare with =="),
    ast.Subscript: ("indexing and slicing (x[...]) are not allowed", ""),
    ast.Dict: ("dict literals are not allowed", "use a list: [a, b]"),
    ast.Set: ("set literals are not allowed", "use a list: [a, b]"),
}


@dataclass
class _Analysis:
    names: set[str] = field(default_factory=set)
    old_names: set[str] = field(default_factory=set)
    user_attrs: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)


class _Checker:
    """Walks a parsed expression and refuses anything outside the documented language."""

    def __init__(self, allowed: frozenset[str]):
        self.allowed = allowed
        self.found = _Analysis()

    def check(self, node: ast.AST, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise _Refusal(node, f"the expression is nested more than {MAX_DEPTH} levels deep")
        if type(node) in _REFUSED_NODES:
            raise _Refusal(node, *_REFUSED_NODES[type(node)])
        handler = getattr(self, f"_{type(node).__name__.lower()}", None)
        if handler is None:
            raise _Refusal(node, f"{type(node).__name__} is not allowed in expressions")
        for child in handler(node) or ():
            self.check(child, depth + 1)

    def _constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return
        if not isinstance(value, int | float):
            raise _Refusal(node, f"{type(value).__name__} literals are not allowed")
        if abs(value) > MAX_LITERAL:
            raise _Refusal(
                node, f"the number {_short_number(value)} is too large (limit 10**15)", limit=True
            )

    def _name(self, node: ast.Name) -> None:
        name = node.id
        if name.startswith("_"):
            raise _Refusal(node, f"names starting with '_' are not allowed ({name})")
        if name in self.allowed or name in CONSTANTS:
            if name in self.allowed:
                self.found.names.add(name)
            return
        if name in ("old", "user"):
            raise _Refusal(node, f"'{name}' needs a field: write {name}.<name>", "")
        if name in FUNCTIONS:
            call = f"{name}()" if _ARITY[name][0] == 0 else f"{name}(...)"
            raise _Refusal(node, f"'{name}' is a function", f"write {call}")
        candidates = [*self.allowed, "old", "user", "true", "false", "none"]
        raise _Refusal(node, f"unknown name '{name}'", _suggest(name, candidates))

    def _attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            raise _Refusal(node, f"access to '{node.attr}' is not allowed")
        base = node.value.id if isinstance(node.value, ast.Name) else None
        if base == "old":
            self._old_attribute(node)
        elif base == "user":
            self._user_attribute(node)
        else:
            hint = f"write {node.attr}(...)" if node.attr in FUNCTIONS else ""
            raise _Refusal(
                node, "attribute access is only allowed as old.<field> or user.<attribute>", hint
            )

    def _old_attribute(self, node: ast.Attribute) -> None:
        if node.attr not in self.allowed:
            hint = _suggest(node.attr, self.allowed)
            raise _Refusal(node, f"unknown field 'old.{node.attr}'", hint)
        self.found.old_names.add(node.attr)

    def _user_attribute(self, node: ast.Attribute) -> None:
        if node.attr not in USER_ATTRS:
            hint = _suggest(node.attr, USER_ATTRS) or f"user has: {', '.join(sorted(USER_ATTRS))}"
            raise _Refusal(node, f"unknown user attribute 'user.{node.attr}'", hint)
        self.found.user_attrs.add(node.attr)

    def _call(self, node: ast.Call) -> list[ast.AST]:
        if isinstance(node.func, ast.Attribute):
            self._attribute(node.func)
            raise _Refusal(node, "only functions can be called")
        if not isinstance(node.func, ast.Name):
            raise _Refusal(node, "only functions can be called")
        name = node.func.id
        if name.startswith("_"):
            raise _Refusal(node, f"names starting with '_' are not allowed ({name})")
        if name not in FUNCTIONS:
            if name in self.allowed:
                raise _Refusal(node, f"'{name}' is a field, not a function")
            raise _Refusal(node, f"unknown function '{name}()'", _suggest(name, FUNCTIONS))
        if node.keywords:
            raise _Refusal(node, f"{name}() takes no named arguments", "pass values in order")
        self._check_arity(node, name)
        self._check_literal_inputs(node, name)
        self.found.functions.add(name)
        return node.args

    def _check_literal_inputs(self, node: ast.Call, name: str) -> None:
        for bound, arg in zip(_INPUT_BOUNDS.get(name, ()), node.args, strict=False):
            value = _literal(arg)
            if bound is None or value is _NOT_LITERAL:
                continue
            try:
                bound(name, value)
            except ExpressionLimitError as exc:
                raise _Refusal(arg, exc.message, exc.hint, limit=True) from None

    def _check_arity(self, node: ast.Call, name: str) -> None:
        low, high = _ARITY[name]
        count = len(node.args)
        if count < low or (high is not None and count > high):
            wanted = f"{low}" if low == high else f"{low} to {high}" if high else f"at least {low}"
            raise _Refusal(node, f"{name}() takes {wanted} argument(s), got {count}")
        if name == "sum_of" and not (
            isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
        ):
            raise _Refusal(
                node, "sum_of() needs the field as quoted text", "sum_of(lines, 'amount')"
            )

    def _binop(self, node: ast.BinOp) -> list[ast.AST]:
        if isinstance(node.op, ast.Pow):
            raise _Refusal(node, "the ** operator is not allowed", "multiply instead: x * x")
        if not isinstance(node.op, _BINOPS):
            raise _Refusal(node, "bitwise operators are not allowed")
        sides = (node.left, node.right)
        if isinstance(node.op, ast.Mult) and any(_is_sequence_literal(s) for s in sides):
            raise _Refusal(node, "text and lists cannot be multiplied")
        if isinstance(node.op, ast.Mod) and _is_sequence_literal(node.left):
            raise _Refusal(node, "% cannot be used on text")
        return [node.left, node.right]

    def _unaryop(self, node: ast.UnaryOp) -> list[ast.AST]:
        if isinstance(node.op, ast.Invert):
            raise _Refusal(node, "the ~ operator is not allowed", "use not")
        return [node.operand]

    def _boolop(self, node: ast.BoolOp) -> list[ast.AST]:
        return node.values

    def _compare(self, node: ast.Compare) -> list[ast.AST]:
        operands = [node.left, *node.comparators]
        for i, operation in enumerate(node.ops):
            pair = operands[i : i + 2]
            if isinstance(operation, ast.Is | ast.IsNot) and not any(map(_is_none, pair)):
                raise _Refusal(node, "'is' only compares with none", "use == to compare values")
        return operands

    def _ifexp(self, node: ast.IfExp) -> list[ast.AST]:
        return [node.test, node.body, node.orelse]

    def _list(self, node: ast.List) -> list[ast.AST]:
        return node.elts

    def _tuple(self, node: ast.Tuple) -> list[ast.AST]:
        return node.elts


_NOT_LITERAL = object()


def _literal(node: ast.AST) -> Any:
    """The value of a constant argument (``-5`` included), or _NOT_LITERAL."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _literal(node.operand)
        if isinstance(inner, int | float) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
        return _NOT_LITERAL
    if isinstance(node, ast.Constant) and not isinstance(node.value, bytes | complex):
        return node.value
    return _NOT_LITERAL


def _is_sequence_literal(node: ast.AST) -> bool:
    constant_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
    return constant_text or isinstance(node, ast.List | ast.Tuple | ast.JoinedStr)


def _is_none(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value is None
    return isinstance(node, ast.Name) and node.id in ("none", "None")


def _place(node: ast.AST | None, source: str) -> str:
    if node is None or not hasattr(node, "col_offset"):
        return ""
    line = f"line {node.lineno}, " if "\n" in source else ""
    return f" at {line}column {node.col_offset + 1}"


_SYNTAX_HINTS = [
    ("&&", "write 'and' instead of &&"),
    ("||", "write 'or' instead of ||"),
    ("!==", "write != to compare"),
    ("===", "write == to compare"),
]


def _syntax_hint(source: str, error: SyntaxError) -> str:
    for token, hint in _SYNTAX_HINTS:
        if token in source:
            return hint
    if re.search(r"(^|[^=!<>])=($|[^=])", source):
        return "compare with == (a single = assigns)"
    return "check the quotes and brackets"


def _parse(source: str) -> ast.expr:
    if not source.strip():
        raise ExpressionError("the expression is empty", source=source)
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(
            f"the expression is longer than {MAX_SOURCE_LENGTH} characters",
            "split it into formula fields",
            source,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        where = f"column {exc.offset}" if exc.offset else "the end"
        message = f"syntax error at {where}: {exc.msg}"
        raise ExpressionError(message, _syntax_hint(source, exc), source) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ExpressionError(f"cannot parse: {exc}", source=source) from None


@functools.lru_cache(maxsize=4096)
def _analyse(source: str, allowed: frozenset[str]) -> tuple[ast.expr, _Analysis]:
    tree = _parse(source)
    checker = _Checker(allowed - _RESERVED)
    try:
        checker.check(tree)
    except _Refusal as refusal:
        message = refusal.message + _place(refusal.node, source.strip())
        kind = ExpressionLimitError if refusal.limit else ExpressionError
        raise kind(message, refusal.hint, source) from None
    return tree, checker.found


# --------------------------------------------------------------------------- evaluation


def _read(holder: Any, attr: str) -> Any:
    if holder is None:
        return None
    if isinstance(holder, Mapping):
        return holder.get(attr)
    # attr comes from the static whitelist (a field id or USER_ATTRS), never from input.
    return getattr(holder, attr, None)


# How often (in nodes) an evaluation reads the clock for its time budget.
_CLOCK_EVERY = 32
# Results simpleeval's disallowed-items check passes straight through.
_PRIMITIVE = frozenset({int, float, str, bool, type(None), bytes, complex})
# One reusable evaluator per thread (``free``), replaced while one is busy.
_EVALUATORS = threading.local()


class _Evaluator(SimpleEval):
    """simpleeval's walker with a step and time budget and the Trellis name rules."""

    def __init__(self) -> None:
        super().__init__(operators=_OPERATORS, functions=FUNCTIONS, names={})
        self.nodes[ast.List] = lambda node: [self._eval(e) for e in node.elts]
        self.nodes[ast.Tuple] = lambda node: tuple(self._eval(e) for e in node.elts)
        self.busy = False
        self.reset({}, None, None, 0, 0.0)

    def reset(self, scope: dict[str, Any], old: Any, user: Any, steps: int, seconds: float) -> None:
        """Prepare for one evaluation (evaluators are reused: building one is costly)."""
        self.names = scope
        self._old, self._user = old, user
        self._steps_left = steps
        self._clock_at = steps  # the first node reads the clock
        self._deadline = perf_counter() + seconds

    def _eval(self, node: ast.AST) -> Any:
        left = self._steps_left - 1
        self._steps_left = left
        if left < self._clock_at:
            # The step budget is exact; the clock is read on the first node and then
            # every _CLOCK_EVERY nodes (reading it on every node cost more than the walk).
            if left < 0:
                raise ExpressionError("too many steps", "simplify the expression")
            if perf_counter() > self._deadline:
                raise ExpressionError("took too long", "simplify the expression")
            self._clock_at = left - _CLOCK_EVERY if left > _CLOCK_EVERY else 0
        try:
            handler = self.nodes[type(node)]
        except KeyError:
            return super()._eval(node)  # simpleeval's refusal
        result = handler(node)
        if type(result) not in _PRIMITIVE:
            self._check_disallowed_items(result)
        return result

    def _eval_name(self, node: ast.Name) -> Any:
        return self.names[node.id]

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        holder = self._old if node.value.id == "old" else self._user
        return _read(holder, node.attr)

    def _eval_call(self, node: ast.Call) -> Any:
        return self.functions[node.func.id](*(self._eval(a) for a in node.args))

    def _eval_binop(self, node: ast.BinOp) -> Any:
        left, right = self._eval(node.left), self._eval(node.right)
        for side, value in ((node.left, left), (node.right, right)):
            if value is None:
                symbol = _SYMBOL[type(node.op)]
                raise ExpressionError(
                    f"`{ast.unparse(side)}` is empty (none) and cannot be used with {symbol}",
                    f"write coalesce({ast.unparse(side)}, 0)",
                )
        return self.operators[type(node.op)](left, right)

    def _eval_compare(self, node: ast.Compare) -> bool:
        left_node, left = node.left, self._eval(node.left)
        for operation, right_node in zip(node.ops, node.comparators, strict=True):
            right = self._eval(right_node)
            if isinstance(operation, _ORDERING):
                _refuse_none_order(operation, (left_node, left), (right_node, right))
            if not self.operators[type(operation)](left, right):
                return False
            left_node, left = right_node, right
        return True


def _refuse_none_order(operation: ast.cmpop, *sides: tuple[ast.AST, Any]) -> None:
    for side_node, value in sides:
        if value is None:
            text = ast.unparse(side_node)
            raise ExpressionError(
                f"`{text}` is empty (none) and cannot be compared with {_SYMBOL[type(operation)]}",
                f"write `{text} and ...` or coalesce({text}, 0)",
            )


_RUNTIME_ERRORS = (
    ArithmeticError,
    DecimalException,
    TypeError,
    ValueError,
    LookupError,
    AttributeError,
    InvalidExpression,
    RecursionError,
)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, DecimalException):
        return f"invalid arithmetic ({type(exc).__name__})"
    return str(exc) or type(exc).__name__


# --------------------------------------------------------------------------- the compiled object


def _short(source: str) -> str:
    text = " ".join(source.split())
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class CompiledExpression:
    """A checked expression: evaluate it with a record's values, or turn it into SQL."""

    source: str
    names: frozenset[str]
    old_names: frozenset[str]
    user_attrs: frozenset[str]
    functions: frozenset[str]
    where: str = ""
    tree: ast.expr = field(repr=False, compare=False, default=None)
    allowed: frozenset[str] = field(repr=False, compare=False, default=frozenset())

    def evaluate(
        self,
        values: Mapping[str, Any],
        *,
        old: Mapping[str, Any] | None = None,
        user: Any = None,
        clock: Callable[[], datetime] | None = None,
        max_steps: int = MAX_STEPS,
        time_budget: float = TIME_BUDGET_SECONDS,
    ) -> Any:
        """The expression's value for one record; raises ExpressionError on any failure."""
        scope = dict(CONSTANTS)
        get = values.get
        for name in self.names:
            scope[name] = get(name)
        evaluator = getattr(_EVALUATORS, "free", None)
        if evaluator is None or evaluator.busy:  # first use in this thread, or re-entered
            evaluator = _Evaluator()
            _EVALUATORS.free = evaluator
        evaluator.reset(scope, old, user, max_steps, time_budget)
        evaluator.busy = True
        token = _CLOCK.set(clock) if clock else None
        try:
            return evaluator._eval(self.tree)
        except ExpressionError as exc:
            raise self._failure(exc.message, exc.hint) from None
        except _RUNTIME_ERRORS as exc:
            raise self._failure(_describe(exc)) from exc
        finally:
            evaluator.busy = False
            evaluator.names, evaluator._old, evaluator._user = {}, None, None  # hold nothing
            if token is not None:
                _CLOCK.reset(token)

    def _failure(self, detail: str, hint: str = "") -> ExpressionError:
        prefix = f"{self.where}: " if self.where else ""
        message = f"{prefix}cannot evaluate `{_short(self.source)}`: {detail}"
        return ExpressionError(message, hint, self.source)

    def to_sql(self, column_for: Callable[[str], Any], user: Any) -> Any:
        """A SQLAlchemy Core clause selecting the rows for which this row scope is true."""
        try:
            return _SqlTranslator(self.allowed, column_for, user).clause(self.tree)
        except _Refusal as refusal:
            prefix = f"{self.where}: " if self.where else ""
            message = (
                f"{prefix}`{_short(self.source)}` cannot be used as a row scope: "
                f"{refusal.message}{_place(refusal.node, self.source.strip())}"
            )
            raise ExpressionError(message, refusal.hint or _SCOPE_HINT, self.source) from None

    def check_row_scope(self) -> None:
        """Raise ExpressionError now if to_sql() would refuse this expression."""
        import sqlalchemy as sa

        self.to_sql(sa.column, {"id": 0, "team_id": 0, "email": "x@example.com"})


def compile_expression(source: str, names: Iterable[str], *, where: str = "") -> CompiledExpression:
    """Parse and check ``source`` once; ``names`` are the fields it may read."""
    if not isinstance(source, str):
        raise ExpressionError(f"{where + ': ' if where else ''}an expression must be text")
    if isinstance(names, str):
        raise TypeError("names must be a collection of field ids, not one string")
    allowed = frozenset(names)
    try:
        tree, found = _analyse(source, allowed)
    except ExpressionError as exc:
        if where:
            raise type(exc)(f"{where}: {exc.message}", exc.hint, source) from None
        raise
    return CompiledExpression(
        source=source,
        names=frozenset(found.names),
        old_names=frozenset(found.old_names),
        user_attrs=frozenset(found.user_attrs),
        functions=frozenset(found.functions),
        where=where,
        tree=tree,
        allowed=allowed - _RESERVED,
    )


# --------------------------------------------------------------------------- row scopes as SQL

_SCOPE_HINT = "row scopes may use fields, literals, comparisons, and/or/not, in [...], user.id, user.team_id, user.email"
_NEGATED = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt,
    ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}  # fmt: skip
_UNSUPPORTED_IN_SQL = {
    ast.Call: "function calls",
    ast.BinOp: "arithmetic",
    ast.IfExp: "'... if ... else ...'",
    ast.List: "a list outside 'in'",
    ast.Tuple: "a list outside 'in'",
}


@dataclass(frozen=True)
class _Column:
    element: Any


class _SqlTranslator:
    """Translates the row-scope subset; negation is pushed down so NULLs behave as in Python."""

    def __init__(self, allowed: frozenset[str], column_for: Callable[[str], Any], user: Any):
        import sqlalchemy as sa

        self.sa, self.allowed, self.column_for, self.user = sa, allowed, column_for, user

    def clause(self, node: ast.AST, negate: bool = False) -> Any:
        sa = self.sa
        if isinstance(node, ast.BoolOp):
            parts = [self.clause(value, negate) for value in node.values]
            return sa.or_(*parts) if isinstance(node.op, ast.Or) != negate else sa.and_(*parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self.clause(node.operand, not negate)
        if isinstance(node, ast.Compare):
            return self._compare(node, negate)
        return self._truth(self.operand(node), negate)

    def operand(self, node: ast.AST) -> Any:
        """A column (wrapped in _Column) or a plain Python value."""
        if isinstance(node, ast.Name):
            if node.id in self.allowed:
                return _Column(self.column_for(node.id))
            return CONSTANTS[node.id]
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        kind = _UNSUPPORTED_IN_SQL.get(type(node), type(node).__name__)
        raise _Refusal(node, f"{kind} cannot be translated to SQL")

    def _attribute(self, node: ast.Attribute) -> Any:
        if node.value.id == "old":
            raise _Refusal(node, "old.<field> has no meaning in a row scope")
        if node.attr not in SQL_USER_ATTRS:
            raise _Refusal(node, f"user.{node.attr} cannot be translated to SQL")
        return _read(self.user, node.attr)

    def _truth(self, value: Any, negate: bool) -> Any:
        sa = self.sa
        if not isinstance(value, _Column):
            return sa.true() if bool(value) != negate else sa.false()
        if negate:
            return sa.or_(value.element == sa.false(), value.element.is_(None))
        return value.element == sa.true()

    def _compare(self, node: ast.Compare, negate: bool) -> Any:
        operands = [node.left, *node.comparators]
        parts = []
        for i, operation in enumerate(node.ops):
            kind = _NEGATED[type(operation)] if negate else type(operation)
            parts.append(self._pair(kind, operands[i], operands[i + 1]))
        return self.sa.or_(*parts) if negate else self.sa.and_(*parts)

    def _pair(self, kind: type, left_node: ast.AST, right_node: ast.AST) -> Any:
        left = self.operand(left_node)
        if kind in (ast.In, ast.NotIn):
            return self._membership(kind, left, right_node)
        right = self.operand(right_node)
        if not isinstance(left, _Column) and not isinstance(right, _Column):
            return self._constant(kind, left, right, left_node)
        if kind in (ast.Eq, ast.NotEq, ast.Is, ast.IsNot):
            return self._equality(kind in (ast.Eq, ast.Is), left, right)
        if left is None or right is None:
            raise _Refusal(left_node, "an empty value (none) cannot be ordered")
        return _OPERATORS_SQL[kind](_element(left), _element(right))

    def _equality(self, equal: bool, left: Any, right: Any) -> Any:
        if not isinstance(left, _Column):
            left, right = right, left
        column = left.element
        if isinstance(right, _Column):
            # Python treats none == none as true; IS NOT DISTINCT FROM does too.
            other = right.element
            return column.is_not_distinct_from(other) if equal else column.is_distinct_from(other)
        if right is None:
            return column.is_(None) if equal else column.is_not(None)
        return column == right if equal else self.sa.or_(column != right, column.is_(None))

    def _membership(self, kind: type, left: Any, right_node: ast.AST) -> Any:
        if not isinstance(right_node, ast.List | ast.Tuple):
            raise _Refusal(
                right_node, "'in' needs a literal list in a row scope", "x in ['a', 'b']"
            )
        values = [self.operand(e) for e in right_node.elts]
        if any(isinstance(v, _Column) for v in values):
            raise _Refusal(right_node, "the list after 'in' may hold only literals and user values")
        if not isinstance(left, _Column):
            found = _member(left, values)
            return self.sa.true() if found == (kind is ast.In) else self.sa.false()
        return self._in_list(kind is ast.In, left.element, values)

    def _in_list(self, inside: bool, column: Any, values: list[Any]) -> Any:
        sa = self.sa
        present = [v for v in values if v is not None]
        has_none = len(present) < len(values)
        if inside:
            clause = column.in_(present)
            return sa.or_(clause, column.is_(None)) if has_none else clause
        clause = column.not_in(present)
        return (
            sa.and_(clause, column.is_not(None)) if has_none else sa.or_(clause, column.is_(None))
        )

    def _constant(self, kind: type, left: Any, right: Any, node: ast.AST) -> Any:
        if kind in _ORDERING and (left is None or right is None):
            raise _Refusal(node, "an empty value (none) cannot be ordered")
        result = _OPERATORS[kind](left, right)
        return self.sa.true() if result else self.sa.false()


def _element(value: Any) -> Any:
    return value.element if isinstance(value, _Column) else value


_OPERATORS_SQL = {ast.Lt: op.lt, ast.LtE: op.le, ast.Gt: op.gt, ast.GtE: op.ge}
