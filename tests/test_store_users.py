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


def test_session_version_rises_on_sign_out_password_and_deactivation(store):
    users = store.users
    uid = users.create_user("v@example.com", "Vera", "s3cret!", ["rep"])
    first = users.principal(uid).session_version
    users.end_sessions(uid)
    users.set_password(uid, "another secret")
    users.set_active(uid, False)
    users.set_active(uid, True)
    assert users.principal(uid).session_version == first + 4
    users.set_locale(uid, "zh")  # not a security change: sessions stay
    assert users.principal(uid).session_version == first + 4


def test_every_account_change_is_audited_with_its_actor(store):
    users = store.users
    admin = users.create_user("boss@example.com", "Boss", "s3cret!", ["rep"])
    uid = users.create_user("a@example.com", "Ann", "s3cret!", ["rep"], actor_id=admin)
    team = users.create_team("Ops", actor_id=admin)
    users.set_team_manager(team, uid, actor_id=admin)
    users.set_access(uid, team, ["rep"], actor_id=admin)  # roles unchanged: only the team
    users.set_password(uid, "new secret", actor_id=admin)
    users.set_active(uid, False, actor_id=admin)
    users.create_api_key(uid, "sync", actor_id=admin)
    key_id = users.api_keys(uid)[0]["id"]
    assert users.revoke_api_key(key_id, actor_id=admin)
    assert not users.revoke_api_key(key_id, actor_id=admin)  # nothing changed: no entry
    log = users.account_activity()
    assert [(e["action"], e["entity"]) for e in log[:8]] == [
        ("apikey.revoked", "sys_api_keys"),
        ("apikey.created", "sys_api_keys"),
        ("user.deactivated", "sys_users"),
        ("user.password", "sys_users"),
        ("user.team", "sys_users"),
        ("team.manager", "sys_teams"),
        ("team.created", "sys_teams"),
        ("user.created", "sys_users"),
    ]
    assert {e["actor_name"] for e in log[:8]} == {"Boss"}
    assert log[4]["data"] == {"team_id": team}
    assert log[-1]["user_id"] is None  # created without an actor: the system


def test_set_access_checks_team_and_roles_before_changing_either(store):
    users = store.users
    uid = users.create_user("b@example.com", "Ben", "s3cret!", ["rep"])
    with pytest.raises(ValidationError) as caught:
        users.set_access(uid, 987654, ["wizard"])
    assert set(caught.value.errors) == {"team_id", "roles"}
    assert users.get(uid)["roles"] == ["rep"] and users.get(uid)["team_id"] is None
