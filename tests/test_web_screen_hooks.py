"""The screen hooks are the feature interface, not a pipelines-only path: a feature
written as an outside extension would be adds a column cell, row badges, a filter term,
a switch, a record panel, timeline entries and a home section to the reference app's
plain screens (built without pipelines), and the page and API show them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from runtime.features import Feature
from runtime.features.screens import (
    HomeSection,
    ListBadges,
    ListColumn,
    ListSwitch,
    QueryTerm,
    RecordPanel,
    RowBadge,
    TimelineSource,
)
from runtime.web.list_cells import Cell
from runtime.web.record_view import TimelineEntry
from tests.test_seams import featureless_reference_app

PASSWORD = "secret-pass-1"


class Vip(Feature):
    """Accounts whose name starts with "VIP": a badge, a switch, a term, a panel..."""

    name = "vip"
    docs = "docs/internals.md"

    def list_columns(self, model, entity):
        if entity.id != "account":
            return []

        def badges(env, entity, ids, gettext):
            page = env.repo.list(env.principal, entity.id, filters=[("id", "in", ids)])
            return {
                row["id"]: RowBadge("VIP", "a key account", "badge-purple", {"vip": True})
                for row in page.rows
                if row["name"].startswith("VIP")
            }

        shout = ListColumn("owner_id", lambda env, entity, record: Cell("text", "OWNER!"))
        return [shout, ListBadges("vip", badges, {"vip": False})]

    def list_filters(self, model, entity):
        if entity.id != "account":
            return []

        def starting(param, suffix, raw):
            if suffix:
                raise ValueError("starting takes no operator")
            return ("name", "contains", raw)

        def vip_only(env, entity):
            return [("name", "contains", "VIP")]

        return [
            QueryTerm("starting", starting, parameters=lambda: [{"name": "starting"}]),
            ListSwitch("vip", lambda gettext: gettext("VIP only"), vip_only, "vip-toggle"),
        ]

    def record_panels(self, model, entity):
        return [RecordPanel("vip", "vip_panel.html", lambda entity, record: {"vip_note": "★"})]

    def timeline_entries(self, model, entity):
        def entries(fmt, entity, record, history):
            at = datetime(2030, 1, 1, tzinfo=UTC)
            return [], [TimelineEntry("vip", at, template="vip_entry.html", title="Promoted")]

        return [TimelineSource("vip", entries)]

    def home_sections(self, model):
        return [HomeSection("vip", "vip_home.html", lambda services, user, day: ["VIP corner"])]


@pytest.fixture
def app(tmp_path):
    from runtime.store import SYSTEM
    from tests.conftest import make_runtime, make_web_app

    app_dir = featureless_reference_app(tmp_path)
    templates = app_dir / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "vip_panel.html").write_text('<p class="vip-panel">{{ panel.vip_note }}</p>')
    (templates / "vip_entry.html").write_text('<div class="vip-entry">{{ e.title }}</div>')
    (templates / "vip_home.html").write_text('<p class="vip-home">{{ data|join }}</p>')
    url = f"sqlite:///{tmp_path / 'trellis.db'}"
    runtime = make_runtime(url, app_dir, [Vip()])
    runtime.users.create_user("admin@example.com", "Admin", PASSWORD, roles=["admin"])
    for name in ("VIP Harbour", "Plain Components"):
        runtime.repo.create(SYSTEM, "account", {"name": name})
    app = make_web_app(url, tmp_path, app_dir, schema=False, features=[Vip()])
    client = app.test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").get_data(True))
    client.post(
        "/login", data={"email": "admin@example.com", "password": PASSWORD, "csrf_token": token[1]}
    )
    app.config["client"] = client
    return app


def rows_by_title(data):
    return {row["title"]: row for row in data["rows"]}


def test_a_features_cell_badges_and_switch_in_the_list(app):
    client = app.config["client"]
    data = client.get("/e/account.json?columns=name,owner_id").get_json()
    rows = rows_by_title(data)
    assert rows["VIP Harbour"]["vip"] is True and rows["Plain Components"]["vip"] is False
    assert rows["VIP Harbour"]["cells"]["owner_id"] == "OWNER!"
    assert data["vip"] is False
    switched = client.get("/e/account.json?vip=1").get_json()
    assert list(rows_by_title(switched)) == ["VIP Harbour"] and switched["vip"] is True
    html = client.get("/e/account?vip=1").get_data(True)
    assert 'class="badge badge-purple" title="a key account"' in html
    assert 'class="check archived-toggle vip-toggle"><input type="checkbox" name="vip"' in html
    assert "VIP only" in html  # the switch's chip and label


def test_a_features_term_in_the_list_the_api_and_the_openapi_document(app):
    client = app.config["client"]
    assert list(rows_by_title(client.get("/e/account.json?starting=Plain").get_json())) == [
        "Plain Components"
    ]
    api = client.get("/api/v1/account?starting=VIP&vip=1").get_json()
    assert [row["name"] for row in api["data"]] == ["VIP Harbour"]
    bad = client.get("/api/v1/account?starting__ne=VIP")
    assert bad.status_code == 400 and "starting takes no operator" in bad.get_data(True)
    document = client.get("/api/v1/openapi.json").get_json()
    names = [p["name"] for p in document["paths"]["/account"]["get"]["parameters"]]
    assert "starting" in names


def test_a_features_panel_timeline_entry_and_home_section(app):
    client = app.config["client"]
    data = client.get("/e/account.json").get_json()
    record_id = rows_by_title(data)["VIP Harbour"]["id"]
    html = client.get(f"/e/account/{record_id}").get_data(True)
    assert '<p class="vip-panel">★</p>' in html
    assert '<div class="vip-entry">Promoted</div>' in html
    assert '<p class="vip-home">VIP corner</p>' in client.get("/").get_data(True)
