"""A child table stops offering "Add row" at its max_rows (the server refuses more),
and offers it again when a row is removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import PASSWORD

LIMITS_APP = Path(__file__).resolve().parent.parent / "fixtures" / "limits_app"


def seed_admin(app) -> None:
    app.extensions["trellis"].users.create_user(
        "admin@example.com", "Admin", PASSWORD, roles=["admin"]
    )


@pytest.fixture
def limits_server(serve) -> str:
    return serve(LIMITS_APP, seed_admin)[0]


def test_add_row_stops_at_max_rows_and_comes_back_when_a_row_goes(chromium, limits_server, sign_in):
    page = chromium.new_page(viewport={"width": 1440, "height": 1000})
    sign_in(page, limits_server, "admin@example.com")
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
