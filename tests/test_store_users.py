"""Accounts, teams, sign-in and API keys."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from runtime.errors import ValidationError
from runtime.store import system_tables as st
from tests.store_fixtures import setup_store


@pytest.fixture
def store(db_url):
    s = setup_store(db_url)
    yield s
    s.db.dispose()


def test_create_user_and_authenticate(store):
    users = store.users
    uid = users.create_user(
        "New.Person@Example.com", "New Person", "s3cret!", ["rep"], store.team_a, "zh"
    )
    principal = users.authenticate("new.person@example.com", "s3cret!")
    assert principal is not None and principal.id == uid
    assert principal.roles == frozenset({"rep"}) and principal.team_id == store.team_a
    assert principal.locale == "zh" and not principal.is_system
    assert users.authenticate("new.person@example.com", "wrong") is None
    assert users.authenticate("nobody@example.com", "s3cret!") is None
    assert users.authenticate("not an email", "x") is None
    with store.db.engine.connect() as conn:
        row = conn.execute(select(st.users).where(st.users.c.id == uid)).mappings().one()
    assert row["password_hash"] != "s3cret!" and row["last_login_at"] is not None
    users.set_active(uid, False)
    assert users.authenticate("new.person@example.com", "s3cret!") is None
    assert users.principal(uid) is None


def test_create_user_validation(store):
    with pytest.raises(ValidationError) as caught:
        store.users.create_user("REP.A@example.com", "", "pw", ["rep", "astronaut"])
    assert set(caught.value.errors) == {"email", "name", "roles"}
    assert caught.value.errors["email"][0].code == "email_taken"
    with pytest.raises(ValidationError) as caught:
        store.users.create_user("bad-address", "X", "pw")
    assert "email" in caught.value.errors


def test_manager_principal_includes_sub_teams(store):
    users = store.users
    sub = users.create_team("East - Shanghai", parent_id=store.team_a)
    principal = users.principal(store.manager_a.id)
    assert principal.managed_team_ids == frozenset({store.team_a, sub})
    assert store.repo.principal(store.rep_b.id).team_id == store.team_b


def test_api_key_create_and_lookup_stores_only_a_hash(store):
    users = store.users
    token = users.create_api_key(store.rep_a.id, "script")
    assert token.startswith("trl_") and len(token) > 30
    with store.db.engine.connect() as conn:
        stored = conn.execute(select(st.api_keys.c.key_hash)).scalars().all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in stored
    principal = users.principal_for_api_key(token)
    assert principal is not None and principal.id == store.rep_a.id
    assert users.principal_for_api_key(token + "x") is None
    assert users.principal_for_api_key("") is None
    key_id = users.api_keys(store.rep_a.id)[0]["id"]
    assert users.api_keys(store.rep_a.id)[0]["last_used_at"] is not None
    assert users.revoke_api_key(key_id)
    assert users.principal_for_api_key(token) is None


def test_find_users_for_pickers(store):
    found = store.users.find("rep")
    assert {u["email"] for u in found} >= {"rep.a@example.com", "rep.b@example.com"}
    assert set(found[0]) == {"id", "name", "email"}
    assert [u["name"] for u in store.users.find("Manager")] == ["Manager A"]
    assert store.users.find("100%") == []
