"""Entity tables from the model: one ``ent_<id>`` table per entity, one per child table."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, MetaData, Table

from runtime.definition.model import AppModel, Entity, FieldDef
from runtime.definition.reserved import BASE_SYSTEM_COLUMNS
from runtime.fieldtypes import type_of

from .indexes import IndexPlan, build_index, plan_indexes
from .system_tables import NAMING_CONVENTION, Id, UtcDateTime, utcnow

MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names silently; we never let it


def safe_identifier(name: str) -> str:
    """``name`` if short enough, else a stable shortened form with a hash suffix."""
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_IDENTIFIER - 9]}_{digest}"


def entity_table_name(entity: Entity) -> str:
    return safe_identifier(entity.table_name)


def child_table_name(entity: Entity, field: FieldDef) -> str:
    return safe_identifier(f"ent_{entity.id}__{field.id}")


# The SQL shape of the base system columns (``BASE_SYSTEM_COLUMNS``, in that order).
_BASE_COLUMNS = {
    "id": lambda: Column("id", Id, primary_key=True, autoincrement=True),
    "created_at": lambda: Column("created_at", UtcDateTime, nullable=False, default=utcnow),
    "updated_at": lambda: Column(
        "updated_at", UtcDateTime, nullable=False, default=utcnow, index=True
    ),
    "created_by": lambda: Column("created_by", BigInteger, nullable=True),
    "owner_id": lambda: Column("owner_id", BigInteger, nullable=True, index=True),
    "row_version": lambda: Column("row_version", Integer, nullable=False, default=1),
    "archived_at": lambda: Column("archived_at", UtcDateTime, nullable=True, index=True),
}


def system_field_columns(field: FieldDef) -> list[Column]:
    """The columns of a feature's system field: its type's columns; an instant as
    ``UtcDateTime``, so it reads back timezone-aware like the base ones (system columns
    are read without per-row conversion)."""
    columns = type_of(field).columns(field)
    if type_of(field).instant:
        for column in columns:
            column.type = UtcDateTime()
    return columns


def system_columns(entity: Entity) -> list[Column]:
    """Fresh system columns of ``entity``'s table: the base ones, then its features'."""
    columns = [_BASE_COLUMNS[column_id]() for column_id in BASE_SYSTEM_COLUMNS]
    for field in entity.system_fields:
        columns.extend(system_field_columns(field))
    return columns


def field_columns(fields: tuple[FieldDef, ...]) -> list[Column]:
    columns: list[Column] = []
    for field in fields:
        columns.extend(type_of(field).columns(field))
    return columns


def explicit_indexes(table_name: str, columns: list[Column]) -> list[Index]:
    """Turn ``index=True`` / ``unique=True`` column flags into named indexes.

    Unique-ness becomes a UNIQUE INDEX rather than a constraint so that adding a unique
    column later works on SQLite too, and names are ours (safe_identifier), so
    ``create_or_upgrade`` finds them again by name on every backend.
    """
    indexes = []
    for column in columns:
        unique, index = bool(column.unique), bool(column.index)
        column.unique = None
        column.index = None
        if unique:
            indexes.append(
                Index(safe_identifier(f"uq_{table_name}_{column.name}"), column.name, unique=True)
            )
        elif index:
            indexes.append(Index(safe_identifier(f"ix_{table_name}_{column.name}"), column.name))
    return indexes


def _table(name: str, metadata: MetaData, columns: list[Column], *extra) -> Table:
    return Table(name, metadata, *columns, *explicit_indexes(name, columns), *extra)


@dataclass(frozen=True)
class EntityTables:
    tables: dict[str, Table]  # entity id -> table
    child_tables: dict[tuple[str, str], Table]  # (entity id, field id) -> table
    # entity id -> the declared and derived indexes on its table (runtime.store.indexes)
    indexes: dict[str, list[IndexPlan]]


def build_entity_tables(
    model: AppModel,
    metadata: MetaData | None = None,
    ordered_by_features: frozenset[str] = frozenset(),
) -> EntityTables:
    """Fresh Table objects for every entity of ``model`` on ``metadata``, with their
    columns' indexes and the declared and derived ones (``ordered_by_features``: the
    columns features sort by an expression of their own, ``plan_indexes``)."""
    metadata = metadata if metadata is not None else MetaData(naming_convention=NAMING_CONVENTION)
    tables: dict[str, Table] = {}
    children: dict[tuple[str, str], Table] = {}
    for entity in model.entities.values():
        name = entity_table_name(entity)
        table = _table(name, metadata, system_columns(entity) + field_columns(entity.fields))
        tables[entity.id] = table
        for field in entity.fields:
            if not type_of(field).holds_rows:
                continue
            child_name = child_table_name(entity, field)
            columns = [
                Column("id", Id, primary_key=True, autoincrement=True),
                Column(
                    "parent_id",
                    BigInteger,
                    ForeignKey(f"{name}.id", ondelete="CASCADE"),
                    nullable=False,
                ),
                Column("position", Integer, nullable=False, default=0),
                *field_columns(field.fields),
            ]
            children[(entity.id, field.id)] = _table(
                child_name,
                metadata,
                columns,
                Index(safe_identifier(f"ix_{child_name}_parent"), "parent_id", "position"),
            )
    plans = plan_indexes(model, tables, ordered_by_features)
    for entity_id, entity_plans in plans.items():
        for plan in entity_plans:
            if not plan.by_column:  # that one the column's index flag made already
                build_index(tables[entity_id], plan)  # bound to the table's columns: joins it
    return EntityTables(tables, children, plans)
