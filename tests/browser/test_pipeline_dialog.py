"""The move dialog and the path bar in a real browser: a loss reason that needs
another field asks for it in the same dialog (board and record page), every closing
stage is on the record page, and a user who may not move a record sees no buttons."""

from __future__ import annotations

from pathlib import Path

import pytest

from .board_actions import card, drag, save_and_move
from .conftest import PASSWORD

RECRUITING_APP = Path(__file__).resolve().parent.parent / "fixtures" / "recruiting_app"
SHOTS = Path("/work/wt/shots/pipelines")


def _shot(page, name: str) -> None:
    if SHOTS.parent.is_dir():
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / name))


def _pick_competitor_in_one_dialog(page, dialog) -> None:
    """The dialog asks for the reason; choosing "Lost to a competitor" brings the
    competitor field into the same dialog, with the reason still chosen."""
    dialog.wait_for(state="visible")
    assert dialog.get_by_label("Competitor").count() == 0
    dialog.get_by_label("Loss reason").select_option("competitor")
    competitor = dialog.get_by_label("Competitor")
    competitor.wait_for(state="visible")
    assert dialog.get_by_label("Loss reason").input_value() == "competitor"
    competitor.fill("SAP")
    _shot(page, "dialog-competitor-en-1440.png")
    save_and_move(dialog)


def test_board_lost_to_competitor_in_one_dialog(page, board_server, sign_in):
    base, ids = board_server
    sign_in(page, base, "rep@example.com")
    page.goto(base + "/p/new_business")
    lost_zone = page.locator('[data-cards][data-drop-only][data-stage="lost"]')
    drag(page, card(page, ids["ready"]), lost_zone)
    dialog = page.locator("#gate-dialog")
    _pick_competitor_in_one_dialog(page, dialog)
    dialog.wait_for(state="hidden")
    page.goto(base + f"/e/opportunity/{ids['ready']}")
    body = page.locator("main").inner_text()
    assert "Lost to a competitor" in body and "SAP" in body
    assert page.locator(".path-step-close.is-current.is-lost").count() == 1


def test_path_bar_lost_to_competitor_in_one_dialog(page, board_server, sign_in):
    base, ids = board_server
    sign_in(page, base, "rep@example.com")
    page.goto(base + f"/e/opportunity/{ids['gated']}")
    page.locator('#path-bar [data-move-to="lost"]').click()
    dialog = page.locator("#gate-dialog")
    _pick_competitor_in_one_dialog(page, dialog)
    page.wait_for_selector(".path-step-close.is-current.is-lost")
    body = page.locator("main").inner_text()
    assert "Lost to a competitor" in body and "SAP" in body


def test_path_bar_other_reason_asks_for_the_review_in_the_same_dialog(
    page,
    board_server,
    sign_in,
):
    base, ids = board_server
    sign_in(page, base, "rep@example.com")
    page.goto(base + f"/e/opportunity/{ids['late']}")
    page.locator('#path-bar [data-move-to="lost"]').click()
    dialog = page.locator("#gate-dialog")
    dialog.wait_for(state="visible")
    dialog.get_by_label("Loss reason").select_option("other")
    review = dialog.get_by_label("Loss review")
    review.wait_for(state="visible")
    # save without the review: refused in the same dialog, the reason still chosen
    save_and_move(dialog)
    dialog.locator(".field-error").first.wait_for()
    assert dialog.get_by_label("Loss reason").input_value() == "other"
    dialog.get_by_label("Loss review").fill("Project cancelled after a reorganisation")
    save_and_move(dialog)
    page.wait_for_selector(".path-step-close.is-current.is-lost")
    assert "Project cancelled" in page.locator("main").inner_text()


# --------------------------------------------------------------- a non-CRM app


