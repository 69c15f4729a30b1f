"""Shared fixtures: every storage test runs on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from runtime.definition import ModelCache
from tests.db_templates import TEMPLATES

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_APP = ROOT / "app_definitions" / "opportunity"
POSTGRES_URL = os.environ.get("TRELLIS_TEST_POSTGRES_URL", "")
# Compiled models for the whole test session (the runtime keeps no cache of its own).
MODELS = ModelCache(size=64)
# Jobs (event delivery, mail) run inline in tests unless a test starts a worker.
os.environ.setdefault("TRELLIS_QUEUE", "immediate")
# scrypt costs ~0.25 s per hash; tests create and sign in many users.
os.environ.setdefault("TRELLIS_PASSWORD_HASH_METHOD", "pbkdf2:sha256:1000")


PASSWORD = "correct horse battery"  # what the web tests' users sign in with


def csrf_token(html: str) -> str:
    """The CSRF token a page carries in its ``<meta name="csrf-token">``."""
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "the page has no csrf-token meta tag"
    return match[1]


def signed_in_client(app, email: str, password: str = PASSWORD):
    """A Flask test client of ``app`` signed in through the login form (checked)."""
    client = app.test_client()
    token = csrf_token(client.get("/login").get_data(True))
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code in (302, 303), f"{email} was not signed in"
    return client


def pytest_sessionfinish(session, exitstatus) -> None:
    TEMPLATES.close()


def build_schema(db_url: str, model) -> None:
    """The tables of ``model`` in the empty database ``db_url``, copied from a template."""
    TEMPLATES.build_schema(db_url, model)


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
    url = TEMPLATES.new_postgres_schema()
    yield url
    TEMPLATES.release_postgres_schema(url)


@pytest.fixture(scope="module", params=_backends())
def module_db_url(request, tmp_path_factory) -> str:
    """Like ``db_url``, shared by a module's tests (for read-only tests of costly data)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('module') / 'trellis.db'}"
        return
    url = TEMPLATES.new_postgres_schema()
    yield url
    TEMPLATES.release_postgres_schema(url)


def make_web_app(
    db_url: str, tmp_path: Path, app_dir: Path, *, schema: bool = True, features=None, **overrides
):
    """Tables for ``app_dir`` in ``db_url`` (unless ``schema=False``: a database that
    ``trellis init`` never touched), then the Flask app on them, in testing mode.

    The tests' one app factory: ``create_app`` wires its services through
    ``runtime.wiring.build_runtime``, and the compiled model comes from ``MODELS``.
    ``features`` replaces the default ones (plus ``TRELLIS_FEATURES`` in ``overrides``)."""
    from runtime.definition import load_app
    from runtime.features import FeatureSet, load_features
    from runtime.web.app import create_app
    from runtime.wiring import features_from_env

    if features is None:
        chosen = features_from_env(overrides.get("TRELLIS_FEATURES"))
    else:
        chosen = features if isinstance(features, FeatureSet) else load_features(list(features))
    if schema:
        build_schema(db_url, load_app(app_dir, chosen, cache=MODELS))
    return create_app(
        model_cache=MODELS,
        features=chosen,
        config_overrides={
            "TRELLIS_DATABASE_URL": db_url,
            "TRELLIS_APP": str(app_dir),
            "TRELLIS_INSTANCE_PATH": str(tmp_path / "instance"),
            "TRELLIS_SECRET_KEY": "test-secret",
            "TESTING": True,
            **overrides,
        },
    )


def make_runtime(db_url: str, app, features=None, *, schema: bool = True, **options):
    """The runtime of ``app`` (an app folder or a compiled model) on ``db_url`` as the
    CLI, the web factory and the worker build it (``runtime.wiring.build_runtime``),
    jobs run inline; its tables are copied from the session's template first unless
    ``schema=False``. ``features`` and ``options`` go to ``build_runtime``."""
    from runtime.wiring import build_runtime

    options.setdefault("queue", "immediate")
    options.setdefault("model_cache", MODELS)
    runtime = build_runtime(app, db_url, features, **options)
    if schema:
        build_schema(db_url, runtime.model)
    return runtime


@pytest.fixture
def pipeline_web_app(db_url, tmp_path):
    """The pipeline fixture app (tests/fixtures/pipeline_app) served, with one rep:
    rep@example.com (Rita Rep, team East), password ``PASSWORD``."""
    app = make_web_app(db_url, tmp_path, ROOT / "tests" / "fixtures" / "pipeline_app")
    users = app.extensions["trellis"].users
    team = users.create_team("East")
    users.create_user("rep@example.com", "Rita Rep", PASSWORD, roles=["rep"], team_id=team)
    yield app
    app.extensions["trellis"].db.engine.dispose()


HIRING_APP = ROOT / "tests" / "fixtures" / "hiring_app"


@pytest.fixture
def hiring_runtime(db_url):
    """The hiring fixture app (tests/fixtures/hiring_app) on ``db_url`` with its people:
    ``rt.people`` maps recruiter, manager (Mia, hiring manager), other_manager (Oto,
    hiring manager), interviewer to principals. No records yet."""
    runtime = make_runtime(db_url, HIRING_APP)
    users = runtime.users
    people = {}
    for key, email, name, role in (
        ("recruiter", "rec@example.com", "Rosa Recruiter", "recruiter"),
        ("manager", "mia@example.com", "Mia Manager", "hiring_manager"),
        ("other_manager", "oto@example.com", "Oto Manager", "hiring_manager"),
        ("interviewer", "ivan@example.com", "Ivan Interviewer", "interviewer"),
    ):
        people[key] = users.principal(users.create_user(email, name, PASSWORD, roles=[role]))
    runtime.people = people
    yield runtime
    runtime.db.engine.dispose()
