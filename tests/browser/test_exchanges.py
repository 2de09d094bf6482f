"""My Exchanges in Chromium: the wizard by keyboard and mouse (the copy buttons, a refused key
and its remedy, a key that connects), the connection's page and its actions (the removal asks
first); axe-core on every page of the area, with no CSP report."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Dialog, Page, expect

from tests.browser.live import WITHDRAW, LiveTresor, User
from tests.browser.pages import Checker, goto
from tests.support.simclient import READ_ONLY


def test_the_wizard_connects_a_key_and_the_pages_pass_axe(
    signed_in: Page, context: BrowserContext, tresor: LiveTresor, checker: Checker
) -> None:
    page = signed_in
    goto(page, "/exchanges")
    checker.check(page, "exchanges-empty")
    page.get_by_role("link", name="Add an exchange").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add an exchange")
    checker.check(page, "exchanges-choose")
    page.get_by_role("link", name="sim", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Connect sim (Binance)")
    checker.check(page, "exchanges-wizard")
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    (ip,) = tresor.settings.egress_ips
    copy = page.get_by_role("button", name=f"Copy {ip}")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == ip

    risky = tresor.key(WITHDRAW)
    page.get_by_label("Label").fill("spot")
    trade = page.get_by_role("group", name="Trade key")
    trade.get_by_label("API key").fill(risky["api_key"])
    trade.get_by_label("Secret Key").fill(risky["secret"])
    with page.expect_navigation():
        page.get_by_role("button", name="Test and connect").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("This key can withdraw funds.")
    expect(alert).to_contain_text("disable withdrawals")
    expect(page.get_by_label("Label")).to_have_value("spot")
    expect(trade.get_by_label("API key")).to_have_value("")
    assert risky["secret"] not in page.content()
    checker.check(page, "exchanges-wizard-refused")

    good = tresor.key(READ_ONLY)
    read = page.get_by_role("group", name="Read key")
    read.get_by_label("API key").fill(good["api_key"])
    read.get_by_label("Secret Key").fill(good["secret"])
    read.get_by_label("Secret Key").press("Enter")  # the keyboard sends the form
    page.wait_for_url("**/exchanges/*?done=added")
    expect(page.get_by_role("status")).to_contain_text("The exchange is connected")
    expect(page.locator("#key-read")).to_contain_text("Withdrawals: no")
    assert good["secret"] not in page.content()
    checker.check(page, "exchanges-detail")
    goto(page, "/exchanges")
    expect(page.get_by_role("link", name="spot")).to_be_visible()
    checker.check(page, "exchanges-list")
    assert not checker.csp_reports(), checker.csp_reports()


def test_removing_asks_first_and_cancelling_keeps_the_connection(
    signed_in: Page, tresor: LiveTresor, user: User, checker: Checker
) -> None:
    page = signed_in
    connection_id = tresor.connect(user, "keep-me")
    goto(page, f"/exchanges/{connection_id}")
    asked: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Remove").click()
    assert len(asked) == 1
    assert "keep-me" in asked[0]
    goto(page, f"/exchanges/{connection_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_contain_text("removed")
    expect(page.get_by_role("link", name="keep-me")).to_have_count(0)
    assert not checker.csp_reports(), checker.csp_reports()
