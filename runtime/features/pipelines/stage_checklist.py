"""The stage checklist table ``sys_stage_checklist``: every tick and untick of a
stage's key actions on a record, who did it and when (newest row per item wins).

Kept on the record, not in a browser, so a colleague or the manager sees the same
ticks, the timeline can tell them, and a gate can require items. The pipelines
feature adds the table to each Database's metadata (``define_tables``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Index, MetaData, String, Table, insert, select
from sqlalchemy.engine import Connection

from runtime.store import system_tables as st

# Copied onto each Database's metadata by the feature's ``define_tables``.
table = Table(
    "sys_stage_checklist",
    MetaData(naming_convention=st.NAMING_CONVENTION),
    Column("id", st.Id, primary_key=True, autoincrement=True),
    Column("entity", String(63), nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("pipeline", String(63), nullable=False),
    Column("stage", String(63), nullable=False),
    Column("item", String(63), nullable=False),
    Column("checked", Boolean, nullable=False),
    Column("changed_by", BigInteger, nullable=True),
    Column("changed_at", st.UtcDateTime, nullable=False),
    Index("ix_sys_stage_checklist_record", "entity", "record_id"),
)


def record_tick(
    conn: Connection,
    *,
    entity: str,
    record_id: int,
    pipeline: str,
    stage: str,
    item: str,
    checked: bool,
    user_id: int | None,
    at: datetime | None = None,
) -> dict[str, Any]:
    row = {
        "entity": entity,
        "record_id": int(record_id),
        "pipeline": pipeline,
        "stage": stage,
        "item": item,
        "checked": bool(checked),
        "changed_by": user_id,
        "changed_at": at or st.utcnow(),
    }
    conn.execute(insert(table), row)
    return row


def read_ticks(conn: Connection, entity: str, record_id: int) -> list[dict[str, Any]]:
    """Every tick and untick of the record, oldest first, with the user's name."""
    users = st.users
    stmt = (
        select(table, users.c.name.label("changed_by_name"))
        .select_from(table.outerjoin(users, users.c.id == table.c.changed_by))
        .where(table.c.entity == entity, table.c.record_id == int(record_id))
        .order_by(table.c.changed_at, table.c.id)
    )
    return [dict(r._mapping) for r in conn.execute(stmt)]


def ticks_of(db: Any, entity: str, record_id: int) -> list[dict[str, Any]]:
    """``read_ticks`` on a connection of its own (for screens, which run no SQL)."""
    with db.engine.connect() as conn:
        return read_ticks(conn, entity, record_id)


def ticked_items_of(db: Any, entity: str, record_id: int) -> frozenset[tuple[str, str]]:
    """``ticked_items`` on a connection of its own."""
    with db.engine.connect() as conn:
        return ticked_items(conn, entity, record_id)


def tick(db: Any, **values: Any) -> dict[str, Any]:
    """``record_tick`` in a transaction of its own."""
    with db.engine.begin() as conn:
        return record_tick(conn, **values)


def current_state(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """(stage, item) -> the latest row about it (``rows`` oldest first)."""
    state: dict[tuple[str, str], Mapping[str, Any]] = {}
    for row in rows:
        state[(row["stage"], row["item"])] = row
    return state


def ticked_items(conn: Connection, entity: str, record_id: int) -> frozenset[tuple[str, str]]:
    """The (stage, item) pairs ticked on the record now."""
    stmt = (
        select(table.c.stage, table.c.item, table.c.checked)
        .where(table.c.entity == entity, table.c.record_id == int(record_id))
        .order_by(table.c.changed_at, table.c.id)
    )
    state: dict[tuple[str, str], bool] = {}
    for stage, item, checked in conn.execute(stmt):
        state[(stage, item)] = bool(checked)
    return frozenset(key for key, checked in state.items() if checked)


__all__ = ["current_state", "read_ticks", "record_tick", "table", "ticked_items"]
