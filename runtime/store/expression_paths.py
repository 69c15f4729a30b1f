"""The values of the link paths expressions name (``account.industry``), read for one
record still in memory, so gates, rules, formulas and conditions see them.

Expressions are admin metadata: a path is read with full access (no reader's grant or
row scope), like a lookup during a write; what reaches a user is only the expression's
result, never the value read. A link that is empty, or reaches an archived or missing
record, gives None.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import BigInteger, literal, null, select

from runtime.definition.model import Entity
from runtime.definition.paths import SYSTEM_ALIASES
from runtime.fieldtypes import FieldInvalid, type_of

from .paths import resolve_path
from .permissions import SYSTEM_GRANT


def entity_expression_paths(entity: Entity) -> frozenset[str]:
    """Every link path the entity's own expressions name: formulas, defaults,
    visible_if / required_if / readonly_if and validation rules."""
    found: set[str] = set()
    for field in entity.fields:
        for expression in (field.expression, field.default, field.visible_if,
                           field.required_if, field.readonly_if):  # fmt: skip
            found.update(getattr(expression, "paths", ()))
    for rule in entity.rules:
        found.update(rule.expression.paths)
    return frozenset(found)


def path_values(
    repo: Any, conn: Any, plan: Any, values: Mapping[str, Any], paths: Iterable[str]
) -> dict[str, Any]:
    """``{path: value}`` for a record whose links are ``values`` (as just written, in
    the write's transaction ``conn``): one statement for all of them."""
    columns = []
    for n, path in enumerate(sorted(paths)):
        value = _path_value(repo, plan, values, path)
        if value is not None:
            columns.append((path, value[0], value[1].label(f"p{n}")))
    found: dict[str, Any] = dict.fromkeys(paths)
    if not columns:
        return found
    row = conn.execute(select(*(c for _p, _f, c in columns))).first()
    for path, field, column in columns:
        raw = row._mapping[column.name] if row is not None else None
        found[path] = None if raw is None else type_of(field).value_from_db(field, raw)
    return found


def _path_value(repo: Any, plan: Any, values: Mapping[str, Any], path: str) -> Any:
    """(the end field, the SQL value) of ``path`` from the given link, or None."""
    first = path.split(".")[0]
    raw = values.get(SYSTEM_ALIASES.get(first, first))
    if not isinstance(raw, int) or isinstance(raw, bool):
        return None  # no link: the path reaches nothing
    try:
        resolved = resolve_path(repo, plan, SYSTEM_GRANT, None, path,
                                first_link=literal(raw, BigInteger()))  # fmt: skip
    except FieldInvalid:
        return None
    value = resolved.column
    for step in reversed(resolved.steps):
        query = select(value).where(step.table.c.id == step.link)
        if "archived_at" in step.table.c:  # an archived linked record counts as none
            query = query.where(step.table.c.archived_at.is_(None))
        value = query.scalar_subquery()
    return resolved.field, value if resolved.steps else null()


__all__ = ["entity_expression_paths", "path_values"]
