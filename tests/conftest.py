"""Shared fixtures: every storage test runs on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_APP = ROOT / "app_definitions" / "opportunity"
POSTGRES_URL = os.environ.get("TRELLIS_TEST_POSTGRES_URL", "")
# scrypt costs ~0.25 s per hash; tests create and sign in many users.
os.environ.setdefault("TRELLIS_PASSWORD_HASH_METHOD", "pbkdf2:sha256:1000")


def _psycopg_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _backends() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    if POSTGRES_URL:
        params.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))
    return params


@pytest.fixture(params=_backends())
def db_url(request, tmp_path) -> str:
    """A fresh, empty database URL: a SQLite file, or a private PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'trellis.db'}"
        return
    from sqlalchemy import create_engine, text

    base = _psycopg_url(POSTGRES_URL)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def make_web_app(db_url: str, tmp_path: Path, app_dir: Path, **overrides):
    """Tables for ``app_dir`` in ``db_url``, then the Flask app on them (testing mode)."""
    from runtime.definition import load_app
    from runtime.store import Database
    from runtime.web.app import create_app

    db = Database(db_url, load_app(app_dir))
    db.create_or_upgrade()
    db.dispose()
    return create_app(
        {
            "TRELLIS_DATABASE_URL": db_url,
            "TRELLIS_APP": str(app_dir),
            "TRELLIS_INSTANCE_PATH": str(tmp_path / "instance"),
            "TRELLIS_SECRET_KEY": "test-secret",
            "TESTING": True,
            **overrides,
        }
    )
