"""Repository.aggregate: each measure, dimensions (options, users, links, link paths),
date buckets in the app's zone (values near midnight in Asia/Shanghai, ISO week
edges), money summed per currency, the reader's row scope, hidden fields refused, and
the API endpoint. Expected values are computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from runtime.errors import ValidationError
from runtime.store.aggregates import _offset_periods
from runtime.store.principal import SYSTEM
from tests.conftest import ROOT, make_web_app, signed_in_client
from tests.store_fixtures import setup_store


@pytest.fixture
def store(db_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_TIMEZONE", "Asia/Shanghai")
    s = setup_store(db_url, version=2)
    yield s
    s.db.engine.dispose()


def _seed(store):
    """Team A: rep A's and rep A2's deals; team B: rep B's (which team A never sees)."""
    acc_a = store.repo.create(store.rep_a, "account", {"name": "Acme"})["id"]
    acc_a2 = store.repo.create(store.rep_a2, "account", {"name": "Beta"})["id"]
    acc_b = store.repo.create(store.rep_b, "account", {"name": "West Co"})["id"]
    rows = [
        (store.rep_a, acc_a, 100, "CNY", "east", date(2026, 3, 31), "web"),
        (store.rep_a, acc_a, 250, "CNY", "east", date(2026, 4, 1), "web"),
        (store.rep_a, acc_a, 40, "USD", "east", date(2026, 4, 15), "referral"),
        (store.rep_a2, acc_a2, 1000, "CNY", "west", date(2026, 4, 30), "event"),
        (store.rep_a2, acc_a2, None, None, "west", date(2026, 7, 1), "web"),
        (store.rep_b, acc_b, 99999, "CNY", "east", date(2026, 4, 2), "web"),
    ]
    for user, acc, amount, currency, region, close, source in rows:
        values = {"name": f"d{close}", "account": acc, "amount": amount, "region": region}
        values |= {"close_date": close, "source": source}
        if currency:
            values["amount_currency"] = currency
        store.repo.create(user, "deal", values)
    return {"acme": acc_a, "beta": acc_a2, "west": acc_b}


def _table(result, *keys):
    return [tuple(row[k] for k in keys) for row in result.rows]


def test_each_measure_by_region_in_a_reps_scope(store):
    _seed(store)
    result = store.repo.aggregate(
        store.rep_a,
        "deal",
        group_by=["region"],
        measures=["count", "count:amount", "sum:amount", "min:amount", "max:amount",
                  "avg:amount", "count_distinct:owner_id", "min:close_date"],
    )  # fmt: skip
    keys = ("region", "amount_currency", "count", "count:amount", "sum:amount")
    keys += ("min:amount", "max:amount", "avg:amount", "count_distinct:owner_id")
    found = {r[:2]: r[2:] for r in _table(result, *keys)}
    # Rep B's 99,999 in the east is outside team A's scope.
    assert found[("east", "CNY")] == (2, 2, Decimal(350), Decimal(100), Decimal(250), 175.0, 1)
    assert found[("east", "USD")] == (1, 1, Decimal(40), Decimal(40), Decimal(40), 40.0, 1)
    assert found[("west", "CNY")] == (1, 1, Decimal(1000), Decimal(1000), Decimal(1000), 1000.0, 1)
    assert found[("west", None)] == (1, 0, None, None, None, None, 1)
    assert result.currency_keys == ("amount_currency",)
    mins = {(r["region"], r["amount_currency"]): r["min:close_date"] for r in result.rows}
    assert mins[("east", "CNY")] == date(2026, 3, 31)


def test_rep_b_sees_only_their_teams_sum(store):
    _seed(store)
    result = store.repo.aggregate(store.rep_b, "deal", measures=["sum:amount", "count"])
    assert _table(result, "amount_currency", "sum:amount", "count") == [("CNY", Decimal(99999), 1)]


def test_count_without_dimensions_is_one_row(store):
    _seed(store)
    result = store.repo.aggregate(store.admin, "deal")
    assert result.rows == [{"count": 6, "labels": {}}]


