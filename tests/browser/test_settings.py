"""Settings and security in Chromium: each page passes axe-core with no CSP report, two-factor
is set up from the QR page's secret, an API client's secret is shown once, and the keyboard
reaches the forms."""

from __future__ import annotations

from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import Dialog, Page, expect

from tests.browser.live import LiveTresor, User
from tests.browser.pages import Checker, goto, sign_in


def _accept(dialog: Dialog) -> None:
    dialog.accept()


def test_the_settings_page_saves_preferences_and_passes_axe(
    signed_in: Page, tresor: LiveTresor, user: User, checker: Checker
) -> None:
    goto(signed_in, "/settings")
    expect(signed_in.get_by_role("heading", level=1)).to_have_text("Settings and security")
    checker.check(signed_in, "settings")
    signed_in.get_by_label("Quote currency").select_option("EUR")
    signed_in.get_by_label("Time zone").select_option("Europe/Paris")
    with signed_in.expect_navigation():
        signed_in.get_by_role("button", name="Save preferences").click()
    expect(signed_in.get_by_role("status")).to_have_text("Preferences saved.")
    expect(signed_in.get_by_label("Time zone")).to_have_value("Europe/Paris")
    prefs = tresor.call(tresor.runtime.container.accounts.preferences(user.id))
    assert (prefs.quote, prefs.timezone) == ("EUR", "Europe/Paris")
    goto(signed_in, "/")
    expect(signed_in.locator("#net-worth .unit")).to_have_text("EUR")
    assert checker.csp_reports() == []


def test_two_factor_is_set_up_from_the_pages_secret_and_the_recovery_codes_are_shown_once(
    signed_in: Page, user: User, checker: Checker
) -> None:
    goto(signed_in, "/settings")
    signed_in.locator("#begin-password").fill(user.password)
    with signed_in.expect_navigation():
        signed_in.get_by_role("button", name="Turn on two-factor").click()
    qr = signed_in.get_by_role("img", name="QR code of the two-factor secret")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 200
    checker.check(signed_in, "two-factor-setup")
    secret = signed_in.locator("#totp-secret").inner_text().replace(" ", "")
    signed_in.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    with signed_in.expect_navigation():
        signed_in.get_by_role("button", name="Confirm and turn on").click()
    codes = signed_in.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    checker.check(signed_in, "recovery-codes")
    with signed_in.expect_navigation():
        signed_in.get_by_role("link", name="I have saved them").click()
    expect(signed_in.locator("#two-factor-status")).to_contain_text("10 recovery codes left")
    assert codes[0] not in signed_in.content()
    checker.check(signed_in, "settings-two-factor-on")

    signed_in.context.clear_cookies()
    sign_in(signed_in, user, code=codes[0].strip())
    expect(signed_in.get_by_role("heading", level=1)).to_have_text("Overview")
    assert checker.csp_reports() == []


def test_an_api_client_is_made_with_its_secret_shown_once_then_revoked_after_a_confirm(
    signed_in: Page, tresor: LiveTresor, checker: Checker
) -> None:
    goto(signed_in, "/settings")
    signed_in.get_by_label("Name").fill("tax export")
    signed_in.get_by_label("trade").check()
    with signed_in.expect_navigation():
        signed_in.get_by_role("button", name="Create client").click()
    client_id = signed_in.locator("#client-id").inner_text()
    secret = signed_in.locator("#client-secret").inner_text()
    checker.check(signed_in, "client-created")
    answer = tresor.http.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "read trade"

    goto(signed_in, "/settings")
    row = signed_in.locator(f'tr[data-client="{client_id}"]')
    expect(row).to_contain_text("tax export")
    assert secret not in signed_in.content()
    signed_in.once("dialog", _accept)
    with signed_in.expect_navigation():
        row.get_by_role("button", name="Revoke").click()
    expect(signed_in.get_by_role("status")).to_contain_text("revoked")
    expect(signed_in.locator(f'tr[data-client="{client_id}"]')).to_have_count(0)
    assert checker.csp_reports() == []


def test_signing_out_everywhere_asks_first_and_lands_on_sign_in(signed_in: Page) -> None:
    goto(signed_in, "/settings")
    signed_in.once("dialog", _accept)
    with signed_in.expect_navigation():
        signed_in.get_by_role("button", name="Sign out everywhere").click()
    assert urlsplit(signed_in.url).path == "/login"
    goto(signed_in, "/settings")
    assert urlsplit(signed_in.url).path == "/login"
