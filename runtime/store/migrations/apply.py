"""Apply a migration plan: one transaction, under a lock, idempotent, refused on a changed database."""

from __future__ import annotations

import json
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    column,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.engine import Connection

from runtime.definition.model import AppModel
from runtime.errors import TrellisError
from runtime.fieldtypes import type_of
from runtime.fieldtypes.base import FieldInvalid

from .. import system_tables as st
from ..system_tables import Id, UtcDateTime, utcnow
from .plan import MigrationPlan, _as_list, convert_value, fingerprint

ADVISORY_LOCK_KEY = 0x7472656C6C6973  # the one schema_sync takes: never both at once
CHUNK = 5000

_meta = MetaData()
migrations_table = Table(
    "sys_migrations",
    _meta,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("plan_id", String(64), nullable=False, unique=True),
    Column("applied_at", UtcDateTime, nullable=False),
    Column("plan", JSON, nullable=True),
)
retired_columns = Table(
    "sys_retired_columns",
    _meta,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("table_name", String(63), nullable=False),
    Column("column_name", String(63), nullable=True),  # NULL: the whole table
    Column("entity", String(127), nullable=False),
    Column("field", String(63), nullable=True),
    Column("kind", String(32), nullable=False),
    Column("retired_at", UtcDateTime, nullable=False),
)
lock_table = Table(
    "sys_migration_lock",
    _meta,
    Column("id", Integer, primary_key=True),
    Column("taken", BigInteger, nullable=False, default=0),
)


class MigrationRefused(TrellisError):
    """The plan cannot be applied (blocked, or the database changed since it was made)."""

    code = "migration_refused"


def apply_plan(db: Any, plan: MigrationPlan, new_model: AppModel) -> dict[str, Any]:
    """Carry out ``plan`` on ``db`` and bring its tables up to ``new_model``.

    Returns ``{"applied": bool, "plan_id", "operations": [...done]}``; a plan already
    applied returns ``applied: False`` and changes nothing."""
    from ..database import Database
    from ..schema_sync import upgrade_on

    if plan.blockers:
        raise MigrationRefused("the plan is blocked: " + "; ".join(plan.blockers))
    with db.engine.begin() as conn:
        _take_lock(conn)
        done = conn.execute(
            select(migrations_table.c.id).where(migrations_table.c.plan_id == plan.plan_id)
        ).first()
        if done is not None:
            return {"applied": False, "plan_id": plan.plan_id, "operations": []}
        now = fingerprint(_OnConnection(conn), plan.tables)
        if now != plan.fingerprint:
            raise MigrationRefused(
                "TRL-E105 the database changed since the plan was made (tables "
                + ", ".join(plan.tables)
                + "): make the plan again"
            )
        operations = Operations(MigrationContext.configure(conn))
        performed = []
        for op in plan.operations:
            _perform(conn, operations, op, new_model, db.features)
            performed.append(f"{op.kind} {op.entity}{'.' + op.field if op.field else ''}")
        upgrade_on(conn, Database(db.url, new_model, engine=db.engine, features=db.features))
        conn.execute(
            migrations_table.insert().values(
                plan_id=plan.plan_id, applied_at=utcnow(), plan=plan.to_json()
            )
        )
    return {"applied": True, "plan_id": plan.plan_id, "operations": performed}


class _OnConnection:
    """Looks enough like a Database for ``fingerprint`` to read through one connection."""

    def __init__(self, conn: Connection):
        self.engine = self
        self._conn = conn

    def connect(self):
        conn = self._conn

        class _Same:
            def __enter__(self):
                return conn

            def __exit__(self, *exc):
                return False

        return _Same()


def _take_lock(conn: Connection) -> None:
    """Two publishes never run at once: PostgreSQL's advisory lock, SQLite's write lock
    (taken by writing the lock row first)."""
    _meta.create_all(conn, checkfirst=True)
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    updated = conn.execute(lock_table.update().values(taken=lock_table.c.taken + 1)).rowcount
    if not updated:
        conn.execute(lock_table.insert().values(id=1, taken=1))


def _batch(operations: Operations, table_name: str, conn: Connection):
    # Plain ALTERs in batch mode: SQLite renames and drops columns itself (3.35+); a
    # table copy would cascade-delete child rows through their foreign keys.
    return operations.batch_alter_table(table_name, recreate="never")


