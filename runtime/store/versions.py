"""App versions: each applied definition with its source files, so it can be rebuilt.

A version row in ``sys_app_versions`` holds every file of the app folder (path -> text),
its number, hash (the loader's digest of the files), author, time, message and the
applied migration plan. ``current_digest`` is the one indexed query a web process or a
worker runs to notice a newly applied version; ``materialise`` writes a version's files
into a folder under the instance path, named by the hash, for the loader to compile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from . import system_tables as st

# Folders of an app that are never part of its definition (caches, editor state).
SKIPPED_PARTS = frozenset({"__pycache__", ".git", ".DS_Store"})
MAX_FILE_BYTES = 2_000_000  # a definition file larger than this is not metadata


class VersionError(Exception):
    """A version that cannot be read, stored or rebuilt; the message names the file."""


@dataclass(frozen=True)
class AppVersion:
    """One row of ``sys_app_versions``."""

    id: int
    number: int
    digest: str
    label: str  # the app's own ``version`` string from app.yaml
    author: str
    message: str
    applied_at: datetime | None
    files: dict[str, str] | None
    plan: Any


def read_app_files(app_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Every text file of the app folder, by posix path relative to it."""
    root = Path(app_dir)
    files: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(part in SKIPPED_PARTS for part in rel.parts):
            continue
        if any(part.startswith(".") for part in rel.parts):
            continue
        data = path.read_bytes()
        if len(data) > MAX_FILE_BYTES:
            raise VersionError(
                f"{rel.as_posix()}: {len(data)} bytes, larger than a definition file"
            )
        try:
            files[rel.as_posix()] = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise VersionError(
                f"{rel.as_posix()}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                "an app folder holds only text files"
            ) from None
    return files


def materialise(files: dict[str, str], instance_path: str | os.PathLike[str], digest: str) -> Path:
    """The folder ``<instance>/app_versions/<digest>`` holding ``files`` (written once)."""
    folder = Path(instance_path) / "app_versions" / digest
    done = folder / ".complete"
    if done.exists():
        return folder
    for rel, text in files.items():
        target = folder / _safe_relative(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
    done.write_text(digest)  # a crash half way writes the files again next time
    return folder


def _safe_relative(rel: str) -> Path:
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise VersionError(f"{rel!r}: a stored file path must stay inside the app folder")
    return Path(*path.parts)


def record_version(
    conn: Connection,
    model: Any,
    digest: str,
    document: Any,
    *,
    files: dict[str, str] | None = None,
    author: str = "",
    message: str = "",
    plan: Any = None,
) -> int:
    """Append a version of ``model`` (numbered after the last one); returns its number."""
    if files is None and model.source_dir:
        files = read_app_files(model.source_dir)
    last = conn.execute(
        select(func.max(st.app_versions.c.number)).where(st.app_versions.c.app_id == model.id)
    ).scalar()
    if last is None:  # rows recorded before numbers existed count as versions too
        last = conn.execute(
            select(func.count()).where(st.app_versions.c.app_id == model.id)
        ).scalar()
    number = int(last or 0) + 1
    conn.execute(
        st.app_versions.insert().values(
            app_id=model.id,
            version=model.version,
            digest=digest,
            model=document,
            applied_at=st.utcnow(),
            number=number,
            files=files,
            author=author or None,
            message=message or None,
            plan=plan,
        )
    )
    return number


def current_digest(engine: Engine | Connection, app_id: str) -> str | None:
    """The hash of the newest applied version (one query on the (app_id, id) index)."""
    query = (
        select(st.app_versions.c.digest)
        .where(st.app_versions.c.app_id == app_id)
        .order_by(st.app_versions.c.id.desc())
        .limit(1)
    )
    if isinstance(engine, Connection):
        return engine.execute(query).scalar()
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def list_versions(engine: Engine, app_id: str, *, with_files: bool = False) -> list[AppVersion]:
    """Every version of ``app_id``, oldest first (files only when asked: they are large)."""
    c = st.app_versions.c
    columns = [c.id, c.number, c.digest, c.version, c.author, c.message, c.applied_at, c.plan]
    if with_files:
        columns.append(c.files)
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).where(c.app_id == app_id).order_by(c.id)).all()
    return [
        AppVersion(
            id=row.id,
            number=row.number if row.number is not None else position,
            digest=row.digest,
            label=row.version,
            author=row.author or "",
            message=row.message or "",
            applied_at=row.applied_at,
            files=row.files if with_files else None,
            plan=row.plan,
        )
        for position, row in enumerate(rows, start=1)
    ]


def stored_version(engine: Engine, app_id: str, number: int | None = None) -> AppVersion | None:
    """Version ``number`` (default: the newest) with its files, or None."""
    versions = list_versions(engine, app_id, with_files=True)
    if number is None:
        return versions[-1] if versions else None
    return next((v for v in versions if v.number == number), None)


__all__ = [
    "AppVersion",
    "VersionError",
    "current_digest",
    "list_versions",
    "materialise",
    "read_app_files",
    "record_version",
    "stored_version",
]
