"""Row scopes as SQL: the comparison subset of the language translated to a SQLAlchemy
Core clause, with negation pushed down so empty values behave as they do in Python."""

from __future__ import annotations

import ast
import operator as op
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.errors import ExpressionError

from .checker import CONSTANTS, Refusal, dotted, place_of, short_source
from .evaluator import read_attribute
from .values import OPERATORS, ORDERING, is_member

SQL_USER_ATTRS = frozenset({"id", "team_id", "email"})

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


def row_scope_clause(expression: Any, column_for: Callable[[str], Any], user: Any) -> Any:
    """The SQLAlchemy Core clause of a row scope (a ``CompiledExpression``); raises
    ExpressionError naming the expression when it uses more than SQL can say."""
    try:
        translator = _SqlTranslator(expression.allowed, column_for, user)
        translator.paths = expression.paths
        return translator.clause(expression.tree)
    except Refusal as refusal:
        prefix = f"{expression.where}: " if expression.where else ""
        message = (
            f"{prefix}`{short_source(expression.source)}` cannot be used as a row scope: "
            f"{refusal.message}{place_of(refusal.node, expression.source.strip())}"
        )
        raise ExpressionError(message, refusal.hint or _SCOPE_HINT, expression.source) from None


class _SqlTranslator:
    """Translates the row-scope subset; negation is pushed down so NULLs behave as in Python."""

    def __init__(self, allowed: frozenset[str], column_for: Callable[[str], Any], user: Any):
        import sqlalchemy as sa

        self.sa, self.allowed, self.column_for, self.user = sa, allowed, column_for, user
        self.paths: frozenset[str] = frozenset()

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
        raise Refusal(node, f"{kind} cannot be translated to SQL")

    def _attribute(self, node: ast.Attribute) -> Any:
        path = dotted(node)
        if path in self.paths:
            # ``column_for`` gives a link path's SQL value (a correlated subquery).
            return _Column(self.column_for(path))
        if node.value.id == "old":
            raise Refusal(node, "old.<field> has no meaning in a row scope")
        if node.attr not in SQL_USER_ATTRS:
            raise Refusal(node, f"user.{node.attr} cannot be translated to SQL")
        return read_attribute(self.user, node.attr)

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
            raise Refusal(left_node, "an empty value (none) cannot be ordered")
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
            raise Refusal(right_node, "'in' needs a literal list in a row scope", "x in ['a', 'b']")
        values = [self.operand(e) for e in right_node.elts]
        if any(isinstance(v, _Column) for v in values):
            raise Refusal(right_node, "the list after 'in' may hold only literals and user values")
        if not isinstance(left, _Column):
            found = is_member(left, values)
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
        if kind in ORDERING and (left is None or right is None):
            raise Refusal(node, "an empty value (none) cannot be ordered")
        result = OPERATORS[kind](left, right)
        return self.sa.true() if result else self.sa.false()


def _element(value: Any) -> Any:
    return value.element if isinstance(value, _Column) else value


_OPERATORS_SQL = {ast.Lt: op.lt, ast.LtE: op.le, ast.Gt: op.gt, ast.GtE: op.ge}
