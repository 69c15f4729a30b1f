"""What ``compile_expression`` returns: a checked expression that evaluates for one
record or turns into SQL, naming where it came from when it fails."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runtime.errors import ExpressionError

from .checker import RESERVED, analyse, short_source
from .evaluator import RUNTIME_ERRORS, describe_failure, evaluate_tree
from .limits import MAX_STEPS, TIME_BUDGET_SECONDS
from .sql import row_scope_clause


@dataclass(frozen=True)
class CompiledExpression:
    """A checked expression: evaluate it with a record's values, or turn it into SQL."""

    source: str
    names: frozenset[str]
    old_names: frozenset[str]
    user_attrs: frozenset[str]
    functions: frozenset[str]
    where: str = ""
    # Link paths it reads (``account.industry``): walked by the compiler, their values
    # given under the dotted name with the record's (runtime.store.paths.path_values).
    paths: frozenset[str] = frozenset()
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
        try:
            return evaluate_tree(
                self.tree,
                self.names | self.paths if self.paths else self.names,
                values,
                old=old,
                user=user,
                clock=clock,
                max_steps=max_steps,
                time_budget=time_budget,
            )
        except ExpressionError as exc:
            raise self._failure(exc.message, exc.hint) from None
        except RUNTIME_ERRORS as exc:
            raise self._failure(describe_failure(exc)) from exc

    def _failure(self, detail: str, hint: str = "") -> ExpressionError:
        prefix = f"{self.where}: " if self.where else ""
        message = f"{prefix}cannot evaluate `{short_source(self.source)}`: {detail}"
        return ExpressionError(message, hint, self.source)

    def to_sql(self, column_for: Callable[[str], Any], user: Any) -> Any:
        """A SQLAlchemy Core clause selecting the rows for which this row scope is true."""
        return row_scope_clause(self, column_for, user)

    def check_row_scope(self) -> None:
        """Raise ExpressionError now if to_sql() would refuse this expression."""
        import sqlalchemy as sa

        self.to_sql(sa.column, {"id": 0, "team_id": 0, "email": "x@example.com"})


def compile_expression(
    source: str, names: Iterable[str], *, where: str = "", paths: bool = False
) -> CompiledExpression:
    """Parse and check ``source`` once; ``names`` are the fields it may read. With
    ``paths`` a field may start a link path (``account.industry``): recorded in
    ``.paths`` for the caller to walk over the model (the compiler does)."""
    if not isinstance(source, str):
        raise ExpressionError(f"{where + ': ' if where else ''}an expression must be text")
    if isinstance(names, str):
        raise TypeError("names must be a collection of field ids, not one string")
    allowed = frozenset(names)
    try:
        tree, found = analyse(source, allowed, paths)
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
        paths=frozenset(found.paths),
        tree=tree,
        allowed=allowed - RESERVED,
    )
