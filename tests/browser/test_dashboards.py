"""In a real browser: a list grouped with subtotals and a totals row (the reports
fixture app, with a board seeded for the dashboard tests still to come). The
screenshot goes to screenshots/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import PASSWORD, SCREENSHOTS, sign_in

APP = Path(__file__).resolve().parent.parent / "fixtures" / "reports_app"
WIDGETS = [
    {"id": "open_count", "kind": "kpi", "title": {"en": "Open deals", "zh": "进行中"},
     "entity": "deal", "measures": [{"fn": "count"}], "layout": {"x": 0, "y": 0, "w": 4, "h": 2}},
    {"id": "by_stage", "kind": "funnel", "title": {"en": "Deals by stage", "zh": "各阶段商机"},
     "entity": "deal", "dimensions": [{"field": "stage"}], "measures": [{"fn": "count"}],
     "layout": {"x": 4, "y": 0, "w": 8, "h": 4}},
    {"id": "by_region", "kind": "bar", "title": {"en": "Amount by region", "zh": "各区域金额"},
     "entity": "deal", "dimensions": [{"field": "region"}], "measures": [{"fn": "sum", "field": "amount"}],
     "layout": {"x": 0, "y": 4, "w": 6, "h": 4}},
]  # fmt: skip


def seed(app) -> dict:
    services = app.extensions["trellis"]
    users, repo = services.users, services.repo
    manager = users.create_user("m@example.com", "Mona Manager", PASSWORD, roles=["manager"])
    users.create_user("zh@example.com", "王芳", PASSWORD, roles=["manager"], locale="zh")
    user = repo.principal(manager)
    for n, (region, amount, stage) in enumerate(
        [("east", 100, "qualify"), ("west", 300, "propose"), ("east", 200, "propose"),
         ("west", 1000, "qualify"), ("east", 50, "qualify")]
    ):  # fmt: skip
        record = repo.create(user, "deal", {"name": f"d{n}", "region": region, "amount": amount})
        if stage != "qualify":
            current = repo.get(user, "deal", record["id"])
            repo.update(
                user, "deal", record["id"], {"stage": stage}, row_version=current["row_version"]
            )
    with app.test_client() as client:
        key = users.create_api_key(manager, name="seed")
        made = client.post(
            "/api/v1/dashboards", json={"label": "My board", "widgets": WIDGETS},
            headers={"Authorization": f"Bearer {key}"},
        )  # fmt: skip
        assert made.status_code == 201, made.get_json()
        return {"board": made.get_json()["id"]}


@pytest.fixture
def board(serve):
    base, _app, seeded = serve(APP, seed)
    return base, seeded["board"]


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_group_by_with_subtotals_on_the_list(board, page):
    base, _ = board
    sign_in(page, base, "m@example.com", start="/e/deal")
    page.get_by_text("Group by").click()
    page.select_option("#list-group-select", "region")
    page.get_by_role("button", name="Apply").last.click()
    page.wait_for_url("**group=region**")
    heads = page.locator("tr.group-row")
    assert heads.count() == 2
    assert "3 records" in heads.first.inner_text() or "2 records" in heads.first.inner_text()
    assert "5 records" in page.locator("tr.totals-row").inner_text()
    _shot(page, "list-group-en-desktop")
