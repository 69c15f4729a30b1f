"""Forms and home in a real browser, on the reference app seeded by conftest.seed.

Pressing Enter in a text field saves once and lands on the new record (never "Save &
new"); an activity logged from a deal with a next follow-up date returns to the deal
and puts a task on home that names the deal, which is completed from home in place.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import expect

expect.set_options(timeout=5_000)


def _count(page, base_url, entity, **filters) -> int:
    """Records matching ``filters``, asked of the JSON API with the page's session."""
    response = page.request.get(f"{base_url}/api/v1/{entity}", params=filters)
    assert response.ok, response.text()
    return len(response.json()["data"])


def test_enter_in_a_text_field_creates_one_record_and_lands_on_it(page, live_server, sign_in):
    sign_in(page, live_server, "rep@example.com")
    page.goto(live_server + "/e/account/new")
    name = page.get_by_label("Account name")
    name.fill("Enter Key Industries")
    with page.expect_navigation():
        name.press("Enter")
    assert re.search(r"/e/account/\d+$", page.url), page.url
    expect(page.get_by_role("heading", name="Enter Key Industries")).to_be_visible()
    assert _count(page, live_server, "account", name="Enter Key Industries") == 1


def test_follow_up_logged_from_a_deal_appears_on_home_and_is_completed_there(
    page, live_server, screenshot_dir, sign_in
):
    sign_in(page, live_server, "rep@example.com")
    page.goto(live_server + "/e/opportunity?view=all")
    with page.expect_navigation():
        page.get_by_role("link", name="Acme CRM rollout").first.click()
    deal_url = page.url
    assert re.search(r"/e/opportunity/\d+$", deal_url)

    activities = page.locator('[id^="related-activity-"]').first
    with page.expect_navigation():
        activities.get_by_role("link", name=re.compile("New")).click()
    assert "/e/activity/new" in page.url
    page.get_by_label("Subject").fill("Pricing call with procurement")
    follow_up = (date.today() + timedelta(days=2)).isoformat()
    page.get_by_label("Next follow-up").fill(follow_up)
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("Create Activity")).click()
    assert page.url == deal_url  # back where the user came from

    page.goto(live_server + "/")
    row = page.locator("tr.home-task", has_text="Follow up: Pricing call with procurement")
    expect(row).to_have_count(1)
    related = row.locator("a.home-related")
    expect(related).to_have_text("Acme CRM rollout")
    assert related.get_attribute("href") == deal_url.removeprefix(live_server)
    page.set_viewport_size({"width": 1440, "height": 1200})
    page.screenshot(path=str(screenshot_dir / "home-follow-up-en.png"), full_page=True)

    open_before = int(page.locator("#stat-open").inner_text())
    with page.expect_response(lambda r: "/complete" in r.url and r.request.method == "POST"):
        row.get_by_role("button", name=re.compile("Complete")).click()
    expect(row).to_have_class(re.compile(r"\bis-done\b"))
    expect(row.get_by_role("status")).to_be_visible()
    expect(page.locator("#stat-open")).to_have_text(str(open_before - 1))  # the figure follows
    expect(row.locator(".badge-text").first).to_have_text("Done")  # the status column says it too
    page.reload()
    expect(page.locator("tr.home-task", has_text="Pricing call with procurement")).to_have_count(0)
    assert (
        _count(
            page,
            live_server,
            "task",
            status="done",
            subject="Follow up: Pricing call with procurement",
        )
        == 1
    )
