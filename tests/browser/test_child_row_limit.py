"""A child table stops offering "Add row" at its max_rows (the server refuses more),
and offers it again when a row is removed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.conftest import build_schema

LIMITS_APP = Path(__file__).resolve().parent.parent / "fixtures" / "limits_app"
PASSWORD = "correct horse battery"


@pytest.fixture
def limits_server(tmp_path):
    from werkzeug.serving import make_server

    from runtime.definition import load_app
    from runtime.web.app import create_app

    url = f"sqlite:///{tmp_path / 'limits.db'}"
    build_schema(url, load_app(LIMITS_APP))
    app = create_app(
        {
            "TRELLIS_DATABASE_URL": url,
            "TRELLIS_APP": str(LIMITS_APP),
            "TRELLIS_INSTANCE_PATH": str(tmp_path / "instance"),
            "TRELLIS_SECRET_KEY": "limits-tests",
        }
    )
    app.extensions["trellis"].users.create_user(
        "admin@example.com", "Admin", PASSWORD, roles=["admin"]
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        app.extensions["trellis"].db.engine.dispose()


def test_add_row_stops_at_max_rows_and_comes_back_when_a_row_goes(chromium, limits_server):
    page = chromium.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(limits_server + "/login")
    page.fill("#f-email", "admin@example.com")
    page.fill("#f-password", PASSWORD)
    with page.expect_navigation():
        page.press("#f-password", "Enter")
    page.goto(limits_server + "/e/quote/new")
    table = page.locator('[data-child-table="lines"]')
    add = table.locator("[data-add-row]")
    note = table.locator("[data-row-limit]")
    assert note.is_hidden()
    for _ in range(5):
        add.click()
    assert table.locator("[data-rows] > tr[data-row]").count() == 5
    assert add.is_disabled()
    assert note.is_visible() and "At most 5 rows" in note.inner_text()
    table.locator("[data-rows] > tr[data-row]").first.locator("[data-remove-row]").click()
    assert add.is_enabled() and note.is_hidden()
    notes_table = page.locator('[data-child-table="notes"]')
    assert notes_table.get_attribute("data-max-rows") == "500"
    page.close()
