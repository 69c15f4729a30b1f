"""The field-type registry: one small class per field type, registered like an extension.

Each type says how a field is stored (SQLAlchemy columns), how user input becomes its
canonical Python value, how that value goes to and comes back from the database, how
it is displayed and how the API describes it. The built-in types at the bottom of
this module are registered with the same ``register`` an extension calls.

Interface used by the record repository (one record dict key per column)::

    ftype = type_of(field)                          # or get_type(field.type)
    ftype.keys(field)                               # record keys it owns: ("amount", "amount_currency")
    ftype.columns(field)                            # fresh Column objects for ent_<entity>
    ftype.coerce_into(field, raw, out, ctx, current=None)
    #   reads the keys it owns from ``raw`` (a form or JSON mapping), writes canonical
    #   values into ``out``; keys absent from ``raw`` are left alone (partial updates).
    #   ``current`` is the stored record on update (None on create). Raises FieldInvalid.
    ftype.check_bounds(field, out[field.id])        # -> list[FieldMessage] (min/max, lengths)
    ftype.to_db(field, out)                         # -> {column: db value} for keys present
    ftype.from_db(field, row)                       # -> {key: canonical value}
    ftype.format(field, value, locale, currency=..., tzinfo=...)   # display text

``coerce(field, raw, ctx)`` turns one raw value into the canonical value of
``field.id`` (for money: the amount); ``coerce_into`` is built on it. Money is the only
type with two keys: the amount under ``<id>`` and the ISO 4217 code under
``<id>_currency``. Empty input (``""``, ``None``, blank strings, empty lists) is None.
Required-ness, uniqueness and link existence are the repository's business.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import nh3
import phonenumbers
from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Numeric,
    String,
    Text,
)

from runtime.definition.model import FieldDef
from runtime.errors import FieldMessage, TrellisError
from runtime.messages import render_message

__all__ = [
    "TYPES",
    "FORMULA_RESULT_TYPES",
    "DEFAULT_AUTONUMBER_PATTERN",
    "CoerceContext",
    "FieldInvalid",
    "FieldType",
    "UnknownFieldType",
    "autonumber_pattern_problems",
    "currency_key",
    "format_autonumber",
    "format_field",
    "get_type",
    "period_key",
    "register",
    "type_of",
]


# --------------------------------------------------------------------------- basics


class FieldInvalid(TrellisError):
    """One raw value that cannot become a canonical value; the repository collects these."""

    code = "field_invalid"

    def __init__(self, message: FieldMessage):
        self.message = message
        super().__init__(message.text())


class UnknownFieldType(KeyError):
    """``get_type`` was asked for a name nobody registered."""


@dataclass(frozen=True)
class CoerceContext:
    """What coercion needs from outside the field: app defaults and the user's locale."""

    default_currency: str = "CNY"
    default_region: str = "CN"
    locale: str = "en"
    now: datetime = dc_field(default_factory=lambda: datetime.now(UTC))
    # Naive date-times (an HTML datetime-local input) are read in this zone.
    timezone: tzinfo = UTC


def _invalid(code: str = "invalid", **params: Any) -> FieldInvalid:
    return FieldInvalid(FieldMessage(code, params))


