"""The HTML list pages by keyset cursors; exports read every row in keyset batches, streamed.

Against ``tests/fixtures/web_app`` on SQLite and PostgreSQL: Next / Previous carry
``after=`` / ``before=`` cursors and walk the same rows as one big page; a bad cursor
is reported and the first page shown; an export of many rows is complete, in the
list's order, read ``CHUNK`` rows per ``repo.list`` call by keyset (no OFFSET) while
the response is being sent.
"""

from __future__ import annotations

import csv
import io
import math
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event

from tests.conftest import make_web_app
from tests.test_web_list import PASSWORD, WEB_APP, login


def _seed(app, count: int) -> dict[str, int]:
    services = app.extensions["trellis"]
    users = services.users
    east = users.create_team("East")
    west = users.create_team("West")
    ids = {
        "admin": users.create_user("admin@example.com", "Ada Admin", PASSWORD, roles=["admin"]),
        "rep1": users.create_user(
            "rep1@example.com", "Rita", PASSWORD, roles=["rep"], team_id=east
        ),
        "rep3": users.create_user(
            "rep3@example.com", "Walt", PASSWORD, roles=["rep"], team_id=west
        ),
    }
    repo = services.repo
    admin = repo.principal(ids["admin"])
    rows = [
        {
            "name": f"Deal {n:04d}",
            "amount": None if n % 7 == 0 else 100 * (n % 9),  # ties and NULLs
            "close_date": None if n % 5 == 0 else f"2025-0{1 + n % 9}-1{n % 10}",
            "secret": f"secret {n}",
        }
        for n in range(count)
    ]
    created = repo.bulk_create(admin, "deal", rows)
    table = services.db.table("deal")
    east_ids = [r["id"] for r in created][::3]
    with services.db.engine.begin() as conn:
        conn.execute(table.update().where(table.c.id.in_(east_ids)).values(owner_id=ids["rep1"]))
    app.config["east_ids"] = set(east_ids)
    return ids


@pytest.fixture
def app(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, WEB_APP)
    yield app
    app.extensions["trellis"].db.engine.dispose()


def _json(client, url: str) -> dict:
    response = client.get(url.replace("/e/deal?", "/e/deal.json?", 1))
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()


def _ids(body: dict) -> list[int]:
    return [row["id"] for row in body["rows"]]


def _walk(client, query: str) -> tuple[list[dict], list[dict]]:
    body = _json(client, f"/e/deal?{query}")
    forward = [body]
    while body["next_url"]:
        body = _json(client, body["next_url"])
        forward.append(body)
    backward = [body]
    while body["prev_url"]:
        body = _json(client, body["prev_url"])
        backward.append(body)
    return forward, backward[::-1]


@pytest.mark.parametrize("sort", ["-amount", "amount", "close_date,-amount", "-close_date"])
def test_next_and_previous_walk_the_list_by_cursor(app, sort):
    _seed(app, 23)
    admin = login(app, "admin@example.com")
    everything = _ids(_json(admin, f"/e/deal?view=all&sort={sort}&page_size=200"))
    assert len(everything) == 23
    forward, backward = _walk(admin, f"view=all&sort={sort}&page_size=5")
    assert [i for body in forward for i in _ids(body)] == everything
    assert [b["page"] for b in forward] == [1, 2, 3, 4, 5]
    assert [_ids(b) for b in backward] == [_ids(b) for b in forward]
    second, third = forward[1], forward[2]
    assert "after=" in third["next_url"] and "page=4" in third["next_url"]
    assert "before=" in third["prev_url"] and "page=2" in third["prev_url"]
    assert "after=" not in second["prev_url"] and "before=" not in second["prev_url"]
    assert "page=" not in second["prev_url"]  # back to page 1 is the plain first page
    # The HTML page: Page 3, and the pager links carry the cursors.
    html = admin.get(forward[1]["next_url"]).get_data(as_text=True)
    assert "Page 3" in html
    query = parse_qs(urlsplit(third["next_url"]).query)
    assert query["view"] == ["all"] and query["page_size"] == ["5"]
    assert f'href="{third["next_url"].replace("&", "&amp;")}"' in html
    assert 'rel="prev"' in html and 'rel="next"' in html


def test_htmx_next_pushes_the_cursor_url(app):
    _seed(app, 12)
    admin = login(app, "admin@example.com")
    first = _json(admin, "/e/deal?view=all&page_size=5")
    response = admin.get(
        first["next_url"], headers={"HX-Request": "true", "HX-Target": "list-results"}
    )
    assert response.status_code == 200
    pushed = response.headers["HX-Push-Url"]
    assert "after=" in pushed and "page=2" in pushed
    assert _ids(_json(admin, pushed)) == _ids(_json(admin, first["next_url"]))


def test_a_bad_cursor_is_reported_and_the_first_page_shown(app):
    _seed(app, 8)
    admin = login(app, "admin@example.com")
    first = _json(admin, "/e/deal?view=all&page_size=3")
    for query in ("after=garbage", "before=x.y", f"sort=name&{first['next_url'].split('&', 1)[1]}"):
        body = _json(admin, f"/e/deal?view=all&page_size=3&{query}")
        assert any(e.startswith(("after:", "before:")) for e in body["errors"]), body["errors"]
        assert body["page"] == 1
    html = admin.get("/e/deal?after=garbage").get_data(as_text=True)
    assert "is not a valid cursor" in html