@pytest.mark.parametrize(
    ("bucket", "expected"),
    [
        ("day", [("2026-03-31", 1), ("2026-04-01", 1), ("2026-04-02", 1), ("2026-04-15", 1),
                 ("2026-04-30", 1), ("2026-07-01", 1)]),
        ("week", [("2026-03-30", 3), ("2026-04-13", 1), ("2026-04-27", 1), ("2026-06-29", 1)]),
        ("month", [("2026-03", 1), ("2026-04", 4), ("2026-07", 1)]),
        ("quarter", [("2026-Q1", 1), ("2026-Q2", 4), ("2026-Q3", 1)]),
        ("year", [("2026", 6)]),
    ],
)  # fmt: skip
def test_date_buckets(store, bucket, expected):
    _seed(store)
    result = store.repo.aggregate(store.admin, "deal", group_by=[f"close_date:{bucket}"])
    assert _table(result, f"close_date:{bucket}", "count") == expected


def _contacts(store):
    """Accounts last contacted at instants near Shanghai's midnight (UTC+8)."""
    instants = [
        datetime(2026, 3, 31, 15, 59, tzinfo=UTC),  # 23:59 on March 31st in Shanghai
        datetime(2026, 3, 31, 17, 0, tzinfo=UTC),  # 01:00 on April 1st in Shanghai
        datetime(2026, 6, 30, 16, 0, tzinfo=UTC),  # 00:00 on July 1st (Q3) in Shanghai
        datetime(2026, 12, 31, 16, 30, tzinfo=UTC),  # 2027-01-01 00:30 in Shanghai
        datetime(2026, 4, 5, 16, 0, tzinfo=UTC),  # Monday 2026-04-06 00:00 in Shanghai
        datetime(2026, 4, 5, 15, 0, tzinfo=UTC),  # Sunday 23:00: the week before
    ]
    for n, at in enumerate(instants):
        store.repo.create(store.admin, "account", {"name": f"a{n}", "last_contact": at})


@pytest.mark.parametrize(
    ("bucket", "expected"),
    [
        ("day", [("2026-03-31", 1), ("2026-04-01", 1), ("2026-04-05", 1), ("2026-04-06", 1),
                 ("2026-07-01", 1), ("2027-01-01", 1)]),
        ("week", [("2026-03-30", 3), ("2026-04-06", 1), ("2026-06-29", 1), ("2026-12-28", 1)]),
        ("month", [("2026-03", 1), ("2026-04", 3), ("2026-07", 1), ("2027-01", 1)]),
        ("quarter", [("2026-Q1", 1), ("2026-Q2", 3), ("2026-Q3", 1), ("2027-Q1", 1)]),
        ("year", [("2026", 5), ("2027", 1)]),
    ],
)  # fmt: skip
def test_datetime_buckets_follow_the_apps_zone(store, bucket, expected):
    _contacts(store)
    key = f"last_contact:{bucket}"
    result = store.repo.aggregate(store.admin, "account", group_by=[key])
    assert _table(result, key, "count") == expected


def test_a_zone_with_daylight_saving_buckets_each_season_at_its_offset(store, monkeypatch):
    monkeypatch.setenv("TRELLIS_TIMEZONE", "Europe/Berlin")
    # 22:30 UTC is 23:30 in winter (UTC+1) but 00:30 the next day in summer (UTC+2).
    for at in (
        datetime(2026, 1, 10, 22, 30, tzinfo=UTC),
        datetime(2026, 7, 10, 22, 30, tzinfo=UTC),
    ):
        store.repo.create(store.admin, "account", {"name": str(at), "last_contact": at})
    result = store.repo.aggregate(store.admin, "account", group_by=["last_contact:day"])
    assert _table(result, "last_contact:day", "count") == [("2026-01-10", 1), ("2026-07-11", 1)]


def test_offset_periods_of_a_fixed_zone_are_one():
    assert _offset_periods("Asia/Shanghai") == ((datetime(2000, 1, 1), 28800),)
    berlin = dict(_offset_periods("Europe/Berlin"))
    assert berlin[datetime(2026, 3, 29, 1, 0)] == 7200
    assert berlin[datetime(2026, 10, 25, 1, 0)] == 3600


def test_labels_of_option_user_and_link_dimensions(store):
    ids = _seed(store)
    result = store.repo.aggregate(
        store.rep_a, "deal", group_by=["source", "owner_id", "account"], measures=["count"]
    )
    labels = {(r["source"], r["owner_id"], r["account"]): r["labels"] for r in result.rows}
    assert labels[("referral", store.rep_a.id, ids["acme"])] == {
        "source": "Referral",
        "owner_id": "Rep A",
        "account": "Acme",
    }
    assert len(result.rows) == 4  # (web, A, acme) (referral, A, acme) (event, A2) (web, A2)


