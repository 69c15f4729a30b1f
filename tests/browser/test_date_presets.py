"""Date filters' quick ranges in a real browser (issue 9): on the opportunity list, the
close date filter offers "This quarter" and its kin; picking one (by mouse, or from the
keyboard) filters the rows through htmx, shows the chip in words and keeps the token in
the URL; in English and Chinese, at 1440 px and at 390 px. The picker's screenshots land
in screenshots/ (date-presets-*.png)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from .conftest import PASSWORD, REFERENCE_APP

REP = "rep@example.com"


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def seed_quarters(app) -> dict[str, list[str]]:
    """A rep's open deals: two closing this quarter, one the quarter before, one after."""
    services = app.extensions["trellis"]
    users, repo = services.users, services.repo
    rep = users.principal(users.create_user(REP, "张伟 Zhang Wei", PASSWORD, roles=["sales_rep"]))
    status = services.model.entities["account"].field("customer_status").options[0].id
    account = repo.create(rep, "account", {"name": "海尔智家 Haier", "customer_status": status})
    start = _quarter_start(date.today())
    closes = {
        "Haier – MES phase 2": start,
        "海尔 – 数据中台": date.today(),
        "Haier – last quarter's pilot": start - timedelta(days=10),
        "Haier – next quarter's rollout": start + timedelta(days=100),
    }
    for name, close in closes.items():
        values = {"name": name, "account": account["id"], "amount": 100_000}
        repo.create(rep, "opportunity", {**values, "close_date": close.isoformat()})
    names = list(closes)
    return {"this_quarter": names[:2], "others": names[2:]}


@pytest.fixture
def quarter_server(serve):
    base, _app, names = serve(REFERENCE_APP, seed_quarters)
    return base, names


def _switch_language(page, lang):
    page.evaluate(
        """async (lang) => {
            const body = new FormData(); body.append("locale", lang);
            await window.trellis.fetch("/locale", {method: "POST", body});
        }""",
        lang,
    )


WORDS = {
    "en": {"field": "Expected close date", "preset": "This quarter", "custom": "Custom range"},
    "zh": {"field": "预计成交日期", "preset": "本季度", "custom": "自定义范围"},
}


@pytest.mark.parametrize("width", [1440, 390])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_this_quarter_filters_the_list_and_reads_as_a_chip(
    chromium, quarter_server, screenshot_dir, sign_in, lang, width
):
    base, names = quarter_server
    words = WORDS[lang]
    context = chromium.new_context(viewport={"width": width, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        sign_in(page, base, REP)
        _switch_language(page, lang)
        page.goto(base + "/e/opportunity")
        rows = page.locator("#list-results .list-table tbody tr")
        assert rows.count() == 4
        close = page.locator("details[data-filter]", has_text=words["field"]).first
        close.locator("summary").click()
        presets = close.locator("[data-date-presets]")
        assert presets.is_visible()
        assert close.get_by_text(words["custom"]).is_visible()
        labels = [t.strip() for t in presets.locator(".date-preset").all_inner_texts()]
        assert len(labels) == 14 and words["preset"] in labels
        panel = close.locator(".filter-panel")
        box = panel.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width  # on screen at any width
        page.screenshot(path=str(screenshot_dir / f"date-presets-{lang}-{width}.png"))

        radio = close.get_by_label(words["preset"], exact=True)
        if width == 390:
            radio.check()  # a tap
        else:  # from the keyboard: the quick ranges are one tab stop, Space picks
            radio.focus()
            assert page.evaluate("document.activeElement.value") == "this_quarter"
            page.keyboard.press("Space")
        page.wait_for_selector(f".chip:has-text('{words['preset']}')")
        page.wait_for_function(
            "() => document.querySelectorAll('#list-results tbody tr').length == 2"
        )
        text = page.locator("#list-results").inner_text()
        assert all(name in text for name in names["this_quarter"])
        assert not any(name in text for name in names["others"])
        assert "close_date=this_quarter" in page.url
        assert close.evaluate("el => el.classList.contains('is-active')")
        page.screenshot(path=str(screenshot_dir / f"date-presets-{lang}-{width}-picked.png"))

        # The URL carries it: a reload shows the same rows, chip and checked preset.
        page.reload()
        assert page.locator("#list-results tbody tr").count() == 2
        assert page.locator(".chip", has_text=words["preset"]).is_visible()
        close = page.locator("details[data-filter]", has_text=words["field"]).first
        assert close.get_by_label(words["preset"], exact=True).is_checked()
    finally:
        context.close()


def test_a_custom_range_replaces_the_quick_range(chromium, quarter_server, sign_in):
    base, names = quarter_server
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        sign_in(page, base, REP)
        page.goto(base + "/e/opportunity?close_date=this_quarter")
        assert page.locator("#list-results tbody tr").count() == 2
        close = page.locator("details[data-filter]", has_text="Expected close date").first
        close.locator("summary").click()
        start = _quarter_start(date.today())
        close.locator("input[name=close_date__lte]").fill((start - timedelta(days=1)).isoformat())
        close.locator("input[name=close_date__lte]").dispatch_event("change")
        page.wait_for_function(
            "() => document.querySelectorAll('#list-results tbody tr').length == 1"
        )
        assert names["others"][0] in page.locator("#list-results").inner_text()
        assert "close_date=this_quarter" not in page.url and "close_date__lte=" in page.url
        assert not close.get_by_label("This quarter", exact=True).is_checked()
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_match_any_ors_this_quarter_with_another_filter(
    chromium, quarter_server, screenshot_dir, sign_in, lang
):
    base, names = quarter_server
    words = {"en": ("Match all", "Match any"), "zh": ("全部满足", "任一满足")}[lang]
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        sign_in(page, base, REP)
        _switch_language(page, lang)
        # This quarter AND closing before it: none; with Match any: all but next quarter's.
        before = (_quarter_start(date.today()) - timedelta(days=1)).isoformat()
        page.goto(f"{base}/e/opportunity?close_date=this_quarter&close_date__lte={before}")
        assert page.locator("#list-results tbody tr").count() == 0
        switch = page.locator(".match-switch")
        assert switch.get_by_text(words[0]).get_attribute("aria-current") == "true"
        switch.get_by_text(words[1]).focus()
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => document.querySelectorAll('#list-results tbody tr').length == 3"
        )
        assert "match=any" in page.url
        text = page.locator("#list-results").inner_text()
        assert names["others"][1] not in text and names["others"][0] in text
        page.screenshot(path=str(screenshot_dir / f"match-any-{lang}.png"))
        # A later change in the bar keeps match=any (the bar carries it).
        page.locator("#list-q").fill("Haier")
        page.wait_for_function("() => location.search.includes('q=Haier')")
        assert "match=any" in page.url
    finally:
        context.close()
