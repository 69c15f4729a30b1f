"""The static check: parse an expression once and refuse, with a message and a hint,
anything outside the documented language."""

from __future__ import annotations

import ast
import difflib
import functools
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from runtime.errors import ExpressionError, ExpressionLimitError

from .functions import ARITY, FUNCTIONS, INPUT_BOUNDS, short_number
from .limits import MAX_DEPTH, MAX_LITERAL, MAX_SOURCE_LENGTH
from .values import BINOPS

USER_ATTRS = frozenset({"id", "team_id", "email", "name", "roles", "locale"})
CONSTANTS: Mapping[str, Any] = MappingProxyType(
    {"true": True, "false": False, "none": None, "True": True, "False": False, "None": None}
)
RESERVED = frozenset({"old", "user", *CONSTANTS})


def _suggest(word: str, candidates: Iterable[str]) -> str:
    aliases = {"null": "none", "nil": "none", "nothing": "none"}
    if word.lower() in aliases:
        return f"did you mean '{aliases[word.lower()]}'?"
    by_lower = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    return f"did you mean '{by_lower[match[0]]}'?" if match else ""


class Refusal(Exception):
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
    paths: set[str] = field(default_factory=set)  # link paths: "account.industry"


def dotted(node: ast.AST) -> str | None:
    """``account.owner.team`` as text when ``node`` is a chain of names, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


class _Checker:
    """Walks a parsed expression and refuses anything outside the documented language."""

    def __init__(self, allowed: frozenset[str], paths: bool = False):
        self.allowed = allowed
        self.paths = paths  # may a field name start a link path (account.industry)?
        self.found = _Analysis()

    def check(self, node: ast.AST, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise Refusal(node, f"the expression is nested more than {MAX_DEPTH} levels deep")
        if type(node) in _REFUSED_NODES:
            raise Refusal(node, *_REFUSED_NODES[type(node)])
        handler = getattr(self, f"_{type(node).__name__.lower()}", None)
        if handler is None:
            raise Refusal(node, f"{type(node).__name__} is not allowed in expressions")
        for child in handler(node) or ():
            self.check(child, depth + 1)

    def _constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return
        if not isinstance(value, int | float):
            raise Refusal(node, f"{type(value).__name__} literals are not allowed")
        if abs(value) > MAX_LITERAL:
            raise Refusal(
                node, f"the number {short_number(value)} is too large (limit 10**15)", limit=True
            )

    def _name(self, node: ast.Name) -> None:
        name = node.id
        if name.startswith("_"):
            raise Refusal(node, f"names starting with '_' are not allowed ({name})")
        if name in self.allowed or name in CONSTANTS:
            if name in self.allowed:
                self.found.names.add(name)
            return
        if name in ("old", "user"):
            raise Refusal(node, f"'{name}' needs a field: write {name}.<name>", "")
        if name in FUNCTIONS:
            call = f"{name}()" if ARITY[name][0] == 0 else f"{name}(...)"
            raise Refusal(node, f"'{name}' is a function", f"write {call}")
        candidates = [*self.allowed, "old", "user", "true", "false", "none"]
        raise Refusal(node, f"unknown name '{name}'", _suggest(name, candidates))

    def _attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            raise Refusal(node, f"access to '{node.attr}' is not allowed")
        base = node.value.id if isinstance(node.value, ast.Name) else None
        if base == "old":
            self._old_attribute(node)
        elif base == "user":
            self._user_attribute(node)
        elif self.paths and self._link_path(node):
            return
        else:
            hint = f"write {node.attr}(...)" if node.attr in FUNCTIONS else ""
            allowed = (
                "old.<field>, user.<attribute> or <link>.<field>"
                if self.paths
                else ("old.<field> or user.<attribute>")
            )
            raise Refusal(node, f"attribute access is only allowed as {allowed}", hint)

    def _link_path(self, node: ast.Attribute) -> bool:
        """Record ``account.industry`` (a chain from a field of the record); the compiler
        walks it over the model afterwards (unknown field, not a link, too many hops)."""
        path = dotted(node)
        if path is None:
            return False
        names = path.split(".")
        if names[0] not in self.allowed:
            return False
        hidden = next((n for n in names if n.startswith("_")), None)
        if hidden is not None:
            raise Refusal(node, f"access to '{hidden}' is not allowed")
        self.found.names.add(names[0])  # the link itself: an update re-pointing it re-checks
        self.found.paths.add(path)
        return True

    def _old_attribute(self, node: ast.Attribute) -> None:
        if node.attr not in self.allowed:
            hint = _suggest(node.attr, self.allowed)
            raise Refusal(node, f"unknown field 'old.{node.attr}'", hint)
        self.found.old_names.add(node.attr)

    def _user_attribute(self, node: ast.Attribute) -> None:
        if node.attr not in USER_ATTRS:
            hint = _suggest(node.attr, USER_ATTRS) or f"user has: {', '.join(sorted(USER_ATTRS))}"
            raise Refusal(node, f"unknown user attribute 'user.{node.attr}'", hint)
        self.found.user_attrs.add(node.attr)

    def _call(self, node: ast.Call) -> list[ast.AST]:
        if isinstance(node.func, ast.Attribute):
            self._attribute(node.func)
            raise Refusal(node, "only functions can be called")
        if not isinstance(node.func, ast.Name):
            raise Refusal(node, "only functions can be called")
        name = node.func.id
        if name.startswith("_"):
            raise Refusal(node, f"names starting with '_' are not allowed ({name})")
        if name not in FUNCTIONS:
            if name in self.allowed:
                raise Refusal(node, f"'{name}' is a field, not a function")
            raise Refusal(node, f"unknown function '{name}()'", _suggest(name, FUNCTIONS))
        if node.keywords:
            raise Refusal(node, f"{name}() takes no named arguments", "pass values in order")
        self._check_arity(node, name)
        self._check_literal_inputs(node, name)
        self.found.functions.add(name)
        return node.args

    def _check_literal_inputs(self, node: ast.Call, name: str) -> None:
        for bound, arg in zip(INPUT_BOUNDS.get(name, ()), node.args, strict=False):
            value = _literal(arg)
            if bound is None or value is _NOT_LITERAL:
                continue
            try:
                bound(name, value)
            except ExpressionLimitError as exc:
                raise Refusal(arg, exc.message, exc.hint, limit=True) from None

    def _check_arity(self, node: ast.Call, name: str) -> None:
        low, high = ARITY[name]
        count = len(node.args)
        if count < low or (high is not None and count > high):
            wanted = f"{low}" if low == high else f"{low} to {high}" if high else f"at least {low}"
            raise Refusal(node, f"{name}() takes {wanted} argument(s), got {count}")
        if name == "sum_of" and not (
            isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
        ):
            raise Refusal(
                node, "sum_of() needs the field as quoted text", "sum_of(lines, 'amount')"
            )

    def _binop(self, node: ast.BinOp) -> list[ast.AST]:
        if isinstance(node.op, ast.Pow):
            raise Refusal(node, "the ** operator is not allowed", "multiply instead: x * x")
        if not isinstance(node.op, BINOPS):
            raise Refusal(node, "bitwise operators are not allowed")
        sides = (node.left, node.right)
        if isinstance(node.op, ast.Mult) and any(_is_sequence_literal(s) for s in sides):
            raise Refusal(node, "text and lists cannot be multiplied")
        if isinstance(node.op, ast.Mod) and _is_sequence_literal(node.left):
            raise Refusal(node, "% cannot be used on text")
        return [node.left, node.right]

    def _unaryop(self, node: ast.UnaryOp) -> list[ast.AST]:
        if isinstance(node.op, ast.Invert):
            raise Refusal(node, "the ~ operator is not allowed", "use not")
        return [node.operand]

    def _boolop(self, node: ast.BoolOp) -> list[ast.AST]:
        return node.values

    def _compare(self, node: ast.Compare) -> list[ast.AST]:
        operands = [node.left, *node.comparators]
        for i, operation in enumerate(node.ops):
            pair = operands[i : i + 2]
            if isinstance(operation, ast.Is | ast.IsNot) and not any(map(_is_none, pair)):
                raise Refusal(node, "'is' only compares with none", "use == to compare values")
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


def place_of(node: ast.AST | None, source: str) -> str:
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
def analyse(
    source: str, allowed: frozenset[str], paths: bool = False
) -> tuple[ast.expr, _Analysis]:
    tree = _parse(source)
    checker = _Checker(allowed - RESERVED, paths)
    try:
        checker.check(tree)
    except Refusal as refusal:
        message = refusal.message + place_of(refusal.node, source.strip())
        kind = ExpressionLimitError if refusal.limit else ExpressionError
        raise kind(message, refusal.hint, source) from None
    return tree, checker.found


def short_source(source: str) -> str:
    """The source on one line, cut to 80 characters, for messages."""
    text = " ".join(source.split())
    return text if len(text) <= 80 else text[:77] + "..."
