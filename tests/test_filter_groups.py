"""Nested and/or filter groups: in the repository (every operator inside a group, any /
all / not nested, relative dates, the depth bound, hidden fields refused), in a saved
view's YAML (checked by the compiler) and in the API's ``where=`` JSON."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta

import pytest

from runtime.definition import load_app
from runtime.errors import DefinitionError, ValidationError
from runtime.store.principal import SYSTEM
from tests.conftest import REFERENCE_APP, ROOT, make_web_app, signed_in_client
from tests.store_fixtures import setup_store


@pytest.fixture
def store(db_url):
    s = setup_store(db_url, version=2)
    yield s
    s.db.engine.dispose()


def _deals(store):
    """Six deals of team A (rep A's) with hand-picked values; returns name -> id."""
    acc = store.repo.create(store.rep_a, "account", {"name": "Acme"})["id"]
    today = date.today()
    rows = [
        ("alpha", 100, "web", "east", today, store.rep_a.id),
        ("beta", 5000, "referral", "west", today - timedelta(days=40), None),
        ("gamma", 20000, "event", "east", None, store.rep_a.id),
        ("delta", None, "web", None, today + timedelta(days=3), None),
        ("epsilon", 700, "referral", "east", today - timedelta(days=400), store.rep_a2.id),
        ("zeta", 12000, "web", "west", today, None),
    ]
    ids = {}
    for name, amount, source, region, close, reviewer in rows:
        values = {"name": name, "account": acc, "amount": amount, "source": source}
        values |= {"region": region, "close_date": close, "reviewer": reviewer}
        ids[name] = store.repo.create(store.rep_a, "deal", values)["id"]
    return ids


def _names(store, filters, user=None):
    page = store.repo.list(user or store.rep_a, "deal", filters=filters, page_size=200)
    return sorted(r["name"] for r in page.rows)


def test_any_group_matches_either_condition(store):
    _deals(store)
    group = {"any": [("source", "eq", "event"), ("amount", "lt", 500)]}
    assert _names(store, [group]) == ["alpha", "gamma"]


def test_groups_nest_and_combine_with_flat_filters(store):
    _deals(store)
    # region east AND (amount >= 10000 OR (source = referral AND amount < 1000))
    group = {
        "any": [
            ("amount", "gte", 10000),
            {"all": [("source", "eq", "referral"), ("amount", "lt", 1000)]},
        ]
    }
    assert _names(store, [("region", "eq", "east"), group]) == ["epsilon", "gamma"]


def test_not_group_excludes_what_its_conditions_match(store):
    _deals(store)
    assert _names(store, [{"not": ("source", "eq", "web")}]) == ["beta", "epsilon", "gamma"]
    # not of several: none of them together (NOT (web AND east))
    found = _names(store, [{"not": [("source", "eq", "web"), ("region", "eq", "east")]}])
    assert found == ["beta", "delta", "epsilon", "gamma", "zeta"]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (("amount", "eq", 5000), ["beta"]),
        (("amount", "ne", 5000), ["alpha", "delta", "epsilon", "gamma", "zeta"]),
        (("amount", "lt", 700), ["alpha"]),
        (("amount", "lte", 700), ["alpha", "epsilon"]),
        (("amount", "gt", 12000), ["gamma"]),
        (("amount", "gte", 12000), ["gamma", "zeta"]),
        (("source", "in", ["event", "referral"]), ["beta", "epsilon", "gamma"]),
        (("name", "contains", "ta"), ["beta", "delta", "zeta"]),
        (("region", "isnull", True), ["delta"]),
        (("amount", "between", (700, 5000)), ["beta", "epsilon"]),
        (("close_date", "eq", "today"), ["alpha", "zeta"]),
        (("close_date", "gte", "last_30_days"), ["alpha", "delta", "zeta"]),
        (("reviewer", "eq", "me"), ["alpha", "gamma"]),
    ],
)
def test_every_operator_works_inside_a_group(store, condition, expected):
    _deals(store)
    # Inside an any group whose other branch matches nothing, the condition alone decides.
    group = {"any": [condition, ("name", "eq", "nobody")]}
    assert _names(store, [group]) == expected
    # ... and inside not, its complement among the six.
    everyone = ["alpha", "beta", "delta", "epsilon", "gamma", "zeta"]
    rest = sorted(set(everyone) - set(expected))
    assert _names(store, [{"not": {"all": [condition]}}]) == rest


