"""The lookup field type: a field of a linked record shown here, read-only and never
stored (``type: lookup``, ``from: account.industry``).

The repository computes the value in SQL on every read (so it is always current) and
filters and sorts on it as on a column. Once the compiler has walked ``from``, the
field carries its source's settings (options, precision, currency) and a type made
from the source's type (``lookup_type_for``), so it is displayed, exported and
described exactly as the field it shows.
"""

from __future__ import annotations

from functools import cache
from types import MappingProxyType
from typing import Any

from runtime.definition import codes
from runtime.fieldtypes.base import COMMON_PROPS, DefinitionProblem, FieldType

PATH_PATTERN = r"^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62}){1,7}$"
# Settings of the source copied onto the lookup field: what formatting and the API read.
COPIED_SETTINGS = (
    "options",
    "target",
    "currency",
    "currencies",
    "precision",
    "result_type",
    "pattern",
    "region",
    "max_length",
)


class LookupType(FieldType):
    """A field of the record a link path reaches. Before the compiler resolves it (and
    for a path that does not walk) it behaves as read-only text."""

    name = "lookup"
    stored = False
    always_readonly = True
    refuses_input = True
    input_kind = "readonly"
    props = COMMON_PROPS - {"readonly"}
    settings = MappingProxyType({"from": {"type": "string", "pattern": PATH_PATTERN}})
    operators = ("eq", "ne", "in", "contains", "isnull")

    @staticmethod
    def path(field: Any) -> str:
        return str(field.settings.get("from") or "")

    def is_stored(self, field):
        return False

    def columns(self, field):
        return []

    def sort_column(self, field):
        return field.id  # the repository sorts on the path's SQL, not on a column

    def filter_operators(self, field):
        return self.operators

    def parse(self, field, raw, ctx):
        return raw if isinstance(raw, str) else str(raw)

    def import_values(self, field, cells, ctx):
        return {}  # never written, so never imported

    def json_properties(self, field):
        properties = {}
        for key, schema in super().json_properties(field).items():
            properties[key] = {**schema, "readOnly": True}
        return properties

    def reads_through(self, field, entity_id, model):
        """The link fields and the end field the value is read from."""
        from runtime.definition.paths import PathError, walk_path

        try:
            return walk_path(model.entities, entity_id, self.path(field)).reads
        except (PathError, KeyError):
            return ()

    def check_definition(self, field, context):
        if not self.path(field):
            return [
                DefinitionProblem(
                    codes.LOOKUP_WITHOUT_PATH,
                    "a lookup field needs 'from': the link path of the field it shows",
                    "for example 'from: account.industry'",
                    ("from",),
                )
            ]
        return []


@cache
def lookup_type_for(source: type[FieldType]) -> FieldType:
    """The type of a lookup of a ``source``-typed field: the source's behaviour (format,
    JSON Schema, export, operators), never stored nor written."""
    if issubclass(source, LookupType):
        return source()
    cls = type(
        f"Lookup{source.__name__}",
        (LookupType, source),
        {
            "name": "lookup",
            "operators": source.operators,
            "display_kind": source.display_kind,
            "computed": False,
            "assigned_on_create": False,
            "search": False,
            "db_value_is_canonical": source.db_value_is_canonical,
            "input_kind": "readonly",
            "parse": source.parse,
            "highlight_rank": None,
        },
    )
    return cls()


__all__ = ["COPIED_SETTINGS", "LookupType", "lookup_type_for"]