def _perform(conn, operations, op, model, features) -> None:
    if op.kind in ("remove_option", "remove_value"):
        _map_value(conn, op, model, features)
        return
    handler = _HANDLERS.get(op.kind)
    if handler is not None:
        handler(conn, operations, op, model)


def _rename_entity(conn, operations, op, model) -> None:
    operations.rename_table(op.detail["table"], op.detail["new_table"])


def _rename_child(conn, operations, op, model) -> None:
    operations.rename_table(op.detail["table"], op.detail["new_table"])


def _rename_field(conn, operations, op, model) -> None:
    _drop_indexes_on(conn, op.detail["table"], op.detail["from"])
    with _batch(operations, op.detail["table"], conn) as batch:
        batch.alter_column(op.detail["from"], new_column_name=op.field)


def _retire(conn, operations, op, model) -> None:
    for col in op.detail.get("columns") or [None]:
        conn.execute(
            retired_columns.insert().values(
                table_name=op.detail["table"],
                column_name=col,
                entity=op.entity,
                field=op.field,
                kind=op.kind,
                retired_at=utcnow(),
            )
        )


def _restore(conn, operations, op, model) -> None:
    query = retired_columns.delete().where(retired_columns.c.table_name == op.detail["table"])
    if op.field and op.kind == "restore_field":
        query = query.where(retired_columns.c.field == op.field)
    conn.execute(query)


def _new_field_def(model: AppModel, op):
    entity_id, _, child = op.entity.partition(".")
    entity = model.entity(entity_id)
    f = entity.field(child) if child else entity
    return f.field(op.field) if child else entity.field(op.field)


def _old_field_def(op, new_f):
    from dataclasses import replace

    from runtime.fieldtypes import TYPES

    old = replace(new_f, id=op.detail["column"], type=op.detail["from_type"], field_type=None)
    return replace(old, field_type=TYPES.get_type(op.detail["from_type"]))


def _retype(conn, operations, op, model) -> None:
    new_f = _new_field_def(model, op)
    old_f = _old_field_def(op, new_f)
    table_name = op.detail["table"]
    choice = op.detail.get("choice") or {}
    temp = f"{op.field}__mig"
    _drop_indexes_on(conn, table_name, old_f.id)
    new_column = type_of(new_f).columns(new_f)[0]
    operations.add_column(table_name, Column(temp, new_column.type, nullable=True))
    _copy_converted(conn, table_name, old_f, new_f, Column(temp, new_column.type), choice, model)
    with _batch(operations, table_name, conn) as batch:
        if choice.get("mode") == "archive":
            archived = f"{old_f.id}__was_{old_f.type}"[:63]
            batch.alter_column(old_f.id, new_column_name=archived)
        else:
            batch.drop_column(old_f.id)
    if choice.get("mode") == "archive":
        conn.execute(
            retired_columns.insert().values(
                table_name=table_name,
                column_name=archived,
                entity=op.entity,
                field=op.field,
                kind="archived_values",
                retired_at=utcnow(),
            )
        )
    with _batch(operations, table_name, conn) as batch:
        batch.alter_column(temp, new_column_name=new_f.id)


def _copy_converted(conn, table_name, old_f, new_f, target: Column, choice, model) -> None:
    temp = target.name
    t = table(table_name, column("id"), column(old_f.id), column(temp, target.type))
    rows = conn.execute(select(t.c.id, t.c[old_f.id]).where(t.c[old_f.id].isnot(None))).all()
    update = t.update().where(t.c.id == bindparam("rid")).values({temp: bindparam("val")})
    batch: list[dict[str, Any]] = []
    for row_id, stored in rows:
        try:
            value = convert_value(old_f, new_f, stored, model)
        except (FieldInvalid, ValueError, TypeError, ArithmeticError):
            if choice.get("mode") not in ("default", "archive"):
                raise MigrationRefused(
                    f"TRL-E101 {table_name}.{old_f.id}: record {row_id}: '{stored}' does not "
                    f"convert to {new_f.type}"
                ) from None
            value = _default_value(new_f, choice, model)
        batch.append({"rid": row_id, "val": value})
        if len(batch) >= CHUNK:
            conn.execute(update, batch)
            batch = []
    if batch:
        conn.execute(update, batch)


