"""Bring a database up to the model: create missing tables, add missing columns, keep data.

This is the additive half of migrations (run on every start and after a publish).
Nothing is ever dropped or altered here: removed fields and type changes belong to
the migration planner, which shows its plan before applying it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields as dc_fields
from dataclasses import is_dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Column, Table, delete, inspect, select, text
from sqlalchemy.engine import Connection

from runtime.definition.model import AppModel, Label

from . import system_tables as st
from .versions import record_version

if TYPE_CHECKING:
    from .database import Database

# Serialises concurrent upgrades (several workers starting at once) on PostgreSQL.
ADVISORY_LOCK_KEY = 0x7472656C6C6973  # "trellis"


def create_or_upgrade(db: Database) -> dict[str, list[str]]:
    """Create what is missing; returns what was done: created_tables, added_columns, created_indexes."""
    with db.engine.begin() as conn:
        if db.is_postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        return upgrade_on(conn, db)


def upgrade_on(conn: Connection, db: Database) -> dict[str, list[str]]:
    """``create_or_upgrade`` inside the caller's transaction (a migration's apply)."""
    report: dict[str, list[str]] = {
        "created_tables": [],
        "added_columns": [],
        "created_indexes": [],
    }
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    operations = Operations(MigrationContext.configure(conn))
    for table in db.metadata.sorted_tables:
        if table.name not in existing:
            table.create(conn)
            report["created_tables"].append(table.name)
            report["created_indexes"] += sorted(str(i.name) for i in table.indexes)
        else:
            _upgrade_table(conn, operations, table, report)
    _sync_roles(conn, db.model)
    record_app_version(conn, db.model)
    return report


def _upgrade_table(
    conn: Connection, operations: Operations, table: Table, report: dict[str, list[str]]
) -> None:
    inspector = inspect(conn)
    have = {c["name"] for c in inspector.get_columns(table.name)}
    for column in table.columns:
        if column.name in have:
            continue
        operations.add_column(table.name, _addable(column))
        report["added_columns"].append(f"{table.name}.{column.name}")
    # By name: an index that exists is left as it is (never rebuilt, never dropped here;
    # the ones no longer declared or derived are the migration planner's to remove).
    index_names = existing_index_names(conn, table.name)
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        if index.name in index_names:
            continue
        index.create(conn)  # its own columns, directions, expressions and WHERE
        report["created_indexes"].append(str(index.name))


def existing_index_names(conn: Connection, table_name: str) -> set[str]:
    """The names of the indexes ``table_name`` has in the database, read from the
    catalogue (the inspector skips SQLite's expression indexes, with a warning)."""
    if conn.dialect.name == "sqlite":
        query = text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t")
    elif conn.dialect.name == "postgresql":
        query = text(
            "SELECT indexname FROM pg_indexes"
            " WHERE schemaname = current_schema() AND tablename = :t"
        )
    else:
        return {str(i["name"]) for i in inspect(conn).get_indexes(table_name)}
    return {row[0] for row in conn.execute(query, {"t": table_name})}


def _addable(column: Column) -> Column:
    """A bare copy for ADD COLUMN: indexes are created separately, NOT NULL needs a default."""
    server_default = None
    nullable = column.nullable
    default = column.default
    if not nullable:
        if default is not None and getattr(default, "is_scalar", False):
            value = default.arg
            server_default = text(
                repr(int(value)) if isinstance(value, bool | int) else repr(str(value))
            )
        else:
            nullable = True  # existing rows have no value to give it
    return Column(column.name, column.type, nullable=nullable, server_default=server_default)


def _sync_roles(conn: Connection, model: AppModel) -> None:
    """sys_roles mirrors the model's roles (for joins and pickers); grants stay in the model."""
    have = {row.id for row in conn.execute(select(st.roles.c.id))}
    for role in model.roles.values():
        label = dict(role.label.texts)
        if role.id in have:
            conn.execute(st.roles.update().where(st.roles.c.id == role.id).values(label=label))
        else:
            conn.execute(st.roles.insert().values(id=role.id, label=label))
    gone = have - set(model.roles)
    if gone:
        conn.execute(delete(st.roles).where(st.roles.c.id.in_(gone)))


def record_app_version(conn: Connection, model: AppModel) -> bool:
    """Append the model to sys_app_versions when it differs from the last one recorded."""
    document = model_to_json(model)
    digest = (
        model.digest or hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    )
    last = conn.execute(
        select(st.app_versions.c.digest)
        .where(st.app_versions.c.app_id == model.id)
        .order_by(st.app_versions.c.id.desc())
        .limit(1)
    ).scalar()
    if last == digest:
        return False
    record_version(conn, model, digest, document)  # with the folder's files: see versions
    return True


def model_to_json(value: Any) -> Any:
    """A JSON document of the compiled model (expressions as their source text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Label):
        return dict(value.texts)
    if hasattr(value, "source") and hasattr(value, "evaluate"):
        return "=" + value.source
    if is_dataclass(value):
        return {
            f.name: model_to_json(getattr(value, f.name))
            for f in dc_fields(value)
            if f.name not in ("place", "tree")
        }
    if hasattr(value, "items"):
        return {str(k): model_to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [model_to_json(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)
