"""REST API keyset paging: ``next_cursor`` / ``prev_cursor``, ``after=`` / ``before=``.

Runs on SQLite and PostgreSQL against ``tests/fixtures/api_app``: every sort direction
over columns with NULLs and ties, walked forward and back by cursor, must give the
rows of one big page; bad cursors are 400s naming the parameter; row scope and field
permissions hold on every page.
"""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta

import pytest

from tests.test_api import Client, add_users, make_api_app


@pytest.fixture
def api(db_url, tmp_path) -> Client:
    app = make_api_app(db_url, tmp_path / "instance")
    keys, ids = add_users(app)
    yield Client(app, keys, ids)
    app.extensions["trellis"].db.engine.dispose()


def _seed(api, count: int = 17) -> dict[str, list[int]]:
    services = api.app.extensions["trellis"]
    repo = services.repo
    admin = repo.principal(api.ids["admin"])
    rows = []
    for n in range(count):
        rows.append(
            {
                "name": f"deal {n % 6:02d}",  # ties on the name
                "amount": None if n % 4 == 0 else 100 * (n % 5),
                "close_date": None if n % 3 == 0 else (date(2025, 1, 1) + timedelta(days=n % 4)),
                "priority": n % 2 == 0,
                "status": ("open", "won", "lost")[n % 3],
                "secret": f"secret-{n}",
                "notes": "lost on price" if n % 3 == 2 else None,
            }
        )
    created = repo.bulk_create(admin, "deal", rows)
    ids = [r["id"] for r in created]
    east = ids[::2]  # rep1 owns these; rep1 and rep2 (team East) read them
    table = services.db.table("deal")
    with services.db.engine.begin() as conn:
        conn.execute(table.update().where(table.c.id.in_(east)).values(owner_id=api.ids["rep1"]))
    return {"all": ids, "east": east}


def _get(api, path: str, who: str = "admin") -> dict:
    response = api.call("GET", path.removeprefix("/api/v1"), who)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _walk(api, query: str, who: str = "admin") -> tuple[list[list[int]], list[list[int]]]:
    """Pages forward through links.next, then back through links.prev."""
    body = _get(api, f"/deal?{query}", who)
    assert body["has_prev"] is False and body["prev_cursor"] is None and body["page"] == 1
    forward = [[r["id"] for r in body["data"]]]
    while body["has_next"]:
        assert body["links"]["next"].endswith("after=" + body["next_cursor"])
        body = _get(api, body["links"]["next"], who)
        assert body["page"] is None and body["has_prev"] is True
        forward.append([r["id"] for r in body["data"]])
    backward = [forward[-1]]
    while body["has_prev"]:
        body = _get(api, body["links"]["prev"], who)
        backward.append([r["id"] for r in body["data"]])
    return forward, backward[::-1]


@pytest.mark.parametrize(
    "sort",
    [
        "amount",
        "-amount",
        "close_date",
        "-close_date",
        "name,-amount",
        "-priority,close_date",
        "-name,amount,-close_date",
        "id",
        "-id",
        "",
    ],  # fmt: skip
)
def test_api_pages_by_cursor_in_every_sort_direction_with_nulls(api, sort):
    seeded = _seed(api)
    sort_arg = f"sort={sort}&" if sort else ""
    everything = [r["id"] for r in _get(api, f"/deal?{sort_arg}page_size=200")["data"]]
    assert sorted(everything) == sorted(seeded["all"])
    forward, backward = _walk(api, f"{sort_arg}page_size=3")
    assert [i for p in forward for i in p] == everything
    assert all(len(p) == 3 for p in forward[:-1])
    assert backward == forward