def test_relative_dates_inside_nested_groups(store):
    _deals(store)
    group = {"any": [{"all": [("close_date", "eq", "this_year"), ("source", "eq", "web")]}]}
    this_year = date.today().year
    expected = ["alpha", "zeta"] + (
        ["delta"] if (date.today() + timedelta(3)).year == this_year else []
    )
    assert _names(store, [group]) == sorted(expected)


def test_groups_keep_the_readers_row_scope(store):
    _deals(store)
    store.repo.create(
        store.rep_b,
        "deal",
        {
            "name": "west-big",
            "account": store.repo.create(store.rep_b, "account", {"name": "B"})["id"],
            "amount": 99999,
        },
    )
    group = {"any": [("amount", "gte", 10000), ("name", "eq", "west-big")]}
    assert _names(store, [group]) == ["gamma", "zeta"]
    assert _names(store, [group], store.rep_b) == ["west-big"]


def test_a_hidden_field_inside_a_group_is_refused_by_name(store):
    _deals(store)
    group = {"any": [("amount", "gt", 0), {"all": [("secret_note", "eq", "x")]}]}
    with pytest.raises(ValidationError) as caught:
        _names(store, [group])
    assert list(caught.value.errors) == ["secret_note"]
    assert caught.value.errors["secret_note"][0].code == "unknown_field"
    # The admin may read it: the same group runs.
    assert _names(store, [group], store.admin) == ["alpha", "beta", "epsilon", "gamma", "zeta"]


def test_a_bad_value_inside_a_group_names_its_field(store):
    with pytest.raises(ValidationError) as caught:
        _names(store, [{"all": [{"any": [("amount", "gt", "lots")]}]}])
    assert list(caught.value.errors) == ["amount"]


def test_groups_nest_five_levels_and_no_deeper(store):
    _deals(store)
    five = ("name", "eq", "alpha")
    for _ in range(5):
        five = {"all": [five]}
    assert _names(store, [five]) == ["alpha"]
    with pytest.raises(ValidationError) as caught:
        _names(store, [{"any": [five]}])
    assert caught.value.errors["where"][0].code == "filter_too_deep"


@pytest.mark.parametrize(
    "bad", [{"any": []}, {"any": [("a", "eq", 1)], "all": []}, {"some": [1]}, {"any": "x"}]
)
def test_malformed_groups_are_refused_under_where(store, bad):
    with pytest.raises(ValidationError) as caught:
        _names(store, [bad], SYSTEM)
    assert "where" in caught.value.errors


def test_count_applies_groups_like_list(store):
    _deals(store)
    group = {"any": [("source", "eq", "event"), ("amount", "lt", 500)]}
    assert store.repo.count(store.rep_a, "deal", filters=[group]) == 2


# --------------------------------------------------------------------------- views YAML


def _app_with_view(tmp_path, filters) -> object:
    app = tmp_path / "app"
    shutil.copytree(REFERENCE_APP, app)
    view = {
        "entity": "opportunity",
        "views": [{"id": "grouped", "columns": ["name", "amount"], "filters": filters}],
    }
    (app / "views" / "opportunity.yaml").write_text(json.dumps(view), encoding="utf-8")
    return app


