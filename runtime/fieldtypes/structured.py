"""Structured field types: autonumbers, formulas and child tables."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from types import MappingProxyType
from typing import Any

from sqlalchemy import Column, String

from runtime.definition import codes
from runtime.definition.model import FieldDef
from runtime.fieldtypes.base import (
    COMMON_PROPS,
    PRECISION_SETTING,
    DefinitionProblem,
    FieldType,
    _invalid,
)
from runtime.fieldtypes.text import TEXT_OPERATORS, _clean_text

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
    title_candidate = True
    db_value_is_canonical = True
    props = COMMON_PROPS | {"searchable", "index"}
    settings = MappingProxyType({"pattern": {"type": "string", "minLength": 1, "maxLength": 100}})
    input_kind = "readonly"
    search = True
    always_readonly = True
    assigned_on_create = True
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

    def check_definition(self, field, context):
        pattern = field.pattern or DEFAULT_AUTONUMBER_PATTERN
        found = [
            DefinitionProblem(
                codes.INVALID_AUTONUMBER_PATTERN,
                f"pattern '{pattern}' {message}",
                "for example 'OPP-{YYYY}-{0000}'",
                ("pattern",),
            )
            for message in autonumber_pattern_problems(pattern)
        ]
        return found + self.check_range(field, context)

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
    computed = True
    props = COMMON_PROPS | {"searchable", "index"}
    settings = MappingProxyType(
        {
            "expression": {"type": "string", "minLength": 1, "maxLength": 1000},
            "result_type": {"enum": list(FORMULA_RESULT_TYPES)},
            "stored": {"type": "boolean"},
            **PRECISION_SETTING,
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        }
    )
    input_kind = "readonly"
    always_readonly = True

    def result(self, field: FieldDef) -> FieldType:
        from runtime.fieldtypes import get_type  # the registry module imports this one

        return get_type(field.result_type or "decimal")

    def value_type(self, field):
        return self.result(field)

    def to_input(self, field, value, tz):
        return self.result(field).to_input(field, value, tz)

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

    def export_headers(self, field, label, gettext):
        return self.result(field).export_headers(field, label, gettext)

    def export_values(self, field, record, ctx):
        return self.result(field).export_values(field, record, ctx)

    def export_value(self, field, value, ctx):
        return self.result(field).export_value(field, value, ctx)

    def filter_operators(self, field):
        return self.result(field).operators if self.is_stored(field) else ()

    def check_definition(self, field, context):
        found = [
            DefinitionProblem(codes.INCOMPLETE_FORMULA, f"a formula needs '{key}'")
            for key in ("expression", "result_type")
            if key not in context.raw
        ]
        return found + self.check_range(field, context)

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
    holds_rows = True
    display_kind = "table"
    wide_display = True
    stored = False
    props = COMMON_PROPS
    settings = MappingProxyType(
        {
            "fields": {"type": "array", "items": {"type": "object"}},
            "max_rows": {"type": "integer", "minimum": 1},
        }
    )
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

    def export_value(self, field, value, ctx):
        # The rows' values as JSON (no ids: they name rows of this record only).
        rows = [{k: v for k, v in row.items() if k not in ("id", "position")} for row in value]
        return json.dumps(rows, ensure_ascii=False, default=str)

    def json_schema(self, field):
        properties: dict[str, Any] = {
            "id": {"type": "integer", "readOnly": True},
            "position": {"type": "integer"},
        }
        from runtime.fieldtypes import type_of  # the registry module imports this one

        for child in field.fields:
            properties.update(type_of(child).json_properties(child))
        return {
            "type": "array",
            "maxItems": max_rows_of(field),
            "items": {"type": "object", "properties": properties},
        }

    def check_definition(self, field, context):
        found = []
        if context.in_row:
            found.append(
                DefinitionProblem(
                    codes.NESTED_CHILD_TABLE,
                    "a child table cannot contain another child table",
                    "make it a separate entity with a link field back to this one",
                    ("type",),
                )
            )
        elif not context.raw.get("fields"):
            found.append(
                DefinitionProblem(
                    codes.EMPTY_CHILD_TABLE,
                    "a child table needs 'fields'",
                    "list the row's fields under 'fields:'",
                )
            )
        if (field.max_rows or 0) > MAX_ROWS_CEILING:
            found.append(
                DefinitionProblem(
                    codes.TOO_MANY_ROWS_ALLOWED,
                    f"max_rows {field.max_rows:,} is above the ceiling of "
                    f"{MAX_ROWS_CEILING:,} rows",
                    "rows beyond a few hundred belong in a separate entity with a link field",
                    ("max_rows",),
                )
            )
        return found + self.check_range(field, context)

    def problems(self, field):
        if not field.fields:
            return ["needs at least one field"]
        from runtime.fieldtypes import type_of  # the registry module imports this one

        nested = [c.id for c in field.fields if type_of(c).holds_rows]
        return [f"field '{c}' is a child table inside a child table" for c in nested]
