"""Signing in, in Chromium: the form, its errors, two-factor, the cookie, the keyboard."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.live import LiveTresor, User
from tests.browser.pages import Checker, goto, sign_in
from tresor.domain.secrets import Secret


def test_a_wrong_password_shows_the_error_and_the_right_one_lands_on_the_overview(
    page: Page, user: User, checker: Checker
) -> None:
    goto(page, "/login")
    checker.check(page, "login")
    page.get_by_label("User name", exact=True).fill(user.name)
    page.get_by_label("Password", exact=True).fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    error = page.get_by_role("alert")
    expect(error).to_be_visible()
    expect(error).to_contain_text("the password is wrong")
    assert urlsplit(page.url).path == "/login"
    checker.check(page, "login-refused")

    sign_in(page, user)
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    checker.check(page, "overview-empty")


def test_the_session_cookie_is_the_secure_host_only_cookie_over_loopback_http(
    signed_in: Page, context: BrowserContext
) -> None:
    cookies = {c["name"]: c for c in context.cookies()}
    assert "__Host-tresor" in cookies, cookies
    cookie = cookies["__Host-tresor"]
    assert cookie["secure"] is True
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/"
    assert "tresor" not in cookies, "no insecure fallback cookie on a loopback origin"
    # and the browser sends it back: a reload stays signed in
    goto(signed_in, "/")
    expect(signed_in.get_by_role("heading", level=1)).to_have_text("Overview")


def test_a_page_asked_for_without_a_session_goes_to_sign_in_and_back_after_it(
    page: Page, user: User
) -> None:
    goto(page, "/?range=24h")
    assert urlsplit(page.url).path == "/login"
    page.get_by_label("User name", exact=True).fill(user.name)
    page.get_by_label("Password", exact=True).fill(user.password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert urlsplit(page.url).path == "/"
    assert urlsplit(page.url).query == "range=24h"


def test_signing_out_ends_the_session(signed_in: Page) -> None:
    with signed_in.expect_navigation():
        signed_in.get_by_role("button", name="Sign out").click()
    assert urlsplit(signed_in.url).path == "/login"
    goto(signed_in, "/")
    assert urlsplit(signed_in.url).path == "/login"


def test_tab_reaches_the_fields_and_the_button_and_enter_signs_in(page: Page, user: User) -> None:
    goto(page, "/login")
    active = "() => document.activeElement.id || document.activeElement.textContent.trim()"
    assert page.evaluate(active) == "name", "the name field has the focus first"
    focused = []
    for _ in range(3):
        page.keyboard.press("Tab")
        focused.append(page.evaluate(active))
    assert focused == ["password", "code", "Sign in"]
    # from the top of the page: the skip link, then on to the name field
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(active) == "name"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(active) in ("Skip to content", "Tresor")
    page.get_by_label("User name", exact=True).focus()
    page.keyboard.type(user.name)
    page.keyboard.press("Tab")
    page.keyboard.type(user.password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert urlsplit(page.url).path == "/"
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def _two_factor_on(tresor: LiveTresor, user: User) -> tuple[pyotp.TOTP, list[str]]:
    """Two-factor set up and confirmed through the service, with the code of the previous
    30-second step (accepted: one step either way), so that the current step's code is still
    unused for the sign-in."""
    accounts = tresor.runtime.container.accounts
    secret, uri = tresor.call(
        accounts.begin_two_factor(user.id, user.name, password=Secret(user.password))
    )
    assert uri.startswith("otpauth://totp/")
    totp = pyotp.TOTP(secret.reveal())
    earlier = totp.at(time.time() - 30)
    codes = tresor.call(accounts.confirm_two_factor(user.id, earlier))
    assert len(codes) == 10
    return totp, codes


def test_with_two_factor_the_page_asks_for_the_code_refuses_a_wrong_one_and_takes_the_right_one(
    page: Page, tresor: LiveTresor, user: User, checker: Checker
) -> None:
    totp, _ = _two_factor_on(tresor, user)
    goto(page, "/login")
    page.get_by_label("User name", exact=True).fill(user.name)
    page.get_by_label("Password", exact=True).fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("code")
    code_field = page.get_by_label("Two-factor code")
    expect(code_field).to_be_focused()
    assert urlsplit(page.url).path == "/login"
    checker.check(page, "login-code-asked")

    now = totp.now()
    wrong = f"{(int(now) + 1) % 1_000_000:06d}"
    page.get_by_label("Password", exact=True).fill(user.password)
    code_field.fill(wrong)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert urlsplit(page.url).path == "/login"
    assert not any(c["name"] == "__Host-tresor" for c in page.context.cookies())
    checker.check(page, "login-code-refused")

    sign_in(page, user, code=totp.now())
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def test_a_recovery_code_signs_in_once(
    page: Page, context: BrowserContext, tresor: LiveTresor, user: User
) -> None:
    _, codes = _two_factor_on(tresor, user)
    sign_in(page, user, code=codes[0].upper())  # case does not matter
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    goto(page, "/login")
    page.get_by_label("User name", exact=True).fill(user.name)
    page.get_by_label("Password", exact=True).fill(user.password)
    page.get_by_label("Two-factor code").fill(codes[0])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("already used")
    assert urlsplit(page.url).path == "/login"
    assert not any(c["name"] == "__Host-tresor" for c in context.cookies())


def test_on_localhost_too_the_session_cookie_is_the_secure_host_only_one(
    chromium: Browser, tresor: LiveTresor, user: User
) -> None:
    context = chromium.new_context(base_url=tresor.url.replace("127.0.0.1", "localhost"))
    try:
        page = context.new_page()
        sign_in(page, user)
        names = {c["name"]: c["secure"] for c in context.cookies()}
        assert names == {"__Host-tresor": True}
    finally:
        context.close()