def _is_empty(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return raw.strip() == ""
    if isinstance(raw, list | tuple | set | frozenset):
        return len(raw) == 0
    return False


def _babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse((locale or "en").replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def currency_key(field: FieldDef) -> str:
    """The record key and column of a money field's currency."""
    return f"{field.id}_currency"


# Properties every field may carry, and those that only make sense with a column.
COMMON_PROPS = frozenset(
    {
        "id",
        "type",
        "label",
        "help",
        "visible_if",
        "required_if",
        "readonly_if",
        "readonly",
        "track_history",
    }
)
STORED_PROPS = frozenset({"required", "unique", "default", "searchable", "index"})
# Large text and JSON columns cannot carry a plain B-tree index or UNIQUE on PostgreSQL.
UNINDEXABLE_PROPS = frozenset({"required", "default", "searchable"})


# --------------------------------------------------------------------------- base class


class FieldType:
    """The behaviour of one field type. Subclasses override what differs; keep them small."""

    name: ClassVar[str] = ""
    stored: ClassVar[bool] = True  # has a column on the entity table
    props: ClassVar[frozenset[str]] = COMMON_PROPS | STORED_PROPS
    input_kind: ClassVar[str] = "text"  # hint for the web form widget
    search: ClassVar[bool] = False  # part of full-text search when search_fields is unset
    sortable: ClassVar[bool] = True
    always_readonly: ClassVar[bool] = False  # users never write it (autonumber, formula)
    operators: ClassVar[tuple[str, ...]] = ("eq", "ne", "in", "isnull")  # view filter ops

    # -- storage

    def is_stored(self, field: FieldDef) -> bool:
        return self.stored

    def keys(self, field: FieldDef) -> tuple[str, ...]:
        return (field.id,)

    def column_type(self, field: FieldDef) -> Any:
        raise NotImplementedError

    def default_index(self, field: FieldDef) -> bool:
        return False

    def columns(self, field: FieldDef) -> list[Column]:
        """Fresh columns (a Column belongs to one Table). Always nullable: ``required``
        is enforced by the repository, so a required field can be added to a full table."""
        if not self.is_stored(field):
            return []
        index = bool(field.index or self.default_index(field))
        return [
            Column(
                field.id,
                self.column_type(field),
                nullable=True,
                unique=bool(field.unique) or None,
                index=index or None,
            )
        ]

    def sort_column(self, field: FieldDef) -> str | None:
        return field.id if self.sortable and self.is_stored(field) else None

    def filter_operators(self, field: FieldDef) -> tuple[str, ...]:
        """Operators a view filter may use on this field."""
        return self.operators if self.is_stored(field) else ()

    # -- input

    def coerce(self, field: FieldDef, raw: Any, ctx: CoerceContext) -> Any:
        """One raw value (form string or JSON value) -> canonical value, or FieldInvalid."""
        if _is_empty(raw):
            return None
        return self.parse(field, raw, ctx)

    def parse(self, field: FieldDef, raw: Any, ctx: CoerceContext) -> Any:
        """``coerce`` for a non-empty value."""
        raise NotImplementedError

    def coerce_into(
        self,
        field: FieldDef,
        raw: Mapping[str, Any],
        out: dict[str, Any],
        ctx: CoerceContext,
        current: Mapping[str, Any] | None = None,
    ) -> None:
        if field.id in raw:
            out[field.id] = self.coerce(field, raw[field.id], ctx)

    def check_bounds(self, field: FieldDef, value: Any) -> list[FieldMessage]:
        return []

    # -- database

    def to_db(self, field: FieldDef, values: Mapping[str, Any]) -> dict[str, Any]:
        if not self.is_stored(field):
            return {}
        return {k: self.value_to_db(field, values[k]) for k in self.keys(field) if k in values}

    def value_to_db(self, field: FieldDef, value: Any) -> Any:
        return value

    def from_db(self, field: FieldDef, row: Mapping[str, Any]) -> dict[str, Any]:
        if not self.is_stored(field):
            return {}
        value = row.get(field.id)
        return {field.id: None if value is None else self.value_from_db(field, value)}

    def value_from_db(self, field: FieldDef, value: Any) -> Any:
        return value

    # -- output

    def format(
        self,
        field: FieldDef,
        value: Any,
        locale: str = "en",
        *,
        currency: str | None = None,
        tzinfo: tzinfo | None = None,
    ) -> str:
        """Display text; ``currency`` is read by money, ``tzinfo`` by datetime."""
        if value is None:
            return ""
        return self.format_value(field, value, locale, currency=currency, tzinfo=tzinfo)

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None) -> str:
        return str(value)

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        """The JSON Schema (2020-12) of the API representation of ``field.id``."""
        return {"type": ["string", "null"]}

    def json_properties(self, field: FieldDef) -> dict[str, dict[str, Any]]:
        """Schemas of every record key the field owns (money adds the currency)."""
        schema = dict(self.json_schema(field))
        if self.always_readonly:
            schema["readOnly"] = True
        return {field.id: schema}

    # -- definition checks

    def problems(self, field: FieldDef) -> list[str]:
        """Type-specific mistakes in a field definition, for the definition compiler."""
        return []


# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, FieldType] = {}
TYPES: Mapping[str, FieldType] = MappingProxyType(_REGISTRY)


def register(cls: type[FieldType], *, replace: bool = False) -> type[FieldType]:
    """Register a FieldType subclass under ``cls.name``; usable as a decorator."""
    if not (isinstance(cls, type) and issubclass(cls, FieldType)) or not cls.name:
        raise TypeError(f"{cls!r} is not a named FieldType subclass")
    if cls.name in _REGISTRY and not replace:
        raise ValueError(f"field type {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls()
    return cls


def get_type(name: str) -> FieldType:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownFieldType(name) from None


def type_of(field: FieldDef) -> FieldType:
    return get_type(field.type)


def format_field(
    field: FieldDef,
    record: Mapping[str, Any],
    locale: str = "en",
    *,
    tzinfo: tzinfo | None = None,
    default_currency: str | None = None,
) -> str:
    """Display text of ``field`` in a record dict, money with the record's currency."""
    currency = record.get(currency_key(field)) or field.currency or default_currency
    return type_of(field).format(
        field, record.get(field.id), locale, currency=currency, tzinfo=tzinfo
    )


# --------------------------------------------------------------------------- text types


def _clean_text(raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise _invalid()
    text = unicodedata.normalize("NFC", str(raw))
    if "\x00" in text:
        raise _invalid()
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _length_messages(field: FieldDef, value: str, max_default: int | None) -> list[FieldMessage]:
    found = []
    if field.min_length is not None and len(value) < field.min_length:
        found.append(FieldMessage("min_length", {"min": field.min_length}))
    limit = field.max_length if field.max_length is not None else max_default
    if limit is not None and len(value) > limit:
        found.append(FieldMessage("max_length", {"max": limit}))
    return found


LENGTH_PROPS = frozenset({"min_length", "max_length"})
TEXT_OPERATORS = ("eq", "ne", "in", "contains", "isnull")


class TextType(FieldType):
    name = "text"
    props = COMMON_PROPS | STORED_PROPS | LENGTH_PROPS
    search = True
    operators = TEXT_OPERATORS
    default_length = 255  # the column width when max_length is unset

    def column_type(self, field):
        return String(field.max_length or self.default_length)

    def parse(self, field, raw, ctx):
        # Single-line text: line breaks pasted into it become spaces.
        text = re.sub(r"\s*\n\s*", " ", _clean_text(raw))
        return text or None

    def check_bounds(self, field, value):
        if value is None:
            return []
        return _length_messages(field, value, field.max_length or self.default_length)

    def json_schema(self, field):
        schema: dict[str, Any] = {
            "type": ["string", "null"],
            "maxLength": field.max_length or self.default_length,
        }
        if field.min_length:
            schema["minLength"] = field.min_length
        return schema


class LongTextType(FieldType):
    name = "long_text"
    props = COMMON_PROPS | UNINDEXABLE_PROPS | LENGTH_PROPS
    input_kind = "textarea"
    search = True
    sortable = False
    operators = ("contains", "isnull")

    def column_type(self, field):
        return Text()

    def parse(self, field, raw, ctx):
        return _clean_text(raw) or None

    def check_bounds(self, field, value):
        return [] if value is None else _length_messages(field, value, None)

    def json_schema(self, field):
        schema: dict[str, Any] = {"type": ["string", "null"]}
        if field.max_length:
            schema["maxLength"] = field.max_length
        return schema


RICH_TEXT_TAGS = frozenset(
    {
        "p", "br", "strong", "b", "em", "i", "u", "s", "del", "ins", "sub", "sup",
        "h1", "h2", "h3", "h4", "ul", "ol", "li", "blockquote", "a", "code", "pre", "hr",
    }
)  # fmt: skip
RICH_TEXT_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})


def sanitize_html(value: str) -> str:
    """Keep basic formatting and safe links; drop scripts, styles and event handlers."""
    return nh3.clean(
        value,
        tags=set(RICH_TEXT_TAGS),
        attributes={"a": {"href", "title"}},
        url_schemes=set(RICH_TEXT_URL_SCHEMES),
        link_rel="noopener noreferrer",
    )


def html_to_text(value: str) -> str:
    return " ".join(html.unescape(nh3.clean(value, tags=set())).split())


class RichTextType(LongTextType):
    """Sanitised HTML. Length bounds count the stored HTML."""

    name = "rich_text"
    input_kind = "richtext"
    search = False

    def parse(self, field, raw, ctx):
        cleaned = sanitize_html(_clean_text(raw)).strip()
        # An editor's empty paragraph is no content.
        return cleaned if html_to_text(cleaned) or "<hr" in cleaned else None

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        return html_to_text(value)

    def json_schema(self, field):
        return {**super().json_schema(field), "contentMediaType": "text/html"}


# --------------------------------------------------------------------------- numbers

NUMBER_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "between", "in", "isnull")
BIGINT_MAX = 2**63 - 1
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
    props = COMMON_PROPS | STORED_PROPS | {"min", "max"}
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

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        return babel_numbers.format_decimal(value, locale=_babel_locale(locale))

    def json_schema(self, field):
        return _number_schema("integer", field, field.min, field.max)


