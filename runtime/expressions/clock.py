"""The clock that today() and now() read: the system's, or one a caller sets for a block
(tests, back-dated runs, the viewer's time zone)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, date, datetime, tzinfo


def system_clock() -> datetime:
    """The current time, aware, in the server's time zone."""
    return datetime.now(UTC).astimezone()


CLOCK: ContextVar[Callable[[], datetime]] = ContextVar("trellis_clock", default=system_clock)


@contextmanager
def use_clock(clock: Callable[[], datetime]) -> Iterator[None]:
    """Make today() and now() read ``clock`` inside the block (tests, back-dated runs)."""
    token = CLOCK.set(clock)
    try:
        yield
    finally:
        CLOCK.reset(token)


def clock_in_zone(zone_of: Callable[[], tzinfo]) -> Token:
    """From now on in this context, today() and now() are the active clock's instant
    seen in ``zone_of()`` (the web layer: the viewer's zone, so a Shanghai team's
    ``=today()`` default is their today). Undo with ``restore_clock(token)``."""
    outer = CLOCK.get()
    return CLOCK.set(lambda: outer().astimezone(zone_of()))


def restore_clock(token: Token) -> None:
    CLOCK.reset(token)


def now() -> datetime:
    """The current date and time (from the active clock)."""
    return CLOCK.get()()


def today() -> date:
    """Today's date (from the active clock)."""
    return now().date()
