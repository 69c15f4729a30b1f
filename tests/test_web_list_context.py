"""The one list context (``runtime.web.list_context``): the list screen, its JSON and the
REST API read a query the same way and ask the repository once, so for the same query
string they give the same records in the same order, page after page by one cursor.

Runs on SQLite and PostgreSQL against ``tests/fixtures/api_app`` (its ``deal`` has no
view filters, so the screen's default view adds nothing to the query).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from runtime.web.list_context import read_list
from runtime.web.list_request import ListEnv
from runtime.web.query import QueryError
from tests.conftest import signed_in_client
from tests.test_api import Client, add_users, make_api_app


@pytest.fixture
def api(db_url, tmp_path) -> Client:
    app = make_api_app(db_url, tmp_path / "instance")
    keys, ids = add_users(app)
    yield Client(app, keys, ids)
    app.extensions["trellis"].db.engine.dispose()


def _seed(api, count: int = 23) -> list[int]:
    repo = api.app.extensions["trellis"].repo
    rep1 = repo.principal(api.ids["rep1"])
    rep3 = repo.principal(api.ids["rep3"])
    rows = [
        {
            "name": f"deal {n % 5:02d}",  # ties on the name: the id breaks them
            "amount": None if n % 4 == 0 else 100 * (n % 6),
            "close_date": date.today() - timedelta(days=n * 5),
            "status": ("open", "won", "lost")[n % 3],
            "notes": "lost on price" if n % 3 == 2 else None,
        }
        for n in range(count)
    ]
    mine = repo.bulk_create(rep1, "deal", rows[::2])
    repo.bulk_create(rep3, "deal", rows[1::2])  # team West: invisible to rep1's team
    return [r["id"] for r in mine]


def _screen_ids(client, query: str) -> tuple[list[int], dict]:
    response = client.get(f"/e/deal.json?{query}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["errors"] == []
    return [row["id"] for row in body["rows"]], body


def _api_ids(api, query: str, who: str = "rep2") -> tuple[list[int], dict]:
    response = api.call("GET", f"/deal?{query}", who)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return [row["id"] for row in body["data"]], body


QUERIES = [
    "sort=-amount,name&page_size=4",
    "status__in=open,won&sort=name&page_size=3",
    "close_date__gte=last_30_days&sort=-close_date&page_size=2",
    "owner_id=my_team&amount__isnull=false&sort=amount&page_size=3",
    "q=deal 0&sort=-close_date&page_size=2",
]


@pytest.mark.parametrize("query", QUERIES)
def test_the_screen_and_the_api_give_the_same_rows_page_after_page(api, query):
    mine = _seed(api)
    screen = signed_in_client(api.app, "rep2@example.com", "rep-pass-22")
    screen_ids, screen_body = _screen_ids(screen, query)
    api_ids, api_body = _api_ids(api, query)
    assert api_ids and screen_ids == api_ids
    assert set(api_ids) <= set(mine)  # rep2 reads team East's deals only
    seen = list(api_ids)
    # Every next page, by the API's cursor: the screen takes it as its own ``after=``.
    while api_body["has_next"]:
        cursor = api_body["next_cursor"]
        api_ids, api_body = _api_ids(api, f"{query}&after={cursor}")
        screen_ids, screen_body = _screen_ids(screen, f"{query}&page=2&after={cursor}")
        assert screen_ids == api_ids
        assert screen_body["has_next"] == api_body["has_next"]
        seen += api_ids
    assert len(seen) == len(set(seen)) > 0


def test_the_screens_own_next_link_carries_a_cursor_the_api_reads(api):
    _seed(api)
    screen = signed_in_client(api.app, "rep2@example.com", "rep-pass-22")
    query = "sort=-amount,name&page_size=3"
    _, first = _screen_ids(screen, query)
    next_url = first["next_url"]
    assert "after=" in next_url
    cursor = next_url.split("after=", 1)[1].split("&", 1)[0]
    screen_ids, _ = _screen_ids(screen, next_url.split("?", 1)[1])
    api_ids, _ = _api_ids(api, f"{query}&after={cursor}")
    assert screen_ids == api_ids and len(api_ids) == 3


def _env(api, who: str) -> ListEnv:
    from runtime.web.cursors import CursorCodec

    services = api.app.extensions["trellis"]
    principal = services.repo.principal(api.ids[who])
    return ListEnv(services, principal, "en", cursors=CursorCodec("k", services.model.digest))


def test_one_request_asks_the_repository_once_either_way(api, monkeypatch):
    _seed(api)
    env = _env(api, "rep1")
    calls = []
    real = env.services.repo.list

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(env.services.repo, "list", counting)
    args = [("status", "won"), ("sort", "-amount"), ("page_size", "5")]
    screen = read_list(env, "deal", args)
    assert len(calls) == 1
    as_api = read_list(env, "deal", args, api=True)
    assert len(calls) == 2
    assert [r["id"] for r in screen.rows] == [r["id"] for r in as_api.rows]
    # The screen reads the view's columns; the API every readable field.
    assert calls[0]["fields"] is not None and calls[1]["fields"] is None
    assert "secret" not in as_api.rows[0]  # a field rep1 may not read stays out


def test_the_screen_drops_a_bad_parameter_the_api_refuses_it(api):
    _seed(api)
    env = _env(api, "rep1")
    args = [("amount__gte", "lots"), ("status", "won")]
    screen = read_list(env, "deal", args)
    assert [e.param for e in screen.request.errors] == ["amount__gte"]
    won = read_list(env, "deal", [("status", "won")], api=True).rows
    assert all(r["status"] == "won" for r in won)
    assert [r["id"] for r in screen.rows] == [r["id"] for r in won] != []
    with pytest.raises(QueryError) as refused:
        read_list(env, "deal", args, api=True)
    assert refused.value.param == "amount__gte"
    # A hidden field looks unknown to both.
    with pytest.raises(QueryError, match="unknown field"):
        read_list(env, "deal", [("secret", "x")], api=True)
    hidden = read_list(env, "deal", [("secret", "x")])
    assert [e.param for e in hidden.request.errors] == ["secret"]