def _default_value(new_f, choice, model):
    raw = choice.get("value")
    if raw is None:
        return None
    try:
        return convert_value(new_f, new_f, raw, model)
    except (FieldInvalid, ValueError, TypeError, ArithmeticError):
        raise MigrationRefused(
            f"TRL-E106 {new_f.id}: the default '{raw}' is no {new_f.type} value"
        ) from None


def _retarget(conn, operations, op, model) -> None:
    """A link to a new target: ids that are no record of it are emptied when chosen."""
    if (op.detail.get("choice") or {}).get("mode") not in ("default", "archive"):
        return
    target_table = model.entity(op.detail["to"]).table_name
    bad = [e["id"] for e in _dangling_all(conn, op.detail["table"], op.field, target_table)]
    t = table(op.detail["table"], column("id"), column(op.field))
    if bad:
        conn.execute(t.update().where(t.c.id.in_(bad)).values({op.field: None}))


def _dangling_all(conn, table_name, col, target_table):
    t = table(table_name, column("id"), column(col))
    target = table(target_table, column("id"))
    known = select(target.c.id)
    rows = conn.execute(select(t.c.id).where(t.c[col].isnot(None), t.c[col].not_in(known)))
    return [{"id": r[0]} for r in rows]


def _map_value(conn, op, model, features) -> None:
    target = op.detail.get("map_to")
    if not target:
        return
    value = op.detail.get("option") or op.detail.get("value")
    t = table(op.detail["table"], column("id"), column(op.field))
    field_def = None
    if op.kind == "remove_option":
        field_def = _new_field_def(model, op)
    if field_def is not None and type_of(field_def).json_list:
        _map_list(conn, t, op, value, target, features)
        return
    ids = [r[0] for r in conn.execute(select(t.c.id).where(t.c[op.field] == value))]
    if not ids:
        return
    conn.execute(t.update().where(t.c.id.in_(ids)).values({op.field: target}))
    _record_moves(conn, op, ids, value, target, features)


def _map_list(conn, t, op, value, target, features) -> None:
    moved = []
    for row_id, stored in conn.execute(
        select(t.c.id, t.c[op.field]).where(t.c[op.field].isnot(None))
    ):
        items = _as_list(stored)
        if value not in items:
            continue
        new_items = []
        for item in items:
            item = target if item == value else item
            if item not in new_items:
                new_items.append(item)
        conn.execute(t.update().where(t.c.id == row_id).values({op.field: json.dumps(new_items)}))
        moved.append(row_id)
    _record_moves(conn, op, moved, value, target, features)


def _record_moves(conn, op, ids, value, target, features) -> None:
    """The system's move, written as a migration (no user): the audit trail, and each
    feature's own history of the field (``Feature.record_value_moves``)."""
    entity = op.entity.split(".")[0]
    at = utcnow()
    data = {"reason": "migration", "field": op.field, "from": value, "to": target}
    conn.execute(
        st.audit.insert(),
        [
            {
                "entity": entity,
                "record_id": rid,
                "action": "migration",
                "user_id": None,
                "at": at,
                "data": data,
            }
            for rid in ids
        ],
    )
    if op.kind == "remove_value":
        moves = [(rid, value, target, at) for rid in ids]
        for feature in features:
            feature.record_value_moves(conn, entity, op.field, moves)


def _drop_indexes_on(conn, table_name: str, col: str) -> None:
    """Indexes on a column about to change (``upgrade_on`` makes them again by name)."""
    for index in inspect(conn).get_indexes(table_name):
        if col in (index.get("column_names") or []):
            conn.execute(text(f'DROP INDEX "{index["name"]}"'))


_HANDLERS = {
    "rename_entity": _rename_entity,
    "rename_child": _rename_child,
    "rename_field": _rename_field,
    "retype_field": _retype,
    "retarget_link": _retarget,
    "retire_field": _retire,
    "retire_entity": _retire,
    "retire_child": _retire,
    "restore_field": _restore,
    "restore_entity": _restore,
    "restore_child": _restore,
}
