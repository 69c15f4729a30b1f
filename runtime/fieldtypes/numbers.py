"""Number field types: integers, decimals and percentages."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from babel import numbers as babel_numbers
from sqlalchemy import BigInteger, Numeric

from runtime.definition.model import FieldDef
from runtime.errors import FieldMessage
from runtime.fieldtypes.base import (
    BIGINT_MAX,
    BOUND_SETTINGS,
    PRECISION_SETTING,
    FieldInvalid,
    FieldType,
    _babel_locale,
    _invalid,
    _settings_of,
)

# --------------------------------------------------------------------------- numbers

NUMBER_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "between", "in", "isnull")
NUMERIC_DIGITS = 18  # total digits of every Numeric column


def _to_decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool):
        raise _invalid("not_a_number")
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, float):
        value = Decimal(repr(raw))  # the shortest decimal that round-trips, no binary tail
    elif isinstance(raw, str):
        text = raw.strip().replace("_", "").replace(" ", "")
        # Group separators: "1,234,567.5".
        if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?", text):
            text = text.replace(",", "")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise _invalid("not_a_number") from None
    else:
        raise _invalid("not_a_number")
    if not value.is_finite():
        raise _invalid("not_a_number")
    return value


def _number_bound(bound: Any) -> Decimal | None:
    return None if bound is None else _to_decimal(bound)


def _range_messages(value: Any, low: Any, high: Any) -> list[FieldMessage]:
    if value is None:
        return []
    if low is not None and value < low:
        return [FieldMessage("min_value", {"min": low})]
    if high is not None and value > high:
        return [FieldMessage("max_value", {"max": high})]
    return []


def _number_schema(base: str, field: FieldDef, low: Any, high: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": [base, "null"]}
    if low is not None:
        schema["minimum"] = float(low) if base == "number" else int(low)
    if high is not None:
        schema["maximum"] = float(high) if base == "number" else int(high)
    return schema


class IntegerType(FieldType):
    name = "integer"
    db_value_is_canonical = True
    numeric = True
    integral = True
    summable = True
    settings = BOUND_SETTINGS
    input_kind = "number"
    operators = NUMBER_OPERATORS

    def column_type(self, field):
        return BigInteger()

    def parse(self, field, raw, ctx):
        try:
            value = _to_decimal(raw)
        except FieldInvalid:
            raise _invalid("not_an_integer") from None
        if value.adjusted() > 18:
            raise _invalid("number_too_large")  # before int() builds a huge number
        if value != value.to_integral_value():
            raise _invalid("not_an_integer")
        number = int(value)
        if abs(number) > BIGINT_MAX:
            raise _invalid("number_too_large")
        return number

    def check_bounds(self, field, value):
        return _range_messages(value, _number_bound(field.min), _number_bound(field.max))

    def value_from_db(self, field, value):
        return int(value)

    def input_step(self, field):
        return "1"

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        return babel_numbers.format_decimal(value, locale=_babel_locale(locale))

    def json_schema(self, field):
        return _number_schema("integer", field, field.min, field.max)


class DecimalType(FieldType):
    name = "decimal"
    db_value_is_canonical = True
    numeric = True
    summable = True
    settings = _settings_of(BOUND_SETTINGS, PRECISION_SETTING)
    input_kind = "number"
    operators = NUMBER_OPERATORS
    default_precision = 2

    def precision(self, field: FieldDef) -> int:
        return self.default_precision if field.precision is None else field.precision

    def column_type(self, field):
        return Numeric(NUMERIC_DIGITS, self.precision(field), asdecimal=True)

    def quantize(self, field: FieldDef, value: Decimal) -> Decimal:
        places = self.precision(field)
        if value.adjusted() >= NUMERIC_DIGITS - places:
            raise _invalid("number_too_large")
        try:
            value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        except InvalidOperation:
            raise _invalid("number_too_large") from None
        if value.adjusted() >= NUMERIC_DIGITS - places:  # 99.999 rounded up to 100.00
            raise _invalid("number_too_large")
        return value

    def parse(self, field, raw, ctx):
        return self.quantize(field, _to_decimal(raw))

    def input_step(self, field):
        places = self.precision(field)
        return "1" if places == 0 else "0." + "0" * (places - 1) + "1"

    def bounds(self, field: FieldDef) -> tuple[Decimal | None, Decimal | None]:
        return _number_bound(field.min), _number_bound(field.max)

    def check_bounds(self, field, value):
        return _range_messages(value, *self.bounds(field))

    def value_from_db(self, field, value):
        return self.quantize(field, _to_decimal(value))

    def number_pattern(self, field: FieldDef, optional_digits: bool = False) -> str:
        places = self.precision(field)
        digit = "#" if optional_digits else "0"
        return "#,##0" + ("." + digit * places if places else "")

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        return babel_numbers.format_decimal(
            value, format=self.number_pattern(field), locale=_babel_locale(locale)
        )

    def json_schema(self, field):
        return _number_schema("number", field, *self.bounds(field))


class PercentType(DecimalType):
    """A percentage as a number of percent (45.5 means 45.5%); 0..100 unless min/max say."""

    name = "percent"
    summable = False  # percentages do not add up
    highlight_rank = 5
    input_kind = "percent"

    def to_input(self, field, value, tz):
        text = super().to_input(field, value, tz)
        if isinstance(value, Decimal) and "." in text:
            return text.rstrip("0").rstrip(".")  # "45.50" is typed as 45.5
        return text

    def parse(self, field, raw, ctx):
        if isinstance(raw, str) and raw.strip().endswith("%"):
            raw = raw.strip()[:-1]
        return super().parse(field, raw, ctx)

    def bounds(self, field):
        low, high = super().bounds(field)
        return (Decimal(0) if low is None else low, Decimal(100) if high is None else high)

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        pattern = self.number_pattern(field, optional_digits=True) + "%"
        return babel_numbers.format_percent(
            Decimal(value) / 100, format=pattern, locale=_babel_locale(locale)
        )
