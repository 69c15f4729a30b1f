"""The pipeline board in a real browser: drag a card, get asked for what a gate needs,
and be refused without permission. Screenshots land in screenshots/."""

from __future__ import annotations

import pytest

from .board_actions import card, column, drag, save_and_move


def test_drag_to_next_stage_is_saved(page, board_server, screenshot_dir, sign_in):
    base, ids = board_server
    sign_in(page, base, "rep@example.com")
    page.goto(base + "/p/new_business")
    page.screenshot(path=str(screenshot_dir / "board-en.png"), full_page=True)
    drag(page, card(page, ids["ready"]), column(page, "discovery"))
    page.wait_for_selector(
        f'.board-column [data-stage="discovery"] [data-id="{ids["ready"]}"]:not(.is-saving)'
    )
    page.reload()
    assert column(page, "discovery").locator(f'[data-id="{ids["ready"]}"]').count() == 1
    assert column(page, "qualification").locator(f'[data-id="{ids["ready"]}"]').count() == 0


def test_drag_into_gated_stage_asks_for_the_missing_field(
    page, board_server, screenshot_dir, sign_in
):
    base, ids = board_server
    sign_in(page, base, "rep@example.com")
    page.goto(base + "/p/new_business")
    drag(page, card(page, ids["gated"]), column(page, "solutioning"))
    dialog = page.locator("#gate-dialog")
    dialog.wait_for(state="visible")
    assert (
        column(page, "discovery").locator(f'[data-id="{ids["gated"]}"]').count() == 1
    )  # sprang back
    assert "Customer's key pains" in dialog.inner_text()
    page.screenshot(path=str(screenshot_dir / "board-gate-en.png"))
    dialog.get_by_label("Customer's key pains").fill(
        "Scrap rate 4%; no traceability for OEM audits"
    )
    save_and_move(dialog)
    page.wait_for_selector(f'.board-column [data-stage="solutioning"] [data-id="{ids["gated"]}"]')
    page.reload()
    assert column(page, "solutioning").locator(f'[data-id="{ids["gated"]}"]').count() == 1


def test_user_without_permission_is_refused(page, board_server, sign_in):
    base, ids = board_server
    sign_in(page, base, "mkt@example.com")
    page.goto(base + "/p/new_business")
    target = column(page, "discovery")
    drag(page, card(page, ids["ready"]), target)
    page.wait_for_timeout(600)
    page.reload()
    assert column(page, "qualification").locator(f'[data-id="{ids["ready"]}"]').count() == 1
    assert column(page, "discovery").locator(f'[data-id="{ids["ready"]}"]').count() == 0
    # the server refuses a move even when the browser sends one
    answer = page.evaluate(
        """async ([url, id]) => {
            const body = new FormData(); body.append("record_id", id); body.append("to_stage", "discovery");
            const r = await window.trellis.fetch(url, {method: "POST", body, headers: {Accept: "application/json"}});
            return [r.status, await r.json()];
        }""",
        [base + "/p/new_business/move", ids["ready"]],
    )
    assert answer[0] == 403 and answer[1]["ok"] is False


def test_keyboard_move_and_chinese_board(page, board_server, screenshot_dir, sign_in):
    base, ids = board_server
    sign_in(page, base, "rep@example.com")
    page.goto(base + "/p/new_business")
    card(page, ids["ready"]).focus()
    page.keyboard.press("Shift+ArrowRight")
    page.wait_for_selector(
        f'.board-column [data-stage="discovery"] [data-id="{ids["ready"]}"]:not(.is-saving)'
    )
    page.goto(base + f"/e/opportunity/{ids['gated']}")
    page.screenshot(path=str(screenshot_dir / "path-bar-en.png"), full_page=False)


def moves_sent(page) -> list[str]:
    sent: list[str] = []
    page.on(
        "request", lambda r: sent.append(r.url) if r.url.split("?")[0].endswith("/move") else None
    )
    return sent


def test_card_the_user_may_not_move_is_fixed_with_the_reason(page, board_server, sign_in):
    """A teammate reads Rita's deals (team scope) but may update only their own."""
    base, ids = board_server
    sign_in(page, base, "tom@example.com")
    page.goto(base + "/p/new_business")
    theirs, mine = card(page, ids["ready"]), card(page, ids["mine"])
    assert "is-fixed" in theirs.get_attribute("class")
    reason = "You may not edit this record, so you cannot move it."
    assert theirs.get_attribute("title") == reason
    assert theirs.locator("[data-move-menu]").count() == 0
    assert theirs.evaluate("el => getComputedStyle(el).cursor") == "default"
    assert "is-fixed" not in mine.get_attribute("class")
    assert mine.locator("[data-move-menu]").count() == 1
    assert mine.evaluate("el => getComputedStyle(el).cursor") == "grab"
    sent = moves_sent(page)
    drag(page, theirs, column(page, "discovery"))
    page.wait_for_timeout(500)
    assert sent == []  # nothing was dropped, so nothing was refused after the drop
    assert column(page, "qualification").locator(f'[data-id="{ids["ready"]}"]').count() == 1
    theirs.focus()
    page.keyboard.press("Shift+ArrowRight")
    assert page.get_by_text(reason).last.is_visible()  # the keyboard says why, too
    drag(page, mine, column(page, "discovery"))  # their own card still moves
    page.wait_for_selector(
        f'.board-column [data-stage="discovery"] [data-id="{ids["mine"]}"]:not(.is-saving)'
    )


def test_dragging_a_card_by_its_title_moves_it_and_a_click_opens_it(page, board_server, sign_in):
    base, ids = board_server
    sign_in(page, base, "rep@example.com")
    page.goto(base + "/p/new_business")
    drag(page, card(page, ids["ready"]), column(page, "discovery"), by=".board-card-title")
    page.wait_for_selector(
        f'.board-column [data-stage="discovery"] [data-id="{ids["ready"]}"]:not(.is-saving)'
    )
    assert page.url.endswith("/p/new_business")  # the drop did not open the record
    page.reload()
    assert column(page, "discovery").locator(f'[data-id="{ids["ready"]}"]').count() == 1
    with page.expect_navigation():
        card(page, ids["ready"]).locator(".board-card-title").click()
    assert page.url.endswith(f"/e/opportunity/{ids['ready']}")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_board_fits_a_phone_without_sideways_page_scroll(
    chromium, board_server, screenshot_dir, lang, sign_in
):
    """At 390 px the page itself never scrolls sideways; the columns scroll in their strip."""
    base, _ids = board_server
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    page = context.new_page()
    try:
        sign_in(page, base, "rep@example.com")
        page.evaluate(
            """async (lang) => {
                const body = new FormData(); body.append("locale", lang);
                await window.trellis.fetch("/locale", {method: "POST", body});
            }""",
            lang,
        )
        page.goto(base + "/p/new_business")
        assert page.locator(".board-stat").count() == 3  # count, amount, weighted
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        strip = page.locator(".board-columns")
        assert strip.evaluate("el => el.scrollWidth > el.clientWidth")  # columns scroll inside
        for stat in page.locator(".board-stat").all():
            box = stat.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        page.screenshot(path=str(screenshot_dir / f"board-390-{lang}.png"), full_page=True)
    finally:
        context.close()
