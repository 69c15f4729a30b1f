"""Users' own boards: the same JSON as a ``dashboards/`` file, kept in
``sys_dashboards`` with who owns it and whom it is shared with (roles, teams)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Integer,
    MetaData,
    Table,
    delete,
    insert,
    select,
    update,
)

from runtime.store.system_tables import NAMING_CONVENTION, Id, UtcDateTime

PREFIX = "my-"  # a stored board's id: my-<row id> (never a metadata id: those lack a dash)

table = Table(
    "sys_dashboards",
    MetaData(naming_convention=NAMING_CONVENTION),
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("owner_id", BigInteger, nullable=False, index=True),
    Column("shared_roles", JSON, nullable=False, default=list),
    Column("shared_teams", JSON, nullable=False, default=list),
    Column("doc", JSON, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("updated_at", UtcDateTime, nullable=False),
)


def board_key(row_id: int) -> str:
    return f"{PREFIX}{row_id}"


def row_id_of(key: str) -> int | None:
    rest = key[len(PREFIX) :] if key.startswith(PREFIX) else ""
    return int(rest) if rest.isascii() and rest.isdigit() and len(rest) <= 18 else None


def _board(row: Any) -> dict[str, Any]:
    doc = dict(row.doc)
    doc.update(
        id=board_key(row.id),
        owner_id=row.owner_id,
        shared_roles=list(row.shared_roles or []),
        shared_teams=list(row.shared_teams or []),
        version=row.version,
        stored=True,
    )
    return doc


def may_see(user: Any, board: Mapping[str, Any]) -> bool:
    return (
        board["owner_id"] == user.id
        or bool(set(board["shared_roles"]) & set(user.roles))
        or bool(set(board["shared_teams"]) & set(user.team_ids))
    )


class BoardStore:
    def __init__(self, engine: Any):
        self.engine = engine

    def visible(self, user: Any) -> list[dict[str, Any]]:
        """The boards ``user`` owns or that are shared with one of their roles or teams
        (sharing is read in Python over the JSON lists: a handful of boards per app)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(table).order_by(table.c.id)).all()
        return [b for b in (_board(r) for r in rows) if may_see(user, b)]

    def get(self, key: str) -> dict[str, Any] | None:
        row_id = row_id_of(key)
        if row_id is None:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.id == row_id)).first()
        return _board(row) if row else None

    def create(
        self, owner_id: int, doc: Mapping, roles: Sequence[str], teams: Sequence[int]
    ) -> str:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(table).values(
                    owner_id=owner_id, doc=dict(doc), shared_roles=list(roles),
                    shared_teams=list(teams), version=1, updated_at=datetime.now(UTC),
                )
            )  # fmt: skip
            return board_key(result.inserted_primary_key[0])

    def save(self, key: str, doc: Mapping, roles: Sequence[str], teams: Sequence[int]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == row_id_of(key))
                .values(
                    doc=dict(doc), shared_roles=list(roles), shared_teams=list(teams),
                    version=table.c.version + 1, updated_at=datetime.now(UTC),
                )
            )  # fmt: skip

    def delete(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.id == row_id_of(key)))
