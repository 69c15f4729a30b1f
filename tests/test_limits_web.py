"""Malformed input on the screens that once answered 500: a ``next=`` holding CR/LF on
sign-in and on the language switch, and a board move with a 21-digit ``row_version``;
a crafted post cannot empty a child table the user may only read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import make_web_app

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PASSWORD = "correct horse battery"
CRLF_TARGETS = ["/e/quote\r\nSet-Cookie: evil=1", "/e/quote%0d%0a", "/\n/evil.example", "/\t"]


def _token(client, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page)[1]


def _sign_in(client, email: str, **extra) -> object:
    return client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": _token(client), **extra},
    )


@pytest.fixture
def limits_app(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, FIXTURES / "limits_app")
    users = app.extensions["trellis"].users
    users.create_user("admin@example.com", "Admin", PASSWORD, roles=["admin"])
    users.create_user("rep@example.com", "Rep", PASSWORD, roles=["rep"])
    yield app
    app.extensions["trellis"].db.engine.dispose()


@pytest.mark.parametrize("target", CRLF_TARGETS)
def test_sign_in_with_a_next_holding_control_characters_lands_home(limits_app, target):
    client = limits_app.test_client()
    response = _sign_in(client, "rep@example.com", next=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "\n" not in location and "\r" not in location
    if any(ord(c) < 32 for c in target):
        assert location in ("/", "http://localhost/")
    assert "evil" not in response.headers.get("Set-Cookie", "")
    # and the signed-in GET of /login with such a next
    response = client.get("/login", query_string={"next": target})
    assert response.status_code == 302 and "\n" not in response.headers["Location"]


@pytest.mark.parametrize("target", CRLF_TARGETS)
def test_the_language_switch_with_a_next_holding_control_characters(limits_app, target):
    client = limits_app.test_client()
    token = _token(client)
    response = client.post("/locale", data={"locale": "zh", "next": target, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert "\n" not in response.headers["Location"]
    assert 'lang="zh' in client.get("/login").get_data(as_text=True)


def test_a_plain_next_still_works(limits_app):
    response = _sign_in(limits_app.test_client(), "rep@example.com", next="/e/quote?q=a")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/e/quote?q=a")


def test_a_crafted_post_cannot_empty_a_read_only_child_table(limits_app):
    repo = limits_app.extensions["trellis"].repo
    users = limits_app.extensions["trellis"].users
    admin = users.authenticate("admin@example.com", PASSWORD)
    quote = repo.create(admin, "quote", {"name": "Q", "lines": [{"product": "Widget"}]})
    client = limits_app.test_client()
    _sign_in(client, "rep@example.com")
    edit = f"/e/quote/{quote['id']}/edit"
    page = client.get(edit).get_data(as_text=True)
    assert 'name="lines-0-product"' not in page  # shown, not editable
    response = client.post(
        edit,
        data={"name": "Q2", "lines-present": "1", "row_version": str(quote["row_version"]),
              "csrf_token": _token(client, edit)},
    )  # fmt: skip
    assert response.status_code in (302, 303, 403, 422), response.status_code
    stored = repo.get(admin, "quote", quote["id"])
    assert [line["product"] for line in stored["lines"]] == ["Widget"]


# --------------------------------------------------------------------------- the board


@pytest.fixture
def board_app(pipeline_web_app):
    return pipeline_web_app


@pytest.mark.parametrize("version", ["9" * 21, "1" * 19, "²", "-1", "1e3"])
def test_a_board_move_with_a_malformed_row_version_is_a_400(board_app, version):
    services = board_app.extensions["trellis"]
    rep = services.users.authenticate("rep@example.com", PASSWORD)
    deal = services.repo.create(rep, "deal", {"name": "Acme", "amount": 100})
    client = board_app.test_client()
    _sign_in(client, "rep@example.com")
    response = client.post(
        "/p/sales/move",
        data={"record_id": deal["id"], "to_stage": "discovery", "row_version": version},
        headers={"Accept": "application/json", "X-CSRFToken": _token(client, "/p/sales")},
    )
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.get_json()["code"] == "bad_request"
    assert services.repo.get(rep, "deal", deal["id"])["stage"] == "lead"


def test_a_board_move_with_a_stale_long_version_is_a_conflict(board_app):
    services = board_app.extensions["trellis"]
    rep = services.users.authenticate("rep@example.com", PASSWORD)
    deal = services.repo.create(rep, "deal", {"name": "Acme", "amount": 100})
    client = board_app.test_client()
    _sign_in(client, "rep@example.com")
    response = client.post(
        "/p/sales/move",
        data={"record_id": deal["id"], "to_stage": "discovery", "row_version": "9" * 18},
        headers={"Accept": "application/json", "X-CSRFToken": _token(client, "/p/sales")},
    )
    assert response.status_code == 409, response.get_data(as_text=True)[:300]


# --------------------------------------------------------------------------- row limits on the form


@pytest.mark.parametrize(("locale", "text"), [("en", "At most 5 rows"), ("zh", "最多允许 5 行")])
def test_the_new_quote_form_refuses_more_lines_than_allowed(limits_app, locale, text):
    client = limits_app.test_client()
    _sign_in(client, "admin@example.com")
    client.post("/locale", data={"locale": locale, "csrf_token": _token(client, "/e/quote/new")})
    data = {"name": "Big", "lines-present": "1", "csrf_token": _token(client, "/e/quote/new")}
    for n in range(6):
        data[f"lines-{n}-product"] = f"P{n}"
        data[f"lines-{n}-qty"] = "1"
    response = client.post("/e/quote/new", data=data)
    assert response.status_code == 422
    assert text in response.get_data(as_text=True)
    repo = limits_app.extensions["trellis"].repo
    admin = limits_app.extensions["trellis"].users.authenticate("admin@example.com", PASSWORD)
    assert repo.count(admin, "quote") == 0
