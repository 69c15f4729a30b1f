"""Group-by in lists: ``?group=<field>`` heads each group of rows with its record count
and the sums of the numeric columns shown (from one GROUP BY, over the whole filtered
list in the reader's scope), and a totals row adds up the list; kept in the URL and in
saved views. Runs on SQLite and PostgreSQL against ``tests/fixtures/api_app``.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.conftest import csrf_token, signed_in_client
from tests.test_api import Client, add_users, make_api_app

COLUMNS = "columns=name,status,amount,quantity"


@pytest.fixture
def api(db_url, tmp_path) -> Client:
    app = make_api_app(db_url, tmp_path / "instance")
    keys, ids = add_users(app)
    yield Client(app, keys, ids)
    app.extensions["trellis"].db.engine.dispose()


def _seed(api) -> list[dict]:
    repo = api.app.extensions["trellis"].repo
    rows = [
        {
            "name": f"deal {n:02d}",
            "amount": None if n % 4 == 0 else 100 * (n % 6),
            "quantity": n,
            "close_date": date.today() - timedelta(days=n),
            "status": ("open", "won", "lost")[n % 3] if n % 7 else None,
            "notes": "lost on price" if n % 3 == 2 else None,
        }
        for n in range(20)
    ]
    repo.bulk_create(repo.principal(api.ids["rep1"]), "deal", rows[::2])
    repo.bulk_create(repo.principal(api.ids["rep3"]), "deal", rows[1::2])  # team West
    return rows[::2]  # what rep2 (team East) may read


def _expected(rows: list[dict]) -> dict:
    found: dict = {}
    for row in rows:
        group = found.setdefault(row["status"], {"count": 0, "amount": 0, "quantity": 0})
        group["count"] += 1
        group["amount"] += row["amount"] or 0
        group["quantity"] += row["quantity"]
    return found


def _json(client, query: str) -> dict:
    response = client.get(f"/e/deal.json?{query}")
    assert response.status_code == 200
    return response.get_json()


def test_groups_carry_the_count_and_sums_of_the_whole_group_in_the_readers_scope(api):
    east = _seed(api)
    client = signed_in_client(api.app, "rep2@example.com", "rep-pass-22")
    body = _json(client, f"{COLUMNS}&group=status&page_size=1")
    expected = _expected(east)
    # Only the group on this page is headed; it counts the whole group, not the page.
    [first] = body["groups"]
    assert first["count"] == expected[first["key"]]["count"] > len(body["rows"]) == 1
    full = _json(client, f"{COLUMNS}&group=status&page_size=100")
    got = {g["key"]: g for g in full["groups"]}
    assert set(got) == set(expected)
    for key, want in expected.items():
        assert got[key]["count"] == want["count"]
        assert got[key]["sums"]["quantity"] == str(want["quantity"])
        if want["amount"]:
            assert Decimal(re.sub(r"[^0-9.]", "", got[key]["sums"]["amount"])) == want["amount"]
    assert full["totals"]["count"] == len(east)
    assert full["totals"]["sums"]["quantity"] == str(sum(r["quantity"] for r in east))
    # Rows come grouped: every status's rows are together.
    statuses = [r["cells"]["status"] for r in full["rows"]]
    assert len(statuses) == len(east)
    runs = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
    assert len(runs) == len(set(statuses))


def test_group_subtotals_follow_the_filters(api):
    east = _seed(api)
    client = signed_in_client(api.app, "rep2@example.com", "rep-pass-22")
    body = _json(client, f"{COLUMNS}&group=status&quantity__gte=10&page_size=100")
    expected = _expected([r for r in east if r["quantity"] >= 10])
    assert {g["key"]: g["count"] for g in body["groups"]} == {
        k: v["count"] for k, v in expected.items()
    }


def test_totals_alone_and_bad_group_field_are_explained(api):
    _seed(api)
    client = signed_in_client(api.app, "admin@example.com", "admin-pass-1")
    body = _json(client, f"{COLUMNS}&totals=1")
    assert body["totals"]["count"] == 20 and body["groups"] == []
    assert body["totals"]["sums"]["quantity"] == str(sum(range(20)))
    bad = _json(client, f"{COLUMNS}&group=notes")
    assert bad.get("group") is None
    assert bad["errors"] == ["group: Rows cannot be grouped by notes."]
    assert _json(client, f"{COLUMNS}&group=nope")["errors"]


def test_the_page_shows_group_headers_totals_and_the_group_by_menu(api):
    _seed(api)
    client = signed_in_client(api.app, "admin@example.com", "admin-pass-1")
    html = client.get(f"/e/deal?{COLUMNS}&group=status").get_data(True)
    assert html.count('class="group-row"') == 4  # open, won, lost and (empty)
    assert 'class="totals-row"' in html and "20 records" in html
    assert 'name="group"' in html and '<option value="status" selected>' in html
    # Sort links and the filter form keep the grouping.
    assert re.search(r'href="/e/deal\?[^"]*group=status[^"]*sort=', html) or re.search(
        r'href="/e/deal\?[^"]*sort=[^"]*group=status', html
    )
    # A group's name links to the list filtered to it.
    assert (
        'href="/e/deal?view=all&amp;columns=name%2Cstatus%2Camount%2Cquantity&amp;status=won"'
        in html
        or "status=won" in html
    )


def test_the_grouping_is_kept_in_a_saved_view(api):
    _seed(api)
    client = signed_in_client(api.app, "admin@example.com", "admin-pass-1")
    page = client.get(f"/e/deal?{COLUMNS}&group=status").get_data(True)
    state = re.search(r'name="state" value="([^"]*)"', page).group(1).replace("&amp;", "&")
    assert "group=status" in state
    response = client.post(
        "/e/deal/views", data={"name": "By status", "state": state, "csrf_token": csrf_token(page)}
    )
    assert response.status_code in (302, 303)
    saved = client.get(response.headers["Location"]).get_data(True)
    assert saved.count('class="group-row"') == 4


def test_chinese_group_by(api):
    _seed(api)
    users = api.app.extensions["trellis"].users
    users.create_user("zh@example.com", "王芳", "zh-pass-123", roles=["admin"], locale="zh")
    client = signed_in_client(api.app, "zh@example.com", "zh-pass-123")
    html = client.get(f"/e/deal?{COLUMNS}&group=status").get_data(True)
    assert "分组" in html and "合计" in html and "20 条记录" in html
