"""The idle ("rotting") flag in list views and the API (SQLite and PostgreSQL): a badge
on idle records' titles, ``?idle=1`` keeping only them, each pipeline's own stages and
thresholds, a completed activity in the window resetting the clock, one query a page."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, update

from tests.conftest import make_web_app, signed_in_client

FIXTURE = Path(__file__).parent / "fixtures" / "pipeline_app"
PASSWORD = "correct horse battery"


@pytest.fixture
def app(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, FIXTURE)
    users = app.extensions["trellis"].users
    team = users.create_team("East")
    rep = users.create_user("rep@example.com", "Rita Rep", PASSWORD, roles=["rep"], team_id=team)
    users.create_user("zh@example.com", "Zhang Wei", PASSWORD, roles=["viewer"], locale="zh")
    app.config["key"] = users.create_api_key(rep, name="t")
    yield app
    app.extensions["trellis"].db.engine.dispose()


@pytest.fixture
def deals(app):
    """Named deals, their stage entered 20 days ago unless said otherwise."""
    services = app.extensions["trellis"]
    repo, db = services.repo, services.db
    rep = services.users.authenticate("rep@example.com", PASSWORD)
    today = date.today()

    def deal(name, entered_days_ago=20, **values):
        record = repo.create(rep, "deal", {"name": name, "amount": 100, **values})
        stage = values.get("stage")
        if stage and record["stage"] != stage:
            record = repo.update(rep, "deal", record["id"], {"stage": stage})
        entered = datetime.now(UTC) - timedelta(days=entered_days_ago)
        with db.engine.begin() as conn:
            conn.execute(
                update(db.tables["deal"])
                .where(db.tables["deal"].c.id == record["id"])
                .values(stage_entered_at=entered)
            )
        return record["id"]

    def touch(deal_id, days_ago, done=True):
        day = (today - timedelta(days=days_ago)).isoformat()
        repo.create(rep, "touch", {"subject": "Call", "deal": deal_id, "day": day, "done": done})

    ids = {
        "quiet": deal("Quiet lead"),  # idle: 20 days, threshold 7
        "touched": deal("Touched lead"),  # completed touch 2 days ago
        "planned": deal("Planned only"),  # only a touch not done: still idle
        "old_touch": deal("Old touch"),  # completed touch 12 days ago: idle 12 days
        "renewal": deal("Renewal lead", kind="renewal", stage="lead"),  # no idle_days there
        "fresh": deal("Fresh lead", entered_days_ago=0),
        "won": deal("Won deal", stage="won", pains="x"),
    }
    touch(ids["touched"], 2)
    touch(ids["planned"], 1, done=False)
    touch(ids["old_touch"], 12)
    touch(ids["old_touch"], -3)  # a future (planned-date) touch does not count
    return ids


def signed_in(app, email="rep@example.com"):
    return signed_in_client(app, email, PASSWORD)


def list_json(client, query=""):
    response = client.get(f"/e/deal.json?page_size=50{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_list_flags_idle_records(app, deals):
    data = list_json(signed_in(app))
    flags = {row["id"]: (row["idle"], row["idle_days"]) for row in data["rows"]}
    assert flags[deals["quiet"]] == (True, 20)
    assert flags[deals["planned"]] == (True, 20)
    assert flags[deals["old_touch"]] == (True, 12)
    for name in ("touched", "renewal", "fresh", "won"):
        assert flags[deals[name]] == (False, None), name


def test_idle_filter_keeps_only_idle_records(app, deals):
    client = signed_in(app)
    data = list_json(client, "&idle=1")
    assert {row["id"] for row in data["rows"]} == {
        deals["quiet"],
        deals["planned"],
        deals["old_touch"],
    }
    assert data["idle"] is True
    # combined with other filters and search
    data = list_json(client, "&idle=1&q=Quiet")
    assert [row["id"] for row in data["rows"]] == [deals["quiet"]]


def test_list_page_shows_badge_toggle_and_chip(app, deals):
    client = signed_in(app)
    html = client.get("/e/deal").get_data(as_text=True)
    assert html.count("idle-badge") == 3
    assert "Idle 20d" in html and "Idle 12d" in html
    assert 'name="idle" value="1"' in html
    filtered = client.get("/e/deal?idle=1").get_data(as_text=True)
    assert "Touched lead" not in filtered and "Quiet lead" in filtered
    assert re.search(r'class="chip-text">Idle only<', filtered)
    assert re.search(r'name="idle" value="1" checked', filtered)


def test_badge_in_chinese(app, deals):
    html = signed_in(app, "zh@example.com").get("/e/deal").get_data(as_text=True)
    assert "停滞 20 天" in html


def test_entities_without_pipeline_have_no_idle_toggle(app, deals):
    client = signed_in(app)
    html = client.get("/e/touch").get_data(as_text=True)
    assert 'name="idle"' not in html
    assert "idle" not in client.get("/e/touch.json").get_json()["rows"][0]


def test_idle_badges_take_one_query_per_page(app, deals):
    from runtime.features.pipelines.screens_list import idle_days_of

    services = app.extensions["trellis"]
    entity = services.model.entities["deal"]
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(services.db.engine, "before_cursor_execute", count)
    try:
        found = idle_days_of(services, entity, list(deals.values()), date.today())
    finally:
        event.remove(services.db.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert found == {deals["quiet"]: 20, deals["planned"]: 20, deals["old_touch"]: 12}


def test_api_idle_filter(app, deals):
    headers = {"Authorization": f"Bearer {app.config['key']}"}
    response = app.test_client().get("/api/v1/deal?idle=1&page_size=50", headers=headers)
    assert response.status_code == 200, response.get_json()
    ids = {row["id"] for row in response.get_json()["data"]}
    assert ids == {deals["quiet"], deals["planned"], deals["old_touch"]}
    response = app.test_client().get("/api/v1/deal?page_size=50", headers=headers)
    assert len(response.get_json()["data"]) == len(deals)