def test_a_view_with_nested_groups_compiles_to_filter_groups(tmp_path):
    filters = [
        {"field": "amount", "op": "gte", "value": 1000},
        {"any": [{"field": "region", "op": "eq", "value": "east_china"},
                 {"not": {"field": "close_date", "op": "eq", "value": "this_quarter"}}]},
    ]  # fmt: skip
    model = load_app(_app_with_view(tmp_path, filters))
    view = model.views["opportunity"][0]
    group = view.filters[1]
    assert group.kind == "any"
    assert group.items[0].field == "region"
    assert group.items[1].kind == "not"
    assert group.items[1].items[0].value == "this_quarter"


def _problems(tmp_path, filters) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        load_app(_app_with_view(tmp_path, filters))
    return [str(p) for p in caught.value.problems]


def test_an_unknown_field_inside_a_group_is_reported_with_its_code(tmp_path):
    problems = _problems(
        tmp_path, [{"any": [{"all": [{"field": "regoin", "op": "eq", "value": "x"}]}]}]
    )
    assert any("TRL-E028" in p and "regoin" in p and "region" in p for p in problems), problems


def test_a_bad_operator_inside_a_group_is_reported(tmp_path):
    problems = _problems(tmp_path, [{"not": [{"field": "amount", "op": "in", "value": 5}]}])
    assert any("TRL-E036" in p for p in problems), problems


def test_an_empty_group_is_reported(tmp_path):
    problems = _problems(tmp_path, [{"any": []}])
    assert any("TRL-E096" in p for p in problems), problems


def test_groups_nested_too_deep_are_reported(tmp_path):
    item = {"field": "amount", "op": "gt", "value": 0}
    for _ in range(6):
        item = {"all": [item]}
    problems = _problems(tmp_path, [item])
    assert any("TRL-E095" in p for p in problems), problems


def test_a_group_with_two_kinds_is_refused_by_the_schema(tmp_path):
    item = {"any": [{"field": "amount", "op": "gt", "value": 0}], "all": []}
    assert _problems(tmp_path, [item])


# --------------------------------------------------------------------------- the API


@pytest.fixture
def hiring_app(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, ROOT / "tests" / "fixtures" / "hiring_app")
    rt = app.extensions["trellis"]
    users = rt.users
    users.create_user("rec@example.com", "Rosa", "correct horse battery", roles=["recruiter"])
    users.create_user("ivan@example.com", "Ivan", "correct horse battery", roles=["interviewer"])
    pos = rt.repo.create(SYSTEM, "position", {"title": "Engineer"})["id"]
    for name, salary in (("Ann", 9000), ("Bo", 15000), ("Cy", None), ("Di", 30000)):
        values = {"candidate": name, "position": pos, "expected_salary": salary}
        rt.repo.create(SYSTEM, "application", values)
    yield app
    rt.db.engine.dispose()


def _where(client, where, **params):
    return client.get("/api/v1/application", query_string={"where": json.dumps(where), **params})


def test_api_where_takes_nested_groups(hiring_app):
    client = signed_in_client(hiring_app, "rec@example.com")
    where = {"any": [{"field": "expected_salary", "op": "lt", "value": 10000},
                     {"all": [{"field": "expected_salary", "op": "gte", "value": 20000},
                              {"field": "candidate", "op": "contains", "value": "d"}]}]}  # fmt: skip
    response = _where(client, where, sort="candidate")
    assert response.status_code == 200, response.get_json()
    assert [r["candidate"] for r in response.get_json()["data"]] == ["Ann", "Di"]


def test_api_where_list_is_all_and_ands_with_parameters(hiring_app):
    client = signed_in_client(hiring_app, "rec@example.com")
    where = [{"field": "expected_salary", "op": "isnull", "value": False}]
    response = _where(client, where, expected_salary__lt="20000", sort="candidate")
    assert [r["candidate"] for r in response.get_json()["data"]] == ["Ann", "Bo"]