class DecimalType(FieldType):
    name = "decimal"
    props = COMMON_PROPS | STORED_PROPS | {"min", "max", "precision"}
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


CURRENCY_RE = re.compile(r"[A-Z]{3}")


class MoneyType(DecimalType):
    """An amount under ``<id>`` plus its ISO 4217 currency under ``<id>_currency``.

    Input: a number or numeric string (the amount) with the currency in the separate
    ``<id>_currency`` key, or ``{"amount": ..., "currency": ...}`` under ``<id>``.
    Without a currency the record's current one is kept, else the field's default.
    """

    name = "money"
    props = COMMON_PROPS | STORED_PROPS | {"min", "max", "precision", "currency", "currencies"}
    input_kind = "money"

    def keys(self, field):
        return (field.id, currency_key(field))

    def columns(self, field):
        amount = super().columns(field)
        return [*amount, Column(currency_key(field), String(3), nullable=True)]

    def parse(self, field, raw, ctx):
        if isinstance(raw, Mapping):
            return self.coerce(field, raw.get("amount"), ctx)
        return super().parse(field, raw, ctx)

    def default_currency(self, field: FieldDef, ctx: CoerceContext) -> str:
        if field.currency:
            return field.currency
        if field.currencies and ctx.default_currency not in field.currencies:
            return field.currencies[0]
        return ctx.default_currency

    def coerce_currency(self, field: FieldDef, raw: Any, ctx: CoerceContext) -> str:
        if _is_empty(raw):
            return self.default_currency(field, ctx)
        code = raw.strip().upper() if isinstance(raw, str) else raw
        if not isinstance(code, str) or not CURRENCY_RE.fullmatch(code):
            raise _invalid("invalid_currency", value=raw)
        if field.currencies and code not in field.currencies:
            raise _invalid("invalid_currency", value=code)
        return code

    def coerce_into(self, field, raw, out, ctx, current=None):
        ckey = currency_key(field)
        has_amount, has_currency = field.id in raw, ckey in raw
        amount_raw, currency_raw = raw.get(field.id), raw.get(ckey)
        if isinstance(amount_raw, Mapping) and not _is_empty(amount_raw.get("currency")):
            if has_currency and not _is_empty(currency_raw):
                if str(currency_raw).strip().upper() != str(amount_raw["currency"]).strip().upper():
                    raise _invalid("invalid_currency", value=currency_raw)
            has_currency, currency_raw = True, amount_raw["currency"]
        if has_amount:
            amount = self.coerce(field, amount_raw, ctx)
            out[field.id] = amount
            if amount is None:
                out[ckey] = None
            elif has_currency and not _is_empty(currency_raw):
                out[ckey] = self.coerce_currency(field, currency_raw, ctx)
            else:
                kept = current.get(ckey) if current else None
                out[ckey] = kept or self.default_currency(field, ctx)
        elif has_currency:
            out[ckey] = self.coerce_currency(field, currency_raw, ctx)

    def from_db(self, field, row):
        values = super().from_db(field, row)
        values[currency_key(field)] = row.get(currency_key(field))
        return values

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        code = currency or field.currency
        if not code:
            return super().format_value(field, value, locale)
        return babel_numbers.format_currency(value, code, locale=_babel_locale(locale))

    def json_schema(self, field):
        schema = super().json_schema(field)
        schema["description"] = f"Amount; its currency is in {currency_key(field)}."
        return schema

    def json_properties(self, field):
        currency: dict[str, Any] = {"type": ["string", "null"], "pattern": "^[A-Z]{3}$"}
        if field.currencies:
            currency["enum"] = [*field.currencies, None]
        return {**super().json_properties(field), currency_key(field): currency}

    def problems(self, field):
        found = [
            f"'{code}' is not an ISO 4217 currency code"
            for code in (field.currency, *field.currencies)
            if code and not CURRENCY_RE.fullmatch(code)
        ]
        if field.currency and field.currencies and field.currency not in field.currencies:
            found.append(f"default currency '{field.currency}' is not in currencies")
        return found


