"""Money where space is short (SQLite and PostgreSQL): in Chinese, list cells and home
panels read ¥350万 / ¥1.2亿 with the full figure on hover; English keeps the figure;
grouped number input ("1,234,567.50") is read by the server as typed."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape
from pathlib import Path

import pytest
from flask import render_template_string

from tests.conftest import make_web_app, signed_in_client

APP_DIR = Path(__file__).parent / "fixtures" / "records_app"
PASSWORD = "correct horse battery"


@pytest.fixture
def app(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, APP_DIR)
    users = app.extensions["trellis"].users
    users.create_user("en@example.com", "Ada Admin", PASSWORD, roles=["admin"])
    users.create_user("zh@example.com", "王芳", PASSWORD, roles=["admin"], locale="zh")
    yield app
    app.extensions["trellis"].db.engine.dispose()


def signed_in(app, email):
    return signed_in_client(app, email, PASSWORD)


def csrf(client, path="/e/deal/new") -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(True))[1]


def deals(app, amounts: dict[str, str]) -> None:
    services = app.extensions["trellis"]
    admin = services.users.authenticate("en@example.com", PASSWORD)
    for name, amount in amounts.items():
        services.repo.create(admin, "deal", {"name": name, "amount": amount})


def amount_cell(html: str, name: str) -> str:
    row = next(r for r in re.findall(r"<tr\b.*?</tr>", html, re.S) if f">{name}<" in r)
    cells = re.findall(r'<td[^>]*class="num"[^>]*>(.*?)</td>', row, re.S)
    assert cells, row
    return cells[0]


def test_chinese_list_cells_read_wan_and_yi_with_the_full_figure_on_hover(app):
    deals(app, {"Grid upgrade": "120000000", "Campus": "3500000", "Small": "8800", "Odd": "12345"})
    html = signed_in(app, "zh@example.com").get("/e/deal").get_data(True)
    big = amount_cell(html, "Grid upgrade")
    assert ">¥1.2亿</span>" in big and 'title="¥120,000,000' in big
    campus = amount_cell(html, "Campus")
    assert ">¥350万</span>" in campus and 'title="¥3,500,000' in campus
    assert ">¥1.2万</span>" in amount_cell(html, "Odd")
    small = amount_cell(html, "Small")  # below 1万 the figure is short already
    assert "万" not in small and "¥8,800" in small


def test_english_list_cells_keep_the_full_figure(app):
    deals(app, {"Grid upgrade": "120000000"})
    html = signed_in(app, "en@example.com").get("/e/deal").get_data(True)
    cell = amount_cell(html, "Grid upgrade")
    assert "CN¥120,000,000" in cell and "亿" not in cell and "M<" not in cell


def test_money_compact_filter_for_other_screens(app):
    """Cards, home panels and the board call the same filter from their templates."""
    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}):
        shown = render_template_string(
            "{{ 1234567890|money_compact('CNY') }} {{ 99999|money_compact }} "
            "{{ 3500000|money_compact('USD', everywhere=true) }} {{ none|money_compact }}"
        )
    assert '<span class="money money-compact" title="¥1,234,567,890">¥12.3亿</span>' in shown
    assert 'title="¥99,999">¥10万</span>' in shown
    assert ">US$350万</span>" in shown
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        english = render_template_string(
            "{{ 3500000|money_compact('USD') }} {{ 3500000|money_compact('USD', everywhere=true) }}"
        )
    assert '<span class="money">$3,500,000</span>' in english
    assert 'title="$3,500,000">$3.5M</span>' in english
    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}):
        escaped = render_template_string("{{ '<b>'|money_compact }}")
    assert "<b>" not in escaped


def test_home_panels_show_compact_amounts_in_chinese(app):
    deals(app, {"Grid upgrade": "120000000"})
    html = signed_in(app, "zh@example.com").get("/").get_data(True)
    assert "Grid upgrade" in html  # recently updated records, with their key fields
    assert "¥1.2亿" in html and 'title="¥120,000,000' in html


def test_grouped_number_input_is_read_as_typed(app):
    client = signed_in(app, "en@example.com")
    form = client.get("/e/deal/new").get_data(True)
    amount = re.search(r'<input\b[^>]*\bname="amount"[^>]*>', form)[0]
    assert 'type="text"' in amount and 'data-number-input="decimal"' in amount
    assert 'inputmode="decimal"' in amount
    response = client.post(
        "/e/deal/new",
        data={"csrf_token": csrf(client), "name": "Grouped", "amount": "1,234,567.50",
              "amount_currency": "CNY", "quantity": "1,200", "_next": "record"},
    )  # fmt: skip
    assert response.status_code == 302, response.get_data(True)
    record_id = int(response.headers["Location"].rsplit("/", 1)[1])
    services = app.extensions["trellis"]
    admin = services.users.authenticate("en@example.com", PASSWORD)
    saved = services.repo.get(admin, "deal", record_id)
    assert saved["amount"] == Decimal("1234567.50") and saved["quantity"] == 1200


def test_badly_grouped_number_is_refused_naming_the_field(app):
    client = signed_in(app, "zh@example.com")
    response = client.post(
        "/e/deal/new",
        data={"csrf_token": csrf(client), "name": "Typo", "quantity": "12,34", "_next": "record"},
    )
    assert response.status_code == 422
    html = unescape(response.get_data(True))
    wrapper = html[html.index('id="fw-quantity"') :][:3000]
    assert "请输入整数" in wrapper
    assert 'value="12,34"' in wrapper  # kept as typed
