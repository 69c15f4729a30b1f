"""The opportunity flow in a real browser, on the reference app.

A sales rep signs in through the login page, opens the new-opportunity form, picks the
account with the link picker, makes a conditional field appear (loss reason → loss
review, and "Lost to a competitor" makes Competitor required) after the server
round-trip, submits with that required value missing, sees the error next to the field
with the typed values kept, fixes it, saves, lands on the record page, finds the deal
through the list's search box and through a filter, then switches to Chinese.

Screenshots (list, record and form, English and Chinese) land in screenshots/.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import expect

REP = "rep@example.com"  # as seeded by conftest.seed
DEAL = "Initech – MES pilot"
CLOSE = (date.today() + timedelta(days=45)).isoformat()

expect.set_options(timeout=5_000)


def wait_for_form_state(page, action):
    """Run ``action`` and wait for the form-state round-trip it triggers to complete."""
    with page.expect_response(
        lambda r: "/form-state" in r.url and r.request.method == "POST"
    ) as info:
        action()
    assert info.value.ok


def snap(page, path):
    """A whole-page screenshot without sticky bars drawn mid-page: grow the viewport to
    the document's height, shoot, restore."""
    size = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def open_section(page, section_id):
    section = page.locator(f"#section-{section_id}")
    if section.get_attribute("open") is None:
        section.locator("summary").click()
    expect(section).to_have_attribute("open", "")
    return section


def pick_account(page, name):
    picker = page.locator("#fw-account")
    picker.locator("[data-picker-input]").fill(name[:4])
    option = picker.get_by_role("option", name=re.compile(re.escape(name)))
    option.click()
    expect(picker.locator("[data-picker-input]")).to_have_value(name)
    assert picker.locator("[data-picker-value]").input_value() != ""


def test_create_find_and_read_an_opportunity_in_english_and_chinese(
    page, live_server, screenshot_dir, sign_in
):
    sign_in(page, live_server, REP)

    # ---- the new-opportunity form ---------------------------------------------------
    page.goto(live_server + "/e/opportunity")
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile("^New")).first.click()
    assert page.url.endswith("/e/opportunity/new")
    expect(page.get_by_role("heading", name="New Opportunity")).to_be_visible()

    page.get_by_label("Opportunity name").fill(DEAL)
    pick_account(page, "Globex Inc.")
    page.get_by_label("Expected close date").fill(CLOSE)
    page.get_by_label("Amount").fill("320000")
    page.get_by_label("Next step").fill("Workshop with the plant manager")
    open_section(page, "classification")
    page.get_by_role("combobox", name="Region", exact=True).select_option("east_china")

    # ---- a conditional field appears after the server round-trip ---------------------
    open_section(page, "loss")
    loss_detail = page.locator("#fw-loss_detail")
    expect(loss_detail).to_be_hidden()  # visible_if: loss_reason is not None
    competitor_required = page.locator("#req-competitor")
    expect(competitor_required).to_be_hidden()  # required_if: loss_reason == 'competitor'
    wait_for_form_state(page, lambda: page.get_by_label("Loss reason").select_option("competitor"))
    expect(loss_detail).to_be_visible()
    expect(competitor_required).to_be_visible()
    expect(page.locator("#fs-competitor")).to_have_attribute("data-required", "1")
    snap(page, screenshot_dir / "form-en.png")

    # ---- submit with the now-required Competitor missing ----------------------------
    with page.expect_navigation():
        page.get_by_role("button", name="Create Opportunity").click()
    competitor = page.locator("#fw-competitor")
    expect(competitor).to_have_class(re.compile(r"\bhas-error\b"))
    expect(competitor.locator(".field-error")).to_be_visible()
    expect(competitor.locator(".field-error")).to_contain_text(re.compile(r"required", re.I))
    expect(page.locator("[data-error-summary]")).to_be_visible()
    # what was typed is kept
    expect(page.get_by_label("Opportunity name")).to_have_value(DEAL)
    expect(page.locator("#fw-account [data-picker-input]")).to_have_value("Globex Inc.")
    expect(page.get_by_label("Expected close date")).to_have_value(CLOSE)
    # kept, and grouped for reading (js/number_input.js)
    expect(page.get_by_label("Amount")).to_have_value(re.compile(r"^320,000(\.0+)?$"))
    expect(page.get_by_label("Next step")).to_have_value("Workshop with the plant manager")
    expect(page.get_by_label("Loss reason")).to_have_value("competitor")
    open_section(page, "loss")  # a collapsed section without errors stays collapsed
    expect(loss_detail).to_be_visible()

    # ---- fix it and save: we land on the record page ---------------------------------
    page.get_by_label("Competitor").fill("Umbrella Systems")
    with page.expect_navigation():
        page.get_by_role("button", name="Create Opportunity").click()
    assert re.search(r"/e/opportunity/\d+$", page.url), page.url
    record_url = page.url
    expect(page.get_by_role("heading", name=DEAL)).to_be_visible()
    expect(page.get_by_text("Umbrella Systems").first).to_be_visible()
    expect(page.get_by_text("Globex Inc.").first).to_be_visible()
    snap(page, screenshot_dir / "record-en.png")

    # ---- find it through the list's search box --------------------------------------
    page.goto(live_server + "/e/opportunity?view=all")
    rows = page.locator("#list-results tbody tr")
    expect(rows).to_have_count(4)
    snap(page, screenshot_dir / "list-en.png")
    with page.expect_response(lambda r: "q=Initech" in r.url):
        page.locator("#list-q").fill("Initech")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link", name=DEAL)).to_be_visible()
    assert "q=Initech" in page.url

    # ... and through a filter: Region = East China (only our deal has a region)
    page.goto(live_server + "/e/opportunity?view=all")
    expect(rows).to_have_count(4)
    region = page.locator("details[data-filter]", has=page.locator("summary", has_text="Region"))
    region.locator("summary").click()
    with page.expect_response(lambda r: "region" in r.url and "/e/opportunity" in r.url):
        region.get_by_label("East China", exact=True).check()
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link", name=DEAL)).to_be_visible()
    assert "east_china" in page.url
    page.keyboard.press("Escape")

    # ---- the same screens in Chinese -------------------------------------------------
    page.goto(live_server + "/")
    page.get_by_label("Language").click()
    with page.expect_navigation():
        page.get_by_role("button", name="中文").click()
    assert page.locator("html").get_attribute("lang") == "zh-CN"

    page.goto(live_server + "/e/opportunity?view=all")
    expect(page.locator("nav.nav").get_by_text("商机").first).to_be_visible()
    expect(page.locator("#list-results thead")).to_contain_text("商机名称")
    expect(page.locator("#list-results thead")).to_contain_text("金额")
    expect(rows).to_have_count(4)
    snap(page, screenshot_dir / "list-zh.png")

    page.goto(record_url)
    expect(page.get_by_role("heading", name=DEAL)).to_be_visible()
    expect(page.get_by_text("预计成交日期").first).to_be_visible()
    expect(page.get_by_text("竞争对手").first).to_be_visible()
    snap(page, screenshot_dir / "record-zh.png")

    page.goto(live_server + "/e/opportunity/new")
    expect(page.get_by_role("heading", name="新建商机")).to_be_visible()
    expect(page.get_by_label("商机名称")).to_be_visible()
    open_section(page, "loss")
    wait_for_form_state(page, lambda: page.get_by_label("丢单原因").select_option("competitor"))
    expect(page.locator("#fw-loss_detail")).to_be_visible()
    expect(page.locator("#req-competitor")).to_be_visible()
    snap(page, screenshot_dir / "form-zh.png")