class PercentType(DecimalType):
    """A percentage as a number of percent (45.5 means 45.5%); 0..100 unless min/max say."""

    name = "percent"
    input_kind = "number"

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


# --------------------------------------------------------------------------- boolean

TRUE_WORDS = frozenset({"true", "t", "1", "yes", "y", "on", "是"})
FALSE_WORDS = frozenset({"false", "f", "0", "no", "n", "off", "否"})


class BooleanType(FieldType):
    name = "boolean"
    props = COMMON_PROPS | {"required", "default", "index"}
    input_kind = "checkbox"
    operators = ("eq", "ne", "isnull")

    def column_type(self, field):
        return Boolean()

    def parse(self, field, raw, ctx):
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        if isinstance(raw, str):
            word = raw.strip().lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
        raise _invalid("not_a_boolean")

    def value_from_db(self, field, value):
        return bool(value)

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        return render_message("bool_true" if value else "bool_false", {}, locale)

    def json_schema(self, field):
        return {"type": ["boolean", "null"]}


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
    props = COMMON_PROPS | STORED_PROPS | {"min", "max"}
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
    props = COMMON_PROPS | STORED_PROPS | {"min", "max"}
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

    def value_from_db(self, field, value):
        # SQLite hands back naive datetimes (or strings); they were written in UTC.
        return _parse_datetime(value, UTC)

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        return babel_dates.format_datetime(
            value, format="medium", tzinfo=tzinfo or UTC, locale=_babel_locale(locale)
        )

    def json_schema(self, field):
        return {"type": ["string", "null"], "format": "date-time"}

    def problems(self, field):
        return _bound_problems(field, lambda raw: _parse_datetime(raw, UTC))


