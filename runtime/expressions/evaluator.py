"""The evaluator: walks a checked expression for one record within a step and time
budget, with the operators and functions of the language."""

from __future__ import annotations

import ast
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import DecimalException
from time import perf_counter
from typing import Any

from simpleeval import InvalidExpression, SimpleEval

from runtime.errors import ExpressionError

from .checker import CONSTANTS, dotted
from .clock import CLOCK
from .functions import FUNCTIONS
from .values import OPERATORS, ORDERING, SYMBOL


def read_attribute(holder: Any, attr: str) -> Any:
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
        super().__init__(operators=OPERATORS, functions=FUNCTIONS, names={})
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
        base = node.value.id if isinstance(node.value, ast.Name) else None
        if base == "old" or base == "user":
            return read_attribute(self._old if base == "old" else self._user, node.attr)
        # A link path: its value was loaded under the dotted name (never an attribute
        # of the link's id).
        return self.names.get(dotted(node))

    def _eval_call(self, node: ast.Call) -> Any:
        return self.functions[node.func.id](*(self._eval(a) for a in node.args))

    def _eval_binop(self, node: ast.BinOp) -> Any:
        left, right = self._eval(node.left), self._eval(node.right)
        for side, value in ((node.left, left), (node.right, right)):
            if value is None:
                symbol = SYMBOL[type(node.op)]
                raise ExpressionError(
                    f"`{ast.unparse(side)}` is empty (none) and cannot be used with {symbol}",
                    f"write coalesce({ast.unparse(side)}, 0)",
                )
        return self.operators[type(node.op)](left, right)

    def _eval_compare(self, node: ast.Compare) -> bool:
        left_node, left = node.left, self._eval(node.left)
        for operation, right_node in zip(node.ops, node.comparators, strict=True):
            right = self._eval(right_node)
            if isinstance(operation, ORDERING):
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
                f"`{text}` is empty (none) and cannot be compared with {SYMBOL[type(operation)]}",
                f"write `{text} and ...` or coalesce({text}, 0)",
            )


RUNTIME_ERRORS = (
    ArithmeticError,
    DecimalException,
    TypeError,
    ValueError,
    LookupError,
    AttributeError,
    InvalidExpression,
    RecursionError,
)


def describe_failure(exc: BaseException) -> str:
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, DecimalException):
        return f"invalid arithmetic ({type(exc).__name__})"
    return str(exc) or type(exc).__name__


def evaluate_tree(
    tree: ast.expr,
    names: Iterable[str],
    values: Mapping[str, Any],
    *,
    old: Any,
    user: Any,
    clock: Callable[[], datetime] | None,
    max_steps: int,
    time_budget: float,
) -> Any:
    """The value of a checked ``tree`` reading ``names`` from ``values``; raises
    ExpressionError or one of RUNTIME_ERRORS (the caller names the expression)."""
    scope = dict(CONSTANTS)
    get = values.get
    for name in names:
        scope[name] = get(name)
    evaluator = getattr(_EVALUATORS, "free", None)
    if evaluator is None or evaluator.busy:  # first use in this thread, or re-entered
        evaluator = _Evaluator()
        _EVALUATORS.free = evaluator
    evaluator.reset(scope, old, user, max_steps, time_budget)
    evaluator.busy = True
    token = CLOCK.set(clock) if clock else None
    try:
        return evaluator._eval(tree)
    finally:
        evaluator.busy = False
        evaluator.names, evaluator._old, evaluator._user = {}, None, None  # hold nothing
        if token is not None:
            CLOCK.reset(token)
