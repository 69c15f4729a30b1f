"""The rollup field type: an aggregate over the records that link here, kept in a column.

``account.open_pipeline`` = sum of ``opportunity.amount`` over the opportunities whose
``account`` names the account, with an optional structured filter. The value is a real
column of the parent, kept current by the repository in the same transaction as the
child's write (``runtime.store.rollups``), so it filters, sorts, shows, exports and is
read by expressions like any stored field; nobody writes it.

What the value is follows the source: the compiler (``definition/checks/rollups.py``)
sets ``result_type`` (and ``precision``/``currency``) from the child's field, and the
methods below delegate to that type as a formula's do.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from runtime.definition import codes
from runtime.fieldtypes.base import COMMON_PROPS, DefinitionProblem
from runtime.fieldtypes.structured import FormulaType

ROLLUP_FUNCTIONS = ("count", "sum", "avg", "min", "max")
_ID = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"}
_FILTER = {
    "type": "object",
    "required": ["field", "op"],
    "additionalProperties": False,
    "properties": {
        "field": _ID,
        "op": {
            "enum": ["eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "isnull", "between"]
        },
        "value": {},
    },
}
ROLLUP_SCHEMA = {
    "type": "object",
    "required": ["entity", "link", "function"],
    "additionalProperties": False,
    "properties": {
        "entity": _ID,
        "link": _ID,
        "function": {"enum": list(ROLLUP_FUNCTIONS)},
        "field": _ID,
        "where": {"type": "array", "maxItems": 20, "items": _FILTER},
    },
}


class RollupType(FormulaType):
    """count / sum / avg / min / max of a field of the records linking here.

    Stored always; read-only always (a value sent for it is refused, naming it). A
    money rollup has no currency column: it holds the amounts in ``field.currency``.
    """

    name = "rollup"
    computed = False  # not an expression: the store keeps it (see runtime.store.rollups)
    aggregates_links = True
    refuses_input = True  # a value sent for it is refused (rollup_readonly)
    props = COMMON_PROPS | {"index"}
    settings = MappingProxyType({"rollup": ROLLUP_SCHEMA})
    input_kind = "readonly"
    always_readonly = True

    def is_stored(self, field):
        return True

    def import_values(self, field, cells, ctx):
        return {}  # kept by the store: an imported value would be wrong the next moment

    def json_schema(self, field):
        schema = dict(self.result(field).json_schema(field))
        spec = field.rollup
        if spec is not None:
            what = spec.field or "records"
            schema["description"] = f"{spec.function} of {spec.entity}.{what} (read-only)"
        return schema

    def check_definition(self, field, context):
        # Across entities (the child, its link and field, the filter): checks/rollups.py.
        found = []
        if "rollup" not in context.raw:
            found.append(
                DefinitionProblem(
                    codes.UNKNOWN_ROLLUP_ENTITY,
                    "a rollup needs 'rollup: {entity, link, function, field}'",
                    "for example rollup: {entity: opportunity, link: account, "
                    "function: sum, field: amount}",
                )
            )
        return found + self.check_range(field, context)

    def problems(self, field: Any) -> list[str]:
        return []

    def reads_through(self, field: Any, entity_id: str, model: Any) -> tuple[tuple[str, str], ...]:
        """The child's link, source field and the fields its filter reads: a reader who
        may not read the child entity or one of them may not read the rollup (a rep
        never learns a hidden field's total through it)."""
        spec = field.rollup
        if spec is None:
            return ()
        child = model.entities.get(spec.entity)
        names = [spec.link, *([spec.field] if spec.field else []), *(f.field for f in spec.where)]
        return tuple(
            (spec.entity, name)
            for name in dict.fromkeys(names)
            if child is not None and child.has_field(name)
        )


__all__ = ["ROLLUP_FUNCTIONS", "ROLLUP_SCHEMA", "RollupType"]