# --------------------------------------------------------------------------- choices


def _match_option(field: FieldDef, raw: Any) -> str:
    """An option id from its id, or (for imports) its label in any locale."""
    if not isinstance(raw, str):
        raise _invalid("unknown_option", value=raw)
    text = raw.strip()
    if field.option(text) is not None:
        return text
    folded = text.casefold()
    for opt in field.options:
        if any(label.casefold() == folded for label in opt.label.texts.values()):
            return opt.id
    raise _invalid("unknown_option", value=text)


def _option_labels(field: FieldDef, ids: Iterable[str], locale: str) -> list[str]:
    labels = []
    for option_id in ids:
        opt = field.option(option_id)
        labels.append(opt.label.get(locale) if opt else option_id)
    return labels


def _options_problems(field: FieldDef) -> list[str]:
    if not field.options:
        return ["needs at least one option"]
    ids = [opt.id for opt in field.options]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    found = [f"option '{i}' is listed twice" for i in dupes]
    found += [f"option id '{i}' is longer than 63 characters" for i in ids if len(i) > 63]
    return found


class SelectType(FieldType):
    name = "select"
    props = COMMON_PROPS | STORED_PROPS | {"options"}
    input_kind = "select"
    operators = ("eq", "ne", "in", "isnull")

    def column_type(self, field):
        return String(63)

    def default_index(self, field):
        return True

    def parse(self, field, raw, ctx):
        return _match_option(field, raw)

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        return _option_labels(field, [value], locale)[0]

    def json_schema(self, field):
        return {"type": ["string", "null"], "enum": [opt.id for opt in field.options] + [None]}

    def problems(self, field):
        return _options_problems(field)


class MultiSelectType(FieldType):
    """A list of option ids, unique, in the options' order; stored as a JSON array."""

    name = "multi_select"
    props = COMMON_PROPS | UNINDEXABLE_PROPS | {"options"}
    input_kind = "multiselect"
    sortable = False
    operators = ("contains", "isnull")

    def column_type(self, field):
        return JSON()

    def parse(self, field, raw, ctx):
        if isinstance(raw, str):
            items = [part for part in re.split(r"[,，;；]", raw) if part.strip()]
        elif isinstance(raw, list | tuple | set | frozenset):
            items = [item for item in raw if not _is_empty(item)]
        else:
            raise _invalid()
        chosen = {_match_option(field, item) for item in items}
        ordered = [opt.id for opt in field.options if opt.id in chosen]
        return ordered or None

    def value_from_db(self, field, value):
        if isinstance(value, str | bytes):
            value = json.loads(value)
        return list(value) or None

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        separator = "、" if locale.startswith("zh") else ", "
        return separator.join(_option_labels(field, value, locale))

    def json_schema(self, field):
        return {
            "type": ["array", "null"],
            "items": {"type": "string", "enum": [opt.id for opt in field.options]},
            "uniqueItems": True,
        }

    def problems(self, field):
        return _options_problems(field)


# --------------------------------------------------------------------------- references


def _record_id(raw: Any) -> int:
    if isinstance(raw, Mapping):
        raw = raw.get("id")
    if isinstance(raw, bool) or raw is None:
        raise _invalid("invalid_record_id")
    if isinstance(raw, str):
        raw = raw.strip()
        if not raw.isascii() or not raw.isdigit():
            raise _invalid("invalid_record_id")
    if isinstance(raw, float | Decimal) and (not raw.is_integer() or abs(raw) > BIGINT_MAX):
        raise _invalid("invalid_record_id")  # 4.5, nan, inf
    try:
        number = int(raw)
    except (TypeError, ValueError, OverflowError):
        raise _invalid("invalid_record_id") from None
    if not 0 < number <= BIGINT_MAX:
        raise _invalid("invalid_record_id")
    return number


