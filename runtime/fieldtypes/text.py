"""Text field types: single-line text, long text and sanitised rich text."""

from __future__ import annotations

import html
import re
import unicodedata
from decimal import Decimal
from typing import Any

import nh3
from sqlalchemy import String, Text

from runtime.definition.model import FieldDef
from runtime.errors import FieldMessage
from runtime.fieldtypes.base import (
    COMMON_PROPS,
    LENGTH_SETTINGS,
    UNINDEXABLE_PROPS,
    FieldType,
    _invalid,
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


LENGTH_PROPS = frozenset(LENGTH_SETTINGS)
TEXT_OPERATORS = ("eq", "ne", "in", "contains", "isnull")


class TextType(FieldType):
    name = "text"
    title_candidate = True
    db_value_is_canonical = True
    settings = LENGTH_SETTINGS
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
    db_value_is_canonical = True
    display_kind = "longtext"
    wide_display = True
    props = COMMON_PROPS | UNINDEXABLE_PROPS
    settings = LENGTH_SETTINGS
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
    display_kind = "richtext"
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
