"""The web shell: sign-in, rate limit, CSRF, locale, escaping, navigation, home, API keys."""

from __future__ import annotations

import os
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from runtime.definition import load_app
from tests.conftest import MODELS, build_schema, make_web_app

REFERENCE_APP = Path(__file__).resolve().parent.parent / "app_definitions" / "opportunity"

PASSWORD = "correct horse battery"


def make_app(db_url, tmp_path, app_dir=REFERENCE_APP, **overrides):
    """The app on ``db_url`` as it is (``init_db`` makes its tables): ``make_web_app``."""
    return make_web_app(db_url, tmp_path, app_dir, schema=False, **overrides)


def init_db(db_url, app_dir=REFERENCE_APP):
    build_schema(db_url, load_app(app_dir, cache=MODELS))


@pytest.fixture
def app(db_url, tmp_path):
    init_db(db_url)
    app = make_app(db_url, tmp_path)
    users = app.extensions["trellis"].users
    app.config["test_users"] = {
        "rep": users.create_user("rep@example.com", "Rita Rep", PASSWORD, roles=["sales_rep"]),
        "legal": users.create_user("legal@example.com", "Lee Legal", PASSWORD, roles=["legal"]),
        "zh": users.create_user(
            "zh@example.com", "王芳", PASSWORD, roles=["sales_rep"], locale="zh"
        ),
    }
    yield app
    app.extensions["trellis"].db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no CSRF meta tag"
    return match.group(1)


def login(client, email="rep@example.com", password=PASSWORD, **extra):
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    data = {"email": email, "password": password, "csrf_token": token, **extra}
    return client.post("/login", data=data)


def page_token(client, path="/") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


# -- sign-in ----------------------------------------------------------------------


