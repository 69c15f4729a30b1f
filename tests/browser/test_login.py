"""Sign in through the real login page, use the shell, switch to Chinese, sign out."""

from __future__ import annotations

from .conftest import PASSWORD  # as seeded by conftest.seed

REP = "rep@example.com"


def test_rep_signs_in_sees_home_and_switches_to_chinese(page, live_server, screenshot_dir, sign_in):
    page.goto(live_server + "/login")
    page.screenshot(path=str(screenshot_dir / "login-en.png"))

    sign_in(page, live_server, REP, start="/")
    assert page.url.rstrip("/") == live_server
    assert page.get_by_role("heading", name="Welcome back, Rita Rep").is_visible()
    assert page.get_by_role("link", name="Send the revised quote").is_visible()
    assert page.locator(".card", has_text="Accounts").get_by_text("Globex Inc.").is_visible()
    page.screenshot(path=str(screenshot_dir / "home-en.png"), full_page=True)

    # The language menu is a keyboard-reachable <details>; pick 中文 from it.
    page.get_by_label("Language").click()
    with page.expect_navigation():
        page.get_by_role("button", name="中文").click()
    assert page.get_by_role("heading", name="欢迎回来，Rita Rep").is_visible()
    assert page.locator("nav.nav").get_by_text("首页").is_visible()
    assert page.get_by_text("我的待办任务").is_visible()
    page.screenshot(path=str(screenshot_dir / "home-zh.png"), full_page=True)

    # The choice is saved on the user: it survives a fresh page load.
    page.reload()
    assert page.locator("html").get_attribute("lang") == "zh-CN"

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    page.screenshot(path=str(screenshot_dir / "home-zh-mobile.png"))
    page.get_by_label("打开导航").click()
    page.wait_for_timeout(300)
    assert page.locator("#sidebar").get_by_text("商机").first.is_visible()
    page.screenshot(path=str(screenshot_dir / "nav-zh-mobile.png"))


def test_wrong_password_shows_an_error_and_keeps_the_email(page, live_server):
    page.goto(live_server + "/")
    assert "/login" in page.url
    page.get_by_label("E-mail").fill(REP)
    page.get_by_label("Password").fill("not the password")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "/login" in page.url
    assert page.get_by_role("alert").inner_text().strip() == (
        "The e-mail address or password is not correct."
    )
    assert page.get_by_label("E-mail").input_value() == "rep@example.com"


def test_sign_out_from_the_user_menu(page, live_server, sign_in):
    sign_in(page, live_server, REP, start="/")
    page.get_by_label("Account").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert "/login" in page.url
    assert page.get_by_text("You have signed out.").is_visible()
    page.goto(live_server + "/")
    assert "/login" in page.url


def test_keyboard_slash_focuses_search(page, live_server, sign_in):
    sign_in(page, live_server, REP, start="/")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "global-search"
    page.keyboard.type("Globex")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/search?q=Globex" in page.url
    assert page.get_by_role("link", name="Globex Inc.").is_visible()


def test_login_page_puts_the_cursor_in_the_email_field(page, live_server):
    page.goto(live_server + "/login")
    assert page.evaluate("document.activeElement && document.activeElement.id") == "f-email"
    page.keyboard.type("rep@example.com")  # typing straight away fills the e-mail
    assert page.locator("#f-email").input_value() == "rep@example.com"


def test_language_picked_on_the_login_page_is_kept_after_sign_in(page, live_server, chromium):
    page.goto(live_server + "/login")
    with page.expect_navigation():
        page.get_by_role("button", name="中文").click()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    # The reload after choosing puts the cursor back in the e-mail field.
    assert page.evaluate("document.activeElement.id") == "f-email"
    page.locator("#f-email").fill("rep@example.com")
    page.locator("#f-password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="登录").click()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_role("heading", name="欢迎回来，Rita Rep").is_visible()
    # Saved on the account: a fresh browser with an English Accept-Language gets Chinese.
    other = chromium.new_context(locale="en-US")
    try:
        fresh = other.new_page()
        sign_in_page = fresh.goto(live_server + "/login")
        assert sign_in_page is not None
        fresh.locator("#f-email").fill("rep@example.com")
        fresh.locator("#f-password").fill(PASSWORD)
        with fresh.expect_navigation():
            fresh.locator("form.stack button[type=submit]").click()
        assert fresh.locator("html").get_attribute("lang") == "zh-CN"
    finally:
        other.close()
