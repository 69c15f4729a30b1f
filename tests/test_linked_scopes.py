"""Row scopes through links and user fields: ``{via: link}``, ``{via: link, where: ...}``,
``{assigned: user_field}`` and lists of scopes, in the hiring fixture app and the
reference app, on SQLite and PostgreSQL, through the repository and the API."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from runtime.definition import check_app
from runtime.errors import NotFound, PermissionDenied
from runtime.store.permissions import record_in_scope
from tests.conftest import (
    HIRING_APP,
    PASSWORD,
    REFERENCE_APP,
    make_runtime,
    make_web_app,
    signed_in_client,
)


def ids(rows) -> set[int]:
    return {row["id"] for row in rows}


@pytest.fixture
def hiring(hiring_runtime):
    """Two positions (Mia manages the backend one, Oto the sales one), an application on
    each, an interview of each (Ivan interviews Ada; Mia interviews Bob on Oto's
    position), and an offer for each application; all made by the recruiter."""
    rt = hiring_runtime
    repo, rosa, mia = rt.repo, rt.people["recruiter"], rt.people["manager"]
    oto, ivan = rt.people["other_manager"], rt.people["interviewer"]
    backend = repo.create(rosa, "position", {"title": "Backend", "hiring_manager": mia.id})
    sales = repo.create(rosa, "position", {"title": "Sales", "hiring_manager": oto.id})
    ada = repo.create(rosa, "application", {"candidate": "Ada", "position": backend["id"]})
    bob = repo.create(rosa, "application", {"candidate": "Bob", "position": sales["id"]})
    ada_onsite = repo.create(
        rosa, "interview", {"round": "Onsite", "application": ada["id"], "interviewer": ivan.id}
    )
    bob_panel = repo.create(
        rosa, "interview", {"round": "Panel", "application": bob["id"], "interviewer": mia.id}
    )
    ada_offer = repo.create(rosa, "offer", {"title": "Offer Ada", "application": ada["id"]})
    bob_offer = repo.create(rosa, "offer", {"title": "Offer Bob", "application": bob["id"]})
    rt.ids = {
        "backend": backend["id"],
        "sales": sales["id"],
        "ada": ada["id"],
        "bob": bob["id"],
        "ada_onsite": ada_onsite["id"],
        "bob_panel": bob_panel["id"],
        "ada_offer": ada_offer["id"],
        "bob_offer": bob_offer["id"],
    }
    return rt


# --------------------------------------------------------------------------- via + where


def test_hiring_manager_lists_and_counts_only_applications_of_positions_they_manage(hiring):
    repo, mia, oto = hiring.repo, hiring.people["manager"], hiring.people["other_manager"]
    assert ids(repo.list(mia, "application").rows) == {hiring.ids["ada"]}
    assert ids(repo.list(oto, "application").rows) == {hiring.ids["bob"]}
    assert repo.count(mia, "application") == 1


def test_hiring_manager_cannot_get_an_application_of_another_managers_position(hiring):
    repo, mia = hiring.repo, hiring.people["manager"]
    assert repo.get(mia, "application", hiring.ids["ada"])["candidate"] == "Ada"
    with pytest.raises(NotFound):
        repo.get(mia, "application", hiring.ids["bob"])


def test_hiring_manager_updates_an_application_of_their_position_not_anothers(hiring):
    repo, mia = hiring.repo, hiring.people["manager"]
    saved = repo.update(mia, "application", hiring.ids["ada"], {"expected_salary": 50000})
    assert saved["expected_salary"] == 50000
    with pytest.raises(NotFound):  # not readable either: a 404, not a 403
        repo.update(mia, "application", hiring.ids["bob"], {"expected_salary": 1})
    rosa = hiring.people["recruiter"]
    assert repo.get(rosa, "application", hiring.ids["bob"])["expected_salary"] is None


def test_reassigning_the_position_moves_its_applications_to_the_new_manager(hiring):
    repo, rosa = hiring.repo, hiring.people["recruiter"]
    mia, oto = hiring.people["manager"], hiring.people["other_manager"]
    repo.update(rosa, "position", hiring.ids["backend"], {"hiring_manager": oto.id})
    assert ids(repo.list(mia, "application").rows) == set()
    assert ids(repo.list(oto, "application").rows) == {hiring.ids["ada"], hiring.ids["bob"]}


def test_an_archived_position_still_lets_its_manager_see_its_applications(hiring):
    """Archiving is not deleting: a via scope follows archived linked records."""
    repo, rosa, mia = hiring.repo, hiring.people["recruiter"], hiring.people["manager"]
    repo.archive(rosa, "position", hiring.ids["backend"])
    assert ids(repo.list(mia, "application").rows) == {hiring.ids["ada"]}
    repo.archive(rosa, "application", hiring.ids["ada"])
    assert ids(repo.list(mia, "interview").rows) >= {hiring.ids["ada_onsite"]}
    assert ids(repo.list(mia, "offer").rows) == {hiring.ids["ada_offer"]}


# --------------------------------------------------------------------------- chains, assigned


def test_interviews_and_offers_follow_the_application_to_its_position(hiring):
    """offer -> application -> position: a chain of two via scopes, one statement."""
    repo, mia, oto = hiring.repo, hiring.people["manager"], hiring.people["other_manager"]
    assert ids(repo.list(mia, "offer").rows) == {hiring.ids["ada_offer"]}
    assert ids(repo.list(oto, "offer").rows) == {hiring.ids["bob_offer"]}
    with pytest.raises(NotFound):
        repo.get(mia, "offer", hiring.ids["bob_offer"])
    assert repo.count(oto, "offer") == 1


def test_an_interview_assigned_to_me_is_readable_and_editable_on_another_position(hiring):
    repo, mia, oto = hiring.repo, hiring.people["manager"], hiring.people["other_manager"]
    # Mia: her position's interview (via) and the one she holds on Oto's (assigned).
    assert ids(repo.list(mia, "interview").rows) == {
        hiring.ids["ada_onsite"],
        hiring.ids["bob_panel"],
    }
    assert repo.update(mia, "interview", hiring.ids["bob_panel"], {"score": 4})["score"] == 4
    # Readable through the application, but not hers to score: refused, not hidden.
    with pytest.raises(PermissionDenied):
        repo.update(mia, "interview", hiring.ids["ada_onsite"], {"score": 2})
    # Oto sees the interview of his position, whoever holds it.
    assert hiring.ids["bob_panel"] in ids(repo.list(oto, "interview").rows)
    assert hiring.ids["ada_onsite"] not in ids(repo.list(oto, "interview").rows)


def test_the_in_memory_check_gives_the_sql_answer_for_via_scopes(hiring):
    """``record_in_scope`` (the record page's edit button) agrees with the write."""
    repo, rosa = hiring.repo, hiring.people["recruiter"]
    for who in ("manager", "other_manager"):
        user = hiring.people[who]
        grant = repo.grant(user, "application")
        linked = repo.linked_in_scope(user)
        for key in ("ada", "bob"):
            record = repo.get(rosa, "application", hiring.ids[key])
            in_memory = record_in_scope(grant.update, record, user, lambda _u: None, linked)
            try:
                repo.update(user, "application", hiring.ids[key], {"expected_salary": 7})
                allowed = True
            except (NotFound, PermissionDenied):
                allowed = False
            assert in_memory == allowed, (who, key)
    assert not record_in_scope(grant.update, record, user, lambda _u: None)  # no resolver


# --------------------------------------------------------------------------- the API


@pytest.fixture
def hiring_api(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, HIRING_APP)
    users = app.extensions["trellis"].users
    rosa = users.create_user("rec@example.com", "Rosa", PASSWORD, roles=["recruiter"])
    mia = users.create_user("mia@example.com", "Mia", PASSWORD, roles=["hiring_manager"])
    oto = users.create_user("oto@example.com", "Oto", PASSWORD, roles=["hiring_manager"])
    keys = {name: users.create_api_key(uid) for name, uid in (("rosa", rosa), ("mia", mia))}
    http = app.test_client()

    def call(method, path, who, **kw):
        headers = {"Authorization": f"Bearer {keys[who]}"}
        return http.open(f"/api/v1{path}", method=method, headers=headers, **kw)

    made = {}
    for key, manager in (("mine", mia), ("theirs", oto)):
        position = call("POST", "/position", "rosa", json={"title": key, "hiring_manager": manager})
        assert position.status_code == 201, position.get_json()
        application = call(
            "POST",
            "/application",
            "rosa",
            json={"candidate": key, "position": position.get_json()["id"]},
        )
        made[key] = application.get_json()["id"]
    yield call, made
    app.extensions["trellis"].db.engine.dispose()


def test_api_lists_gets_and_patches_applications_through_the_position(hiring_api):
    call, made = hiring_api
    listed = call("GET", "/application", "mia").get_json()
    assert [row["id"] for row in listed["data"]] == [made["mine"]]
    assert call("GET", f"/application/{made['theirs']}", "mia").status_code == 404
    change = {"expected_salary": 9, "row_version": 1}
    patched = call("PATCH", f"/application/{made['mine']}", "mia", json=change)
    assert patched.status_code == 200 and patched.get_json()["expected_salary"] == 9
    refused = call("PATCH", f"/application/{made['theirs']}", "mia", json=change)
    assert refused.status_code == 404


# --------------------------------------------------------------------------- reference app


@pytest.fixture
def crm(db_url):
    """The reference app with two teams: Erin and Eve (East), Walt (West)."""
    rt = make_runtime(db_url, REFERENCE_APP)
    users = rt.users
    east, west = users.create_team("East"), users.create_team("West")
    people = {"admin": users.create_user("admin@example.com", "Ad", PASSWORD, roles=["admin"])}
    for key, team in (("erin", east), ("eve", east), ("walt", west)):
        people[key] = users.create_user(f"{key}@example.com", key.title(), PASSWORD, team_id=team)
    rt.people = {key: users.principal(uid) for key, uid in people.items()}
    yield rt
    rt.db.engine.dispose()


def _make(rt, entity, values, owner):
    values = {**values, "owner_id": rt.people[owner].id}
    return rt.repo.create(rt.people["admin"], entity, values)["id"]


def test_a_task_assigned_to_a_rep_of_another_team_is_visible_and_editable_to_its_assignee(crm):
    repo, erin, eve = crm.repo, crm.people["erin"], crm.people["eve"]
    task = _make(
        crm,
        "task",
        {"subject": "Call back", "due_date": "2026-01-05", "assignee": erin.id},
        "walt",
    )
    assert task in ids(repo.list(erin, "task").rows)
    assert repo.count(erin, "task") == 1
    assert repo.update(erin, "task", task, {"status": "done"})["status"] == "done"
    with pytest.raises(PermissionDenied):
        repo.archive(erin, "task", task)  # archive stays the owner's
    with pytest.raises(NotFound):  # her teammate is neither owner's team nor assignee
        repo.get(eve, "task", task)


def test_contacts_follow_their_account_and_activities_their_parent_record(crm):
    repo, erin, walt = crm.repo, crm.people["erin"], crm.people["walt"]
    east_account = _make(crm, "account", {"name": "East Co"}, "eve")
    west_account = _make(crm, "account", {"name": "West Co"}, "walt")
    # Walt's contact at an account Erin's team owns: hers to read, not to edit.
    on_east = _make(
        crm, "contact", {"name": "Cat", "email": "Cat@example.com", "account": east_account}, "walt"
    )
    _make(
        crm, "contact", {"name": "Wes", "email": "Wes@example.com", "account": west_account}, "walt"
    )
    mine_on_west = _make(
        crm, "contact", {"name": "Mo", "email": "Mo@example.com", "account": west_account}, "erin"
    )
    assert ids(repo.list(erin, "contact").rows) == {on_east, mine_on_west}
    with pytest.raises(PermissionDenied):
        repo.update(erin, "contact", on_east, {"name": "Cathy"})
    deal = _make(
        crm, "opportunity", {"name": "Deal", "account": east_account, "close_date": "2026-06-30"},
        "eve",
    )  # fmt: skip
    activity = {"kind": "call", "subject": "s", "activity_date": "2026-01-02"}
    on_deal = _make(crm, "activity", {**activity, "opportunity": deal}, "walt")
    on_contact = _make(crm, "activity", {**activity, "contact": on_east}, "walt")
    elsewhere = _make(crm, "activity", {**activity, "account": west_account}, "walt")
    mine_elsewhere = _make(crm, "activity", {**activity, "account": west_account}, "erin")
    assert ids(repo.list(erin, "activity").rows) == {on_deal, on_contact, mine_elsewhere}
    assert repo.count(erin, "activity") == 3
    assert elsewhere in ids(repo.list(walt, "activity").rows)
    with pytest.raises(NotFound):
        repo.get(erin, "activity", elsewhere)


# --------------------------------------------------------------------------- the compiler


def _hiring_with_roles(tmp_path: Path, roles: str) -> Path:
    app = tmp_path / "hiring"
    shutil.copytree(HIRING_APP, app)
    (app / "roles.yaml").write_text(roles, encoding="utf-8")
    return app


def _codes(tmp_path, permissions: str) -> list[str]:
    roles = "roles:\n  - id: r\n    permissions:\n" + permissions
    return [p.code for p in check_app(_hiring_with_roles(tmp_path, roles))]


@pytest.mark.parametrize(
    ("permissions", "code"),
    [
        # a user field is not a link (assigned is for those)
        (
            "      application: {read: [{via: position}]}\n"
            "      position: {read: [own, {via: hiring_manager}]}\n",
            "TRL-E091",
        ),
        ("      application: {read: {via: candidate}}\n", "TRL-E091"),
        ("      application: {read: {via: nowhere}}\n", "TRL-E091"),
        ('      "*": {read: {via: position}}\n', "TRL-E091"),
        ("      interview: {read: {assigned: round}}\n", "TRL-E092"),
        ("      interview: {read: [own, {assigned: interviwer}]}\n", "TRL-E092"),
        (
            '      application: {read: {via: position, where: "len(title) > 3"}}\n',
            "TRL-E093",
        ),
        (
            '      application: {read: {via: position, where: "nope == 1"}}\n',
            "TRL-E023",
        ),
    ],
)
def test_the_compiler_refuses_bad_linked_scopes(tmp_path, permissions, code):
    found = _codes(tmp_path, permissions)
    assert code in found, found


def test_the_compiler_refuses_a_cycle_of_via_scopes_across_roles(tmp_path):
    """application via position (role a), position via application (role b): a user
    holding both roles would ask forever."""
    app = _hiring_with_roles(tmp_path, "roles: []\n")
    (app / "entities" / "position.yaml").write_text(
        (HIRING_APP / "entities" / "position.yaml").read_text(encoding="utf-8")
        + "  - {id: opening, type: link, target: application, label: Opening}\n",
        encoding="utf-8",
    )
    (app / "roles.yaml").write_text(
        "roles:\n"
        "  - id: a\n    permissions:\n      application: {read: [own, {via: position}]}\n"
        "  - id: b\n    permissions:\n      position: {read: {via: opening}}\n",
        encoding="utf-8",
    )
    problems = [p for p in check_app(app) if p.code == "TRL-E090"]
    assert problems, check_app(app)
    assert "leads back to" in problems[0].message and problems[0].file.endswith("roles.yaml")


def test_the_compiler_refuses_a_via_chain_longer_than_three_links(tmp_path):
    app = _hiring_with_roles(tmp_path, "roles: []\n")
    (app / "entities" / "note.yaml").write_text(
        "id: note\nlabel: Note\nfields:\n"
        "  - {id: body, type: text, label: Body}\n"
        "  - {id: offer, type: link, target: offer, label: Offer}\n",
        encoding="utf-8",
    )
    chain = (
        "roles:\n  - id: a\n    permissions:\n"
        "      offer: {read: {via: application}}\n"
        "      application: {read: {via: position}}\n"
        "      position: {read: own}\n"
    )
    (app / "roles.yaml").write_text(chain, encoding="utf-8")
    assert [p.code for p in check_app(app)] == []  # offer -> application -> position
    (app / "roles.yaml").write_text(
        chain + "      note: {read: [own, {via: offer}], update: {via: offer}}\n", encoding="utf-8"
    )
    assert [p.code for p in check_app(app)] == []  # note -> offer -> ... three links
    (app / "entities" / "memo.yaml").write_text(
        "id: memo\nlabel: Memo\nfields:\n"
        "  - {id: body, type: text, label: Body}\n"
        "  - {id: note, type: link, target: note, label: Note}\n",
        encoding="utf-8",
    )
    (app / "roles.yaml").write_text(
        chain + "      note: {read: {via: offer}}\n" + "      memo: {read: {via: note}}\n",
        encoding="utf-8",
    )
    found = [p for p in check_app(app) if p.code == "TRL-E094"]
    assert found and "memo -> note -> offer -> application -> position" in found[0].message


# --------------------------------------------------------------------------- the plan


def test_a_via_scope_is_one_statement_that_uses_the_link_columns_index(hiring):
    """PostgreSQL: the list of a via scope is one query whose plan reads the link column
    through its index (on SQLite: through the primary key of the linked table)."""
    repo, mia, rosa = hiring.repo, hiring.people["manager"], hiring.people["recruiter"]
    plan = repo.plan("application")
    clause = repo._scope(plan, repo.grant(mia, "application"), "read", mia)
    sql = str(clause.compile(compile_kwargs={"literal_binds": True}))
    assert "UNION" in sql and "hiring_manager" in sql  # own UNION via: one statement
    if not hiring.db.is_postgres:
        return
    for n in range(300):  # enough positions that a scan costs more than the index
        position = repo.create(rosa, "position", {"title": f"P{n}"})
        repo.create(rosa, "application", {"candidate": f"C{n}", "position": position["id"]})
    from sqlalchemy import select

    query = select(plan.table.c.id).where(clause)
    with hiring.db.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.execute(text("SET enable_seqscan = off"))
        compiled = query.compile(hiring.db.engine, compile_kwargs={"literal_binds": True})
        lines = [row[0] for row in conn.execute(text(f"EXPLAIN {compiled}"))]
    plan_text = "\n".join(lines)
    assert "ix_ent_application_position" in plan_text, plan_text  # the link column
    assert "ix_ent_application_owner_id" in plan_text, plan_text  # the own branch


# --------------------------------------------------------------------------- the screens


def test_the_record_page_offers_edit_exactly_where_the_via_scope_allows_it(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, HIRING_APP)
    services = app.extensions["trellis"]
    users, repo = services.users, services.repo
    rosa = users.principal(
        users.create_user("rec@example.com", "Rosa", PASSWORD, roles=["recruiter"])
    )
    mia = users.create_user("mia@example.com", "Mia", PASSWORD, roles=["hiring_manager"])
    oto = users.create_user("oto@example.com", "Oto", PASSWORD, roles=["hiring_manager"])
    mine = repo.create(rosa, "position", {"title": "Mine", "hiring_manager": mia})
    theirs = repo.create(rosa, "position", {"title": "Theirs", "hiring_manager": oto})
    ada = repo.create(rosa, "application", {"candidate": "Ada", "position": mine["id"]})
    bob = repo.create(rosa, "application", {"candidate": "Bob", "position": theirs["id"]})
    held_by_rosa = repo.create(rosa, "interview", {"round": "R1", "application": ada["id"]})
    held_by_mia = repo.create(
        rosa, "interview", {"round": "R2", "application": bob["id"], "interviewer": mia}
    )
    client = signed_in_client(app, "mia@example.com")
    try:
        page = client.get(f"/e/application/{ada['id']}").get_data(True)
        assert f"/e/application/{ada['id']}/edit" in page
        assert client.get(f"/e/application/{ada['id']}/edit").status_code == 200
        assert client.get(f"/e/application/{bob['id']}").status_code == 404
        # Readable through the application, not hers to edit: no Edit, and a 403.
        page = client.get(f"/e/interview/{held_by_rosa['id']}").get_data(True)
        assert f"/e/interview/{held_by_rosa['id']}/edit" not in page
        assert client.get(f"/e/interview/{held_by_rosa['id']}/edit").status_code == 403
        page = client.get(f"/e/interview/{held_by_mia['id']}").get_data(True)
        assert f"/e/interview/{held_by_mia['id']}/edit" in page
        listed = client.get("/e/application").get_data(True)
        assert "Ada" in listed and "Bob" not in listed
        # The board counts and moves within the same scope.
        board = client.get("/p/hiring/records.json").get_json()
        assert board["totals"]["applied"]["count"] == 1
        board_html = client.get("/p/hiring").get_data(True)
        assert "Ada" in board_html and "Bob" not in board_html
    finally:
        services.db.engine.dispose()


def test_a_via_scope_lets_nothing_through_when_the_linked_entity_is_not_readable(db_url, tmp_path):
    roles = (
        "roles:\n"
        "  - id: recruiter\n    permissions:\n"
        '      "*": {create: true, read: all, update: all, archive: all}\n'
        "  - id: hiring_manager\n    permissions:\n"
        "      application: {read: [own, {via: position}]}\n"  # no grant on position
    )
    rt = make_runtime(db_url, _hiring_with_roles(tmp_path, roles))
    try:
        users, repo = rt.users, rt.repo
        rosa = users.principal(
            users.create_user("r@example.com", "R", PASSWORD, roles=["recruiter"])
        )
        mia = users.principal(
            users.create_user("m@example.com", "M", PASSWORD, roles=["hiring_manager"])
        )
        position = repo.create(rosa, "position", {"title": "P", "hiring_manager": mia.id})
        repo.create(rosa, "application", {"candidate": "Ada", "position": position["id"]})
        mine = repo.create(
            rosa,
            "application",
            {"candidate": "Own", "position": position["id"], "owner_id": mia.id},
        )
        assert ids(repo.list(mia, "application").rows) == {mine["id"]}
    finally:
        rt.db.engine.dispose()


def test_an_interviewer_sees_and_scores_the_interviews_assigned_to_them(hiring_runtime):
    rt = hiring_runtime
    repo, rosa, ivan = rt.repo, rt.people["recruiter"], rt.people["interviewer"]
    mia = rt.people["manager"]
    position = repo.create(rosa, "position", {"title": "Engineer", "hiring_manager": mia.id})
    ada = repo.create(rosa, "application", {"candidate": "Ada", "position": position["id"]})
    his = repo.create(
        rosa, "interview", {"round": "Onsite", "application": ada["id"], "interviewer": ivan.id}
    )
    other = repo.create(
        rosa, "interview", {"round": "Panel", "application": ada["id"], "interviewer": mia.id}
    )
    seen = [row["id"] for row in repo.list(ivan, "interview").rows]
    assert seen == [his["id"]]
    repo.update(ivan, "interview", his["id"], {"score": 4})
    assert repo.get(rosa, "application", ada["id"])["best_score"] == 4
    with pytest.raises(NotFound):
        repo.update(ivan, "interview", other["id"], {"score": 1})
