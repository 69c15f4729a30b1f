"""The engine and the tables of one app model: what every store service is built on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from runtime.definition.model import AppModel

from . import system_tables
from .system_tables import NAMING_CONVENTION
from .tables import build_entity_tables


def normalise_url(url: str) -> str:
    """``postgresql://`` (what people paste) -> the psycopg 3 driver SQLAlchemy needs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; one fsync per checkpoint
    cursor.close()


def make_engine(url: str, **options: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            # One shared connection, or every checkout would see a new empty database.
            options.setdefault("poolclass", StaticPool)
        options.setdefault("connect_args", {"check_same_thread": False})
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    options.setdefault("pool_pre_ping", True)
    return create_engine(url, **options)


class Database:
    """An engine plus the tables of ``model``.

    ``tables`` maps entity id -> Table; ``child_tables`` maps (entity id, field id) ->
    Table. ``metadata`` holds every table ``create_or_upgrade`` keeps: copies of the
    system tables (``runtime.store.system_tables``, also ``db.sys``, whose Table objects
    statements use), each feature's ``define_tables``, then the entity tables.
    ``features``: the runtime's ``FeatureSet`` (default: the default features), asked
    for its tables and its query clauses.
    """

    def __init__(
        self,
        url: str,
        model: AppModel,
        *,
        engine: Engine | None = None,
        features: Any = None,
        **options: Any,
    ):
        from runtime.features import load_features

        self.url = normalise_url(url)
        self.model = model
        self.features = features if features is not None else load_features()
        self.engine = engine if engine is not None else make_engine(self.url, **options)
        # This Database's own tables: copies of the system tables, the features' tables
        # and the entity tables; nothing shared with another Database is ever altered.
        self.metadata = MetaData(naming_convention=NAMING_CONVENTION)
        for table in system_tables.metadata.sorted_tables:
            table.to_metadata(self.metadata)
        for feature in self.features:
            feature.define_tables(self.metadata)
        sorted_by_features = frozenset(self.features.merge("sort_orders", model))
        built = build_entity_tables(model, self.metadata, sorted_by_features)
        self.tables: dict[str, Table] = built.tables
        self.child_tables: dict[tuple[str, str], Table] = built.child_tables
        # entity id -> the declared and derived indexes (runtime.store.indexes.IndexPlan)
        self.indexes = built.indexes
        self.sys = system_tables
        self._memo: dict[Any, Any] = {}
        self._memo_lock = threading.Lock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def table(self, entity_id: str) -> Table:
        return self.tables[entity_id]

    def child_table(self, entity_id: str, field_id: str) -> Table:
        return self.child_tables[(entity_id, field_id)]

    def create_or_upgrade(self) -> dict[str, list[str]]:
        """Create missing tables and columns, record the app version; never drop anything."""
        from .schema_sync import create_or_upgrade

        return create_or_upgrade(self)

    def memo(self, key: Any, factory: Callable[[], Any]) -> Any:
        """A derived, immutable structure computed once per Database (plans, grants)."""
        try:
            return self._memo[key]
        except KeyError:
            pass
        value = factory()
        with self._memo_lock:
            return self._memo.setdefault(key, value)

    def has_table(self, name: str) -> bool:
        """Whether the database holds a table called ``name`` (``trellis init`` has run)."""
        from sqlalchemy import inspect

        return inspect(self.engine).has_table(name)

    def ping(self) -> None:
        """Run ``SELECT 1``: raises the driver's error when the database is unreachable
        (the health probe's question)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.engine.url.render_as_string(hide_password=True)!r}, app={self.model.id!r})"
