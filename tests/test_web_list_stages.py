"""Stages and "me / my team" in lists and the API (SQLite and PostgreSQL).

Issue 7, items 8-10: the stage as a column (its label in the stage's colour, in both
languages), a filter by stage and by stage kind, a sort in pipeline order; views that
follow "any open stage" so a stage added later is not hidden; ``me`` / ``my_team`` in
user filters, resolved for whoever looks (views, saved views, the API).

The app is ``tests/fixtures/stage_list_app`` (pipeline_app plus list views): pipeline
``sales`` (lead, discovery, proposal, commit, won, lost) and ``renewal`` (due, lead,
renewed, churned), chosen by ``kind``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import update

from runtime.definition import load_app
from runtime.errors import DefinitionError
from tests.conftest import make_web_app, signed_in_client

FIXTURE = Path(__file__).parent / "fixtures" / "stage_list_app"
PASSWORD = "correct horse battery"

# name -> (owner, stage, kind)
DEALS = {
    "Alpha": ("rita", "lead", None),
    "Bravo": ("rita", "proposal", None),
    "Charlie": ("rita", "won", None),
    "Delta": ("ray", "commit", None),
    "Echo": ("ray", "lost", None),
    "Foxtrot": ("walt", "discovery", None),
    "Golf": ("walt", "due", "renewal"),
    "Hotel": ("ada", "churned", "renewal"),
}


def _seed(app) -> dict[str, int]:
    services = app.extensions["trellis"]
    users, repo, db = services.users, services.repo, services.db
    east, west = users.create_team("East"), users.create_team("West")
    ids = {
        "ada": users.create_user("ada@example.com", "Ada Admin", PASSWORD, roles=["admin"]),
        "rita": users.create_user("rita@example.com", "Rita East", PASSWORD, roles=["rep"],
                                  team_id=east),
        "ray": users.create_user("ray@example.com", "Ray East", PASSWORD, roles=["rep"],
                                 team_id=east),
        "walt": users.create_user("walt@example.com", "Walt West", PASSWORD, roles=["rep"],
                                  team_id=west),
        "zh": users.create_user("zh@example.com", "王芳", PASSWORD, roles=["admin"], locale="zh"),
    }  # fmt: skip
    admin = repo.principal(ids["ada"])
    table = db.tables["deal"]
    for name, (owner, stage, kind) in DEALS.items():
        values = {"name": name, "amount": 100}
        if kind:
            values["kind"] = kind
        record = repo.create(admin, "deal", values)
        with db.engine.begin() as conn:  # where the deal got to, and whose it is
            conn.execute(
                update(table)
                .where(table.c.id == record["id"])
                .values(stage=stage, owner_id=ids[owner])
            )
    return ids


@pytest.fixture
def app(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, FIXTURE)
    app.config["ids"] = _seed(app)
    yield app
    app.extensions["trellis"].db.engine.dispose()


def signed_in(app, email: str):
    return signed_in_client(app, email, PASSWORD)


def titles(client, query: str) -> list[str]:
    response = client.get(f"/e/deal.json?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    return [row["title"] for row in response.get_json()["rows"]]


def api_names(client, query: str) -> list[str]:
    response = client.get(f"/api/v1/deal?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    return sorted(row["name"] for row in response.get_json()["data"])


# --------------------------------------------------------------------------- item 8


def test_stage_column_is_offered_and_shows_labels_in_the_stage_colour(app):
    admin = signed_in(app, "ada@example.com")
    html = admin.get("/e/deal?view=all").get_data(as_text=True)
    picker = html.split('class="menu-panel menu-panel-right columns-panel"', 1)[1].split("</form>")[
        0
    ]
    assert 'name="columns" value="stage"' in picker

    html = admin.get("/e/deal?view=all&columns=name,stage&sort=name").get_data(as_text=True)
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    # Labels, not ids; the badge carries the stage's colour (open: blue, won: green).
    assert re.search(r'class="badge badge-blue"><span class="badge-text">Proposal<', body)
    assert re.search(r'class="badge badge-green"><span class="badge-text">Won<', body)
    assert ">proposal<" not in body
    rows = admin.get("/e/deal.json?view=all&columns=name,stage&sort=name").get_json()["rows"]
    assert {r["title"]: r["cells"]["stage"] for r in rows}["Bravo"] == "Proposal"
    export = admin.get("/e/deal/export.csv?view=all&columns=name,stage&sort=name")
    assert "Bravo,Proposal" in export.get_data(as_text=True).replace("\r", "")

    chinese = signed_in(app, "zh@example.com")
    body = chinese.get("/e/deal?view=all&columns=name,stage").get_data(as_text=True)
    assert ">方案<" in body and ">赢单<" in body and ">Proposal<" not in body


def test_stage_kind_filter_in_the_list_and_the_api(app):
    admin = signed_in(app, "ada@example.com")
    assert titles(admin, "view=all&stage_kind=won") == ["Charlie"]
    assert titles(admin, "view=all&stage_kind__in=won&stage_kind__in=lost") == [
        "Charlie", "Echo", "Hotel",
    ]  # fmt: skip
    assert titles(admin, "view=all&stage_kind__ne=open") == ["Charlie", "Echo", "Hotel"]
    # The chip says what the filter means, in words.
    html = admin.get("/e/deal?view=all&stage_kind__in=open").get_data(as_text=True)
    assert re.search(r'chip-label">Stage</span><span class="chip-text">Any open stage<', html)

    assert api_names(admin, "stage_kind=open") == ["Alpha", "Bravo", "Delta", "Foxtrot", "Golf"]
    assert api_names(admin, "stage_kind__in=won,lost") == ["Charlie", "Echo", "Hotel"]
    assert api_names(admin, "stage__in=lead,due") == ["Alpha", "Golf"]
    bad = admin.get("/api/v1/deal?stage_kind=opne")
    assert bad.status_code == 400
    assert "stage_kind" in bad.get_json()["error"]["message"]
    assert "open, won, lost" in bad.get_json()["error"]["message"]


def test_stage_filter_control_offers_kinds_and_stage_labels(app):
    admin = signed_in(app, "ada@example.com")
    html = admin.get("/e/deal?view=open&stage__in=proposal").get_data(as_text=True)
    toolbar = html.split('class="list-toolbar"', 1)[1].split("</form>", 1)[0]
    assert 'name="stage_kind__in" value="open"' in toolbar
    assert 'name="stage_kind__in" value="lost"' in toolbar
    assert re.search(r'name="stage__in" value="proposal" checked', toolbar)
    assert ">Proposal<" in toolbar and ">Due<" in toolbar
    assert titles(admin, "view=open&stage__in=proposal") == ["Bravo"]
    assert re.search(r'chip-label">Stage</span><span class="chip-text">Proposal<', html)


def test_sort_by_stage_follows_the_pipeline_not_the_alphabet(app):
    admin = signed_in(app, "ada@example.com")
    order = titles(admin, "view=all&sort=stage")
    # open stages by position (lead, due | discovery | proposal | commit), then won, then lost
    assert order == ["Alpha", "Golf", "Foxtrot", "Bravo", "Delta", "Charlie", "Echo", "Hotel"]
    assert titles(admin, "view=all&sort=-stage")[:2] == ["Hotel", "Echo"]
    response = admin.get("/api/v1/deal?sort=stage")
    assert [r["name"] for r in response.get_json()["data"]][:3] == ["Alpha", "Golf", "Foxtrot"]
    # Keyset pages (the API's cursors) walk the same order.
    walked, url = [], "/api/v1/deal?sort=stage&page_size=3"
    while url:
        body = admin.get(url).get_json()
        walked += [r["name"] for r in body["data"]]
        url = body["links"]["next"]
    assert walked == order


def test_openapi_documents_stage_kind_and_me(app):
    client = app.test_client()
    params = {
        p["name"]: p
        for p in client.get("/api/v1/openapi.json").get_json()["paths"]["/deal"]["get"][
            "parameters"
        ]
    }
    assert params["stage_kind"]["schema"]["enum"] == ["open", "won", "lost"]
    assert params["stage_kind__in"]["schema"]["items"]["enum"] == ["open", "won", "lost"]
    owner = params["owner_id"]["schema"]["oneOf"]
    assert {"type": "string", "enum": ["me", "my_team"]} in owner
    assert "my_team" in params["owner_id__in"]["description"]


# --------------------------------------------------------------------------- item 9


def test_an_open_view_shows_records_of_a_newly_added_stage(db_url, tmp_path):
    folder = tmp_path / "app"
    shutil.copytree(FIXTURE, folder)
    sales = folder / "pipelines" / "sales.yaml"
    text = sales.read_text()
    new_stage = "  - {id: trial, label: {en: Trial, zh: 试用}, probability: 60}\n  - id: commit\n"
    sales.write_text(text.replace("  - id: commit\n", new_stage, 1))
    app = make_web_app(db_url, tmp_path, folder)
    try:
        _seed(app)
        services = app.extensions["trellis"]
        admin_user = services.users.authenticate("ada@example.com", PASSWORD)
        record = services.repo.create(admin_user, "deal", {"name": "India", "amount": 5})
        table = services.db.tables["deal"]
        with services.db.engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == record["id"]).values(stage="trial"))
        admin = signed_in(app, "ada@example.com")
        # The view that lists stage ids hides it; the "any open stage" view does not.
        assert "India" not in titles(admin, "view=listed")
        assert "India" in titles(admin, "view=open")
        assert "India" in api_names(admin, "stage_kind=open")
        html = admin.get("/e/deal?view=open").get_data(as_text=True)
        assert re.search(r'<span class="badge-text">Trial</span>', html)
    finally:
        app.extensions["trellis"].db.engine.dispose()


def test_reference_views_follow_stage_kinds_not_stage_ids():
    model = load_app(Path(__file__).parent.parent / "app_definitions" / "opportunity")
    views = {v.id: v for v in model.views["opportunity"]}
    assert ("stage_kind", "eq", "open") in {(f.field, f.op, f.value) for f in views["open"].filters}
    assert ("stage_kind", "eq", "lost") in {(f.field, f.op, f.value) for f in views["lost"].filters}
    assert ("owner_id", "eq", "me") in {(f.field, f.op, f.value) for f in views["mine"].filters}
    tasks = {v.id: v for v in model.views["task"]}
    assert ("assignee", "eq", "me") in [(f.field, f.op, f.value) for f in tasks["mine"].filters]
    for view in views.values():
        assert all(f.field != "stage" for f in view.filters), view.id


# --------------------------------------------------------------------------- item 10


def test_me_and_my_team_views_resolve_for_whoever_looks(app):
    rita = signed_in(app, "rita@example.com")
    assert titles(rita, "view=mine") == ["Alpha", "Bravo", "Charlie"]
    assert titles(rita, "view=team") == ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]
    walt = signed_in(app, "walt@example.com")
    assert titles(walt, "view=mine") == ["Foxtrot", "Golf"]
    assert titles(walt, "view=team") == ["Foxtrot", "Golf"]
    # A user in no team: "my team" is just them.
    ada = signed_in(app, "ada@example.com")
    assert titles(ada, "view=team") == ["Hotel"]


def test_me_and_my_team_filters_in_the_list_the_api_and_saved_views(app):
    ray = signed_in(app, "ray@example.com")
    assert titles(ray, "view=all&owner_id=me") == ["Delta", "Echo"]
    assert titles(ray, "view=all&owner_id=my_team") == [
        "Alpha", "Bravo", "Charlie", "Delta", "Echo",
    ]  # fmt: skip
    assert titles(ray, "view=all&owner_id__ne=me") == ["Alpha", "Bravo", "Charlie"]
    assert api_names(ray, "owner_id=me") == ["Delta", "Echo"]
    assert api_names(ray, "owner_id__in=me,my_team") == [
        "Alpha",
        "Bravo",
        "Charlie",
        "Delta",
        "Echo",
    ]
    ada = signed_in(app, "ada@example.com")
    walt_id = app.config["ids"]["walt"]
    assert api_names(ada, f"owner_id__in=me,{walt_id}") == ["Foxtrot", "Golf", "Hotel"]
    assert ada.get("/api/v1/deal?owner_id=myself").status_code == 400

    # The filter pill: Me and My team first, before any typed match; the chip in words.
    html = ray.get("/e/deal?view=all&owner_id=me").get_data(as_text=True)
    toolbar = html.split('class="list-toolbar"', 1)[1].split("</form>", 1)[0]
    quick = toolbar.split('class="lookup-quick"', 1)[1].split("</ul>", 1)[0]
    assert re.search(r'data-id="me" aria-selected="true">.*?<span>Me</span>', quick, re.S)
    assert 'data-id="my_team"' in quick and "<span>My team</span>" in quick
    assert toolbar.index('class="lookup-quick"') < toolbar.index("data-lookup-input")
    assert re.search(r'chip-label">Owner</span><span class="chip-text">Me<', html)

    # A saved "owner = me" view shows each viewer their own deals.
    token = re.search(r'name="csrf-token" content="([^"]+)"', html)[1]
    response = ray.post(
        "/e/deal/views",
        data={"name": "Mine", "state": "view=all&owner_id=me", "csrf_token": token},
    )
    saved = re.search(r"saved=(\d+)", response.headers["Location"])[1]
    assert titles(ray, f"saved={saved}") == ["Delta", "Echo"]

    chinese = signed_in(app, "zh@example.com")
    html = chinese.get("/e/deal?view=all&owner_id=my_team").get_data(as_text=True)
    assert "<span>我</span>" in html and re.search(r'chip-text">我的团队<', html)


# --------------------------------------------------------------------------- checks


def _app_with_views(tmp_path: Path, filters: str, *, pipeline: bool = True) -> Path:
    folder = tmp_path / "app"
    shutil.copytree(FIXTURE, folder)
    if not pipeline:
        for path in (folder / "pipelines").glob("*.yaml"):
            path.unlink()
    (folder / "views" / "deal.yaml").write_text(
        "entity: deal\nviews:\n  - id: v\n    columns: [name]\n    filters:\n" + filters
    )
    return folder


@pytest.mark.parametrize(
    ("filters", "pipeline", "code", "words"),
    [
        ("      - {field: stage_kind, op: eq, value: open}\n", False, "TRL-E076", "no pipeline"),
        (
            "      - {field: stage_kind, op: eq, value: opne}\n",
            True,
            "TRL-E077",
            "did you mean 'open'",
        ),
        ("      - {field: stage_kind, op: gt, value: open}\n", True, "TRL-E077", "eq, ne, in"),
        ("      - {field: stage, op: in, value: [lead, propsal]}\n", True, "TRL-E078", "proposal"),
        (
            "      - {field: owner_id, op: eq, value: myself}\n",
            True,
            "TRL-E079",
            "use me (the viewer)",
        ),
        ("      - {field: owner_id, op: in, value: [me, my_teem]}\n", True, "TRL-E079", "my_team"),
    ],
)
def test_view_filter_checks(tmp_path, filters, pipeline, code, words):
    with pytest.raises(DefinitionError) as raised:
        load_app(_app_with_views(tmp_path, filters, pipeline=pipeline))
    found = [p for p in raised.value.problems if p.code == code]
    assert found, [str(p) for p in raised.value.problems]
    assert words in str(found[0]), str(found[0])


def test_valid_named_filters_compile(tmp_path):
    filters = (
        "      - {field: stage_kind, op: in, value: [won, lost]}\n"
        "      - {field: owner_id, op: in, value: [me, my_team, 3]}\n"
        "      - {field: stage, op: ne, value: lost}\n"
    )
    model = load_app(_app_with_views(tmp_path, filters))
    assert [f.field for f in model.views["deal"][0].filters] == ["stage_kind", "owner_id", "stage"]


def test_user_picker_lists_the_viewers_team_first(app):
    rita = signed_in(app, "rita@example.com")
    names = [r["title"] for r in rita.get("/users/lookup?q=").get_json()["results"]]
    assert names[:2] == ["Ray East", "Rita East"]  # then everyone else, by name
    assert names.index("Ada Admin") > 1
    assert [r["title"] for r in rita.get("/users/lookup?q=walt").get_json()["results"]] == [
        "Walt West"
    ]
