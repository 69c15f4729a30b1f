"""The one expression engine: checks metadata expressions once, then evaluates them
safely many times, or turns row scopes into SQL.

The package splits along its jobs: ``functions`` (the registry of callable functions,
with ``clock`` and ``values`` beneath it), ``checker`` (the static check), ``evaluator``
(the bounded walk), ``sql`` (row scopes as SQL) and ``compiled`` (the object
``compile_expression`` returns); ``limits`` holds the bounds. Import from here.
"""

from __future__ import annotations

from .checker import CONSTANTS, USER_ATTRS
from .clock import clock_in_zone, now, restore_clock, system_clock, today, use_clock
from .compiled import CompiledExpression, compile_expression
from .functions import (
    FUNCTIONS,
    absolute,
    add_days,
    coalesce,
    contains,
    count_of,
    days_between,
    days_since,
    is_blank,
    length,
    lower,
    maximum,
    minimum,
    month,
    round_half_up,
    startswith,
    sum_of,
    to_float,
    to_int,
    to_str,
    upper,
    year,
)
from .limits import (
    MAX_DAYS,
    MAX_DEPTH,
    MAX_DIGITS,
    MAX_LITERAL,
    MAX_NUMBER_TEXT,
    MAX_PLACES,
    MAX_SOURCE_LENGTH,
    MAX_STEPS,
    MAX_TEXT_LENGTH,
    TIME_BUDGET_SECONDS,
)
from .sql import SQL_USER_ATTRS

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_DAYS",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_LITERAL",
    "MAX_NUMBER_TEXT",
    "MAX_PLACES",
    "MAX_SOURCE_LENGTH",
    "MAX_STEPS",
    "MAX_TEXT_LENGTH",
    "SQL_USER_ATTRS",
    "TIME_BUDGET_SECONDS",
    "USER_ATTRS",
    "CompiledExpression",
    "absolute",
    "add_days",
    "clock_in_zone",
    "coalesce",
    "compile_expression",
    "contains",
    "count_of",
    "days_between",
    "days_since",
    "is_blank",
    "length",
    "lower",
    "maximum",
    "minimum",
    "month",
    "now",
    "restore_clock",
    "round_half_up",
    "startswith",
    "sum_of",
    "system_clock",
    "to_float",
    "to_int",
    "to_str",
    "today",
    "upper",
    "use_clock",
    "year",
]
