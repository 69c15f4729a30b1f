"""The bounds that keep one expression cheap to check and to run: its size, nesting,
steps and time, and the inputs each function accepts."""

from __future__ import annotations

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
