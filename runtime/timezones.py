"""Time zones: naming a zone, and turning stored values into instants and calendar days.

The store keeps instants in UTC. SQLite hands them back naive (and sometimes as ISO
text); PostgreSQL hands them back aware in the session's zone. Every formatter reads
an instant through ``as_utc`` so all three look the same. Date-only values (an
activity's date, a close date) are calendar days, not instants: they are never
shifted between zones, and where a timeline needs a moment for one, ``start_of_day``
gives the midnight of that day *in the viewer's zone* (not midnight UTC, which is
hours off for everyone east or west of Greenwich).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "UTC"


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo | None:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return None


def zone_or_none(name: Any) -> tzinfo | None:
    """The IANA zone called ``name`` (``Asia/Shanghai``, ``UTC``), or None if unknown."""
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        return None
    return _zone(name.strip())


def is_zone(name: Any) -> bool:
    return zone_or_none(name) is not None


def zone_named(*names: Any) -> tzinfo:
    """The first of ``names`` that is a known zone, else UTC (a typo never breaks a page)."""
    for name in names:
        zone = zone_or_none(name)
        if zone is not None:
            return zone
    return UTC


def _parse(value: Any) -> date | datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):  # datetime is a date too
        return value
    text = str(value).strip().replace("Z", "+00:00")
    try:
        if "T" in text or " " in text:
            return datetime.fromisoformat(text)
        return date.fromisoformat(text)
    except ValueError:
        return None


def as_utc(value: Any) -> datetime | None:
    """An instant as an aware UTC datetime; naive values are UTC (that is how they were
    written). Date-only values and anything unreadable give None: a day is no instant."""
    parsed = _parse(value)
    if not isinstance(parsed, datetime):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def as_day(value: Any) -> date | None:
    """A date-only value as a ``date`` (None for instants and unreadable values)."""
    parsed = _parse(value)
    return parsed if isinstance(parsed, date) and not isinstance(parsed, datetime) else None


def local_date(moment: datetime, zone: tzinfo) -> date:
    """The calendar day ``moment`` falls on in ``zone``."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(zone).date()


def start_of_day(day: date, zone: tzinfo) -> datetime:
    """Midnight of ``day`` in ``zone``, as an aware UTC datetime."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def today_in(zone: tzinfo, now: datetime | None = None) -> date:
    return local_date(now or datetime.now(UTC), zone)


__all__ = [
    "DEFAULT_ZONE",
    "as_day",
    "as_utc",
    "is_zone",
    "local_date",
    "start_of_day",
    "today_in",
    "zone_named",
    "zone_or_none",
]
