"""The money field type: an amount with its ISO 4217 currency in a second column."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from babel import numbers as babel_numbers
from sqlalchemy import Column, String

from runtime.definition import codes
from runtime.definition.model import FieldDef
from runtime.fieldtypes.base import (
    BOUND_SETTINGS,
    PRECISION_SETTING,
    CoerceContext,
    DefinitionProblem,
    FieldInvalid,
    ImportRefused,
    _babel_locale,
    _invalid,
    _is_empty,
    _settings_of,
    currency_key,
)
from runtime.fieldtypes.numbers import DecimalType

CURRENCY_RE = re.compile(r"[A-Z]{3}")
CURRENCY_SCHEMA = {"type": "string", "pattern": "^[A-Z]{3}$"}


class MoneyType(DecimalType):
    """An amount under ``<id>`` plus its ISO 4217 currency under ``<id>_currency``.

    Input: a number or numeric string (the amount) with the currency in the separate
    ``<id>_currency`` key, or ``{"amount": ..., "currency": ...}`` under ``<id>``.
    Without a currency the record's current one is kept, else the field's default.
    """

    name = "money"
    db_value_is_canonical = True
    has_currency = True
    highlight_rank = 0
    settings = _settings_of(
        BOUND_SETTINGS,
        PRECISION_SETTING,
        {
            "currency": CURRENCY_SCHEMA,
            "currencies": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": CURRENCY_SCHEMA,
            },
        },
    )
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

    def export_headers(self, field, label, gettext):
        return [label, gettext("%(label)s (currency)", label=label)]

    def export_values(self, field, record, ctx):
        amount = record.get(field.id)
        if amount is None:
            return [None, None]
        currency = record.get(currency_key(field)) or field.currency or ctx.default_currency
        return [self.export_value(field, amount, ctx), currency]

    def import_values(self, field, cells, ctx):
        amount, currency = (list(cells) + [None, None])[:2]
        out: dict[str, Any] = {}
        try:
            self.coerce_into(
                field, {field.id: amount, currency_key(field): currency}, out, ctx.coerce
            )
        except FieldInvalid as exc:
            raise ImportRefused(
                field, currency if exc.message.code == "invalid_currency" else amount, exc.message
            ) from None
        return out

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

    def check_definition(self, field, context):
        found = []
        if field.currency and field.currencies and field.currency not in field.currencies:
            found.append(
                DefinitionProblem(
                    codes.INVALID_CURRENCY,
                    f"currency '{field.currency}' is not in currencies {list(field.currencies)}",
                    "add it to currencies or change it",
                    ("currency",),
                )
            )
        return found + self.check_range(field, context)

    def problems(self, field):
        found = [
            f"'{code}' is not an ISO 4217 currency code"
            for code in (field.currency, *field.currencies)
            if code and not CURRENCY_RE.fullmatch(code)
        ]
        if field.currency and field.currencies and field.currency not in field.currencies:
            found.append(f"default currency '{field.currency}' is not in currencies")
        return found