def test_cursor_paging_with_filters_keeps_row_scope_and_hidden_fields(api):
    seeded = _seed(api)
    forward, backward = _walk(api, "sort=-amount,name&status__ne=won&page_size=2", who="rep2")
    seen = [i for p in forward for i in p]
    body = _get(api, "/deal?sort=-amount,name&status__ne=won&page_size=200")
    admin_order = [r["id"] for r in body["data"]]
    assert seen == [i for i in admin_order if i in set(seeded["east"])]
    assert backward == forward
    # A hidden field is neither a sort key nor in any page or cursor.
    refused = api.call("GET", "/deal?sort=secret", "rep2")
    assert refused.status_code == 400 and refused.get_json()["error"]["param"] == "sort"
    body = _get(api, "/deal?sort=name&page_size=2", "rep2")
    assert all("secret" not in row for row in body["data"])
    payload = body["next_cursor"].split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert b"secret" not in decoded
    # An admin's cursor gives another user nothing beyond that user's own scope.
    admin_page = _get(api, "/deal?sort=name&page_size=2")
    rep3 = _get(api, f"/deal?sort=name&after={admin_page['next_cursor']}", "rep3")
    assert rep3["data"] == []


def _bad(api, query: str, param: str) -> str:
    response = api.call("GET", f"/deal?{query}")
    assert response.status_code == 400, (query, response.get_json())
    error = response.get_json()["error"]
    assert error["code"] == "bad_query" and error["param"] == param, error
    return error["message"]


def test_a_bad_cursor_is_a_400_naming_the_parameter(api):
    _seed(api)
    body = _get(api, "/deal?sort=amount&page_size=2")
    cursor = body["next_cursor"]
    back = _get(api, f"/deal?sort=amount&page_size=2&after={cursor}")["prev_cursor"]
    _bad(api, "after=garbage", "after")
    _bad(api, "before=not.a.cursor", "before")
    _bad(api, "after=%E4%B8%AD", "after")
    _bad(api, "after=" + "x" * 5000, "after")
    # Tampered: another payload under the old signature.
    payload, signature = cursor.split(".", 1)
    forged = (
        base64.urlsafe_b64encode(
            json.dumps({"e": "deal", "s": ["amount", "id"], "v": [0, 1]}).encode()
        )
        .decode()
        .rstrip("=")
    )
    _bad(api, f"sort=amount&after={forged}.{signature}", "after")
    assert "another sort" in _bad(api, f"sort=-amount&after={cursor}", "after")
    _bad(api, f"after={cursor}", "after")  # the default sort is not amount
    _bad(api, f"sort=amount&before={cursor}", "before")  # a next cursor is not a prev one
    _bad(api, f"sort=amount&after={back}", "after")
    _bad(api, f"sort=amount&after={cursor}&before={back}", "before")
    _bad(api, f"sort=amount&page=2&after={cursor}", "page")
    other = api.call("GET", f"/company?sort=amount&after={cursor}")
    assert other.status_code == 400  # a deal cursor on companies (no amount either)


def test_page_offset_paging_still_works_and_links_move_on_to_cursors(api):
    _seed(api, count=7)
    first = _get(api, "/deal?sort=amount&page_size=3")
    second = _get(api, "/deal?sort=amount&page_size=3&page=2")
    assert second["page"] == 2 and second["has_prev"] is True
    assert _get(api, first["links"]["next"])["data"] == second["data"]
    third = _get(api, second["links"]["next"])
    assert third["data"] == _get(api, "/deal?sort=amount&page_size=3&page=3")["data"]
    assert third["has_next"] is False and third["next_cursor"] is None
    assert _get(api, second["links"]["prev"])["data"] == first["data"]


def test_openapi_lists_the_cursor_parameters_and_response_fields(api):
    document = api.call("GET", "/openapi.json", who=None).get_json()
    operation = document["paths"]["/deal"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["after"]["schema"]["type"] == "string"
    assert params["before"]["schema"]["maxLength"] >= 1000
    assert params["page"]["deprecated"] is True
    assert "400" in operation["responses"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    for key in ("next_cursor", "prev_cursor", "has_prev"):
        assert key in schema["required"] and key in schema["properties"]
    assert schema["properties"]["page"]["type"] == ["integer", "null"]
    assert "prev" in schema["properties"]["links"]["properties"]