class LinkType(FieldType):
    """The id of a record of ``target``. No FOREIGN KEY: see docs/field-types.md."""

    name = "link"
    props = COMMON_PROPS | STORED_PROPS | {"target"}
    input_kind = "link-picker"
    operators = ("eq", "ne", "in", "isnull")

    def column_type(self, field):
        return BigInteger()

    def default_index(self, field):
        return True

    def parse(self, field, raw, ctx):
        return _record_id(raw)

    def value_from_db(self, field, value):
        return int(value)

    def json_schema(self, field):
        schema = {"type": ["integer", "null"], "minimum": 1}
        if field.target:
            schema["description"] = f"id of a {field.target} record"
        return schema

    def problems(self, field):
        return [] if field.target else ["needs a target entity"]


class UserType(LinkType):
    name = "user"
    props = COMMON_PROPS | STORED_PROPS
    input_kind = "user-picker"

    def json_schema(self, field):
        return {"type": ["integer", "null"], "minimum": 1, "description": "id of a user"}

    def problems(self, field):
        return []


# --------------------------------------------------------------------------- contact data

EMAIL_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
HOST_LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _valid_hostname(host: str, need_dot: bool = True) -> bool:
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return False
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or (need_dot and len(labels) < 2):
        return False
    if not all(HOST_LABEL_RE.fullmatch(label) for label in labels):
        return False
    return not need_dot or not labels[-1].isdigit()


class EmailType(FieldType):
    """An address checked by syntax only (no DNS); the domain is lower-cased."""

    name = "email"
    props = COMMON_PROPS | STORED_PROPS | LENGTH_PROPS
    input_kind = "email"
    search = True
    operators = TEXT_OPERATORS

    def column_type(self, field):
        return String(254)

    def parse(self, field, raw, ctx):
        text = _clean_text(raw)
        local, sep, domain = text.rpartition("@")
        if (
            not sep
            or len(text) > 254
            or len(local) > 64
            or not EMAIL_LOCAL_RE.fullmatch(local)
            or not _valid_hostname(domain)
        ):
            raise _invalid("invalid_email")
        return f"{local}@{domain.lower()}"

    def check_bounds(self, field, value):
        return [] if value is None else _length_messages(field, value, None)

    def json_schema(self, field):
        return {"type": ["string", "null"], "format": "email", "maxLength": 254}


class PhoneType(FieldType):
    """Normalised to E.164; numbers without a country code use field.region or the app's."""

    name = "phone"
    props = COMMON_PROPS | STORED_PROPS | LENGTH_PROPS | {"region"}
    input_kind = "tel"
    search = True
    operators = TEXT_OPERATORS

    def column_type(self, field):
        return String(32)

    def parse(self, field, raw, ctx):
        text = _clean_text(raw)
        region = (field.region or ctx.default_region or "").upper() or None
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            raise _invalid("invalid_phone") from None
        if not phonenumbers.is_valid_number(number):
            raise _invalid("invalid_phone")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def check_bounds(self, field, value):
        return [] if value is None else _length_messages(field, value, None)

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            return value
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)

    def json_schema(self, field):
        return {"type": ["string", "null"], "pattern": r"^\+[1-9][0-9]{1,14}$"}

    def problems(self, field):
        if field.region and field.region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            return [f"unknown phone region '{field.region}'"]
        return []


URL_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?!\d)")
URL_MAX = 2048


class UrlType(FieldType):
    """An http(s) URL with a host; "example.com/x" gets https:// in front."""

    name = "url"
    props = COMMON_PROPS | STORED_PROPS | LENGTH_PROPS
    input_kind = "url"
    operators = TEXT_OPERATORS

    def column_type(self, field):
        return String(URL_MAX)

    def parse(self, field, raw, ctx):
        text = _clean_text(raw)
        if any(ch.isspace() or ord(ch) < 32 for ch in text) or len(text) > URL_MAX:
            raise _invalid("invalid_url")
        if "://" not in text and not URL_SCHEME_RE.match(text):
            text = "https://" + text
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 -- raises ValueError for a bad port
        except ValueError:
            raise _invalid("invalid_url") from None
        host = parts.hostname or ""
        if parts.scheme.lower() not in ("http", "https") or not host or parts.username:
            raise _invalid("invalid_url")
        if not (_valid_hostname(host, need_dot=False) or _is_ip_literal(host)):
            raise _invalid("invalid_url")
        netloc = f"[{host}]" if ":" in host else host.lower()
        if parts.port is not None:
            netloc += f":{parts.port}"
        value = urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))
        if len(value) > URL_MAX:
            raise _invalid("invalid_url")
        return value

    def check_bounds(self, field, value):
        return [] if value is None else _length_messages(field, value, None)

    def json_schema(self, field):
        return {"type": ["string", "null"], "format": "uri", "maxLength": URL_MAX}


