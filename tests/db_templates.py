"""Tables for a test database copied from a per-session template, built once per model.

Creating the reference app's tables costs about 0.15 s on SQLite and 0.5 s on
PostgreSQL (116 DDL statements), paid by almost every test. Here the real
``create_or_upgrade`` runs once per model and backend; each test then gets a copy:

* SQLite: the template file is copied to the test's file.
* PostgreSQL: each test has a schema of its own (``search_path`` in the URL). A schema
  that held a model's tables is not dropped after the test: its rows are deleted, the
  template's rows and sequence positions put back, and it waits in a pool to be renamed
  into the next test's schema. DDL on PostgreSQL is the slow part; DELETE and RENAME
  are cheap. A schema whose columns a test changed is dropped instead.

Tests of ``create_or_upgrade`` itself keep calling it on an empty database.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url

from runtime.definition.model import AppModel
from runtime.store import Database
from runtime.store.database import normalise_url
from runtime.store.schema_sync import model_to_json


def model_key(model: AppModel) -> str:
    """The digest ``record_app_version`` records: equal models share a template."""
    document = json.dumps(model_to_json(model), sort_keys=True, default=str)
    return hashlib.sha256(document.encode()).hexdigest()[:16]


@dataclass
class _PostgresTemplate:
    """What a clean schema of one model holds: its shape, its rows, its sequences."""

    columns: int
    rows: dict[str, list[dict[str, Any]]]
    sequences: dict[str, tuple[int, bool]]
    tables: list[str]
    spare: list[str] = field(default_factory=list)


class TemplateCache:
    """One template per (backend, model) for the whole pytest session."""

    def __init__(self, postgres_url: str = "") -> None:
        self.postgres_url = normalise_url(postgres_url) if postgres_url else ""
        self.session = uuid.uuid4().hex[:8]
        self.folder = Path(tempfile.mkdtemp(prefix="trellis-templates-"))
        self._sqlite: dict[str, Path] = {}
        self._postgres: dict[str, _PostgresTemplate] = {}
        self._in_use: dict[str, str] = {}  # test schema -> model key
        self._lock = threading.Lock()
        self._admin: Engine | None = None

    # -- SQLite -----------------------------------------------------------------------
    def _sqlite_template(self, model: AppModel) -> Path:
        key = model_key(model)
        with self._lock:
            if key not in self._sqlite:
                path = self.folder / f"{key}.db"
                db = Database(f"sqlite:///{path}", model)
                db.create_or_upgrade()
                db.dispose()  # the last connection checkpoints the WAL into the file
                self._sqlite[key] = path
            return self._sqlite[key]

    # -- PostgreSQL: one schema per test -----------------------------------------------
    def new_postgres_schema(self) -> str:
        """An empty schema of its own, as a URL whose search_path points at it."""
        schema = f"t_{self.session}_{uuid.uuid4().hex[:10]}"
        with self._connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in self.postgres_url else "?"
        # A test's commits need not wait for the WAL to reach the disk (nothing outlives
        # the session): on a small machine that wait is most of a PostgreSQL write.
        options = f"-csearch_path={schema} -csynchronous_commit=off"
        return f"{self.postgres_url}{sep}options={quote(options)}"

    def release_postgres_schema(self, url: str) -> None:
        """After the test: clean the schema back into the pool, or drop it."""
        schema = _schema_of(url)
        key = self._in_use.pop(schema, None)
        if key is not None and self._reset(schema, self._postgres[key]):
            spare = f"p_{self.session}_{key}_{uuid.uuid4().hex[:6]}"
            with self._connect() as conn:
                conn.execute(text(f'ALTER SCHEMA "{schema}" RENAME TO "{spare}"'))
            with self._lock:
                self._postgres[key].spare.append(spare)
            return
        with self._connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

    def _build_postgres(self, db_url: str, model: AppModel) -> None:
        schema = _schema_of(db_url)
        key = model_key(model)
        with self._lock:
            template = self._postgres.get(key)
            spare = template.spare.pop() if template and template.spare else None
        if spare is None:
            db = Database(db_url, model)
            db.create_or_upgrade()
            db.dispose()
            if template is None:
                with self._connect() as conn:
                    self._postgres[key] = _snapshot(conn, schema)
        else:
            with self._connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}"'))
                conn.execute(text(f'ALTER SCHEMA "{spare}" RENAME TO "{schema}"'))
        self._in_use[schema] = key

    def _reset(self, schema: str, template: _PostgresTemplate) -> bool:
        """Delete every row, put back the template's; False when the shape changed."""
        with self._connect(autocommit=False) as conn, conn.begin():
            if _column_count(conn, schema) != template.columns:
                return False
            conn.execute(text("SET LOCAL lock_timeout = '5s'"))
            # Deleting with foreign-key triggers off, so the order of tables does not matter.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table in template.tables:
                conn.execute(text(f'DELETE FROM "{schema}"."{table}"'))
            for table, rows in template.rows.items():
                for row in rows:
                    names = ", ".join(f'"{n}"' for n in row)
                    binds = ", ".join(f":{n}" for n in row)
                    conn.execute(
                        text(f'INSERT INTO "{schema}"."{table}" ({names}) VALUES ({binds})'),
                        _json_ready(row),
                    )
            for sequence, (value, called) in template.sequences.items():
                conn.execute(
                    text("SELECT setval(:seq, :value, :called)"),
                    {"seq": f'"{schema}"."{sequence}"', "value": value, "called": called},
                )
        return True

    # -- both ---------------------------------------------------------------------------
    def build_schema(self, db_url: str, model: AppModel) -> None:
        """Fill the empty database at ``db_url`` with the tables (and role rows) of ``model``."""
        url = make_url(normalise_url(db_url))
        if url.get_backend_name() == "sqlite":
            shutil.copyfile(self._sqlite_template(model), url.database)
        else:
            self._build_postgres(db_url, model)

    def close(self) -> None:
        if self.postgres_url:
            with self._connect() as conn:
                for template in self._postgres.values():
                    for spare in template.spare:
                        conn.execute(text(f'DROP SCHEMA IF EXISTS "{spare}" CASCADE'))
        shutil.rmtree(self.folder, ignore_errors=True)
        if self._admin is not None:
            self._admin.dispose()

    def _connect(self, *, autocommit: bool = True) -> Connection:
        # Schema names are generated here from hex digits only; DDL takes no bound parameters.
        if self._admin is None:
            self._admin = create_engine(self.postgres_url)
        if autocommit:
            return self._admin.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._admin.connect()