def test_sort_by_a_measure_and_limit(store):
    _seed(store)
    result = store.repo.aggregate(
        store.admin, "deal", group_by=["source"], sort=["-count", "source"], limit=2
    )
    assert _table(result, "source", "count") == [("web", 4), ("event", 1)]
    assert result.has_more


def test_filters_and_groups_apply_as_in_lists(store):
    _seed(store)
    group = {"any": [("source", "eq", "event"), ("amount", "lt", 200)]}
    result = store.repo.aggregate(store.rep_a, "deal", filters=[group], measures=["sum:amount"])
    assert _table(result, "amount_currency", "sum:amount") == [
        ("CNY", Decimal(1100)),
        ("USD", Decimal(40)),
    ]


def test_a_stage_dimension_and_a_named_clause_filter(store):
    _seed(store)
    result = store.repo.aggregate(store.admin, "deal", group_by=["stage"])
    assert sum(r["count"] for r in result.rows) == 6


@pytest.mark.parametrize(
    ("group_by", "measures", "key", "code"),
    [
        (["secret_note"], ["count"], "secret_note", "unknown_field"),
        ([], ["count_distinct:secret_note"], "secret_note", "unknown_field"),
        (["nothing"], ["count"], "nothing", "unknown_field"),
        (["name:month"], ["count"], "name:month", "not_groupable"),
        (["close_date:fortnight"], ["count"], "close_date:fortnight", "unknown_bucket"),
        ([], ["median:amount"], "amount", "unknown_measure"),
        ([], ["sum:name"], "name", "not_measurable"),
        ([], ["sum"], "sum", "not_measurable"),
        (["lines"], ["count"], "lines", "unknown_field"),
    ],
)
def test_refusals_name_what_is_wrong(store, group_by, measures, key, code):
    with pytest.raises(ValidationError) as caught:
        store.repo.aggregate(store.rep_a, "deal", group_by=group_by, measures=measures)
    assert [m.code for m in caught.value.errors[key]] == [code]


# --------------------------------------------------------------------------- the API


@pytest.fixture
def hiring_app(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, ROOT / "tests" / "fixtures" / "hiring_app")
    rt = app.extensions["trellis"]
    rt.users.create_user("rec@example.com", "Rosa", "correct horse battery", roles=["recruiter"])
    rt.users.create_user("ivan@example.com", "Ivan", "correct horse battery", roles=["interviewer"])
    eng = rt.repo.create(SYSTEM, "position", {"title": "Engineer", "department": "engineering"})
    ops = rt.repo.create(SYSTEM, "position", {"title": "Analyst", "department": "finance"})
    for name, pos, salary in (("Ann", eng, 9000), ("Bo", eng, 15000), ("Cy", ops, 12000)):
        values = {"candidate": name, "position": pos["id"], "expected_salary": salary}
        rt.repo.create(SYSTEM, "application", values)
    yield app
    rt.db.engine.dispose()


def test_api_aggregate_groups_and_labels(hiring_app):
    client = signed_in_client(hiring_app, "rec@example.com")
    response = client.get(
        "/api/v1/application/aggregate",
        query_string=[("group", "position"), ("measure", "sum:expected_salary"),
                      ("measure", "count"), ("sort", "position")],
    )  # fmt: skip
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    rows = [(r["labels"]["position"], r["sum:expected_salary"], r["count"]) for r in body["data"]]
    assert sorted(rows) == [("Analyst", 12000, 1), ("Engineer", 24000, 2)]
    assert body["dimensions"] == [{"key": "position", "field": "position", "bucket": None}]
    assert [m["key"] for m in body["measures"]] == ["sum:expected_salary", "count"]


def test_api_aggregate_takes_filters_and_where(hiring_app):
    client = signed_in_client(hiring_app, "rec@example.com")
    where = '{"any": [{"field": "candidate", "op": "eq", "value": "Ann"}, {"field": "candidate", "op": "eq", "value": "Cy"}]}'
    response = client.get(
        "/api/v1/application/aggregate",
        query_string={
            "measure": "max:expected_salary",
            "where": where,
            "expected_salary__gt": "9500",
        },
    )
    assert response.get_json()["data"][0]["max:expected_salary"] == 12000


