"""Browser fixtures: the real app on a free port in a thread, driven by Debian's Chromium.

The tests skip (with the reason) only when /usr/bin/chromium or Playwright is missing;
``apt-get install chromium`` provides the browser (.ci/run does).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import build_schema

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


@pytest.fixture
def live_server(tmp_path) -> Iterator[str]:
    """The app on 127.0.0.1:<free port> against a fresh SQLite file."""
    from werkzeug.serving import make_server

    from runtime.definition import load_app
    from runtime.web.app import create_app

    url = f"sqlite:///{tmp_path / 'browser.db'}"
    build_schema(url, load_app(REFERENCE_APP))
    app = create_app(
        {
            "TRELLIS_DATABASE_URL": url,
            "TRELLIS_APP": str(REFERENCE_APP),
            "TRELLIS_INSTANCE_PATH": str(tmp_path / "instance"),
            "TRELLIS_SECRET_KEY": "browser-tests",
        }
    )
    seed(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        app.extensions["trellis"].db.engine.dispose()


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
