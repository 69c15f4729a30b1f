"""Widget results cached by the versions of the entities they read.

``sys_report_versions`` holds one counter per entity, bumped by a write step inside
every write's transaction (create, update, archive, restore). A cached result carries
the counters it was computed at; a lookup reads the current ones (one small SELECT
per board) and serves the result only when none moved, so a write in any process or
connection invalidates every process's copies at its commit."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from runtime.store.system_tables import NAMING_CONVENTION

table = Table(
    "sys_report_versions",
    MetaData(naming_convention=NAMING_CONVENTION),
    Column("entity", String(63), primary_key=True),
    Column("version", BigInteger, nullable=False, default=0),
)

MAX_ENTRIES = 2000


def bump_version(conn: Any, entity: str) -> None:
    """Add one to ``entity``'s counter, in the caller's transaction (an upsert)."""
    maker = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = maker(table).values(entity=entity, version=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.entity], set_={"version": table.c.version + 1}
    )
    conn.execute(stmt)


def read_versions(engine: Any, entities: Iterable[str]) -> dict[str, int]:
    names = sorted(set(entities))
    if not names:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(table.c.entity, table.c.version).where(table.c.entity.in_(names))
        )
        found = {entity: int(version) for entity, version in rows}
    return {name: found.get(name, 0) for name in names}


class ResultCache:
    """An LRU of results for one web app (hung on it, never module state), each kept
    with the entity counters read before its queries ran."""

    def __init__(self, engine: Any, max_entries: int = MAX_ENTRIES):
        self.engine = engine
        self.max_entries = max_entries
        self.entries: OrderedDict[str, tuple[dict[str, int], dict]] = OrderedDict()

    def get(self, key: str, versions: Mapping[str, int]) -> dict | None:
        entry = self.entries.get(key)
        if entry is None or entry[0] != dict(versions):
            return None
        self.entries.move_to_end(key)
        return entry[1]

    def put(self, key: str, versions: Mapping[str, int], result: Mapping[str, Any]) -> None:
        self.entries[key] = (dict(versions), dict(result))
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