def test_api_summing_a_hidden_field_is_a_400(hiring_app):
    client = signed_in_client(hiring_app, "ivan@example.com")
    response = client.get(
        "/api/v1/application/aggregate", query_string={"measure": "sum:expected_salary"}
    )
    assert response.status_code == 400
    assert "expected_salary" in response.get_json()["error"]["message"]
    grouped = client.get("/api/v1/application/aggregate", query_string={"group": "expected_salary"})
    assert grouped.status_code == 400
    ok = client.get("/api/v1/application/aggregate", query_string={"group": "position"})
    assert ok.status_code == 200
    assert sum(r["count"] for r in ok.get_json()["data"]) == 3


@pytest.mark.parametrize(
    "params",
    [
        {"group": "position:week"},
        {"measure": "median:expected_salary"},
        {"limit": "0"},
        {"sort": "nope"},
    ],
)
def test_api_bad_aggregate_parameters_are_400(hiring_app, params):
    client = signed_in_client(hiring_app, "rec@example.com")
    response = client.get("/api/v1/application/aggregate", query_string=params)
    assert response.status_code == 400, response.get_json()


@pytest.mark.parametrize("param", ["page", "page_size", "after", "before"])
def test_api_aggregate_refuses_a_lists_paging_naming_the_parameter(hiring_app, param):
    client = signed_in_client(hiring_app, "rec@example.com")
    response = client.get("/api/v1/application/aggregate", query_string={param: "2"})
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert param in error["message"] and "limit" in error["message"]


def test_an_entity_record_route_still_answers_beside_aggregate(hiring_app):
    client = signed_in_client(hiring_app, "rec@example.com")
    assert client.get("/api/v1/application/1").status_code == 200


def test_openapi_documents_the_aggregate_path(hiring_app):
    doc = hiring_app.test_client().get("/api/v1/openapi.json").get_json()
    params = {p["name"] for p in doc["paths"]["/application/aggregate"]["get"]["parameters"]}
    assert {"group", "measure", "where", "sort", "limit"} <= params


def test_a_link_path_is_a_dimension_with_labels(store):
    ids = _seed(store)
    store.repo.update(store.rep_a, "account", ids["acme"], {"industry": "retail"})
    store.repo.update(store.rep_a2, "account", ids["beta"], {"industry": "finance"})
    result = store.repo.aggregate(
        store.rep_a, "deal", group_by=["account.industry"], measures=["count"]
    )
    found = {
        (r["account.industry"], r["labels"].get("account.industry"), r["count"])
        for r in result.rows
    }
    assert found == {("retail", "Retail", 3), ("finance", "Finance", 2)}


def test_the_hiring_interviewer_may_not_sum_expected_salary_in_code(hiring_runtime):
    rt = hiring_runtime
    pos = rt.repo.create(SYSTEM, "position", {"title": "Engineer"})["id"]
    rt.repo.create(
        SYSTEM, "application", {"candidate": "Ann", "position": pos, "expected_salary": 9}
    )
    with pytest.raises(ValidationError) as caught:
        rt.repo.aggregate(rt.people["interviewer"], "application", measures=["sum:expected_salary"])
    assert caught.value.errors["expected_salary"][0].code == "unknown_field"
    found = rt.repo.aggregate(
        rt.people["recruiter"], "application", measures=["sum:expected_salary"]
    )
    assert found.rows[0]["sum:expected_salary"] == 9


def test_grouping_by_stage_under_a_stage_kind_filter(hiring_runtime):
    rt = hiring_runtime
    pos = rt.repo.create(SYSTEM, "position", {"title": "Engineer"})["id"]
    for name in ("Ann", "Bo", "Cy"):
        rt.repo.create(SYSTEM, "application", {"candidate": name, "position": pos})
    recruiter = rt.people["recruiter"]
    everything = rt.repo.aggregate(recruiter, "application", group_by=["stage"])
    assert _table(everything, "stage", "count") == [("applied", 3)]
    open_ones = rt.repo.aggregate(
        recruiter, "application", filters=[("stage_kind", "eq", "open")], group_by=["stage"]
    )
    assert _table(open_ones, "stage", "count") == [("applied", 3)]
    won = rt.repo.aggregate(recruiter, "application", filters=[("stage_kind", "eq", "won")])
    assert _table(won, "count") == [(0,)]
