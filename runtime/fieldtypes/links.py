"""Reference field types: a link to a record of another entity, or to a user."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy import BigInteger

from runtime.definition import codes
from runtime.errors import FieldMessage
from runtime.fieldtypes.base import (
    COMMON_PROPS,
    STORED_PROPS,
    DefinitionProblem,
    FieldType,
    ImportRefused,
    _invalid,
    did_you_mean,
)
from runtime.fieldtypes.numbers import BIGINT_MAX

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
    db_value_is_canonical = True
    display_kind = "link"
    highlight_rank = 4
    references = "record"
    settings = MappingProxyType({"target": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"}})
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

    def to_input(self, field, value, tz):
        if isinstance(value, Mapping):  # {"id": 7, "title": "Acme"}, as the API gives links
            return str(value.get("id", ""))
        return super().to_input(field, value, tz)

    def filter_value_schema(self, field, max_text):
        return {**super().filter_value_schema(field, max_text), "minimum": 1}  # record ids

    def export_value(self, field, value, ctx):
        # The title (a user's name) the viewer sees; never an id they may not read.
        return ctx.shown.get(field.id)

    def import_value(self, field, text, ctx):
        if isinstance(text, str) and text.strip():
            found = ctx.find_reference(field, text.strip())
            if found is not None:
                return found
            if not text.strip().isdigit():
                message = FieldMessage("unknown_reference", {"value": text.strip()})
                raise ImportRefused(field, text, message)
        return super().import_value(field, text, ctx)

    def json_schema(self, field):
        schema = {"type": ["integer", "null"], "minimum": 1}
        if field.target:
            schema["description"] = f"id of a {field.target} record"
        return schema

    def check_definition(self, field, context):
        return [*self._check_target(field, context), *self.check_range(field, context)]

    def _check_target(self, field, context):
        if not field.target:
            return [
                DefinitionProblem(codes.UNKNOWN_LINK_TARGET, "a link field needs a 'target' entity")
            ]
        if field.target not in context.entity_ids:
            hint = did_you_mean(field.target, context.entity_ids) or (
                f"entities: {', '.join(sorted(context.entity_ids))}"
            )
            message = f"link target '{field.target}' is not an entity"
            return [DefinitionProblem(codes.UNKNOWN_LINK_TARGET, message, hint, ("target",))]
        return []

    def problems(self, field):
        return [] if field.target else ["needs a target entity"]


class UserType(LinkType):
    name = "user"
    display_kind = "user"
    highlight_rank = 3
    references = "user"
    props = COMMON_PROPS | STORED_PROPS
    settings = MappingProxyType({})
    input_kind = "user-picker"

    def json_schema(self, field):
        return {"type": ["integer", "null"], "minimum": 1, "description": "id of a user"}

    def check_definition(self, field, context):
        return FieldType.check_definition(self, field, context)  # no target to check

    def problems(self, field):
        return []
