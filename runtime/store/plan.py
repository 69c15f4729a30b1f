"""Per-entity facts the repository needs on every call, worked out once from the model.

Which record keys belong to which field, which columns to select, which values need
converting after a read, in which order formulas run, what search covers. Built once
per Database (``db.memo``) and never mutated afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Table

from runtime.definition.model import BASE_SYSTEM_FIELDS, Entity, FieldDef
from runtime.definition.reserved import BASE_SYSTEM_COLUMNS
from runtime.fieldtypes import FieldType, LookupType, type_of

from .permissions import Grant
from .tables import system_columns

# Base system columns a caller may send back (an edited record) but never sets itself;
# a feature's read-only system fields join them per entity (``EntityPlan``).
IGNORED_ON_WRITE = frozenset(BASE_SYSTEM_COLUMNS) - {"owner_id"}
# Pseudo-fields of the base system columns (to coerce filter values, the owner on write).
SYSTEM_FIELDS: dict[str, FieldDef] = {f.id: f for f in BASE_SYSTEM_FIELDS}
OWNER_FIELD = SYSTEM_FIELDS["owner_id"]


def _passthrough(f: FieldDef) -> bool:
    """Whether the database value already is the canonical one (no per-row from_db)."""
    return type_of(f).value_type(f).db_value_is_canonical


def formula_order(fields: tuple[FieldDef, ...]) -> tuple[FieldDef, ...]:
    """Formulas in dependency order (a formula after the formulas it reads)."""
    formulas = [f for f in fields if type_of(f).computed and f.expression is not None]
    ids = {f.id for f in formulas}
    done: list[FieldDef] = []
    placed: set[str] = set()
    pending = list(formulas)
    while pending:
        progressed = False
        for f in list(pending):
            deps = (f.expression.names & ids) - {f.id}
            if deps <= placed:
                done.append(f)
                placed.add(f.id)
                pending.remove(f)
                progressed = True
        if not progressed:  # a cycle: the compiler reports it; keep declaration order
            done.extend(pending)
            break
    return tuple(done)


@dataclass
class RowsPlan:
    """The fields of one table (an entity, or a child table's rows)."""

    fields: tuple[FieldDef, ...]
    by_id: dict[str, FieldDef]
    key_field: dict[str, FieldDef]  # every record key -> its field (money has two keys)
    writable: tuple[FieldDef, ...]  # fields users write (not formulas, autonumbers)
    stored: tuple[FieldDef, ...]  # fields with columns
    formulas: tuple[FieldDef, ...]  # every formula, in dependency order
    converters: tuple[tuple[FieldDef, FieldType], ...]  # stored fields needing from_db
    value_columns: tuple[str, ...]  # column names of stored fields


def rows_plan(fields: tuple[FieldDef, ...]) -> RowsPlan:
    key_field: dict[str, FieldDef] = {}
    stored = []
    columns: list[str] = []
    for f in fields:
        ftype = type_of(f)
        for key in ftype.keys(f):
            key_field[key] = f
        if ftype.is_stored(f):
            stored.append(f)
            columns.extend(c.name for c in ftype.columns(f))
    return RowsPlan(
        fields=fields,
        by_id={f.id: f for f in fields},
        key_field=key_field,
        writable=tuple(
            f for f in fields if not type_of(f).computed and not type_of(f).always_readonly
        ),
        stored=tuple(stored),
        formulas=formula_order(fields),
        converters=tuple((f, type_of(f)) for f in stored if not _passthrough(f)),
        value_columns=tuple(columns),
    )


@dataclass
class ReadView:
    """What one grant reads from one entity: columns to select, keys to drop after."""

    columns: tuple[Column, ...]
    keys: tuple[str, ...]
    converters: tuple[tuple[FieldDef, FieldType], ...]
    virtual: tuple[FieldDef, ...]  # non-stored formulas to compute
    children: tuple[str, ...]  # child-table field ids to load
    drop: tuple[str, ...]  # selected only to compute a formula
    # Lookup fields to compute in SQL for the reader (runtime.store.paths), by field.
    lookups: tuple[FieldDef, ...] = ()


@dataclass
class EntityPlan:
    entity: Entity
    table: Table
    rows: RowsPlan
    children: dict[str, tuple[Table, RowsPlan]]
    system_keys: tuple[str, ...]
    search_fields: tuple[str, ...]
    autonumbers: tuple[FieldDef, ...]
    # Every system column as a field (base ones and the features'), by id.
    system_fields: dict[str, FieldDef] = field(default_factory=dict)
    # The features' system fields a write may set (``readonly=False``): coerced by
    # their type and guarded by the field permissions of their id, like fields.
    writable_system: dict[str, FieldDef] = field(default_factory=dict)
    # Keys a caller may send back but never sets (the read-only system columns).
    ignored_on_write: frozenset[str] = IGNORED_ON_WRITE
    views: dict[Any, ReadView] = field(default_factory=dict)

    def field_of_key(self, key: str) -> FieldDef | None:
        return self.rows.key_field.get(key)

    def read_view(self, grant: Grant, only: frozenset[str] | None = None) -> ReadView:
        """Columns and conversions for ``grant``; ``only`` limits the fields (list views)."""
        cache_key = (id(grant), only)
        view = self.views.get(cache_key)
        if view is None:
            view = self.views.setdefault(cache_key, self._build_view(grant, only))
        return view

    def _build_view(self, grant: Grant, only: frozenset[str] | None) -> ReadView:
        rows = self.rows
        wanted = [
            f for f in rows.fields if grant.may_read_field(f.id) and (only is None or f.id in only)
        ]
        virtual = tuple(f for f in rows.formulas if not type_of(f).is_stored(f) and f in wanted)
        children = {f.id for f in wanted if type_of(f).holds_rows}
        needed = {f.id for f in wanted}
        # A computed-on-read formula needs the fields (and formulas) it reads.
        pending = list(virtual)
        while pending:
            f = pending.pop()
            for name in f.expression.names:
                dep = rows.by_id.get(name)
                if dep is not None and dep.id not in needed:
                    needed.add(dep.id)
                    if type_of(dep).computed and not type_of(dep).is_stored(dep):
                        pending.append(dep)
                if dep is not None and type_of(dep).holds_rows:
                    children.add(dep.id)
        virtual = tuple(f for f in rows.formulas if not type_of(f).is_stored(f) and f.id in needed)
        lookups = tuple(
            f for f in rows.fields if f.id in needed and isinstance(type_of(f), LookupType)
        )
        stored = [f for f in rows.stored if f.id in needed]
        keys: list[str] = list(self.system_keys)
        for f in stored:
            keys.extend(c.name for c in type_of(f).columns(f))
        readable = {f.id for f in wanted}
        drop = tuple(
            k
            for f in rows.fields
            if f.id in needed and f.id not in readable
            for k in type_of(f).keys(f)
        )
        return ReadView(
            columns=tuple(self.table.c[k] for k in keys),
            keys=tuple(keys),
            converters=tuple((f, t) for f, t in rows.converters if f.id in needed),
            virtual=virtual,
            children=tuple(f.id for f in rows.fields if f.id in children),
            drop=drop,
            lookups=lookups,
        )


def entity_plan(
    entity: Entity, table: Table, child_tables: dict[tuple[str, str], Table]
) -> EntityPlan:
    rows = rows_plan(entity.fields)
    system_keys = tuple(c.name for c in system_columns(entity))
    if entity.search_fields:
        search = tuple(entity.search_fields)
    else:
        search = tuple(
            f.id
            for f in entity.fields
            if (type_of(f).search or f.searchable) and type_of(f).is_stored(f)
        )
    search = tuple(
        s for s in search if s in rows.by_id and type_of(rows.by_id[s]).is_stored(rows.by_id[s])
    )
    children = {
        f.id: (child_tables[(entity.id, f.id)], rows_plan(f.fields))
        for f in entity.fields
        if type_of(f).holds_rows
    }
    return EntityPlan(
        entity=entity,
        table=table,
        rows=rows,
        children=children,
        system_keys=system_keys,
        search_fields=search,
        autonumbers=tuple(f for f in entity.fields if type_of(f).assigned_on_create),
        system_fields={f.id: f for f in entity.all_system_fields},
        writable_system={f.id: f for f in entity.system_fields if not f.readonly},
        ignored_on_write=IGNORED_ON_WRITE | {f.id for f in entity.system_fields if f.readonly},
    )