def test_api_match_any_joins_the_parameters_with_or(hiring_app):
    client = signed_in_client(hiring_app, "rec@example.com")
    response = client.get(
        "/api/v1/application",
        query_string={
            "candidate": "Cy",
            "expected_salary__gt": "20000",
            "match": "any",
            "sort": "candidate",
        },
    )
    assert [r["candidate"] for r in response.get_json()["data"]] == ["Cy", "Di"]


def test_api_where_on_a_hidden_field_is_the_same_400_as_a_parameter(hiring_app):
    client = signed_in_client(hiring_app, "ivan@example.com")
    plain = client.get("/api/v1/application", query_string={"expected_salary__gt": "1"})
    where = {"any": [{"field": "candidate", "op": "eq", "value": "Ann"},
                     {"field": "expected_salary", "op": "gt", "value": 1}]}  # fmt: skip
    grouped = _where(client, where)
    assert plain.status_code == grouped.status_code == 400
    error = grouped.get_json()["error"]
    assert error["param"] == "where"
    assert "expected_salary" in error["message"]


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ("{not json", "JSON"),
        ({"any": []}, "at least one"),
        ({"any": [{"field": "candidate", "op": "near", "value": 1}]}, "candidate"),
        ({"any": [{"field": "expected_salary", "op": "gt", "value": "lots"}]}, "expected_salary"),
        ({"any": [{"field": "expected_salary", "op": "in", "value": 3}]}, "list"),
        ({"one": [1]}, "exactly one key"),
        ({"all": [{"all": [{"all": [{"all": [{"all": [{"all": []}]}]}]}]}]}, "levels"),
    ],
)
def test_api_bad_where_is_a_400_that_says_why(hiring_app, where, words):
    client = signed_in_client(hiring_app, "rec@example.com")
    raw = where if isinstance(where, str) else json.dumps(where)
    response = client.get("/api/v1/application", query_string={"where": raw})
    assert response.status_code == 400
    assert words in response.get_json()["error"]["message"]


def test_openapi_documents_where_and_match(hiring_app):
    doc = hiring_app.test_client().get("/api/v1/openapi.json").get_json()
    params = {p["name"] for p in doc["paths"]["/application"]["get"]["parameters"]}
    assert {"where", "match"} <= params


def test_the_docs_view_example_compiles(tmp_path):
    import re

    import yaml

    text = (ROOT / "docs" / "queries.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(views:.*?)```", text, re.S)[1]
    filters = yaml.safe_load(block)["views"][0]["filters"]
    view = load_app(_app_with_view(tmp_path, filters)).views["opportunity"][0]
    assert [getattr(f, "kind", None) for f in view.filters] == [None, "any", "not"]


def test_the_list_screen_reads_where_and_match(hiring_app):
    client = signed_in_client(hiring_app, "rec@example.com")
    where = {"any": [{"field": "candidate", "op": "eq", "value": "Ann"},
                     {"field": "expected_salary", "op": "gte", "value": 30000}]}  # fmt: skip
    html = client.get("/e/application", query_string={"where": json.dumps(where)}).get_data(True)
    assert "Ann" in html and "Di" in html
    assert ">Bo<" not in html and "Bo</a>" not in html
    either = client.get(
        "/e/application",
        query_string={"candidate": "Bo", "expected_salary__gte": "30000", "match": "any"},
    ).get_data(True)
    assert "Bo</a>" in either and "Di</a>" in either and "Ann</a>" not in either


def test_the_list_screen_drops_a_bad_where_with_a_notice(hiring_app):
    client = signed_in_client(hiring_app, "ivan@example.com")
    where = {"any": [{"field": "expected_salary", "op": "gt", "value": 1}]}
    response = client.get("/e/application", query_string={"where": json.dumps(where)})
    assert response.status_code == 200
    html = response.get_data(True)
    assert "expected_salary" in html  # the notice names the field it left out
    assert "Ann</a>" in html and "Cy</a>" in html  # and the list is unfiltered
