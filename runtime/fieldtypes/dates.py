"""Date and date-time field types; instants are stored in UTC."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from babel import dates as babel_dates
from sqlalchemy import Date, DateTime

from runtime.definition.model import FieldDef
from runtime.errors import FieldMessage
from runtime.fieldtypes.base import (
    BOUND_SETTINGS,
    FieldInvalid,
    FieldType,
    _babel_locale,
    _invalid,
)
from runtime.fieldtypes.numbers import NUMBER_OPERATORS, _range_messages

# --------------------------------------------------------------------------- dates

DATE_RE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")


def _parse_date(raw: Any) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if not isinstance(raw, str):
        raise _invalid("not_a_date")
    text = raw.strip()
    match = DATE_RE.fullmatch(text)
    try:
        if match:
            return date(*(int(part) for part in match.groups()))
        return date.fromisoformat(text)
    except ValueError:
        raise _invalid("not_a_date") from None


def _parse_datetime(raw: Any, zone: tzinfo) -> datetime:
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, date):
        value = datetime(raw.year, raw.month, raw.day)
    elif isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise _invalid("not_a_datetime") from None
    else:
        raise _invalid("not_a_datetime")
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59-05:00 lands past year 9999 in UTC
        raise _invalid("not_a_datetime") from None


class DateType(FieldType):
    name = "date"
    db_value_is_canonical = True
    temporal = True
    highlight_rank = 2
    settings = BOUND_SETTINGS
    input_kind = "date"
    operators = NUMBER_OPERATORS

    def column_type(self, field):
        return Date()

    def default_index(self, field):
        return True

    def parse(self, field, raw, ctx):
        return _parse_date(raw)

    def check_bounds(self, field, value):
        low = None if field.min is None else _parse_date(field.min)
        high = None if field.max is None else _parse_date(field.max)
        return _iso_range_messages(value, low, high)

    def value_from_db(self, field, value):
        return _parse_date(value)

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        return babel_dates.format_date(value, format="medium", locale=_babel_locale(locale))

    def json_schema(self, field):
        return {"type": ["string", "null"], "format": "date"}

    def check_definition(self, field, context):
        return self.check_range(field, context)  # min/max as dates: what problems() says

    def problems(self, field):
        return _bound_problems(field, _parse_date)


def _bound_problems(field: FieldDef, parse) -> list[str]:
    found = []
    for name in ("min", "max"):
        bound = getattr(field, name)
        try:
            if bound is not None:
                parse(bound)
        except FieldInvalid:
            found.append(f"{name} '{bound}' is not an ISO date")
    return found


def _iso_range_messages(value: Any, low: Any, high: Any) -> list[FieldMessage]:
    return [
        FieldMessage(m.code, {k: v.isoformat() for k, v in m.params.items()})
        for m in _range_messages(value, low, high)
    ]


class DateTimeType(FieldType):
    """An instant, stored in UTC; naive input is read in ``ctx.timezone`` (UTC by default)."""

    name = "datetime"
    temporal = True
    instant = True
    settings = BOUND_SETTINGS
    input_kind = "datetime-local"
    operators = NUMBER_OPERATORS

    def column_type(self, field):
        return DateTime(timezone=True)

    def parse(self, field, raw, ctx):
        return _parse_datetime(raw, ctx.timezone)

    def check_bounds(self, field, value):
        low = None if field.min is None else _parse_datetime(field.min, UTC)
        high = None if field.max is None else _parse_datetime(field.max, UTC)
        return _iso_range_messages(value, low, high)

    def value_to_db(self, field, value):
        return None if value is None else value.astimezone(UTC)

    def input_in_zone(self, field, value, tz):
        """A date-time typed without an offset gets the user's (the store reads UTC)."""
        if not isinstance(value, str) or not value.strip():
            return value
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return value  # the repository reports it
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.isoformat()

    def value_from_db(self, field, value):
        # SQLite hands back naive datetimes (or strings); they were written in UTC.
        return _parse_datetime(value, UTC)

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        return babel_dates.format_datetime(
            value, format="medium", tzinfo=tzinfo or UTC, locale=_babel_locale(locale)
        )

    def json_schema(self, field):
        return {"type": ["string", "null"], "format": "date-time"}

    def check_definition(self, field, context):
        return self.check_range(field, context)  # min/max as dates: what problems() says

    def problems(self, field):
        return _bound_problems(field, lambda raw: _parse_datetime(raw, UTC))