def test_pages_redirect_to_login_when_signed_out(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/")


def test_login_with_right_password_reaches_home(client):
    response = login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Rita Rep" in home.get_data(as_text=True)


def test_login_with_wrong_password_is_refused(client):
    response = login(client, password="wrong password")
    assert response.status_code == 401
    assert "not correct" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_ignores_offsite_next(client):
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    response = client.post(
        "/login?next=//evil.example/",
        data={"email": "rep@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


def test_repeated_failures_are_rate_limited(client):
    for _ in range(5):
        assert login(client, password="nope").status_code == 401
    blocked = login(client)  # even the right password, until the window passes
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.get_data(as_text=True)
    # another e-mail from the same address is not blocked
    assert login(client, email="legal@example.com").status_code == 302


def test_logout_is_a_post_and_ends_the_session(client):
    login(client)
    assert client.get("/logout").status_code == 405
    token = page_token(client)
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_remember_me_sets_a_remember_cookie(client):
    login(client, remember="1")
    assert client.get_cookie("trellis_remember") is not None


# -- CSRF -------------------------------------------------------------------------


def test_post_without_csrf_token_is_refused(client):
    response = client.post("/login", data={"email": "rep@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302  # not signed in
    login(client)
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200  # still signed in


def test_csrf_token_in_header_is_accepted(client):
    login(client)
    token = page_token(client)
    response = client.post("/locale", data={"locale": "zh"}, headers={"X-CSRFToken": token})
    assert response.status_code == 302


# -- i18n -------------------------------------------------------------------------


def test_locale_switch_renders_chinese_chrome_and_is_saved(client, app):
    login(client)
    token = page_token(client)
    client.post("/locale", data={"locale": "zh", "csrf_token": token, "next": "/"})
    html = client.get("/").get_data(as_text=True)
    assert "首页" in html and "退出登录" in html and "商机" in html
    assert '<html lang="zh-CN">' in html
    principal = app.extensions["trellis"].users.principal(app.config["test_users"]["rep"])
    assert principal.locale == "zh"


def test_accept_language_chooses_chinese_before_sign_in(client):
    html = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}).get_data(
        as_text=True
    )
    assert "登录" in html and "电子邮箱" in html


def test_saved_user_locale_wins_over_the_browser(client):
    login(client, email="zh@example.com")
    html = client.get("/", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert "我的待办任务" in html or "最近更新" in html


def test_number_and_date_filters_follow_the_locale(app):
    from runtime.web.templating import date_filter, money_filter, number_filter

    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}):
        assert date_filter("2025-03-05") == "2025年3月5日"
        assert money_filter(1234.5, "CNY") == "¥1,234.50"
        assert money_filter(116000, "CNY") == "¥116,000"
    with app.test_request_context("/", headers={"Accept-Language": "en-US"}):
        assert date_filter("2025-03-05") == "Mar 5, 2025"
        assert number_filter(1234567.891) == "1,234,567.891"
        assert money_filter("99.9", "USD") == "$99.90"


# -- escaping -----------------------------------------------------------------------


def test_malicious_labels_and_names_are_escaped(db_url, tmp_path):
    app_dir = tmp_path / "evil_app"
    shutil.copytree(REFERENCE_APP, app_dir)
    app_yaml = app_dir / "app.yaml"
    text = app_yaml.read_text(encoding="utf-8")
    text = text.replace(
        "label: {en: Opportunity Management, zh: 商机管理}",
        "label: {en: '<img src=x onerror=alert(1)>', zh: 商机管理}",
    )
    text = text.replace(
        "label: {en: Sales, zh: 销售}", "label: {en: '<script>alert(2)</script>', zh: 销售}"
    )
    app_yaml.write_text(text, encoding="utf-8")
    init_db(db_url, app_dir)
    app = make_app(db_url, tmp_path, app_dir=app_dir)
    services = app.extensions["trellis"]
    uid = services.users.create_user("x@example.com", "<b>Bold</b> Name", PASSWORD, roles=["admin"])
    principal = services.users.principal(uid)
    account = model_option(services.model, "account", "customer_status")
    services.repo.create(
        principal, "account", {"name": "<script>alert(3)</script>", "customer_status": account}
    )
    client = app.test_client()
    login(client, email="x@example.com")
    html = client.get("/").get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert(2)" not in html and "&lt;script&gt;alert(2)" in html
    assert "<script>alert(3)" not in html and "&lt;script&gt;alert(3)&lt;/script&gt;" in html
    assert "<b>Bold</b>" not in html and "&lt;b&gt;Bold&lt;/b&gt; Name" in html
    services.db.engine.dispose()


def model_option(model, entity_id, field_id):
    return model.entities[entity_id].field(field_id).options[0].id


# -- navigation and home --------------------------------------------------------------


def nav_links(html: str) -> str:
    start = html.index('<nav class="nav"')
    return html[start : html.index("</nav>", start)]


def test_navigation_hides_entities_the_role_cannot_read(client):
    login(client, email="legal@example.com")
    nav = nav_links(client.get("/").get_data(as_text=True))
    assert "Opportunities" in nav and "Accounts" in nav
    assert "Leads" not in nav and "Tasks" not in nav  # legal reads neither


def test_navigation_shows_every_entity_the_rep_can_read(client):
    login(client)
    nav = nav_links(client.get("/").get_data(as_text=True))
    for label in ("Opportunities", "Accounts", "Leads", "Tasks", "Products"):
        assert label in nav


def test_home_lists_open_tasks_and_recent_records(client, app):
    services = app.extensions["trellis"]
    rep_id = app.config["test_users"]["rep"]
    rep = services.users.principal(rep_id)
    model = services.model
    status = model_option(model, "account", "customer_status")
    services.repo.create(rep, "account", {"name": "Zephyr Holdings", "customer_status": status})
    due = (date.today() + timedelta(days=3)).isoformat()
    base = {"due_date": due, "priority": "normal", "assignee": rep_id}
    services.repo.create(rep, "task", {**base, "subject": "Call Zephyr back", "status": "open"})
    services.repo.create(rep, "task", {**base, "subject": "Old finished task", "status": "done"})
    login(client)
    html = client.get("/").get_data(as_text=True)
    assert "Zephyr Holdings" in html
    assert "Call Zephyr back" in html
    assert "Old finished task" not in html


TINY_APP = {
    "app.yaml": """
id: tiny
label: {en: Tiny Inventory, zh: 小库存}
version: "0.1.0"
locales: [en, zh]
default_currency: USD
navigation:
  - id: stock
    label: {en: Stock, zh: 库存}
    items:
      - entity: widget
""",
    "entities/widget.yaml": """
id: widget
label: {en: Widget, zh: 部件}
plural: {en: Widgets, zh: 部件}
title_field: name
fields:
  - {id: name, type: text, label: {en: Name, zh: 名称}, required: true}
""",
    "roles.yaml": """
roles:
  - id: admin
    label: {en: Administrator, zh: 管理员}
    permissions:
      "*": {create: true, read: all, update: all, archive: all}
""",
}


def test_home_of_an_app_without_tasks_lists_its_own_entities(db_url, tmp_path):
    app_dir = tmp_path / "tiny"
    for name, text in TINY_APP.items():
        (app_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (app_dir / name).write_text(text.lstrip(), encoding="utf-8")
    init_db(db_url, app_dir)
    app = make_app(db_url, tmp_path, app_dir=app_dir)
    services = app.extensions["trellis"]
    uid = services.users.create_user("a@example.com", "Ann", PASSWORD, roles=["admin"])
    services.repo.create(services.users.principal(uid), "widget", {"name": "Sprocket 9"})
    client = app.test_client()
    login(client, email="a@example.com")
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Tiny Inventory" in html and "Widgets" in html and "Sprocket 9" in html
    assert "My open tasks" not in html
    services.db.engine.dispose()


def test_search_finds_records_the_user_can_read(client, app):
    services = app.extensions["trellis"]
    rep = services.users.principal(app.config["test_users"]["rep"])
    status = model_option(services.model, "account", "customer_status")
    services.repo.create(rep, "account", {"name": "Quixotic Widgets", "customer_status": status})
    login(client)
    html = client.get("/search?q=Quixotic").get_data(as_text=True)
    assert "Quixotic Widgets" in html


# -- templates ---------------------------------------------------------------------------


def test_screen_templates_fall_back_from_entity_to_generic():
    from runtime.web.templating import screen_templates

    assert screen_templates("form", "opportunity") == [
        "runtime/form-opportunity.html",
        "runtime/form.html",
    ]
    assert screen_templates("home") == ["runtime/home.html"]


def test_app_definition_templates_override_the_defaults(db_url, tmp_path):
    app_dir = tmp_path / "custom"
    shutil.copytree(REFERENCE_APP, app_dir)
    (app_dir / "templates" / "runtime").mkdir(parents=True)
    (app_dir / "templates" / "runtime" / "home.html").write_text(
        "{% extends 'base.html' %}{% block content %}CUSTOM HOME {{ current_user.name }}"
        "{% endblock %}",
        encoding="utf-8",
    )
    init_db(db_url, app_dir)
    app = make_app(db_url, tmp_path, app_dir=app_dir)
    app.extensions["trellis"].users.create_user("a@example.com", "Ann", PASSWORD, roles=["admin"])
    client = app.test_client()
    login(client, email="a@example.com")
    assert "CUSTOM HOME Ann" in client.get("/").get_data(as_text=True)
    app.extensions["trellis"].db.engine.dispose()


# -- health, errors, missing tables ---------------------------------------------------------


def test_healthz_is_public_and_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"
    assert response.get_json()["database"] == "ok"


def test_unknown_page_is_a_404_page_and_unknown_api_path_is_json(client):
    login(client)
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "text/html" in page.content_type
    api = client.get("/api/v1/no-such-entity-here")
    assert api.status_code in (401, 404)
    assert "error" in api.get_json()


def test_missing_tables_give_a_setup_page_not_a_traceback(db_url, tmp_path):
    app = make_app(db_url, tmp_path)  # no init_db: `trellis init` never ran
    response = app.test_client().get("/login")
    assert response.status_code == 503
    assert "trellis init" in response.get_data(as_text=True)
    assert app.test_client().get("/healthz").get_json()["initialised"] is False
    app.extensions["trellis"].db.engine.dispose()


def test_security_headers_are_set(client):
    response = client.get("/login")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


# -- API bearer keys ---------------------------------------------------------------------------


def test_api_bearer_key_authenticates_without_csrf(client, app):
    users = app.extensions["trellis"].users
    key = users.create_api_key(app.config["test_users"]["rep"], name="tests")
    response = client.get("/api/v1/account", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    status = model_option(app.extensions["trellis"].model, "account", "customer_status")
    created = client.post(
        "/api/v1/account",
        json={"name": "By API", "customer_status": status},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)


def test_api_with_a_bad_key_is_401_json(client):
    response = client.get("/api/v1/account", headers={"Authorization": "Bearer not-a-key"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_api_without_credentials_is_401_json(client):
    response = client.get("/api/v1/account")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_api_by_session_cookie_still_needs_csrf(client, app):
    login(client)
    status = model_option(app.extensions["trellis"].model, "account", "customer_status")
    response = client.post("/api/v1/account", json={"name": "Cookie", "customer_status": status})
    assert response.status_code == 400
    assert "CSRF" in response.get_json()["error"]["message"]


# -- configuration ------------------------------------------------------------------------------


def test_settings_come_from_trellis_environment_variables(tmp_path):
    from runtime.web.config import load_settings

    settings = load_settings(
        {"TRELLIS_APP": "elsewhere"},
        environ={
            "TRELLIS_DATABASE_URL": "postgresql://db/trellis",
            "TRELLIS_APP": "ignored because overridden",
            "TRELLIS_LOGIN_MAX_FAILURES": "9",
            "TRELLIS_SECURE_COOKIES": "true",
            "TRELLIS_INSTANCE_PATH": str(tmp_path),
        },
    )
    assert settings["TRELLIS_DATABASE_URL"] == "postgresql://db/trellis"
    assert settings["TRELLIS_APP"] == "elsewhere"
    assert settings["TRELLIS_LOGIN_MAX_FAILURES"] == 9
    assert settings["TRELLIS_SECURE_COOKIES"] is True


def test_generated_secret_key_is_kept_for_restarts_and_other_workers(tmp_path):
    from runtime.web.config import ensure_secret_key

    first = ensure_secret_key(tmp_path)
    assert len(first) >= 32
    assert ensure_secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_login_failures_can_be_counted_in_redis():
    redis_url = os.environ.get("TRELLIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    from runtime.web.auth import LoginThrottle, RedisFailureStore

    store = RedisFailureStore(redis_url, window=60, prefix=f"trellis-test:{os.getpid()}:")
    try:
        store.client.ping()
    except Exception as exc:  # no Redis on this machine
        pytest.skip(f"no Redis at {redis_url}: {exc}")
    throttle = LoginThrottle(store, max_failures=2)
    key = throttle.key("Rep@Example.com ", "10.0.0.1")
    assert key == throttle.key("rep@example.com", "10.0.0.1")
    throttle.succeeded(key)
    throttle.failed(key)
    assert not throttle.blocked(key)
    throttle.failed(key)
    assert throttle.blocked(key)
    assert 0 < store.client.ttl(store.prefix + key) <= 60
    throttle.succeeded(key)
    assert not throttle.blocked(key)
