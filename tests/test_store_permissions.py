"""Grant union and row scopes, in SQL and in Python, without a database round trip."""

from __future__ import annotations

from types import MappingProxyType

from runtime.definition.model import EntityPermission, Scope
from runtime.store import SYSTEM, Principal
from runtime.store.permissions import Permissions, combine, record_in_scope
from tests.store_fixtures import build_model


def test_union_of_roles_takes_widest_scope_and_field_access():
    rep = EntityPermission(
        True,
        Scope("own"),
        Scope("own"),
        Scope("none"),
        MappingProxyType({"a": "none", "b": "read"}),
    )
    viewer = EntityPermission(
        False, Scope("all"), Scope("none"), Scope("none"), MappingProxyType({"a": "read"})
    )
    grant = combine([rep, viewer])
    assert grant.create and grant.read == (Scope("all"),) and grant.update == (Scope("own"),)
    assert grant.archive == ()
    assert (
        grant.access("a") == "read"
        and grant.access("b") == "write"
        and grant.access("c") == "write"
    )


def test_star_role_and_unknown_entities():
    perms = Permissions(build_model())
    admin = Principal(1, roles=frozenset({"admin"}))
    nobody = Principal(2, roles=frozenset({"rep"}))
    assert perms.grant(admin, "deal").read == (Scope("all"),)
    assert perms.grant(nobody, "contract").read == () and not perms.grant(nobody, "contract").create
    assert perms.grant(SYSTEM, "deal").unrestricted


def test_record_in_scope_matches_the_sql_rules():
    model = build_model()
    perms = Permissions(model)
    rep = Principal(10, roles=frozenset({"rep"}), team_id=1)
    manager = Principal(
        20, roles=frozenset({"manager"}), team_id=9, managed_team_ids=frozenset({1, 2})
    )
    teams = {10: 1, 11: 1, 12: 3, 13: 2}
    own, mate, stranger, sub = ({"owner_id": uid, "amount": 0} for uid in (10, 11, 12, 13))
    rep_read = perms.grant(rep, "deal").read
    assert record_in_scope(rep_read, own, rep, teams.get)
    assert record_in_scope(rep_read, mate, rep, teams.get)
    assert not record_in_scope(rep_read, stranger, rep, teams.get)
    assert not record_in_scope(perms.grant(rep, "deal").update, mate, rep, teams.get)
    mgr_read = perms.grant(manager, "deal").read
    assert record_in_scope(mgr_read, sub, manager, teams.get)
    assert not record_in_scope(mgr_read, stranger, manager, teams.get)
    auditor = Principal(30, roles=frozenset({"big_deals"}))
    audit_read = perms.grant(auditor, "deal").read
    assert record_in_scope(audit_read, {"owner_id": 1, "amount": 20000}, auditor, teams.get)
    assert not record_in_scope(audit_read, {"owner_id": 1, "amount": None}, auditor, teams.get)


def test_a_list_scope_is_flattened_into_the_union_and_assigned_reads_the_user_field():
    assigned = Scope("assigned", field="assignee")
    listed = Scope("any", parts=(Scope("team"), assigned))
    rep = EntityPermission(True, listed, Scope("any", parts=(Scope("own"), assigned)))
    other = EntityPermission(False, Scope("own"))
    grant = combine([rep, other])
    assert grant.read == (Scope("team"), assigned, Scope("own"))
    assert combine([rep, EntityPermission(False, Scope("all"))]).read == (Scope("all"),)
    me = Principal(10, roles=frozenset({"rep"}), team_id=1)
    teams = {10: 1, 12: 3}
    theirs = {"owner_id": 12, "assignee": 10}
    assert record_in_scope(grant.update, theirs, me, teams.get)
    assert record_in_scope(grant.update, {"owner_id": 12, "assignee": {"id": 10}}, me, teams.get)
    assert not record_in_scope(grant.update, {"owner_id": 12, "assignee": 11}, me, teams.get)
    assert not record_in_scope(grant.update, {"owner_id": 12, "assignee": None}, me, teams.get)
