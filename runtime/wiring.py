"""One wiring: the runtime of an app folder on a database, with a list of features.

The CLI, the web factory, the job worker, the benchmarks and the tests all build their
services here, so a feature's write steps and subscribers are in place wherever
records are written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.definition import ModelCache, load_app
from runtime.definition.model import AppModel
from runtime.events import EventBus
from runtime.features import Feature, FeatureSet, load_features
from runtime.store import Database, Repository
from runtime.store.users import UserService


@dataclass
class Runtime:
    """Everything one app needs at run time; built once per process (per app)."""

    model: AppModel
    features: FeatureSet
    db: Database
    repo: Repository
    users: UserService
    bus: EventBus
    jobs: Any = None  # runtime.jobs.JobQueue: the outbox, periodic jobs, mail


def features_from_env(extra: str | None = None) -> FeatureSet:
    """The default features plus those named in ``TRELLIS_FEATURES`` (comma-separated)."""
    from runtime.features import DEFAULT_FEATURES

    named = extra if extra is not None else os.environ.get("TRELLIS_FEATURES", "")
    more = [part.strip() for part in named.split(",") if part.strip()]
    return load_features([*DEFAULT_FEATURES, *(m for m in more if m not in DEFAULT_FEATURES)])


def build_runtime(
    app_dir: str | os.PathLike[str] | AppModel,
    database_url: str,
    features: FeatureSet | Iterable[str | Feature] | None = None,
    *,
    bus: EventBus | None = None,
    model_cache: ModelCache | None = None,
    queue: str | None = None,
    instance_path: str | os.PathLike[str] | None = None,
    redis_url: str = "",
) -> Runtime:
    """Compile ``app_dir`` (or take a compiled model) and wire the services on
    ``database_url`` with ``features`` (default: ``features_from_env()``).

    ``queue`` is the job queue's mode (``immediate``, ``sqlite``, ``redis``; default
    from ``TRELLIS_QUEUE``/``TRELLIS_REDIS_URL``); the SQLite queue file lives in
    ``instance_path`` (default ``TRELLIS_INSTANCE_PATH`` or ``instance``)."""
    from runtime.jobs import JobQueue, make_huey, queue_mode

    if features is None:
        features = features_from_env()
    elif not isinstance(features, FeatureSet):
        features = load_features(list(features))
    if isinstance(app_dir, AppModel):
        model = app_dir
    else:
        model = load_app(Path(app_dir), features, cache=model_cache)
    db = Database(database_url, model, features=features)
    bus = bus if bus is not None else EventBus()
    repo = Repository(db, bus, hooks=features.gather("write_steps", model))
    users = UserService(db)
    runtime = Runtime(model=model, features=features, db=db, repo=repo, users=users, bus=bus)
    mode = queue or queue_mode({"TRELLIS_REDIS_URL": redis_url})
    folder = instance_path or os.environ.get("TRELLIS_INSTANCE_PATH") or "instance"
    huey = make_huey(f"trellis-{model.id}", mode, instance_path=folder, redis_url=redis_url)
    runtime.jobs = JobQueue(huey, runtime, features.gather("schedules", runtime))
    repo.outbox = runtime.jobs.outbox  # features' subscribers are durable: see runtime.jobs
    return runtime


__all__ = ["Runtime", "build_runtime", "features_from_env"]
