"""The stage history table ``sys_stage_history``: one row per stage change of a record.

Like Salesforce's OpportunityHistory, each row keeps who moved the record, when, from
and to which stage, how long it had been in the previous stage, and the amount, close
date and probability the record had when it moved (snapshots for funnel, duration and
forecast analytics). The pipelines feature adds the table to each Database's metadata
(``define_tables``), so ``create_or_upgrade`` creates or extends it like any system
table, and a runtime without the feature has none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Column, Date, Index, MetaData, Numeric, String, Table, select
from sqlalchemy.engine import Connection

from runtime.store.system_tables import NAMING_CONVENTION, Id, UtcDateTime

# The table's definition; each Database copies it onto its own metadata through the
# feature's ``define_tables`` (statements may use this one: they compile by name).
table = Table(
    "sys_stage_history",
    MetaData(naming_convention=NAMING_CONVENTION),
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("entity", String(63), nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("from_stage", String(63), nullable=True),
    Column("to_stage", String(63), nullable=True),
    Column("changed_by", BigInteger, nullable=True),
    Column("changed_at", UtcDateTime, nullable=False),
    # How long the record stayed in from_stage (stage-duration analytics).
    Column("seconds_in_from_stage", BigInteger, nullable=True),
    Column("pipeline", String(63), nullable=True),
    # the record's values when it left ``from_stage`` (the snapshot the move replaced)
    Column("amount", Numeric(20, 4), nullable=True),
    Column("close_date", Date, nullable=True),
    Column("probability", Numeric(7, 3), nullable=True),
    Index("ix_sys_stage_history_record", "entity", "record_id"),
    Index("ix_sys_stage_history_changed", "entity", "changed_at"),
)

COLUMNS = tuple(c.name for c in table.columns)


def _number(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def history_row(
    *,
    entity: str,
    record_id: int,
    pipeline: str | None,
    from_stage: str | None,
    to_stage: str | None,
    changed_by: int | None,
    changed_at: datetime,
    seconds_in_previous: int | None,
    amount: Any = None,
    close_date: Any = None,
    probability: Any = None,
) -> dict[str, Any]:
    """One row ready for insert (values normalised to the column types)."""
    return {
        "entity": entity,
        "record_id": record_id,
        "pipeline": pipeline,
        "from_stage": from_stage,
        "to_stage": to_stage,
        "changed_by": changed_by,
        "changed_at": changed_at,
        "seconds_in_from_stage": seconds_in_previous,
        "amount": _number(amount),
        "close_date": _date(close_date),
        "probability": _number(probability),
    }


_INSERT = table.insert()  # one statement, so SQLAlchemy's compiled cache hits every move


def write_stage_change(
    conn: Connection,
    entity: str,
    record_id: int,
    from_stage: str | None,
    to_stage: str | None,
    *,
    user_id: int | None,
    at: datetime,
    entered_at: datetime | None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """The row of one stage change, in the write's transaction; ``extra``: the pipeline
    and snapshot columns (``PipelineHook.stage_history_values``)."""
    seconds = int((at - entered_at).total_seconds()) if entered_at and from_stage else None
    row = {
        "entity": entity,
        "record_id": record_id,
        "from_stage": from_stage,
        "to_stage": to_stage,
        "changed_by": user_id,
        "changed_at": at,
        "seconds_in_from_stage": seconds,
    }
    if extra:
        row.update(extra)
    conn.execute(_INSERT, row)


def write_stage_history(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert rows built by ``history_row`` (in the caller's transaction)."""
    batch = [dict(r) for r in rows]
    if batch:
        conn.execute(table.insert(), batch)
    return len(batch)


def read_stage_history(conn: Connection, entity: str, record_id: int) -> list[dict[str, Any]]:
    """Oldest first."""
    query = (
        select(table)
        .where(table.c.entity == entity, table.c.record_id == record_id)
        .order_by(table.c.changed_at, table.c.id)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def stage_history_of(db: Any, entity: str, record_id: int) -> list[dict[str, Any]]:
    """``read_stage_history`` on a connection of its own (for screens, which run no SQL)."""
    with db.engine.connect() as conn:
        return read_stage_history(conn, entity, record_id)


def entries_of(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str | None, datetime]]:
    """(stage entered, when) pairs for ``flow.time_in_stages``."""
    return [(row["to_stage"], row["changed_at"]) for row in rows]


def delete_stage_history(conn: Connection, entity: str, record_ids: Iterable[int]) -> None:
    ids = list(record_ids)
    if ids:
        conn.execute(table.delete().where(table.c.entity == entity, table.c.record_id.in_(ids)))


__all__ = [
    "COLUMNS",
    "delete_stage_history",
    "entries_of",
    "history_row",
    "read_stage_history",
    "table",
    "write_stage_change",
    "write_stage_history",
]