def _schema_of(url: str) -> str:
    return make_url(url).query["options"].split("search_path=", 1)[1].split()[0]


def _column_count(conn: Connection, schema: str) -> int:
    return conn.execute(
        text("SELECT count(*) FROM information_schema.columns WHERE table_schema = :s"),
        {"s": schema},
    ).scalar_one()


def _snapshot(conn: Connection, schema: str) -> _PostgresTemplate:
    tables = list(
        conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY tablename"),
            {"s": schema},
        ).scalars()
    )
    rows = {}
    for table in tables:
        found = [
            dict(r._mapping) for r in conn.execute(text(f'SELECT * FROM "{schema}"."{table}"'))
        ]
        if found:
            rows[table] = found
    sequences = {
        name: (value if value is not None else 1, value is not None)
        for name, value in conn.execute(
            text("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = :s"),
            {"s": schema},
        )
    }
    return _PostgresTemplate(_column_count(conn, schema), rows, sequences, tables)


def _json_ready(row: dict[str, Any]) -> dict[str, Any]:
    """JSON columns come back as dicts and lists; a text() insert needs them as JSON text."""
    return {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}


# One cache for the session, shared by conftest and the fixture modules that import it.
TEMPLATES = TemplateCache(os.environ.get("TRELLIS_TEST_POSTGRES_URL", ""))