def _is_ip_literal(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- autonumber

DEFAULT_AUTONUMBER_PATTERN = "{00000}"
AUTONUMBER_TOKEN_RE = re.compile(r"\{([^{}]*)\}")
DATE_TOKENS = ("YYYY", "YY", "MM", "DD")


def autonumber_pattern_problems(pattern: str) -> list[str]:
    """What is wrong with an autonumber pattern (empty when nothing)."""
    tokens = AUTONUMBER_TOKEN_RE.findall(pattern)
    found = [
        f"unknown placeholder '{{{token}}}' (use {{YYYY}} {{YY}} {{MM}} {{DD}} or {{0000}})"
        for token in tokens
        if token not in DATE_TOKENS and not re.fullmatch(r"0+", token)
    ]
    counters = [token for token in tokens if re.fullmatch(r"0+", token)]
    if len(counters) != 1:
        found.append("needs exactly one counter placeholder such as {0000}")
    if "{" in AUTONUMBER_TOKEN_RE.sub("", pattern) or "}" in AUTONUMBER_TOKEN_RE.sub("", pattern):
        found.append("has an unmatched brace")
    if len(format_autonumber(pattern, 1, date(2000, 1, 1))) > 48:
        found.append("is longer than 48 characters once filled in")
    return found


def format_autonumber(pattern: str | None, counter: int, when: date) -> str:
    """Fill in a pattern: ``format_autonumber("OPP-{YYYY}-{0000}", 7, d) == "OPP-2024-0007"``."""

    def fill(match: re.Match) -> str:
        token = match.group(1)
        if token == "YYYY":
            return f"{when.year:04d}"
        if token == "YY":
            return f"{when.year % 100:02d}"
        if token == "MM":
            return f"{when.month:02d}"
        if token == "DD":
            return f"{when.day:02d}"
        if re.fullmatch(r"0+", token):
            return str(counter).zfill(len(token))
        return match.group(0)

    return AUTONUMBER_TOKEN_RE.sub(fill, pattern or DEFAULT_AUTONUMBER_PATTERN)


def period_key(pattern: str | None, when: date) -> str:
    """The counter's period: it restarts when this changes ("" = never restarts).

    The finest date placeholder decides: {DD} -> "2024-05-01", {MM} -> "2024-05",
    {YYYY}/{YY} -> "2024". The year is always part of the key, so "{MM}-{000}" restarts
    every month, not only in the first year.
    """
    tokens = set(AUTONUMBER_TOKEN_RE.findall(pattern or DEFAULT_AUTONUMBER_PATTERN))
    if "DD" in tokens:
        return when.strftime("%Y-%m-%d")
    if "MM" in tokens:
        return when.strftime("%Y-%m")
    if tokens & {"YYYY", "YY"}:
        return f"{when.year:04d}"
    return ""


class AutonumberType(FieldType):
    """A readable number like OPP-2024-0007, filled in by the repository on create."""

    name = "autonumber"
    props = COMMON_PROPS | {"pattern", "searchable", "index"}
    input_kind = "readonly"
    search = True
    always_readonly = True
    operators = TEXT_OPERATORS

    def column_type(self, field):
        return String(64)

    def columns(self, field):
        return [Column(field.id, String(64), nullable=True, unique=True)]

    def parse(self, field, raw, ctx):
        # Only imports carrying numbers from an old system come this way.
        text = _clean_text(raw)
        if len(text) > 64:
            raise _invalid("max_length", max=64)
        return text

    def json_schema(self, field):
        return {"type": ["string", "null"], "maxLength": 64}

    def problems(self, field):
        return autonumber_pattern_problems(field.pattern or DEFAULT_AUTONUMBER_PATTERN)


# --------------------------------------------------------------------------- computed

FORMULA_RESULT_TYPES = (
    "text",
    "integer",
    "decimal",
    "money",
    "percent",
    "boolean",
    "date",
    "datetime",
)


class FormulaType(FieldType):
    """A value computed from an expression; stored in a column of its result type, or not.

    Methods delegate to the result type. A money result keeps no currency column: it
    is shown in ``field.currency`` or the app's currency.
    """

    name = "formula"
    props = COMMON_PROPS | {
        "expression", "result_type", "stored", "precision", "currency", "searchable", "index",
    }  # fmt: skip
    input_kind = "readonly"
    always_readonly = True

    def result(self, field: FieldDef) -> FieldType:
        return get_type(field.result_type or "decimal")

    def is_stored(self, field):
        return bool(field.stored)

    def column_type(self, field):
        return self.result(field).column_type(field)

    def columns(self, field):
        if not self.is_stored(field):
            return []
        return [c for c in self.result(field).columns(field) if c.name == field.id]

    def sort_column(self, field):
        return field.id if self.is_stored(field) else None

    def coerce(self, field, raw, ctx):
        """Canonicalise an evaluated result (float -> Decimal at the field's precision)."""
        if isinstance(raw, float) and raw != raw:  # NaN from arithmetic on nothing
            return None
        return self.result(field).coerce(field, raw, ctx)

    def coerce_into(self, field, raw, out, ctx, current=None):
        if field.id in raw:
            out[field.id] = self.coerce(field, raw[field.id], ctx)

    def check_bounds(self, field, value):
        return []

    def value_to_db(self, field, value):
        return self.result(field).value_to_db(field, value)

    def from_db(self, field, row):
        if not self.is_stored(field):
            return {}
        return {field.id: self.result(field).from_db(field, row).get(field.id)}

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        return self.result(field).format_value(
            field, value, locale, currency=currency or field.currency, tzinfo=tzinfo
        )

    def json_schema(self, field):
        return self.result(field).json_schema(field)

    def filter_operators(self, field):
        return self.result(field).operators if self.is_stored(field) else ()

    def problems(self, field):
        if field.result_type not in FORMULA_RESULT_TYPES:
            return [f"result_type must be one of {', '.join(FORMULA_RESULT_TYPES)}"]
        return [] if field.expression is not None else ["needs an expression"]


def _checked_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of one row; its id names a stored row (a whole number) or is absent/none."""
    out = dict(row)
    row_id = out.get("id")
    if isinstance(row_id, str) and row_id.strip().isdigit():
        out["id"] = row_id = int(row_id.strip())
    if row_id is not None and (isinstance(row_id, bool) or not isinstance(row_id, int)):
        raise _invalid("invalid_row_id")
    return out


DEFAULT_MAX_ROWS = 500  # rows of one child table in one record, unless max_rows says
MAX_ROWS_CEILING = 10_000  # the most max_rows may allow


def max_rows_of(field: FieldDef) -> int:
    return field.max_rows or DEFAULT_MAX_ROWS


class ChildTableType(FieldType):
    """Rows in their own table (owned by the repository); the field has no column here.

    ``coerce`` checks the shape only (a list of mappings) and copies the rows; the
    repository coerces each row's fields with their own types, as it does for records.
    """

    name = "child_table"
    stored = False
    props = COMMON_PROPS | {"fields", "max_rows"}
    input_kind = "child-table"
    sortable = False
    operators = ()

    def coerce(self, field, raw, ctx):
        if raw is None or raw == "":
            return []
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise _invalid("invalid_rows") from None
        if not isinstance(raw, list | tuple) or not all(isinstance(r, Mapping) for r in raw):
            raise _invalid("invalid_rows")
        limit = max_rows_of(field)
        if len(raw) > limit:
            raise _invalid("too_many_rows", max=limit, count=len(raw))
        return [_checked_row(row) for row in raw]

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        return str(len(value))

    def json_schema(self, field):
        properties: dict[str, Any] = {
            "id": {"type": "integer", "readOnly": True},
            "position": {"type": "integer"},
        }
        for child in field.fields:
            properties.update(type_of(child).json_properties(child))
        return {
            "type": "array",
            "maxItems": max_rows_of(field),
            "items": {"type": "object", "properties": properties},
        }

    def problems(self, field):
        if not field.fields:
            return ["needs at least one field"]
        nested = [c.id for c in field.fields if c.type == "child_table"]
        return [f"field '{c}' is a child table inside a child table" for c in nested]


for _cls in (
    TextType,
    LongTextType,
    RichTextType,
    IntegerType,
    DecimalType,
    MoneyType,
    PercentType,
    BooleanType,
    DateType,
    DateTimeType,
    SelectType,
    MultiSelectType,
    LinkType,
    UserType,
    EmailType,
    PhoneType,
    UrlType,
    AutonumberType,
    FormulaType,
    ChildTableType,
):
    register(_cls)
del _cls
