"""Report widgets and dashboards through the JSON API, on tests/fixtures/reports_app.

Five deals with a hand-computed story (stage history included):

======  =====  ======  ======  ================================
deal    owner  region  amount  stages
======  =====  ======  ======  ================================
d1      rep1   east    100     lead > qualify > propose > won
d2      rep1   east    300     lead > qualify > lost
d3      rep1   west    200     lead > qualify > propose
d4      rep2   west    1000    lead > won
d5      rep2   east    50      lead
======  =====  ======  ======  ================================

d1 was created 10 days before it closed, d4 4 days before.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.conftest import make_runtime, make_web_app

APP = Path(__file__).resolve().parent / "fixtures" / "reports_app"

STORY = (
    ("d1", "rep1", "east", 100, ("qualify", "propose", "won")),
    ("d2", "rep1", "east", 300, ("qualify", "lost")),
    ("d3", "rep1", "west", 200, ("qualify", "propose")),
    ("d4", "rep2", "west", 1000, ("won",)),
    ("d5", "rep2", "east", 50, ()),
)


class Client:
    def __init__(self, app, keys, ids, record_ids):
        self.app, self.keys, self.ids, self.records = app, keys, ids, record_ids
        self.http = app.test_client()

    def call(self, method: str, path: str, who: str = "manager", **kw):
        headers = {"Authorization": f"Bearer {self.keys[who]}", **(kw.pop("headers", None) or {})}
        return self.http.open(path if path.startswith("/api") else f"/api/v1{path}",
                              method=method, headers=headers, **kw)  # fmt: skip

    def ok(self, method: str, path: str, who: str = "manager", **kw):
        response = self.call(method, path, who, **kw)
        assert response.status_code < 300, response.get_json()
        return response.get_json()

    def board(self, who: str = "manager", query: str = "") -> dict[str, dict]:
        data = self.ok("GET", f"/dashboards/sales/data{query}", who)
        return {w["id"]: w for w in data["widgets"]}


@pytest.fixture
def reports(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, APP)
    services = app.extensions["trellis"]
    users = services.users
    team = users.create_team("East")
    ids = {
        "manager": users.create_user("m@example.com", "Mona Manager", "pw-manager-1", roles=["manager"]),
        "rep1": users.create_user("r1@example.com", "Rep One", "pw-rep-one-1", roles=["rep"], team_id=team),
        "rep2": users.create_user("r2@example.com", "Rep Two", "pw-rep-two-2", roles=["rep"], team_id=team),
    }  # fmt: skip
    keys = {name: users.create_api_key(uid, name="tests") for name, uid in ids.items()}
    repo = services.repo
    record_ids = {}
    for name, who, region, amount, moves in STORY:
        user = repo.principal(ids[who])
        record = repo.create(user, "deal", {"name": name, "region": region, "amount": amount})
        record_ids[name] = record["id"]
        for stage in moves:
            values = {"stage": stage, **({"loss_reason": "price"} if stage == "lost" else {})}
            current = repo.get(user, "deal", record["id"])
            repo.update(user, "deal", record["id"], values, row_version=current["row_version"])
    _backdate(services, record_ids["d1"], 10)
    _backdate(services, record_ids["d4"], 4)
    yield Client(app, keys, ids, record_ids)
    services.db.engine.dispose()


def _backdate(services, record_id: int, days: int) -> None:
    table = services.repo.plan("deal").table
    with services.db.engine.begin() as conn:
        closed = conn.execute(select(table.c.closed_on).where(table.c.id == record_id)).scalar()
        created = datetime.combine(closed - timedelta(days=days), time(4), tzinfo=UTC)
        conn.execute(update(table).where(table.c.id == record_id).values(created_at=created))


# --------------------------------------------------------------------------- golden numbers


def test_manager_board_matches_the_hand_computed_numbers(reports):
    board = reports.board()
    regions = {
        r["region"]: (r["sum:amount"], r["count"]) for r in board["amount_by_region"]["rows"]
    }
    assert regions == {"east": (450.0, 3), "west": (1200.0, 2)}
    assert board["open_count"]["value"] == 2
    assert board["win_rate"]["value"] == pytest.approx(2 / 3)
    assert board["win_rate"]["by_value"] == pytest.approx(1100 / 1400)
    assert board["deal_size"]["value"] == pytest.approx(550)
    assert (board["cycle"]["value"], board["cycle"]["median"], board["cycle"]["won"]) == (
        7.0,
        7.0,
        2,
    )
    funnel = [(r["stage"], r["reached"]) for r in board["conversion"]["rows"]]
    assert funnel == [("lead", 5), ("qualify", 4), ("propose", 3), ("won", 2)]
    assert [r["conversion"] for r in board["conversion"]["rows"]][1:] == pytest.approx(
        [0.8, 0.75, 2 / 3]
    )
    stages = [(r["stage"], r["count"]) for r in board["by_stage"]["rows"]]
    assert stages == [("lead", 1), ("propose", 1), ("won", 2), ("lost", 1)]
    pivot = board["pivot"]["pivot"]
    cells = dict(zip(pivot["rows"], pivot["cells"], strict=True))
    assert cells["East"][pivot["columns"].index("Won")] == 100
    assert cells["West"][pivot["columns"].index("Won")] == 1000
    assert sum(pivot["row_totals"]) == 1650


def test_board_filters_apply_to_every_widget_that_has_the_field(reports):
    board = reports.board(query="?region=west")
    assert [r["region"] for r in board["amount_by_region"]["rows"]] == ["west"]
    assert board["win_rate"]["value"] == 1.0  # d4 won, no lost deal in the west
    assert board["open_count"]["value"] == 1  # d3


def test_a_reps_board_shows_only_the_reps_own_deals(reports):
    board = reports.board("rep1")
    regions = {r["region"]: r["sum:amount"] for r in board["amount_by_region"]["rows"]}
    assert regions == {"east": 400.0, "west": 200.0}
    assert board["win_rate"]["value"] == pytest.approx(0.5)
    assert board["cycle"]["won"] == 1
    assert [r["reached"] for r in board["conversion"]["rows"]] == [3, 3, 2, 1]


def test_kpi_compares_with_the_period_before_and_a_target(reports):
    widget = {
        "kind": "kpi", "entity": "deal", "measures": [{"fn": "sum", "field": "amount"}],
        "filters": [{"field": "created_at", "op": "eq", "value": "this_year"}],
        "options": {"compare": "previous_period", "target": 3300},
    }  # fmt: skip
    result = reports.ok("POST", "/widgets/preview", json=widget)
    # d1/d4 may have been backdated into last year only near New Year: count both years
    assert result["value"] + result["previous"] == 1650
    assert result["of_target"] == pytest.approx(result["value"] / 3300)


# --------------------------------------------------------------------------- drill-down


def test_each_datum_drills_to_a_list_with_exactly_its_records(reports):
    board = reports.board("rep1")
    for widget_id in ("amount_by_region", "by_stage", "open_count"):
        widget = board[widget_id]
        for i, drill in enumerate(widget["drill"]):
            query = drill["url"].split("?", 1)[1]
            listed = reports.ok("GET", f"/api/v1/deal?{query}&page_size=200", "rep1")["data"]
            expected = widget["rows"][i]["count"] if "rows" in widget else widget["value"]
            assert len(listed) == expected, (widget_id, drill)


def test_a_drill_down_never_widens_the_viewers_scope(reports):
    board = reports.board("rep2")
    west = next(d for d in board["amount_by_region"]["drill"] if "west" in d["url"])
    query = west["url"].split("?", 1)[1]
    listed = reports.ok("GET", f"/api/v1/deal?{query}", "rep2")["data"]
    assert [r["name"] for r in listed] == ["d4"]  # not rep1's d3


# --------------------------------------------------------------------------- caching


def test_a_result_is_cached_until_a_write_to_its_entity(reports):
    first = reports.board()
    assert not first["open_count"]["cached"]
    again = reports.board()
    assert again["open_count"]["cached"] and again["open_count"]["value"] == 2
    reports.ok("POST", "/deal", json={"name": "d6", "region": "east", "amount": 5})
    after = reports.board()
    assert not after["open_count"]["cached"] and after["open_count"]["value"] == 3


def test_a_cached_result_is_never_served_to_a_narrower_scope(reports):
    reports.board()
    rep = reports.board("rep2")
    assert not rep["open_count"]["cached"]
    assert rep["open_count"]["value"] == 1  # d5 only


def test_a_write_from_another_process_invalidates_the_cache(reports, db_url):
    reports.board()
    assert reports.board()["open_count"]["cached"]
    other = make_runtime(db_url, APP, schema=False)
    try:
        user = other.repo.principal(reports.ids["rep2"])
        other.repo.create(user, "deal", {"name": "elsewhere", "region": "west", "amount": 1})
    finally:
        other.db.engine.dispose()
    board = reports.board()
    assert not board["open_count"]["cached"] and board["open_count"]["value"] == 3


# --------------------------------------------------------------------------- charts, export


def test_chinese_charts_say_wan_for_large_amounts(reports):
    widget = {"kind": "bar", "entity": "deal", "dimensions": [{"field": "region"}],
              "measures": [{"fn": "sum", "field": "amount"}]}  # fmt: skip
    reports.ok("POST", "/deal", json={"name": "big", "region": "west", "amount": 123456789})
    result = reports.ok("POST", "/widgets/preview", json=widget, headers={"Accept-Language": "zh"})
    option = result["echarts"]
    assert option["xAxis"]["data"] == ["华东", "华西"]
    assert option["series"][0]["data"][1]["label"]["formatter"] == "1.23亿"


def test_widget_data_exports_as_csv_and_xlsx(reports):
    response = reports.call("GET", "/dashboards/sales/widgets/amount_by_region/export?format=csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0][0] == "region (label)" and sorted(r[0] for r in rows[1:]) == ["East", "West"]
    xlsx = reports.call("GET", "/dashboards/sales/widgets/amount_by_region/export?format=xlsx")
    assert xlsx.status_code == 200 and xlsx.get_data()[:2] == b"PK"


# --------------------------------------------------------------------------- personal boards


def test_personal_boards_are_saved_shared_and_refused_when_invalid(reports):
    bad = {"label": {"en": "Mine"}, "widgets": [
        {"id": "w", "kind": "bar", "entity": "deal", "dimensions": [{"field": "regoin"}],
         "layout": {"x": 0, "y": 0, "w": 4, "h": 3}}]}  # fmt: skip
    refused = reports.call("POST", "/dashboards", "rep1", json=bad)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["field"] == "widgets[0].dimensions[0].field"
    bad["widgets"][0]["dimensions"][0]["field"] = "region"
    bad["shared_roles"] = ["manager"]
    made = reports.ok("POST", "/dashboards", "rep1", json=bad)
    key = made["id"]
    assert key in [b["id"] for b in reports.ok("GET", "/dashboards", "manager")["data"]]
    assert key not in [b["id"] for b in reports.ok("GET", "/dashboards", "rep2")["data"]]
    assert (
        reports.call("PUT", f"/dashboards/{key}/layout", "manager", json={"layout": {}}).status_code
        == 403
    )
    moved = {"w": {"x": 4, "y": 1, "w": 8, "h": 5}}
    saved = reports.ok("PUT", f"/dashboards/{key}/layout", "rep1", json={"layout": moved})
    assert saved["widgets"][0]["layout"] == moved["w"]
    data = reports.ok("GET", f"/dashboards/{key}/data", "manager")
    assert {r["region"] for r in data["widgets"][0]["rows"]} == {"east", "west"}
    assert reports.call("DELETE", f"/dashboards/{key}", "rep1").status_code == 204
    assert reports.call("GET", f"/dashboards/{key}", "rep1").status_code == 404


@pytest.mark.parametrize(
    ("widget", "field"),
    [
        ({"kind": "bar", "entity": "nope"}, "entity"),
        ({"kind": "chart", "entity": "deal"}, "kind"),
        ({"kind": "bar", "entity": "deal", "dimensions": [{"field": "name"}],
          "measures": [{"fn": "sum", "field": "name"}]}, "measures[0].fn"),
        ({"kind": "pie", "entity": "deal", "measures": [{"fn": "count"}]}, "dimensions"),
        ({"kind": "line", "entity": "deal", "dimensions": [{"field": "region", "bucket": "month"}]},
         "dimensions[0].bucket"),
        ({"kind": "kpi", "entity": "deal", "filters": [{"field": "region", "value": "this_month"}]},
         "filters[0].value"),
    ],
)  # fmt: skip
def test_preview_refuses_a_bad_widget_naming_the_field(reports, widget, field):
    response = reports.call("POST", "/widgets/preview", json=widget)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field
