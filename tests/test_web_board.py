"""The board's totals through the screens and its JSON (SQLite and PostgreSQL): a
pipeline with nothing to add up counts only, amounts in two currencies are never added
together, large totals read compact with the full figure on hover, and cards the user
may not move are drawn fixed with the reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import make_web_app, signed_in_client

FIXTURE = Path(__file__).parent / "fixtures" / "board_app"
PASSWORD = "correct horse battery"


@pytest.fixture
def app(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, FIXTURE)
    users = app.extensions["trellis"].users
    app.config["hr"] = users.create_user(
        "hr@example.com", "Hana Recruiter", PASSWORD, roles=["recruiter"]
    )
    yield app
    app.extensions["trellis"].db.engine.dispose()


def add(app, entity, **values):
    services = app.extensions["trellis"]
    user = services.users.principal(app.config["hr"])
    return services.repo.create(user, entity, values)


def signed_in(app, email="hr@example.com", locale=None):
    client = signed_in_client(app, email, PASSWORD)
    if locale:
        page = client.get("/p/hiring").get_data(True)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page)[1]
        client.post("/locale", data={"locale": locale, "csrf_token": token})
    return client


def figures(html: str, attribute: str) -> list[tuple[str, str]]:
    """(shown, full) of every figure inside the elements marked ``attribute``."""
    found = []
    for block in re.findall(
        rf'{attribute}="amount">(.*?)(?:</dd>|</p>|board-stat-label)', html, re.S
    ):
        found += re.findall(r'class="board-figure" title="([^"]+)">([^<]+)</span>', block)
    return [(shown, full) for full, shown in found]


def test_board_of_a_pipeline_without_money_counts_only(app):
    add(app, "candidate", name="Ada", years=12)
    add(app, "candidate", name="Bo", years=3)
    html = signed_in(app).get("/p/hiring").get_data(True)
    assert re.search(r'data-stage="applied".*?data-col-total="count">2<', html, re.S)
    assert 'data-total="count">2<' in html
    for money in ("Pipeline", "Weighted", "CN¥", 'data-col-total="amount"', "board-figure"):
        assert money not in html
    data = signed_in(app).get("/p/hiring/records.json").get_json()
    assert data["sum"] is None
    assert data["totals"]["applied"] == {"count": 2, "sums": []}


def test_two_currencies_give_two_figures_never_one_sum(app):
    add(app, "deal", name="Haier", amount=3000, amount_currency="CNY")
    add(app, "deal", name="Midea", amount=2000, amount_currency="CNY")
    add(app, "deal", name="Bosch", amount=500, amount_currency="USD")
    html = signed_in(app).get("/p/sales").get_data(True)
    lead = html[html.index('data-stage="lead"') : html.index('data-stage="proposal"')]
    assert figures(lead, "data-col-total") == [("CN¥5,000", "CN¥5,000"), ("$500", "$500")]
    assert "5,500" not in html  # never added across currencies
    header = html[html.index("board-summary") : html.index("</div>\n</div>")]
    assert figures(header, "data-total") == [("CN¥5,000", "CN¥5,000"), ("$500", "$500")]
    assert "Amount" in header and "Weighted" in header  # the field's label, not "Pipeline"


def test_records_json_totals_one_entry_per_currency(app):
    add(app, "deal", name="Haier", amount=3000, amount_currency="CNY")
    add(app, "deal", name="Bosch", amount=500, amount_currency="USD")
    add(app, "deal", name="Unpriced")
    data = signed_in(app).get("/p/sales/records.json?stage=lead").get_json()
    assert data["sum"] == "amount"
    assert data["totals"]["lead"] == {
        "count": 3,
        "sums": [
            {"currency": "CNY", "amount": "3000.00", "weighted": "300.00"},
            {"currency": "USD", "amount": "500.00", "weighted": "50.00"},
        ],
    }
    currencies = {r["title"]: r["currency"] for r in data["records"]}
    assert currencies["Haier"] == "CNY" and currencies["Bosch"] == "USD"


def test_board_sum_none_shows_counts_only(app):
    add(app, "project", name="MES rollout", budget=3000)
    html = signed_in(app).get("/p/delivery").get_data(True)
    assert "board-figure" not in html and "Weighted" not in html and "CN¥" not in html
    assert re.search(r'data-stage="planned".*?data-col-total="count">1<', html, re.S)


def test_large_totals_read_compact_with_the_full_figure_on_hover(app):
    add(app, "deal", name="Haier", amount=123_456_789, amount_currency="CNY")
    html = signed_in(app).get("/p/sales").get_data(True)
    lead = html[html.index('data-stage="lead"') : html.index('data-stage="proposal"')]
    assert figures(lead, "data-col-total") == [("CN¥123M", "CN¥123,456,789")]
    zh = signed_in(app, locale="zh").get("/p/sales").get_data(True)
    lead = zh[zh.index('data-stage="lead"') : zh.index('data-stage="proposal"')]
    assert figures(lead, "data-col-total") == [("¥1.2亿", "¥123,456,789")]
    add(app, "deal", name="Midea", amount=1_250_000, amount_currency="USD")
    html = signed_in(app, locale="en").get("/p/sales").get_data(True)
    lead = html[html.index('data-stage="lead"') : html.index('data-stage="proposal"')]
    assert figures(lead, "data-col-total")[1] == ("$1.2M", "$1,250,000")


def test_a_move_answers_every_columns_totals_per_currency(app):
    deal = add(app, "deal", name="Haier", amount=3000, amount_currency="CNY")
    add(app, "deal", name="Bosch", amount=500, amount_currency="USD")
    client = signed_in(app)
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/p/sales").get_data(True))
    response = client.post(
        "/p/sales/move",
        data={"record_id": deal["id"], "to_stage": "proposal"},
        headers={"Accept": "application/json", "X-CSRFToken": token[1]},
    )
    assert response.status_code == 200, response.get_json()
    totals = response.get_json()["totals"]
    assert totals["lead"]["count"] == 1 and ">$500<" in totals["lead"]["amount"]
    assert "CN¥" not in totals["lead"]["amount"]
    assert ">CN¥3,000<" in totals["proposal"]["amount"]
    assert ">CN¥0<" in totals["won"]["amount"]  # an empty column reads zero
    summary = response.get_json()["summary"]
    assert summary["count"] == 2 and ">CN¥3,000<" in summary["amount"]


def test_cards_the_user_may_not_move_are_fixed_with_the_reason(app):
    users = app.extensions["trellis"].users
    coordinator = users.create_user("co@example.com", "Cai", PASSWORD, roles=["coordinator"])
    theirs = add(app, "deal", name="Hana's deal", amount=100)
    mine = app.extensions["trellis"].repo.create(
        users.principal(coordinator), "deal", {"name": "Cai's deal", "amount": 100}
    )
    client = signed_in(app, "co@example.com")
    html = client.get("/p/sales").get_data(True)
    cards = dict(
        re.findall(
            r'<article class="board-card[^"]*"[^>]*data-id="(\d+)"(.*?)</article>', html, re.S
        )
    )
    assert (
        'data-fixed="You may not edit this record, so you cannot move it."'
        in cards[str(theirs["id"])]
    )
    assert "data-move-menu" not in cards[str(theirs["id"])]
    assert "data-fixed" not in cards[str(mine["id"])] and "data-move-menu" in cards[str(mine["id"])]
    data = client.get("/p/sales/records.json").get_json()
    movable = {r["title"]: r["movable"] for r in data["records"]}
    assert movable == {"Hana's deal": False, "Cai's deal": True}
    add(app, "project", name="MES rollout")
    html = client.get("/p/delivery").get_data(True)
    assert 'data-fixed="Your role may not change the stage of these records."' in html


def test_the_fixed_card_reason_reads_in_chinese(app):
    users = app.extensions["trellis"].users
    users.create_user("co@example.com", "Cai", PASSWORD, roles=["coordinator"])
    add(app, "deal", name="Hana's deal", amount=100)
    html = signed_in(app, "co@example.com", locale="zh").get("/p/sales").get_data(True)
    assert 'data-fixed="您无权编辑此记录，因此不能移动它。"' in html


def test_a_reader_who_may_not_see_the_sum_field_gets_counts_only(app):
    app.extensions["trellis"].users.create_user(
        "audit@example.com", "Ann", PASSWORD, roles=["auditor"]
    )
    add(app, "deal", name="Haier", amount=3000)
    client = signed_in(app, "audit@example.com")
    html = client.get("/p/sales").get_data(True)
    assert "board-figure" not in html and "3,000" not in html
    assert re.search(r'data-stage="lead".*?data-col-total="count">1<', html, re.S)
    totals = client.get("/p/sales/records.json").get_json()["totals"]
    assert totals["lead"] == {"count": 1, "sums": []}
