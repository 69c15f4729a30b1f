"""The write path as ordered steps: a feature's step runs where it is placed, for every
operation it names, through the repository and the API alike."""

from __future__ import annotations

import re

import pytest

from runtime.errors import PermissionDenied
from runtime.store import SYSTEM
from runtime.store.write_steps import CORE_STEPS, WriteStep, order_steps, step_names
from runtime.wiring import build_runtime
from tests.conftest import REFERENCE_APP, build_schema, make_web_app
from tests.seam_features import LOCK
from tests.store_fixtures import build_model


def test_each_operation_runs_its_core_steps_with_feature_steps_in_place():
    noop = lambda repo, write: None  # noqa: E731
    ordered = order_steps(
        [
            WriteStep("lock", noop, before="write", ops=frozenset({"update", "archive"})),
            WriteStep("gate", noop, before="formulas", ops=frozenset({"create", "update"})),
            WriteStep("notify", noop, after="events"),
        ]
    )
    assert step_names(ordered, "update") == [
        "load", "permissions", "coercion", "defaults", "gate", "formulas", "validation",
        "changes", "lock", "write", "field_history", "events", "notify",
    ]  # fmt: skip
    assert step_names(ordered, "archive") == [
        "load", "permissions", "lock", "write", "field_history", "events", "notify",
    ]  # fmt: skip
    assert step_names(ordered, "restore") == [*CORE_STEPS["restore"], "notify"]


def test_a_step_placed_where_an_operation_has_no_such_step_is_refused_by_name():
    step = WriteStep("gate", lambda repo, write: None, before="formulas")  # archive has none
    with pytest.raises(ValueError, match="'gate': archive has no step 'formulas'"):
        order_steps([step])
    with pytest.raises(ValueError, match="exactly one of before= or after="):
        WriteStep("both", lambda repo, write: None, before="write", after="events")


@pytest.fixture
def locked(db_url):
    model = build_model()
    build_schema(db_url, model)
    runtime = build_runtime(model, db_url, [LOCK], queue="immediate")
    yield runtime
    runtime.db.dispose()


def test_a_locked_record_refuses_update_archive_and_restore_alike(locked):
    repo = locked.repo
    open_ = repo.create(SYSTEM, "account", {"name": "Acme"})
    held = repo.create(SYSTEM, "account", {"name": "Locked Corp"})  # creating is allowed

    for attempt in (
        lambda: repo.update(SYSTEM, "account", held["id"], {"employees": 3}),
        lambda: repo.archive(SYSTEM, "account", held["id"]),
    ):
        with pytest.raises(PermissionDenied, match="locked while its approval is pending"):
            attempt()
    assert repo.get(SYSTEM, "account", held["id"])["archived_at"] is None  # nothing written

    # the others are untouched by the step
    assert repo.update(SYSTEM, "account", open_["id"], {"employees": 3})["employees"] == 3
    archived = repo.archive(SYSTEM, "account", open_["id"])
    assert archived["archived_at"] is not None
    assert repo.restore(SYSTEM, "account", open_["id"])["archived_at"] is None


def test_a_locked_archived_record_cannot_be_restored(locked):
    repo = locked.repo
    held = repo.create(SYSTEM, "account", {"name": "Acme"})
    repo.archive(SYSTEM, "account", held["id"])
    with locked.db.engine.begin() as conn:  # locked after it was archived
        table = locked.db.table("account")
        conn.execute(table.update().values(name="Locked Acme"))
    with pytest.raises(PermissionDenied):
        repo.restore(SYSTEM, "account", held["id"])


def test_the_api_answers_a_locked_record_with_403_and_the_reason(db_url, tmp_path):
    from tests.test_web_shell import login

    app = make_web_app(db_url, tmp_path, REFERENCE_APP, TRELLIS_FEATURES="tests.seam_features:LOCK")
    services = app.extensions["trellis"]
    assert "approval_lock" in services.features.names
    services.users.create_user("admin@example.com", "Ada", "admin-password", ["admin"])
    held = services.repo.create(SYSTEM, "account", {"name": "Locked Corp"})
    client = app.test_client()
    login(client, "admin@example.com", "admin-password")
    page = client.get(f"/e/account/{held['id']}").get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    headers = {"X-CSRFToken": csrf}
    patched = client.patch(
        f"/api/v1/account/{held['id']}",
        json={"industry": "retail"},
        headers={**headers, "If-Match": '"1"'},
    )
    assert patched.status_code == 403
    assert "locked while its approval is pending" in patched.get_json()["error"]["message"]
    deleted = client.delete(f"/api/v1/account/{held['id']}", headers=headers)
    assert deleted.status_code == 403
    assert services.repo.get(SYSTEM, "account", held["id"])["archived_at"] is None
