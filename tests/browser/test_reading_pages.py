"""The reading pages in Chromium: assets, trades, orders, transfers, API logs, alerts and gaps
render with no serious axe-core violation and no CSP report, their filter forms work from the
keyboard with plain GET requests, and the CSV link downloads a file."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.live import LiveTresor, User
from tests.browser.pages import Checker, goto
from tests.e2e.api.synced import T0, order, trade, transfer
from tresor.domain.records import ACCOUNT_WIDE, Cursor, Dataset, ExchangeCall, Gap, flatten
from tresor.domain.sync import Event, EventKind, Severity

REASON = "Binance removes canceled and expired orders that had no fills after 90 days."


def _history(tresor: LiveTresor, user: User, connection: str) -> None:
    """A synced history for ``connection``: trades, orders, transfers, a gap, an alert, calls."""
    store = tresor.runtime.store
    pages: list[tuple[Dataset, str, list[Any]]] = [
        (Dataset.TRADES, "BTC/USDT", [trade(connection, n) for n in range(8)]),
        (Dataset.ORDERS, "BTC/USDT", [order(connection, n) for n in range(6)]),
        (Dataset.DEPOSITS, ACCOUNT_WIDE, [transfer(connection, n) for n in range(4)]),
    ]
    for dataset, market, records in pages:
        cursor = Cursor(connection, dataset, market, None, T0, 0)
        gaps = (
            [Gap(connection, dataset, market, 0, T0, REASON)] if dataset is Dataset.ORDERS else []
        )
        tresor.call(store.save_page(cursor, flatten(records), gaps))
    tresor.call(
        store.add_event(
            Event(user.id, connection, T0, EventKind.SYNC_FAILING, Severity.ERROR, "failing")
        )
    )
    tresor.call(
        store.add_calls(
            [ExchangeCall(T0, connection, "sim", "GET", "/api/v3/account", 429, 2.0, 20, "-1003")]
        )
    )


def test_the_reading_pages_pass_axe_and_raise_no_csp_report(
    signed_in: Page, tresor: LiveTresor, user: User, checker: Checker
) -> None:
    connection = tresor.connect(user, "spot")
    tresor.synced_portfolio(tresor.token(user))
    _history(tresor, user, connection)

    for path, heading in [
        ("/assets", "Assets"),
        ("/assets?by=connection&hide_dust=true", "Assets"),
        ("/trades?limit=5", "Trades"),
        ("/orders", "Orders"),
        ("/transfers", "Transfers"),
        ("/logs?status=429", "API logs"),
        ("/alerts", "Alerts"),
        ("/gaps", "Gaps in the history"),
    ]:
        goto(signed_in, path)
        expect(signed_in.get_by_role("heading", level=1)).to_have_text(heading)
        checker.check(signed_in, path)
    goto(signed_in, "/trades?since=yesterday", status=422)
    expect(signed_in.get_by_role("alert")).to_contain_text("'since' is not a date")
    checker.check(signed_in, "trades-bad-date")
    assert checker.csp_reports() == []


def test_the_filters_and_the_older_link_work_from_the_keyboard(
    signed_in: Page, tresor: LiveTresor, user: User
) -> None:
    connection = tresor.connect(user, "spot")
    tresor.synced_portfolio(tresor.token(user))
    _history(tresor, user, connection)

    goto(signed_in, "/trades")
    signed_in.get_by_label("Side").select_option("buy")
    signed_in.get_by_label("Rows a page").select_option("25")
    signed_in.get_by_label("Market").fill("btc/usdt")
    with signed_in.expect_navigation():
        signed_in.get_by_label("Market").press("Enter")
    assert "side=buy" in signed_in.url
    expect(signed_in.locator("#records tbody tr")).to_have_count(4)  # n = 1, 3, 5, 7
    goto(signed_in, "/orders?limit=4")
    with signed_in.expect_navigation():
        signed_in.get_by_role("link", name="Older").click()
    expect(signed_in.locator("#records tbody tr")).to_have_count(2)
    expect(signed_in.get_by_role("link", name="Newest")).to_be_visible()
    goto(signed_in, "/assets")
    signed_in.get_by_label("Asset name contains").fill("bt")
    with signed_in.expect_navigation():
        signed_in.get_by_label("Asset name contains").press("Enter")
    expect(signed_in.locator("tbody.asset")).to_have_count(1)
    expect(signed_in.locator("tbody.asset th").first).to_have_text("BTC")


def test_the_csv_link_downloads_every_matching_row(
    signed_in: Page, tresor: LiveTresor, user: User
) -> None:
    connection = tresor.connect(user, "spot")
    _history(tresor, user, connection)

    goto(signed_in, "/trades?limit=3&side=sell")
    with signed_in.expect_download() as found:
        signed_in.get_by_role("link", name="Download CSV").click()
    download = found.value
    path = download.path()
    assert download.suggested_filename.startswith("tresor-trades-")
    lines = path.read_text().splitlines()
    assert lines[0].startswith("connection_id,symbol,trade_id")
    assert len(lines) == 1 + 4  # n = 0, 2, 4, 6: every sell, not only the page's three
