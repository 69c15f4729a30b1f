"""The audit trail: field-level history and record audit entries."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from . import system_tables as st

# One INSERT statement per table, built once at import (SQLAlchemy then reuses its
# compiled form on every write instead of building and hashing a new statement).
_FIELD_HISTORY_INSERT = st.field_history.insert()
_AUDIT_INSERT = st.audit.insert()


def json_value(value: Any) -> Any:
    """A JSON-safe copy: Decimal as text (exact), dates as ISO 8601."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    return str(value)


def new_change_id() -> str:
    return uuid.uuid4().hex


def write_field_changes(
    conn: Connection,
    entity: str,
    record_id: int,
    changes: Mapping[str, tuple[Any, Any]],
    *,
    user_id: int | None,
    at: datetime,
    row_version: int,
    change_id: str | None = None,
) -> None:
    if not changes:
        return
    change_id = change_id or new_change_id()
    conn.execute(
        _FIELD_HISTORY_INSERT,
        [
            {
                "entity": entity,
                "record_id": record_id,
                "field": field,
                "old_value": json_value(old),
                "new_value": json_value(new),
                "changed_by": user_id,
                "changed_at": at,
                "change_id": change_id,
                "row_version": row_version,
            }
            for field, (old, new) in changes.items()
        ],
    )


def write_audit(
    conn: Connection,
    entity: str,
    record_id: int,
    action: str,
    *,
    user_id: int | None,
    at: datetime,
    data: Any = None,
) -> None:
    conn.execute(
        _AUDIT_INSERT,
        {
            "entity": entity,
            "record_id": record_id,
            "action": action,
            "user_id": user_id,
            "at": at,
            "data": json_value(data) if data is not None else None,
        },
    )


def read_field_history(
    conn: Connection, entity: str, record_id: int, fields: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """Newest first."""
    t = st.field_history
    query = select(t).where(t.c.entity == entity, t.c.record_id == record_id)
    if fields is not None:
        query = query.where(t.c.field.in_(list(fields)))
    query = query.order_by(t.c.id.desc())
    return [dict(row) for row in conn.execute(query).mappings()]


def read_audit(conn: Connection, entity: str, record_id: int) -> list[dict[str, Any]]:
    t = st.audit
    query = (
        select(t).where(t.c.entity == entity, t.c.record_id == record_id).order_by(t.c.id.desc())
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def changes_since(
    conn: Connection, entity: str, record_id: int, version: int
) -> dict[str, dict[str, Any]]:
    """Per field changed after ``version``: the value at ``version`` and who changed it last, when."""
    t = st.field_history
    rows = conn.execute(
        select(t.c.field, t.c.old_value, t.c.new_value, t.c.changed_by, t.c.changed_at)
        .where(t.c.entity == entity, t.c.record_id == record_id, t.c.row_version > version)
        .order_by(t.c.id)
    ).all()
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = found.setdefault(row.field, {"old": row.old_value})
        entry.update(new=row.new_value, by=row.changed_by, at=row.changed_at.isoformat())
    return found