def seed_recruiting(app) -> dict[str, int]:
    """A recruiter with two candidates; an interviewer and a viewer who may not move them."""
    services = app.extensions["trellis"]
    users = services.users
    recruiter = users.principal(
        users.create_user("hr@example.com", "Hana HR", PASSWORD, roles=["recruiter"])
    )
    users.create_user("int@example.com", "Ivan Interviewer", PASSWORD, roles=["interviewer"])
    users.create_user("view@example.com", "Vera Viewer", PASSWORD, roles=["viewer"])
    return {
        name: services.repo.create(recruiter, "candidate", {"name": name, "position": "SRE"})["id"]
        for name in ("Ada", "Bo")
    }


@pytest.fixture
def recruiting_server(serve):
    base, _app, ids = serve(RECRUITING_APP, seed_recruiting)
    return base, ids


def test_both_lost_stages_are_reachable_from_the_record_page(page, recruiting_server, sign_in):
    base, ids = recruiting_server
    sign_in(page, base, "hr@example.com")
    page.goto(base + f"/e/candidate/{ids['Ada']}")
    closing = page.locator("#path-bar .path-close-choice [data-move-to]")
    assert closing.evaluate_all("els => els.map(e => e.dataset.moveTo)") == [
        "hired",
        "rejected",
        "withdrawn",
    ]
    page.locator('#path-bar [data-move-to="withdrawn"]').click()  # no gate: moves at once
    page.wait_for_selector(".path-step-close.is-current.is-lost")
    assert "Withdrawn" in page.locator("#path-bar").inner_text()

    page.goto(base + f"/e/candidate/{ids['Bo']}")
    page.locator('#path-bar [data-move-to="rejected"]').click()
    dialog = page.locator("#gate-dialog")
    dialog.wait_for(state="visible")
    dialog.get_by_label("Rejection reason").select_option("other_offer")
    dialog.get_by_label("Other employer").fill("Initech")
    save_and_move(dialog)
    page.wait_for_selector(".path-step-close.is-current.is-lost")
    text = page.locator("#path-bar").inner_text()
    assert "Rejected" in text and "Withdrawn" not in text


@pytest.mark.parametrize("email", ["int@example.com", "view@example.com"])
def test_no_path_bar_buttons_for_a_user_who_cannot_move(page, recruiting_server, email, sign_in):
    base, ids = recruiting_server
    sign_in(page, base, email)
    page.goto(base + f"/e/candidate/{ids['Ada']}")
    page.locator("#path-bar").wait_for()
    assert page.locator("#path-bar [data-move-to]").count() == 0
    assert page.locator("#path-bar button").count() == 0
    answer = page.evaluate(
        """async ([url, id]) => {
            const body = new FormData(); body.append("record_id", id); body.append("to_stage", "interview");
            const r = await window.trellis.fetch(url, {method: "POST", body, headers: {Accept: "application/json"}});
            return [r.status, await r.json()];
        }""",
        [base + "/p/hiring/move", ids["Ada"]],
    )
    assert answer[0] == 403 and answer[1]["code"] == "permission_denied"


def test_checklist_ticked_in_one_browser_shows_in_another(chromium, recruiting_server, sign_in):
    base, ids = recruiting_server
    with_stage = f"/e/candidate/{ids['Ada']}"
    first = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    second = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    try:
        page = first.new_page()
        sign_in(page, base, "hr@example.com")
        page.goto(base + with_stage)
        page.locator('#path-bar [data-move-to="interview"]').click()
        page.wait_for_selector('[data-checklist-item="phone"]')
        with page.expect_response("**/p/checklist/**"):
            page.get_by_label("Phone screen done").check()
        other = second.new_page()
        sign_in(other, base, "view@example.com")
        other.goto(base + with_stage)
        box = other.get_by_label("Phone screen done")
        assert box.is_checked() and box.is_disabled()
        assert not other.get_by_label("Onsite scheduled").is_checked()
        assert "Hana HR" in other.locator("#path-bar .path-checklist").inner_text()
    finally:
        first.close()
        second.close()
