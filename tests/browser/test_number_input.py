"""Number inputs group digits while typing (js/number_input.js) in a real browser: the
caret stays after the digit just typed, Backspace next to a separator removes the digit
beyond it, and the grouped text saves as the number it reads."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.browser.conftest import PASSWORD, REFERENCE_APP

ADMIN = "admin@example.com"


def seed_admin(app) -> None:
    app.extensions["trellis"].users.create_user(ADMIN, "Ada Admin", PASSWORD, roles=["admin"])


@pytest.fixture
def server(serve) -> tuple[str, object]:
    base_url, app, _ = serve(REFERENCE_APP, seed_admin)
    return base_url, app


def caret(field) -> int:
    return field.evaluate("el => el.selectionStart")


def test_money_input_groups_digits_keeps_the_caret_and_saves_the_number(page, server, sign_in):
    base_url, app = server
    sign_in(page, base_url, ADMIN)
    page.goto(base_url + "/e/product/new")
    price = page.locator('input[name="list_price"]')
    price.click()
    page.keyboard.type("1234567.5")
    assert price.input_value() == "1,234,567.5"
    assert caret(price) == len("1,234,567.5")

    # a digit typed in the middle: the caret stays right after it
    price.evaluate("el => el.setSelectionRange(3, 3)")  # after "1,2"
    page.keyboard.type("9")
    assert price.input_value() == "12,934,567.5"
    assert caret(price) == 4  # after "12,9"

    # Backspace right after a separator deletes the digit before it
    price.evaluate("el => el.setSelectionRange(3, 3)")  # after "12,"
    page.keyboard.press("Backspace")
    assert price.input_value() == "1,934,567.5"
    assert caret(price) == 1

    # letters are left as typed for the server to explain
    cost = page.locator('input[name="standard_cost"]')
    cost.click()
    page.keyboard.type("12abc")
    assert cost.input_value() == "12abc"
    cost.fill("")

    page.locator('input[name="code"]').fill("NUM-1")
    page.locator('input[name="name"]').fill("Grouped price")
    line = page.locator('select[name="product_line"]')
    line.select_option(index=1)
    with page.expect_navigation():
        page.locator('button.btn-primary[name="_next"][value="record"]').click()
    services = app.extensions["trellis"]
    admin = services.users.authenticate("admin@example.com", PASSWORD)
    rows = services.repo.list(admin, "product", filters=[("name", "eq", "Grouped price")]).rows
    assert len(rows) == 1 and rows[0]["list_price"] == Decimal("1934567.50")
    # the record page shows the full figure
    assert "1,934,567.50" in page.content()


def test_an_existing_value_is_grouped_when_the_edit_form_opens(page, server, sign_in):
    base_url, app = server
    services = app.extensions["trellis"]
    admin = services.users.authenticate("admin@example.com", PASSWORD)
    line = services.model.entities["product"].field("product_line").options[0].id
    product = services.repo.create(
        admin,
        "product",
        {"code": "NUM-2", "name": "Big box", "product_line": line, "list_price": "2450000"},
    )
    sign_in(page, base_url, ADMIN)
    page.goto(f"{base_url}/e/product/{product['id']}/edit")
    price = page.locator('input[name="list_price"]')
    assert price.input_value() in ("2,450,000", "2,450,000.00")
