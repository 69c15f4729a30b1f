"""Nested and/or filter groups: read a condition (a leaf or a group, in any of the
forms callers write them) and compile it to one SQL expression, leaf by leaf.

A condition is a leaf - ``(field, op, value)``, ``{"field": ..., "op": ..., "value":
...}`` or a ``ViewFilter`` - or a group: ``{"any": [...]}`` (OR), ``{"all": [...]}``
(AND), ``{"not": condition or [...]}`` (NOT of their AND), or a ``FilterGroup``. Groups
nest up to ``MAX_FILTER_DEPTH`` levels; deeper, empty or malformed groups are refused
under the ``where`` key, a leaf's own mistakes under its field's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, or_, true

from runtime.definition.model import (
    FILTER_GROUP_KINDS,
    MAX_FILTER_DEPTH,
    FilterGroup,
    ViewFilter,
)
from runtime.errors import FieldMessage

WHERE_KEY = "where"  # the error key of a group's own mistakes (depth, emptiness, shape)

Leaf = tuple[str, str, Any]
LeafCompiler = Callable[[str, str, Any], Any]  # (field, op, value) -> SQL, or raises
Report = Callable[[str, FieldMessage], None]


class GroupInvalid(Exception):
    """A group that cannot be read (too deep, empty, neither a leaf nor a group)."""

    def __init__(self, message: FieldMessage):
        self.message = message
        super().__init__(message.code)


def group_of(item: Any) -> FilterGroup | None:
    """``item`` as a ``FilterGroup`` when it is one (in any written form), else None."""
    if isinstance(item, FilterGroup):
        return item
    if isinstance(item, Mapping) and "field" not in item:
        kinds = [k for k in FILTER_GROUP_KINDS if k in item]
        if len(kinds) != 1 or len(item) != 1:
            raise GroupInvalid(FieldMessage("invalid_filter_group"))
        kind = kinds[0]
        items = item[kind]
        if kind == "not" and (isinstance(items, Mapping) or _is_leaf_tuple(items)):
            items = [items]
        if not isinstance(items, list | tuple):
            raise GroupInvalid(FieldMessage("invalid_filter_group"))
        return FilterGroup(kind, tuple(items))
    return None


def leaf_of(item: Any) -> Leaf:
    """``item`` (a ViewFilter, a mapping or a triple) as ``(field, op, value)``."""
    if isinstance(item, ViewFilter):
        return item.field, item.op, item.value
    if isinstance(item, Mapping):
        name = item.get("field")
        if not isinstance(name, str):
            raise GroupInvalid(FieldMessage("invalid_filter_group"))
        return name, item.get("op", "eq"), item.get("value")
    if _is_leaf_tuple(item):
        return item[0], item[1], item[2]
    raise GroupInvalid(FieldMessage("invalid_filter_group"))


def _is_leaf_tuple(item: Any) -> bool:
    return isinstance(item, tuple | list) and len(item) == 3 and isinstance(item[0], str)


def compile_condition(item: Any, leaf: LeafCompiler, report: Report, depth: int = 0) -> Any | None:
    """SQL for one condition; ``leaf`` compiles a leaf (and reports its own errors through
    ``report``, returning None). A group's mistakes are reported under ``where``."""
    try:
        group = group_of(item)
        if group is None:
            return leaf(*leaf_of(item))
        if depth >= MAX_FILTER_DEPTH:
            raise GroupInvalid(FieldMessage("filter_too_deep", {"max": MAX_FILTER_DEPTH}))
        if not group.items:
            raise GroupInvalid(FieldMessage("empty_filter_group"))
    except GroupInvalid as exc:
        report(WHERE_KEY, exc.message)
        return None
    parts = [compile_condition(i, leaf, report, depth + 1) for i in group.items]
    if any(p is None for p in parts):
        return None
    if group.kind == "any":
        return or_(*parts)
    joined = and_(*parts)
    if group.kind == "not":
        # "IS NOT TRUE", not NOT: a condition on an empty field is unknown (NULL) in
        # SQL, and "not (region = east)" must take the records with no region too.
        return joined.is_not(true())
    return joined


def leaves(item: Any, depth: int = 0) -> list[Leaf]:
    """Every leaf of a condition, outermost first (for checks that look at each field).
    Malformed groups raise ``GroupInvalid``."""
    group = group_of(item)
    if group is None:
        return [leaf_of(item)]
    if depth >= MAX_FILTER_DEPTH:
        raise GroupInvalid(FieldMessage("filter_too_deep", {"max": MAX_FILTER_DEPTH}))
    found: list[Leaf] = []
    for child in group.items:
        found += leaves(child, depth + 1)
    return found


def as_plain(item: Any) -> Any:
    """A condition as plain JSON-able data (groups as ``{kind: [...]}``, leaves as
    ``{field, op, value}``)."""
    group = group_of(item)
    if group is None:
        name, op, value = leaf_of(item)
        return {
            "field": name,
            "op": op,
            "value": list(value) if isinstance(value, tuple) else value,
        }
    return {group.kind: [as_plain(i) for i in group.items]}


__all__: Sequence[str] = (
    "GroupInvalid",
    "WHERE_KEY",
    "as_plain",
    "compile_condition",
    "group_of",
    "leaf_of",
    "leaves",
)
