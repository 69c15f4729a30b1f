"""Sign-in and sign-out as a user and an attacker meet them: sessions that really end,
limits per address, headers, the language kept across sign-in, avatars and taglines."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from runtime.definition import check_app
from runtime.web.avatars import initials
from tests.test_web_shell import (
    PASSWORD,
    REFERENCE_APP,
    csrf_from,
    init_db,
    login,
    make_app,
    page_token,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "apps"


@pytest.fixture
def app(db_url, tmp_path):
    init_db(db_url)
    app = make_app(db_url, tmp_path)
    users = app.extensions["trellis"].users
    app.config["rep_id"] = users.create_user(
        "rep@example.com", "Rita Rep", PASSWORD, roles=["sales_rep"]
    )
    yield app
    app.extensions["trellis"].db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def sign_out(client):
    return client.post("/logout", data={"csrf_token": page_token(client)})


def cookie_value(client, name):
    cookie = client.get_cookie(name)
    assert cookie is not None, f"no {name} cookie"
    return cookie.value


def browser_with(app, **cookies):
    """Another browser holding copies of the given cookies (and nothing else)."""
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other


# -- 23: sign-out, new password and deactivation end every session ----------------------


def test_copied_session_cookie_is_dead_after_sign_out(app, client):
    login(client)
    stolen = cookie_value(client, "trellis_session")
    assert browser_with(app, trellis_session=stolen).get("/").status_code == 200
    assert sign_out(client).status_code == 302
    replay = browser_with(app, trellis_session=stolen).get("/")
    assert replay.status_code == 302
    assert replay.headers["Location"].startswith("/login")


def test_remember_cookie_is_deleted_and_dead_after_sign_out(app, client):
    login(client, remember="1")
    remembered = cookie_value(client, "trellis_remember")
    # The remember cookie alone signs a browser in (that is what it is for) ...
    assert browser_with(app, trellis_remember=remembered).get("/").status_code == 200
    response = sign_out(client)
    assert any(
        h.startswith("trellis_remember=;") for h in response.headers.getlist("Set-Cookie")
    ), "sign-out must delete the remember cookie"
    assert client.get_cookie("trellis_remember") is None
    assert client.get("/").status_code == 302
    # ... and a copy taken before sign-out no longer does.
    assert browser_with(app, trellis_remember=remembered).get("/").status_code == 302


def test_sign_out_ends_the_sessions_on_other_devices(app, client):
    laptop, phone = client, app.test_client()
    login(laptop)
    login(phone, remember="1")
    sign_out(laptop)
    assert phone.get("/").status_code == 302


def test_new_password_ends_every_session_and_remember_cookie(app, client):
    login(client, remember="1")
    remembered = cookie_value(client, "trellis_remember")
    app.extensions["trellis"].users.set_password(app.config["rep_id"], "a brand new password")
    assert client.get("/").status_code == 302
    assert browser_with(app, trellis_remember=remembered).get("/").status_code == 302
    assert login(app.test_client(), password="a brand new password").status_code == 302


def test_deactivation_ends_sessions_even_after_reactivation(app, client):
    users = app.extensions["trellis"].users
    login(client, remember="1")
    remembered = cookie_value(client, "trellis_remember")
    users.set_active(app.config["rep_id"], False)
    assert client.get("/").status_code == 302
    users.set_active(app.config["rep_id"], True)
    assert client.get("/").status_code == 302
    assert browser_with(app, trellis_remember=remembered).get("/").status_code == 302


def test_api_keys_survive_sign_out(app, client):
    key = app.extensions["trellis"].users.create_api_key(app.config["rep_id"], name="sync")
    login(client)
    sign_out(client)
    response = app.test_client().get("/api/v1/account", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


# -- 28: a limit per address, headers -----------------------------------------------------


def attempt(client, email, password="wrong password", address="10.0.0.1", headers=None):
    page = client.get("/login", environ_base={"REMOTE_ADDR": address}, headers=headers)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.text)},
        environ_base={"REMOTE_ADDR": address},
        headers=headers,
    )


def test_one_address_trying_many_emails_meets_a_limit(db_url, tmp_path):
    init_db(db_url)
    app = make_app(db_url, tmp_path, TRELLIS_LOGIN_MAX_FAILURES_PER_IP=10)
    app.extensions["trellis"].users.create_user("rep@example.com", "Rita", PASSWORD)
    client = app.test_client()
    for n in range(10):
        assert attempt(client, f"guess{n}@example.com").status_code == 401
    blocked = attempt(client, "rep@example.com", PASSWORD)
    assert blocked.status_code == 429
    # A colleague at another address signs in as usual.
    assert attempt(app.test_client(), "rep@example.com", PASSWORD, "10.0.0.2").status_code == 302
    app.extensions["trellis"].db.engine.dispose()


def test_forwarded_for_is_ignored_without_a_proxy_count(db_url, tmp_path):
    init_db(db_url)
    app = make_app(db_url, tmp_path, TRELLIS_LOGIN_MAX_FAILURES_PER_IP=3)
    client = app.test_client()
    for n in range(3):  # a new made-up X-Forwarded-For each time does not help
        spoof = {"X-Forwarded-For": f"192.0.2.{n}"}
        assert attempt(client, f"g{n}@example.com", headers=spoof).status_code == 401
    assert (
        attempt(client, "g9@example.com", headers={"X-Forwarded-For": "192.0.2.99"}).status_code
        == 429
    )
    app.extensions["trellis"].db.engine.dispose()


def test_behind_a_proxy_the_forwarded_client_address_is_counted(db_url, tmp_path):
    init_db(db_url)
    app = make_app(db_url, tmp_path, TRELLIS_LOGIN_MAX_FAILURES_PER_IP=3, TRELLIS_PROXY_COUNT=1)
    client = app.test_client()
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for n in range(3):
        assert attempt(client, f"g{n}@example.com", headers=attacker).status_code == 401
    assert attempt(client, "g9@example.com", headers=attacker).status_code == 429
    # Everybody else comes through the same proxy socket address, and is not blocked.
    other = {"X-Forwarded-For": "203.0.113.8"}
    assert attempt(client, "g9@example.com", headers=other).status_code == 401
    app.extensions["trellis"].db.engine.dispose()


def test_pages_and_json_are_not_stored_by_caches(app, client):
    login(client)
    assert client.get("/").headers["Cache-Control"] == "no-store"
    assert client.get("/e/account").headers["Cache-Control"] == "no-store"
    api = client.get("/api/v1/account")
    assert api.status_code == 200 and api.headers["Cache-Control"] == "no-store"
    static = client.get("/static/css/trellis.css")
    assert "no-store" not in static.headers.get("Cache-Control", "")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_header(port: int) -> str:
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return r.headers["Server"]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_development_server_names_no_versions(app):
    from werkzeug.serving import make_server

    from runtime.web.serving import QuietRequestHandler

    server = make_server("127.0.0.1", 0, app, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        header = _server_header(server.server_port)
    finally:
        server.shutdown()
    assert header == "Trellis"


def test_gunicorn_names_no_versions(db_url, tmp_path):
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if not gunicorn.exists():
        pytest.skip("gunicorn is not installed")
    init_db(db_url)
    port = _free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "TRELLIS_DATABASE_URL": db_url,
        "TRELLIS_APP": str(REFERENCE_APP),
        "TRELLIS_INSTANCE_PATH": str(tmp_path / "instance"),
        "TRELLIS_SECRET_KEY": "test-secret",
    }
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [str(gunicorn), "-w", "1", "-b", f"127.0.0.1:{port}", "runtime.web.wsgi:app"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        header = _server_header(port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert header == "gunicorn"


# -- 21: autofocus, the login page's language kept, avatar initials ------------------------


def test_login_page_focuses_the_email_field(client):
    html = client.get("/login").text
    email = html[html.index('id="f-email"') :].split(">", 1)[0]
    assert "autofocus" in email


def test_language_picked_on_the_login_page_is_kept_after_sign_in(app, client):
    page = client.get("/login")
    client.post(
        "/locale", data={"locale": "zh", "csrf_token": csrf_from(page.text), "next": "/login"}
    )
    assert 'lang="zh-CN"' in client.get("/login").text
    assert login(client).status_code == 302
    home = client.get("/")
    assert 'lang="zh-CN"' in home.text and "首页" in home.text
    # Saved on the user: another browser, without the choice, shows Chinese too.
    assert app.extensions["trellis"].users.get(app.config["rep_id"])["locale"] == "zh"
    other = app.test_client()
    login(other)
    assert 'lang="zh-CN"' in other.get("/").text


def test_signing_in_without_picking_keeps_the_saved_language(app, client):
    users = app.extensions["trellis"].users
    users.set_locale(app.config["rep_id"], "zh")
    login(client)
    assert 'lang="zh-CN"' in client.get("/").text
    assert users.get(app.config["rep_id"])["locale"] == "zh"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Sarah Liu 刘芳 (Pre-sales)", "SL"),
        ("刘芳", "刘"),
        ("欧阳娜娜（售前）", "欧"),
        ("Rita Rep", "RR"),
        ("madonna", "M"),
        ("O'Brien, Pat", "OP"),
        ("rep.east1@example.com", "RE"),
        ("(—)", "?"),
        ("", "?"),
    ],
)
def test_avatar_initials_ignore_punctuation_and_brackets(name, expected):
    assert initials(name) == expected


def test_avatar_in_the_top_bar_shows_clean_initials(app):
    app.extensions["trellis"].users.create_user(
        "sarah@example.com", "Sarah Liu 刘芳 (Pre-sales)", PASSWORD, roles=["presales"]
    )
    client = app.test_client()
    login(client, email="sarah@example.com")
    html = client.get("/").text
    avatars = [
        part.split("<", 1)[0]
        for part in html.split('class="avatar avatar-md" aria-hidden="true">')[1:]
    ]
    assert avatars and set(avatars) == {"SL"}


# -- 7: the tagline comes from the app definition ------------------------------------------


def test_login_tagline_comes_from_the_reference_app(client):
    assert "Every lead, deal and approval in one place" in client.get("/login").text
    zh = client.get("/login", headers={"Accept-Language": "zh-CN"}).text
    assert "线索、商机与审批尽在一处" in zh


def test_an_app_without_deals_shows_its_own_tagline(db_url, tmp_path):
    app_dir = FIXTURES / "recruiting"
    init_db(db_url, app_dir)
    app = make_app(db_url, tmp_path, app_dir)
    client = app.test_client()
    html = client.get("/login").text
    assert "Every candidate and interview in one place." in html
    assert "deal" not in html.lower() and "lead" not in html.lower()
    zh = client.get("/login", headers={"Accept-Language": "zh"}).text
    assert "每位候选人和每场面试，一处掌握。" in zh and "商机" not in zh
    app.extensions["trellis"].db.engine.dispose()


def test_an_app_without_a_tagline_shows_a_neutral_sentence(db_url, tmp_path):
    app_dir = FIXTURES / "minimal"
    init_db(db_url, app_dir)
    app = make_app(db_url, tmp_path, app_dir)
    html = app.test_client().get("/login").text
    assert "Your team's work, in one place." in html.replace("&#39;", "'")
    assert "Every lead, deal" not in html
    app.extensions["trellis"].db.engine.dispose()


def test_a_tagline_missing_a_locale_is_reported(tmp_path):
    app_dir = tmp_path / "recruiting"
    shutil.copytree(FIXTURES / "recruiting", app_dir)
    path = app_dir / "app.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(", zh: 每位候选人和每场面试，一处掌握。}", "}"), encoding="utf-8")
    problems = check_app(app_dir)
    assert [p.code for p in problems] == ["TRL-E065"]
    assert "'zh'" in problems[0].message and "app.yaml" in problems[0].file
    assert problems[0].line == 4
