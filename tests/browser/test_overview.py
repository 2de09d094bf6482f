"""The overview in Chromium: its figures are the API's, "sync now" works, and its forms need
the session's CSRF token and the user's own ids."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.live import LiveTresor, User
from tests.browser.pages import Checker, goto, sign_in
from tresor.entrypoints.web.render import amount, money, percent, places_for

# a POST sent by the page's own script, with or without the session's CSRF token
FETCH = """async ([url, token]) => {
  const body = new URLSearchParams();
  if (token) body.set("csrf_token", token);
  const answer = await fetch(url, {method: "POST", body, redirect: "manual"});
  return {status: answer.status, type: answer.type, text: await answer.text()};
}"""
CSRF = "() => document.querySelector('meta[name=csrf-token]').content"


def _figures(page: Page) -> dict[str, Any]:
    """The overview's net worth (exact, from its data-value), each asset row as shown, each
    connection card's value as shown."""
    goto(page, "/")
    total = page.locator("#net-worth").get_attribute("data-value")
    rows = page.locator("section[aria-labelledby=h-assets] tbody tr")
    assets = []
    for i in range(rows.count()):
        cells = rows.nth(i).locator("th, td").all_inner_texts()
        assets.append([c.strip() for c in cells])
    cards = {}
    for card in page.locator("article.card").all():
        label = card.locator("h3 a").inner_text().strip()
        cards[label] = card.locator("p.num").inner_text().strip()
    return {"total": Decimal(total or "NaN"), "assets": assets, "cards": cards}


def _expected(api: dict[str, Any]) -> dict[str, Any]:
    """The API's portfolio formatted as the page formats it (the page's own filters)."""
    quote = api["quote"]
    places = places_for(quote)  # cents for USD and the like, 8 places for BTC
    return {
        "total": Decimal(api["total"]),
        "assets": [
            [a["asset"], amount(a["total"]), money(a["value"], places), percent(a["allocation"])]
            for a in api["assets"][:10]
        ],
        "cards": {c["label"]: f"{money(c['value'], places)} {quote}" for c in api["connections"]},
    }


def test_the_overviews_figures_are_those_of_the_portfolio_api_once_the_scheduler_synced(
    signed_in: Page, tresor: LiveTresor, user: User, checker: Checker
) -> None:
    tresor.connect(user, "spot")
    tresor.connect(user, "savings")
    token = tresor.token(user)
    tresor.synced_portfolio(token)
    for _ in range(5):  # a sync between the two API reads changes the figures: read again
        before = tresor.api(token, "/v1/portfolio")
        shown = _figures(signed_in)
        after = tresor.api(token, "/v1/portfolio")
        if _expected(before) == _expected(after):
            break
    expected = _expected(before)
    assert expected["total"] > 0
    assert shown == expected
    assert {row[0] for row in shown["assets"]} >= {"BTC", "ETH", "USDT"}
    text = signed_in.locator("#net-worth").inner_text()
    assert text.startswith(money(before["total"])), text
    checker.check(signed_in, "overview")
    for r in ("24h", "30d"):
        link = signed_in.get_by_role("link", name=r, exact=True)
        link.click()
        expect(signed_in).to_have_url(re.compile(rf"/\?range={r}$"))
        expect(signed_in.get_by_role("link", name=r, exact=True)).to_have_attribute(
            "aria-current", "true"
        )
        checker.check(signed_in, f"overview-{r}")


def test_sync_now_makes_the_scheduler_take_the_balances_again(
    signed_in: Page, tresor: LiveTresor, user: User
) -> None:
    tresor.connect(user, "main")
    token = tresor.token(user)
    tresor.synced_portfolio(token)

    def freshness() -> dict[str, Any]:
        found: dict[str, Any] = tresor.api(token, "/v1/portfolio")["connections"][0]
        return found["freshness"]

    # the first sync (balances, then the 90-day backfill) over: pressed during it, "sync now"
    # would make due a job that is running already
    first = tresor.until(
        lambda: freshness()["last_success_ms"] and freshness()["taken_ms"], "the first sync"
    )
    goto(signed_in, "/")
    with signed_in.expect_navigation():
        signed_in.get_by_role("button", name="Sync now").click()
    expect(signed_in.get_by_role("heading", level=1)).to_have_text("Overview")
    taken = tresor.until(
        lambda: freshness()["taken_ms"] > first and freshness()["taken_ms"], "new balances"
    )
    assert taken > first


def test_a_post_without_the_csrf_token_is_refused_and_with_it_is_done(
    signed_in: Page, tresor: LiveTresor, user: User
) -> None:
    connection = tresor.connect(user, "main")
    url = f"/connections/{connection}/sync"
    refused = signed_in.evaluate(FETCH, [url, ""])
    assert refused["status"] == 403, refused
    assert "csrf_failed" in refused["text"]
    forged = signed_in.evaluate(FETCH, [url, "x" * 43])
    assert forged["status"] == 403, forged
    done = signed_in.evaluate(FETCH, [url, signed_in.evaluate(CSRF)])
    assert done["type"] == "opaqueredirect", done  # the 303 back to the page


def test_another_users_connection_is_not_found_through_the_dashboards_forms(
    page: Page, tresor: LiveTresor, checker: Checker
) -> None:
    owner, other = tresor.user("owner"), tresor.user("other")
    theirs = tresor.connect(owner, "theirs")
    sign_in(page, other)
    answer = page.evaluate(FETCH, [f"/connections/{theirs}/sync", page.evaluate(CSRF)])
    assert answer["status"] == 404, answer
    assert "There is no such connection." in answer["text"]
    unknown = page.evaluate(FETCH, ["/connections/0123456789abcdef/sync", page.evaluate(CSRF)])
    assert unknown["status"] == 404, unknown
    # and the owner's overview is unchanged by it: its card is there, the other's is empty
    expect(page.locator("article.card")).to_have_count(0)


def test_in_another_quote_currency_the_overview_shows_the_apis_figures_in_it(
    page: Page, tresor: LiveTresor, user: User, checker: Checker
) -> None:
    accounts = tresor.runtime.container.accounts
    tresor.call(accounts.set_preferences(user.id, quote="BTC", timezone="Europe/Zurich"))
    tresor.connect(user, "spot")
    token = tresor.token(user)
    tresor.synced_portfolio(token)
    sign_in(page, user)
    for _ in range(5):
        before = tresor.api(token, "/v1/portfolio", quote="BTC")
        shown = _figures(page)
        after = tresor.api(token, "/v1/portfolio", quote="BTC")
        if _expected(before) == _expected(after):
            break
    assert before["quote"] == "BTC"
    assert shown == _expected(before)
    expect(page.locator("#net-worth")).to_contain_text("BTC")
    checker.check(page, "overview-in-btc")
