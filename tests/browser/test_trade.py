"""The trade pages in Chromium: the ticket, an open order and its page, the smart route's quote
and execution, a rule and its plan, each page free of serious accessibility violations and of
CSP reports, used with the keyboard's labels as a person would."""

from __future__ import annotations

from decimal import Decimal

from playwright.sync_api import Page, expect

from tests.browser.live import LiveTresor, User
from tests.browser.pages import Checker, goto


def resting_price(tresor: LiveTresor) -> str:
    """A limit buy price for BTC/USDT at 60% of the best bid: valid, and it rests."""
    ticker = tresor.sim.http.get("/api/v3/ticker/bookTicker", params={"symbol": "BTCUSDT"})
    ticker.raise_for_status()
    return str((Decimal(ticker.json()["bidPrice"]) * Decimal("0.6")).quantize(Decimal(1)))


def test_an_order_placed_on_the_ticket_is_listed_shown_and_cancelled(
    signed_in: Page, tresor: LiveTresor, user: User, checker: Checker
) -> None:
    page = signed_in
    tresor.connect(user, "spot")
    goto(page, "/trade")
    checker.check(page, "ticket")
    page.get_by_label("Symbol").fill("BTC/USDT")
    page.get_by_label("Amount").fill("0.001")
    page.get_by_label("Limit price").fill(resting_price(tresor))
    with page.expect_navigation():
        page.get_by_role("button", name="Place order").click()
    expect(page.locator("#trade-notice")).to_contain_text("Open")
    rows = page.locator("#open-orders tbody tr")
    expect(rows).to_have_count(1)
    checker.check(page, "open-order")

    with page.expect_navigation():
        rows.first.get_by_role("link", name="Details").click()
    expect(page.locator("#order-state")).to_contain_text("Open")
    checker.check(page, "order")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="Cancel order").click()
    expect(page.locator("#order-state")).to_contain_text("Cancelled")
    assert checker.csp_reports() == []


def test_a_route_is_quoted_and_executed_and_a_rule_shows_its_plan(
    signed_in: Page, tresor: LiveTresor, user: User, checker: Checker
) -> None:
    page = signed_in
    tresor.connect(user, "spot")
    goto(page, "/trade/route")
    checker.check(page, "route")
    page.get_by_label("Amount").fill("0.001")
    page.get_by_label("Of").fill("BTC")
    with page.expect_navigation():
        page.get_by_role("button", name="Get a quote").click()
    expect(page.locator("#quote-legs tbody tr")).to_have_count(1)
    checker.check(page, "quote")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="Execute").click()
    expect(page.locator("#execution-legs")).to_contain_text("Filled")
    checker.check(page, "execution")

    goto(page, "/trade/rules")
    checker.check(page, "rules")
    page.get_by_label("Name").fill("core")
    page.get_by_label("Asset 1").fill("BTC")
    page.get_by_label("Target percent 1").fill("50")
    page.get_by_label("Asset 2").fill("USDT")
    page.get_by_label("Target percent 2").fill("50")
    with page.expect_navigation():
        page.get_by_role("button", name="Create rule").click()
    expect(page.locator("#plan-assets")).to_be_visible()
    checker.check(page, "rule")
    assert checker.csp_reports() == []