def test_a_rep_pages_through_only_the_team_rows(app):
    _seed(app, 40)
    rep = login(app, "rep1@example.com")
    forward, backward = _walk(rep, "view=all&sort=-amount&page_size=4")
    seen = [i for body in forward for i in _ids(body)]
    assert set(seen) == app.config["east_ids"] and len(seen) == len(set(seen))
    assert [_ids(b) for b in backward] == [_ids(b) for b in forward]
    # A sort on the hidden field is dropped (as before), not used for the cursor.
    body = _json(rep, "/e/deal?view=all&sort=secret&page_size=4")
    assert any(e.startswith("sort:") for e in body["errors"])
    assert "secret" not in _json(rep, body["next_url"])["rows"][0]["cells"]


# --------------------------------------------------------------------------- exports


def _offset_of(statement: str, parameters) -> int:
    """The OFFSET a statement uses (SQLite: "OFFSET ?", PostgreSQL: "OFFSET %(name)s")."""
    match = re.search(r"OFFSET (\?|%\((\w+)\)S)", statement)
    if match is None:
        return 0
    if isinstance(parameters, dict):
        lowered = {k.upper(): v for k, v in parameters.items()}
        return lowered[match.group(2)]
    return parameters[-1]


class _Calls:
    """Wraps repo.list: records each call's keyset position and page."""

    def __init__(self, repo):
        self.original = repo.list
        self.calls: list[dict] = []

    def __call__(self, user, entity_id, **kw):
        if entity_id == "deal":
            self.calls.append({"after": kw.get("after"), "page": kw.get("page")})
        return self.original(user, entity_id, **kw)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_export_of_many_rows_is_complete_ordered_and_read_in_keyset_batches(app, monkeypatch, kind):
    from runtime.web import export

    count = 530
    _seed(app, count)
    admin = login(app, "admin@example.com")
    services = app.extensions["trellis"]
    everything = []
    body = _json(admin, "/e/deal?view=all&sort=amount,-close_date&page_size=200")
    everything += [row["title"] for row in body["rows"]]
    while body["next_url"]:
        body = _json(admin, body["next_url"])
        everything += [row["title"] for row in body["rows"]]
    assert len(everything) == count

    spy = _Calls(services.repo)
    monkeypatch.setattr(services.repo, "list", spy)
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, *args):
        if "ent_deal" in statement and "_sort0" in statement:
            statements.append((statement.upper(), parameters))

    event.listen(services.db.engine, "before_cursor_execute", record)
    try:
        response = admin.get(f"/e/deal/export.{kind}?view=all&sort=amount,-close_date")
        assert response.status_code == 200
        data = response.data
    finally:
        event.remove(services.db.engine, "before_cursor_execute", record)
    if kind == "csv":
        assert data.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        header, body_rows = rows[0], rows[1:]
    else:
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
        values = [list(r) for r in sheet.iter_rows(values_only=True)]
        header, body_rows = values[0], values[1:]
    assert [row[header.index("Name")] for row in body_rows] == everything

    batches = math.ceil(count / export.CHUNK)
    assert len(spy.calls) == batches
    assert spy.calls[0]["after"] is None
    assert all(call["after"] is not None for call in spy.calls[1:])
    # One statement per batch, and one more where the batch crosses into the NULL amounts.
    assert batches <= len(statements) <= batches + 1
    for statement, parameters in statements:  # never a real OFFSET
        assert _offset_of(statement, parameters) == 0


def test_csv_export_streams_batch_by_batch(app, monkeypatch):
    from runtime.web import export

    monkeypatch.setattr(export, "CHUNK", 50)
    _seed(app, 400)
    admin = login(app, "admin@example.com")
    services = app.extensions["trellis"]
    spy = _Calls(services.repo)
    monkeypatch.setattr(services.repo, "list", spy)
    response = admin.get("/e/deal/export.csv?view=all&sort=-amount", buffered=False)
    assert response.status_code == 200
    chunks = iter(response.response)
    received = [next(chunks), next(chunks)]  # the header, then the first 50 rows
    assert len(spy.calls) <= 2  # only what was sent so far has been read
    received += list(chunks)
    response.close()
    assert len(spy.calls) == 8
    text = b"".join(received).decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(text)))) == 1 + 400


def test_export_stops_at_the_row_cap(app, monkeypatch):
    from runtime.web import export

    monkeypatch.setattr(export, "CHUNK", 40)
    monkeypatch.setattr(export, "MAX_ROWS", 90)
    _seed(app, 130)
    admin = login(app, "admin@example.com")
    text = admin.get("/e/deal/export.csv?view=all&sort=name").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 1 + 90
    assert [r[rows[0].index("Name")] for r in rows[1:]] == [f"Deal {n:04d}" for n in range(90)]
