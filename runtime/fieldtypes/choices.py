"""Choice field types: yes/no, one option (select) or several (multi_select)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any

from sqlalchemy import JSON, Boolean, String

from runtime.definition import codes
from runtime.definition.model import FieldDef
from runtime.fieldtypes.base import (
    COMMON_PROPS,
    UNINDEXABLE_PROPS,
    DefinitionProblem,
    FieldType,
    _invalid,
    _is_empty,
)
from runtime.messages import render_message

# --------------------------------------------------------------------------- boolean

TRUE_WORDS = frozenset({"true", "t", "1", "yes", "y", "on", "是"})
FALSE_WORDS = frozenset({"false", "f", "0", "no", "n", "off", "否"})


class BooleanType(FieldType):
    name = "boolean"
    boolean = True
    db_value_is_canonical = True
    display_kind = "bool"
    props = COMMON_PROPS | {"required", "default", "index"}
    input_kind = "checkbox"
    operators = ("eq", "ne", "isnull")

    def column_type(self, field):
        return Boolean()

    def read_input(self, field, form, key):
        # A hidden "0" precedes the checkbox so that unticking is sent too.
        return super().read_input(field, form, key).strip().lower() in TRUE_WORDS

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


# --------------------------------------------------------------------------- choices

OPTION_SETTINGS = MappingProxyType(
    {
        "options": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
                    "label": {},
                    "color": {"type": "string"},
                },
                "additionalProperties": False,
            },
        }
    }
)


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


def _missing_options(field: FieldDef) -> list[DefinitionProblem]:
    if field.options:
        return []
    return [
        DefinitionProblem(
            codes.MISSING_OPTIONS,
            f"a {field.type} field needs 'options'",
            "add options: [{id: ..., label: ...}, ...]",
        )
    ]


class SelectType(FieldType):
    name = "select"
    db_value_is_canonical = True
    display_kind = "badge"
    highlight_rank = 1
    has_options = True
    settings = OPTION_SETTINGS
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

    def export_value(self, field, value, ctx):
        return self.format(field, value, ctx.locale)  # the label: imports match labels

    def json_schema(self, field):
        return {"type": ["string", "null"], "enum": [opt.id for opt in field.options] + [None]}

    def check_definition(self, field, context):
        return [*_missing_options(field), *self.check_range(field, context)]

    def problems(self, field):
        return _options_problems(field)


class MultiSelectType(FieldType):
    """A list of option ids, unique, in the options' order; stored as a JSON array."""

    name = "multi_select"
    json_list = True
    db_value_is_canonical = True
    display_kind = "badges"
    has_options = True
    props = COMMON_PROPS | UNINDEXABLE_PROPS
    settings = OPTION_SETTINGS
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

    def to_input(self, field, value, tz):
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
        return super().to_input(field, value, tz)

    def read_input(self, field, form, key):
        return [v for v in form.getlist(key) if v.strip()]

    def value_from_db(self, field, value):
        if isinstance(value, str | bytes):
            value = json.loads(value)
        return list(value) or None

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        separator = "、" if locale.startswith("zh") else ", "
        return separator.join(_option_labels(field, value, locale))

    def filter_value_schema(self, field, max_text):
        return {"type": "string", "enum": [opt.id for opt in field.options]}  # one option

    def import_value(self, field, text, ctx):
        if isinstance(text, str):  # the labels as exported, joined by ", " or "、"
            text = [part for part in re.split(r"[,，;；、]", text) if part.strip()]
        return super().import_value(field, text, ctx)

    def json_schema(self, field):
        return {
            "type": ["array", "null"],
            "items": {"type": "string", "enum": [opt.id for opt in field.options]},
            "uniqueItems": True,
        }

    def check_definition(self, field, context):
        return [*_missing_options(field), *self.check_range(field, context)]

    def problems(self, field):
        return _options_problems(field)
