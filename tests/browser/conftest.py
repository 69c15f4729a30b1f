"""Browser fixtures: the real app on a free port in a thread, driven by Debian's Chromium.

The tests skip (with the reason) only when /usr/bin/chromium or Playwright is missing;
``apt-get install chromium`` provides the browser (.ci/run does).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from runtime.store import SYSTEM
from tests.conftest import make_web_app

ROOT = Path(__file__).resolve().parent.parent.parent
REFERENCE_APP = ROOT / "app_definitions" / "opportunity"

CHROMIUM = os.environ.get("TRELLIS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "screenshots"
PASSWORD = "correct horse battery"


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def seed(app) -> dict[str, int]:
    """A rep with a few records of their own, so the home page has something to show."""
    services = app.extensions["trellis"]
    users = services.users
    rep_id = users.create_user("rep@example.com", "Rita Rep", PASSWORD, roles=["sales_rep"])
    rep = users.principal(rep_id)
    model = services.model
    status = model.entities["account"].field("customer_status").options[0].id
    accounts = [
        services.repo.create(rep, "account", {"name": name, "customer_status": status})["id"]
        for name in ("Acme Corporation", "上海星辰科技有限公司", "Globex Inc.")
    ]
    today = date.today()
    for account, name, amount in zip(
        accounts,
        ("Acme CRM rollout", "华东区 ERP 升级项目", "Globex data platform"),
        (180000, 2450000, 96000),
        strict=True,
    ):
        services.repo.create(
            rep,
            "opportunity",
            {
                "name": name,
                "account": account,
                "amount": amount,
                "close_date": (today + timedelta(days=30)).isoformat(),
            },
        )
    for offset, subject in (
        (-2, "Send the revised quote"),
        (0, "准备投标文件"),
        (5, "Call back about pricing"),
    ):
        services.repo.create(
            rep,
            "task",
            {
                "subject": subject,
                "due_date": (today + timedelta(days=offset)).isoformat(),
                "status": "open",
                "priority": "high" if offset < 0 else "normal",
                "assignee": rep_id,
            },
        )
    return {"rep": rep_id}


def seed_board(app) -> dict[str, int]:
    """A team of two reps and a marketer; four deals of Rita's at several stages, one of Tom's."""
    services = app.extensions["trellis"]
    users, repo = services.users, services.repo
    team = users.create_team("华东销售一部 East China")
    rep_id = users.create_user(
        "rep@example.com", "Rita Rep", PASSWORD, roles=["sales_rep"], team_id=team
    )
    users.create_user("mkt@example.com", "Mia Marketing", PASSWORD, roles=["marketing"])
    mate_id = users.create_user(
        "tom@example.com", "Tom Teammate", PASSWORD, roles=["sales_rep"], team_id=team
    )
    rep = users.principal(rep_id)
    status = services.model.entities["account"].field("customer_status").options[0].id
    account = repo.create(rep, "account", {"name": "海尔智家 Haier", "customer_status": status})[
        "id"
    ]
    close = (date.today() + timedelta(days=40)).isoformat()
    ids = {}
    deals = (
        (
            "ready",
            "Haier – MES phase 2",
            1_250_000,
            {"need": "MES for 3 plants", "timing": "in_1_3_months"},
        ),
        (
            "gated",
            "Haier – IoT gateways",
            480_000,
            {"need": "Connect 200 machines", "timing": "in_3_6_months"},
        ),
        ("other", "海尔 – 数据中台", 2_300_000, {"need": "数据打通", "timing": "in_6_12_months"}),
        (
            "late",
            "Haier – AI inspection",
            860_000,
            {
                "need": "Visual QA",
                "timing": "within_1_month",
                "key_pains": "Manual QA misses defects",
            },
        ),
    )
    for key, name, amount, extra in deals:
        values = {"name": name, "account": account, "amount": amount, "close_date": close, **extra}
        ids[key] = repo.create(rep, "opportunity", values)["id"]
    repo.update(rep, "opportunity", ids["gated"], {"stage": "discovery"})
    repo.update(rep, "opportunity", ids["late"], {"stage": "quotation"})
    repo.update(SYSTEM, "opportunity", ids["other"], {"stage": "discovery"})
    mate = users.principal(mate_id)
    values = {"name": "Tom's own – Gree HVAC", "account": account, "amount": 90_000}
    values.update(need="Chiller monitoring", timing="in_1_3_months")
    ids["mine"] = repo.create(mate, "opportunity", {**values, "close_date": close})["id"]
    return ids


@pytest.fixture
def serve(tmp_path) -> Iterator[Callable[..., tuple[str, Any, Any]]]:
    """``serve(app_dir, seed)``: the app on 127.0.0.1:<free port> against a fresh SQLite
    copy of its template, built by the tests' one factory (``make_web_app``, that is
    ``create_app`` on ``runtime.wiring.build_runtime``). ``seed(app)`` fills it first;
    the answer is ``(base_url, app, what seed returned)``. Stopped after the test."""
    from werkzeug.serving import make_server

    running = []

    def start(app_dir: Path = REFERENCE_APP, seed: Callable[[Any], Any] | None = None):
        url = f"sqlite:///{tmp_path / f'browser-{len(running)}.db'}"
        # Not TESTING: errors are answered by the app's own error pages, as in production.
        app = make_web_app(url, tmp_path, app_dir, TESTING=False)
        seeded = seed(app) if seed is not None else None
        http = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=http.serve_forever, daemon=True)
        thread.start()
        running.append((http, thread, app))
        return f"http://127.0.0.1:{http.server_port}", app, seeded

    yield start
    for http, thread, app in running:
        http.shutdown()
        thread.join(timeout=5)
        app.extensions["trellis"].db.engine.dispose()


@pytest.fixture
def live_server(serve) -> str:
    """The reference app seeded by ``seed``."""
    return serve(REFERENCE_APP, seed)[0]


@pytest.fixture
def board_server(serve) -> tuple[str, dict[str, int]]:
    """The reference app with the board's deals (``seed_board``) and their ids."""
    base, _app, ids = serve(REFERENCE_APP, seed_board)
    return base, ids


def sign_in(page, base_url: str, email: str, password: str = PASSWORD, *, start: str = "/login"):
    """Sign in through the login page as a user would and land signed in.

    ``start`` is the page opened first: one that needs a user must send us to the
    login page (checked), which then brings us back there."""
    page.goto(base_url + start)
    assert "/login" in page.url, f"{start} did not ask for a sign-in: {page.url}"
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "/login" not in page.url, f"{email} was not signed in: {page.url}"


@pytest.fixture(name="sign_in")
def sign_in_fixture():
    """The one way the browser tests sign in: ``sign_in(page, base_url, email)``."""
    return sign_in


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
