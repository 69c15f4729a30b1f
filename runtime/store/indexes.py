"""The indexes of an entity's table beyond its columns' own: the ones the entity declares
(``indexes:``) and the ones derived from what its list views filter and sort on and the
link paths they filter through, shaped exactly as the repository's queries ask.

A list page is ``WHERE <equality filters> AND <other terms> AND archived_at IS NULL
ORDER BY <sort keys>, id LIMIT n`` (``runtime.store.reads``, ``runtime.store.keyset``).
An index serves it without sorting when it holds the equality columns first, then the
sort keys in their directions, then ``id``; so a view with ``filters: [{field: region,
op: eq}]`` and ``sort: [-amount]`` derives ``(region, amount DESC, id DESC)``. Two
details of the query shape are mirrored here:

* the list never shows archived records, so every index here is partial, over
  ``archived_at IS NULL``: on SQLite written ``+archived_at IS NULL`` as the query
  writes it (``RecordReads._not_archived``: the unary plus keeps SQLite's planner off
  the single-column archived_at index), since SQLite uses a partial index only when
  the query repeats its condition;
* NULL sorts as the largest value (``keyset``); a nullable sort key after the first is
  ordered as the pair ``(key IS NULL, key)``, which both databases can read from an
  index in order (SQLite cannot for ``NULLS FIRST/LAST`` beyond the first sort key).

Indexes are created by ``create_or_upgrade`` under stable names and never altered;
removing the ones no longer declared or derived is the migration planner's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Index, Table, text

from runtime.definition.model import AppModel, Entity, IndexDef, ListView
from runtime.fieldtypes import type_of

from .keyset import normalise_sort


@dataclass(frozen=True)
class IndexKey:
    """One key of an index: the column, its direction, and whether it is ordered as
    ``(column IS NULL, column)`` (a nullable sort key after the first)."""

    column: str
    desc: bool = False
    null_pair: bool = False

    @property
    def label(self) -> str:
        return self.column + ("_desc" if self.desc else "") + ("_nulls" if self.null_pair else "")

    @property
    def spec(self) -> str:
        return ("-" if self.desc else "") + self.column


@dataclass(frozen=True)
class IndexPlan:
    """An index to keep on one entity's table: its name, keys, and why it exists
    (``declared``, ``view open``, ``link path account.industry`` ...)."""

    entity: str
    name: str
    keys: tuple[IndexKey, ...]
    reasons: tuple[str, ...]
    by_column: bool = False  # the column's own index (its field's type or index: true)

    @property
    def partial(self) -> bool:
        """A list's index (closed by ``id``) holds the active rows only; a one-column
        one (a link path's end, a link) serves lookups of archived rows too."""
        return len(self.keys) > 1 or self.keys[0].column == "id"

    @property
    def spec(self) -> str:
        return ", ".join(k.spec for k in self.keys)


def shape(
    table: Table, equal: Iterable[str], sort: Iterable[str], tail_id: bool = True
) -> tuple[IndexKey, ...]:
    """The keys of an index for ``WHERE <equal> ... ORDER BY <sort>`` on ``table``:
    ``sort`` items are ``"-col"`` / ``"col"``; ``id`` closes it unless the sort did."""
    keys = [IndexKey(c) for c in equal]
    names = {k.column for k in keys}
    last_desc = False
    for n, item in enumerate(sort):
        desc, column = item.startswith("-"), item.lstrip("-+")
        if column in names:
            continue
        names.add(column)
        last_desc = desc
        nullable = bool(table.c[column].nullable) if column != "id" else False
        keys.append(IndexKey(column, desc, null_pair=n > 0 and nullable))
    if tail_id and "id" not in names:
        keys.append(IndexKey("id", last_desc))
    return tuple(keys)


def plan_indexes(
    model: AppModel,
    tables: Mapping[str, Table],
    ordered_by_features: frozenset[str] = frozenset(),
) -> dict[str, list[IndexPlan]]:
    """Entity id -> its declared and derived indexes, duplicates merged (an index whose
    keys start another's is served by it), in a stable order: declared ones first.

    ``ordered_by_features``: the columns a feature sorts by an expression of its own
    (pipelines: ``stage``); an index cannot serve that order, so a view's derived index
    stops before such a key."""
    found: dict[str, list[tuple[tuple[IndexKey, ...], str | None, str]]] = {
        entity_id: [] for entity_id in model.entities
    }
    for entity in model.entities.values():
        table = tables[entity.id]
        for index in entity.indexes:
            found[entity.id].append((_declared_keys(table, index), index.name, "declared"))
        for view in model.views.get(entity.id, ()):
            keys = _view_keys(entity, table, view, ordered_by_features)
            if keys:
                found[entity.id].append((keys, None, f"view {view.id}"))
            for item in view.filters:
                end = _path_end(model, entity.id, item.field)
                if end is not None:
                    path = f"link path {entity.id}.{item.field}"
                    found[end[0]].append(((IndexKey(end[1]),), None, path))
        for field in entity.fields:
            if type_of(field).references == "record" and field.id in table.c:
                found[entity.id].append(((IndexKey(field.id),), None, f"link {field.id}"))
    for entity_id, column, reason in _scope_columns(model, tables):
        found[entity_id].append(((IndexKey(column),), None, reason))
    return {
        entity_id: _merge(model.entities[entity_id], tables[entity_id], items)
        for entity_id, items in found.items()
    }


def _scope_columns(model: AppModel, tables: Mapping[str, Table]) -> list[tuple[str, str, str]]:
    """(entity, column, reason) for each column a role's row scope compares: the link a
    ``via`` scope follows, the user field of an ``assigned`` one."""
    found: dict[tuple[str, str], list[str]] = {}
    for role in model.roles.values():
        for entity_id, permission in role.permissions.items():
            if entity_id not in tables:
                continue  # "*": no via or assigned scope names a field of every entity
            for action in ("read", "update", "archive"):
                scope = getattr(permission, action, None)
                for part in scope.flat() if hasattr(scope, "flat") else ():
                    if part.kind in ("via", "assigned") and part.field in tables[entity_id].c:
                        roles = found.setdefault((entity_id, f"{part.kind}:{part.field}"), [])
                        if role.id not in roles:
                            roles.append(role.id)
    return [
        (entity_id, key.split(":", 1)[1], f"scope {key.replace(':', ' ')} ({', '.join(roles)})")
        for (entity_id, key), roles in found.items()
    ]


def _path_end(model: AppModel, entity_id: str, name: str) -> tuple[str, str] | None:
    """(entity, column) at the end of a dotted link path (or of the path a lookup field
    shows: ``account_industry`` from ``account.industry``), or None."""
    entity = model.entities.get(entity_id)
    if "." not in name and entity is not None and entity.has_field(name):
        field = entity.field(name)
        if not type_of(field).is_stored(field):
            source = type_of(field).reads_through(field, entity_id, model)
            if source:
                end_entity, end_field = source[-1]
                end = model.entities.get(end_entity)
                column = _column_of(end, end_field) if end is not None else None
                return (end_entity, column) if column is not None else None
    if "." not in name:
        return None
    *hops, last = name.split(".")
    current = model.entities.get(entity_id)
    for hop in hops:
        if current is None or not current.has_field(hop):
            return None
        field = current.field(hop)
        if type_of(field).references != "record" or field.target is None:
            return None
        current = model.entities.get(field.target)
    if current is None:
        return None
    column = _column_of(current, last)
    return (current.id, column) if column is not None else None


def _declared_keys(table: Table, index: IndexDef) -> tuple[IndexKey, ...]:
    """Keys before the first one written with a sign (``-amount``, ``+close_date``) are
    compared for equality; from there on they are the sort."""
    signed = [n for n, k in enumerate(index.keys) if k[0] in "+-"]
    split = signed[0] if signed else len(index.keys)
    return shape(table, index.keys[:split], index.keys[split:])


def _view_keys(
    entity: Entity, table: Table, view: ListView, ordered_by_features: frozenset[str]
) -> tuple[IndexKey, ...]:
    """Equality filters on columns, then the sort while it is on plain columns, then id."""
    equal = []
    for item in view.filters:
        if item.op == "eq" and _column_of(entity, item.field) and item.field not in equal:
            equal.append(item.field)
    sort: list[str] = []
    whole = True
    for item in normalise_sort(view.sort):
        name = item.lstrip("-+")
        column = _column_of(entity, name) if name not in ordered_by_features else None
        if column is None:
            whole = False  # a feature's order or a link path: the index stops here
            break
        sort.append(("-" if item.startswith("-") else "") + column)
    if not equal and not sort:
        return ()
    return shape(table, equal, sort, tail_id=whole)


def _column_of(entity: Entity, name: str) -> str | None:
    """The column an index holds for field or system column ``name``, if any."""
    if name in entity.system_column_ids:
        return name
    if not entity.has_field(name):
        return None
    field = entity.field(name)
    ftype = type_of(field)
    if ftype.holds_rows or ftype.json_list or not ftype.is_stored(field):
        return None  # a lookup is read through its link: see _path_end
    return ftype.sort_column(field)


def _merge(
    entity: Entity,
    table: Table,
    found: list[tuple[tuple[IndexKey, ...], str | None, str]],
) -> list[IndexPlan]:
    # The columns' own indexes (index: true, links, dates, choices ...): listed with the
    # reasons found for them, never made twice.
    single = {next(iter(i.columns)).name: str(i.name) for i in table.indexes if len(i.columns) == 1}
    own: dict[str, list[str]] = {}
    kept: list[list[Any]] = []  # [keys, name, reasons]
    for keys, name, reason in found:
        if len(keys) == 1 and not keys[0].desc and keys[0].column in single:
            own.setdefault(keys[0].column, []).append(reason)
            continue
        for other in kept:
            if other[0][: len(keys)] == keys:
                other[2].append(reason)
                break
            if keys[: len(other[0])] == other[0] and other[1] is None and name is None:
                other[0] = keys  # the longer one serves both
                other[2].append(reason)
                break
        else:
            kept.append([keys, name, [reason]])
    plans = [
        IndexPlan(entity.id, name or index_name(table.name, keys), keys, tuple(reasons))
        for keys, name, reasons in kept
    ]
    return plans + [
        IndexPlan(entity.id, single[column], (IndexKey(column),), tuple(reasons), by_column=True)
        for column, reasons in own.items()
    ]


def index_name(table_name: str, keys: tuple[IndexKey, ...]) -> str:
    """``ix_<table>__<key>__<key>`` (the closing ``id`` left out), shortened stably."""
    from .tables import safe_identifier

    parts = [k.label for k in keys]
    if parts and parts[-1] in ("id", "id_desc") and len(parts) > 1:
        parts = parts[:-1]
    return safe_identifier(f"ix_{table_name}__" + "__".join(parts))


def build_index(table: Table, plan: IndexPlan) -> Index:
    """The SQLAlchemy ``Index`` of ``plan`` on ``table`` (partial: active rows only)."""
    terms: list[Any] = []
    for key in plan.keys:
        column = table.c[key.column]
        if key.null_pair:
            empty = column.is_(None).self_group()  # PostgreSQL: an expression in parentheses
            terms.append(empty.desc() if key.desc else empty)
        terms.append(column.desc() if key.desc else column)
    if not plan.partial:
        return Index(plan.name, *terms)
    return Index(
        plan.name,
        *terms,
        sqlite_where=text("+archived_at IS NULL"),
        postgresql_where=table.c.archived_at.is_(None),
    )


__all__ = [
    "IndexKey",
    "IndexPlan",
    "build_index",
    "index_name",
    "list_index",
    "plan_indexes",
    "shape",
]


def list_index(
    plans: Iterable[IndexPlan],
    entity: Entity,
    table: Table,
    filters: Iterable[Any],
    sort: Iterable[str],
    ordered_by_features: frozenset[str] = frozenset(),
) -> tuple[IndexPlan, frozenset[str]] | None:
    """The index derived for exactly this list's shape - its equality filters on columns
    and its sort (``normalise_sort``'s spec) - with those equality columns; else None."""
    equal: list[str] = []
    for item in filters:
        name, op = _filter_name_op(item)
        column = _column_of(entity, name) if op == "eq" and "." not in name else None
        if column is not None and column not in equal:
            equal.append(column)
    columns: list[str] = []
    for item in sort:
        name = item.lstrip("-+")
        column = _column_of(entity, name) if name not in ordered_by_features else None
        if column is None:
            return None
        columns.append(("-" if item.startswith("-") else "") + column)
    keys = shape(table, equal, columns)
    for plan in plans:
        if plan.keys == keys:
            return plan, frozenset(equal)
    return None


def _filter_name_op(item: Any) -> tuple[str, str]:
    if isinstance(item, Mapping):
        return str(item.get("field")), str(item.get("op", "eq"))
    if hasattr(item, "field") and hasattr(item, "op"):
        return str(item.field), str(item.op)
    return str(item[0]), str(item[1])
