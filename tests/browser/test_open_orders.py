"""An order placed on /trade rests, is listed among the open orders with the API's figures, and
is cancelled from that list after a confirm (dismissing the question keeps it)."""

from __future__ import annotations

from decimal import Decimal

from playwright.sync_api import Dialog, Page, expect

from tests.browser.live import LiveTresor, User
from tests.browser.pages import Checker, goto
from tresor.entrypoints.web.render import amount


def test_an_order_placed_on_the_ticket_rests_and_is_cancelled_from_the_open_orders(
    signed_in: Page, tresor: LiveTresor, user: User, checker: Checker
) -> None:
    page = signed_in
    connection_id = tresor.connect(user, "spot")
    token = tresor.token(user)
    price = tresor.resting_price()
    goto(page, "/trade")
    page.get_by_label("Symbol").fill("BTC/USDT")
    page.get_by_label("Amount").fill("0.002")
    page.get_by_label("Limit price").fill(str(price))
    with page.expect_navigation():
        page.get_by_role("button", name="Place order").click()

    (order,) = tresor.api(token, "/v1/orders/open")["items"]
    assert order["connection_id"] == connection_id
    assert (order["side"], order["type"], order["state"]) == ("buy", "limit", "open")
    assert Decimal(order["amount"]) == Decimal("0.002")
    assert Decimal(order["price"]) == price
    row = page.locator("#open-orders tbody tr", has_text=order["id"])
    expect(row).to_have_count(1)
    expect(row).to_contain_text("BTC/USDT")
    expect(row).to_contain_text(amount(order["amount"]))
    expect(row).to_contain_text(amount(order["price"]))
    checker.check(page, "trade-open-order")

    asked: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row.get_by_role("button", name="Cancel").click()
    assert asked == ["Cancel this order?"]
    assert tresor.api(token, f"/v1/orders/{order['id']}")["state"] == "open"

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        row.get_by_role("button", name="Cancel").click()
    expect(page.locator("#open-orders tbody tr", has_text=order["id"])).to_have_count(0)
    assert tresor.api(token, f"/v1/orders/{order['id']}")["state"] == "canceled"
    checker.check(page, "trade-cancelled")
