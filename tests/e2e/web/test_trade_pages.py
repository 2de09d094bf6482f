"""The trade pages end to end, through the dashboard's forms on the real app against the
simulator (SQLite and PostgreSQL): the order ticket places an order once per rendered form,
shows the pre-trade checks' refusals inline, open orders are cancelled on the exchange, the
smart route is quoted and executed, rules are created, shown with their plan and deleted; and
another user's ids are 404 everywhere, a form without the CSRF token 403."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from tests.e2e.api.conftest import Api, resting_order
from tests.e2e.web.conftest import Browser, signed_in
from tests.support.simclient import TRADE
from tresor.domain.connections import Credentials
from tresor.domain.secrets import Secret

_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
_QUOTE = re.compile(r'action="/trade/route/(rq_[A-Za-z0-9_]+)/execute"')
_ALERT = re.compile(r'<div class="alert bad" role="alert"><strong>([^<]+)</strong> ([^<]+) <span')
FUNDS = {"USDT": "100000", "BTC": "2"}


async def trading_connection(api: Api, b: Browser, label: str = "main") -> tuple[str, int]:
    """A connection of ``b``'s user with a trade key on a new funded account (added through
    the service); its id and the account's id on the simulator."""
    account = api.sim.account(FUNDS)
    key = api.sim.key(account, TRADE)
    api.secrets.update({key["api_key"], key["secret"]})
    connection = await api.runtime.container.connections.add(
        b.user_id,
        exchange="binance",
        label=label,
        endpoint="sim",
        trade_key=Credentials(api_key=Secret(key["api_key"]), secret=Secret(key["secret"])),
    )
    return connection.id, account


def key_of(page: httpx.Response) -> str:
    found = _KEY.search(page.text)
    assert found, page.text
    return found.group(1)


async def ticket(b: Browser, **fields: Any) -> dict[str, Any]:
    """The ticket's fields as the /trade page gives them (its Idempotency-Key), with
    ``fields``."""
    page = await b.get("/trade")
    assert page.status_code == 200, page.text
    return {"idempotency_key": key_of(page), **fields}


def open_ids(page: httpx.Response) -> list[str]:
    return re.findall(r'<tr id="order-(ord_[A-Za-z0-9]+)">', page.text)


def shown_error(page: httpx.Response) -> tuple[str, str]:
    """The message and the remedy of the problem shown inline."""
    found = _ALERT.search(page.text)
    assert found, page.text
    return found.group(1), found.group(2)


async def test_a_limit_order_placed_through_the_ticket_rests_is_listed_and_is_cancelled(
    api: Api,
) -> None:
    alice = await signed_in(api, "alice")
    connection, account = await trading_connection(api, alice)
    form = await ticket(alice, **await resting_order(api, connection))
    assert 'list="t-symbols"' in (await alice.get("/trade")).text  # the market's symbols
    placed = await alice.post("/trade/orders", form)
    assert placed.status_code == 303, placed.text
    page = await alice.get(placed.headers["location"])
    assert page.status_code == 200
    assert "Open." in page.text  # the notice: the order's state
    (order_id,) = open_ids(page)
    on_exchange = api.sim.truth(account)["orders"]
    assert [o["status"] for o in on_exchange] == ["NEW"]

    detail = await alice.get(f"/trade/orders/{order_id}")
    assert detail.status_code == 200
    assert "No fills recorded." in detail.text
    assert form["price"] in detail.text.replace(",", "")

    cancelled = await alice.post(f"/trade/orders/{order_id}/cancel")
    assert cancelled.status_code == 303, cancelled.text
    after = await alice.get(cancelled.headers["location"])
    assert "Cancelled" in after.text
    assert open_ids(after) == []
    assert api.sim.truth(account)["orders"][0]["status"] == "CANCELED"
    again = await alice.post(f"/trade/orders/{order_id}/cancel")
    assert again.status_code == 409
    assert "order_not_open" in again.text


async def test_an_order_s_page_does_not_wait_for_a_slow_exchange(api: Api) -> None:
    """An order that is not final is asked of the exchange as its page is drawn; when the
    exchange is slow the page shows the order as stored and says so, and the answer is stored
    when it comes."""
    alice = await signed_in(api, "alice")
    connection, _ = await trading_connection(api, alice)
    placed = await alice.post(
        "/trade/orders", await ticket(alice, **await resting_order(api, connection))
    )
    (order_id,) = open_ids(await alice.get(placed.headers["location"]))
    before = await api.runtime.container.orders.get(alice.user_id, order_id, refresh=False)
    api.sim.faults(latency={"share": 1.0, "ms": 1500}, paths=["/api/v3/order"])
    try:
        await asyncio.sleep(1.1)  # past the interval at which an order is asked again
        page = await alice.get(f"/trade/orders/{order_id}")
        assert page.status_code == 200
        assert 'id="order-asking"' in page.text
        assert "Open" in page.text
        for _ in range(50):  # the exchange's answer is stored when it comes
            now = await api.runtime.container.orders.get(alice.user_id, order_id, refresh=False)
            if now.checked_ms != before.checked_ms:
                break
            await asyncio.sleep(0.1)
        assert now.checked_ms is not None
        assert now.checked_ms != before.checked_ms
        # asked just now: not asked again, so nothing to wait for and no note
        assert 'id="order-asking"' not in (await alice.get(f"/trade/orders/{order_id}")).text
    finally:
        api.sim.clear_faults()


async def test_the_same_ticket_sent_twice_places_one_order(api: Api) -> None:
    alice = await signed_in(api, "alice")
    connection, account = await trading_connection(api, alice)
    form = await ticket(alice, **await resting_order(api, connection))
    first = await alice.post("/trade/orders", form)
    second = await alice.post("/trade/orders", form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(api.sim.truth(account)["orders"]) == 1
    assert len(open_ids(await alice.get("/trade"))) == 1
    # a new page is a new ticket: its key is another one
    assert key_of(await alice.get("/trade")) != form["idempotency_key"]


async def test_an_order_below_the_markets_minimum_is_shown_inline_with_its_remedy(
    api: Api,
) -> None:
    alice = await signed_in(api, "alice")
    connection, account = await trading_connection(api, alice)
    body = {**await resting_order(api, connection), "amount": "0.0000001"}
    form = await ticket(alice, **body)
    refused = await alice.post("/trade/orders", form)
    assert refused.status_code == 422
    message, remedy = shown_error(refused)
    assert message.strip()
    assert remedy.strip()
    assert "<code>invalid_order</code>" in refused.text
    assert 'value="0.0000001"' in refused.text  # the fields are kept
    assert key_of(refused) != form["idempotency_key"]  # the corrected order is a new request
    assert api.sim.truth(account)["orders"] == []


async def test_a_market_order_fills_and_one_with_a_price_is_refused_inline(api: Api) -> None:
    alice = await signed_in(api, "alice")
    connection, account = await trading_connection(api, alice)
    market = {"connection_id": connection, "symbol": "BTC/USDT", "side": "buy", "type": "market"}
    priced = await alice.post(
        "/trade/orders", await ticket(alice, **market, amount="0.001", price="60000")
    )
    assert priced.status_code == 422
    assert "<code>invalid_order</code>" in priced.text
    assert api.sim.truth(account)["orders"] == []
    placed = await alice.post("/trade/orders", await ticket(alice, **market, amount="0.001"))
    assert placed.status_code == 303, placed.text
    page = await alice.get(placed.headers["location"])
    assert "Filled." in page.text
    assert open_ids(page) == []
    order_id = placed.headers["location"].rsplit("=", 1)[1]
    detail = await alice.get(f"/trade/orders/{order_id}")
    assert "No fills recorded." not in detail.text
    assert [o["status"] for o in api.sim.truth(account)["orders"]] == ["FILLED"]


async def test_a_malformed_amount_is_shown_inline_and_nothing_is_placed(api: Api) -> None:
    alice = await signed_in(api, "alice")
    connection, account = await trading_connection(api, alice)
    form = await ticket(alice, **{**await resting_order(api, connection), "amount": "1e-3"})
    refused = await alice.post("/trade/orders", form)
    assert refused.status_code == 422
    message, _ = shown_error(refused)
    assert "amount: must be a positive decimal number" in message
    assert api.sim.truth(account)["orders"] == []


async def test_another_users_order_quote_rule_and_connection_are_not_found(api: Api) -> None:
    alice = await signed_in(api, "alice")
    connection, _ = await trading_connection(api, alice)
    form = await ticket(alice, **await resting_order(api, connection))
    placed = await alice.post("/trade/orders", form)
    order_id = placed.headers["location"].rsplit("=", 1)[1]
    quoted = await alice.post(
        "/trade/route/quote", {"side": "buy", "base": "BTC", "quote": "USDT", "amount": "0.001"}
    )
    found = _QUOTE.search(quoted.text)
    assert found, quoted.text
    rule = await alice.post(
        "/trade/rules", {"asset": ["BTC", "USDT"], "target": ["50", "50"], "drift_pp": "5"}
    )
    assert rule.status_code == 303, rule.text
    rule_id = rule.headers["location"].rsplit("/", 1)[1]

    bob = await signed_in(api, "bob")
    await trading_connection(api, bob)
    bobs_form = await ticket(bob, **await resting_order(api, connection))
    answers = [
        await bob.get(f"/trade/orders/{order_id}"),
        await bob.get(f"/trade?placed={order_id}"),
        await bob.post(f"/trade/orders/{order_id}/cancel"),
        await bob.post("/trade/orders", bobs_form),
        await bob.post(f"/trade/route/{found.group(1)}/execute", {"idempotency_key": "k-1"}),
        await bob.post(
            "/trade/route/quote",
            {"side": "buy", "base": "BTC", "quote": "USDT", "amount": "0.001"}
            | {"connection_ids": [connection]},
        ),
        await bob.get(f"/trade/rules/{rule_id}"),
        await bob.post(f"/trade/rules/{rule_id}/delete"),
    ]
    assert [a.status_code for a in answers] == [404] * len(answers)
    assert all("not_found" in a.text for a in answers)
    still = await alice.get(f"/trade/orders/{order_id}")
    assert still.status_code == 200
    assert (await alice.get(f"/trade/rules/{rule_id}")).status_code == 200


async def test_every_trade_form_without_the_csrf_token_is_refused(api: Api) -> None:
    alice = await signed_in(api, "alice")
    connection, account = await trading_connection(api, alice)
    form = await ticket(alice, **await resting_order(api, connection))
    answers = [
        await alice.post("/trade/orders", form, csrf=False),
        await alice.post("/trade/orders/ord_x/cancel", csrf=False),
        await alice.post(
            "/trade/route/quote",
            {"side": "buy", "base": "BTC", "quote": "USDT", "amount": "0.001"},
            csrf=False,
        ),
        await alice.post("/trade/route/rq_x/execute", {"idempotency_key": "k"}, csrf=False),
        await alice.post(
            "/trade/rules", {"asset": ["BTC"], "target": ["100"], "drift_pp": "5"}, csrf=False
        ),
        await alice.post("/trade/rules/rul_x/delete", csrf=False),
    ]
    assert [a.status_code for a in answers] == [403] * len(answers)
    assert all("csrf_failed" in a.text for a in answers)
    assert api.sim.truth(account)["orders"] == []


async def test_a_route_is_quoted_and_executed_once_for_its_key(api: Api) -> None:
    alice = await signed_in(api, "alice")
    connection, account = await trading_connection(api, alice)
    quoted = await alice.post(
        "/trade/route/quote",
        {
            "side": "buy",
            "base": "btc",
            "quote": "usdt",
            "amount": "0.001",
            "connection_ids": [connection],
        },
    )
    assert quoted.status_code == 200, quoted.text
    assert 'id="quote-legs"' in quoted.text
    assert 'id="quote-expires"' in quoted.text
    assert "Expected average price" in quoted.text
    found = _QUOTE.search(quoted.text)
    assert found, quoted.text
    execute = {"idempotency_key": key_of(quoted)}
    done = await alice.post(f"/trade/route/{found.group(1)}/execute", execute)
    assert done.status_code == 200, done.text
    assert 'id="execution-legs"' in done.text
    assert "Filled" in done.text
    again = await alice.post(f"/trade/route/{found.group(1)}/execute", execute)
    assert again.status_code == 200
    assert len(api.sim.truth(account)["orders"]) == 1
    other = await alice.post(f"/trade/route/{found.group(1)}/execute", {"idempotency_key": "x"})
    assert other.status_code == 409
    assert "quote_already_executed" in other.text


async def test_a_route_no_connection_can_fill_is_shown_with_each_connections_reason(
    api: Api,
) -> None:
    alice = await signed_in(api, "alice")
    await trading_connection(api, alice)
    refused = await alice.post(
        "/trade/route/quote", {"side": "buy", "base": "BTC", "quote": "NOPE", "amount": "1"}
    )
    assert refused.status_code == 422
    assert "<code>no_route</code>" in refused.text
    assert 'id="no-route-venues"' in refused.text
    assert 'value="NOPE"' in refused.text


async def test_a_rule_is_created_shown_with_its_plan_and_log_and_deleted(api: Api) -> None:
    alice = await signed_in(api, "alice")
    connection, account = await trading_connection(api, alice)
    created = await alice.post(
        "/trade/rules",
        {
            "name": "half and half",
            "asset": ["BTC", "USDT", ""],
            "target": ["50", "50", ""],
            "floor": ["40", "", ""],
            "ceiling": ["60", "", ""],
            "drift_pp": "5",
            "mode": "dry_run",
            "enabled": "on",
            "connection_ids": [connection],
        },
    )
    assert created.status_code == 303, created.text
    page = await alice.get(created.headers["location"])
    assert page.status_code == 200, page.text
    assert "Rule half and half" in page.text
    assert 'id="plan-assets"' in page.text  # the plan, evaluated on the account's balances
    assert 'id="plan-trades"' in page.text
    trades = page.text[page.text.index('id="plan-trades"') :]
    trades = trades[: trades.index("</table>")]
    cells = re.findall(r'<td class="num">([^<]*)</td>', trades)
    assert cells, trades  # the plan's trades, each amount at most 8 decimals as exchanges show
    assert all(len(c.partition(".")[2]) <= 8 for c in cells), cells
    assert "a plan" in page.text  # logged
    listed = await alice.get("/trade/rules")
    assert "half and half" in listed.text
    assert api.sim.truth(account)["orders"] == []  # a plan never trades

    deleted = await alice.post(created.headers["location"] + "/delete")
    assert deleted.status_code == 303
    assert "was deleted" in (await alice.get(deleted.headers["location"])).text
    assert (await alice.get(created.headers["location"])).status_code == 404


async def test_a_rule_that_cannot_work_is_shown_inline_with_the_form_kept(api: Api) -> None:
    alice = await signed_in(api, "alice")
    answers = [
        await alice.post("/trade/rules", {"asset": ["BTC", "USDT"], "target": ["50", "40"]}),
        await alice.post(
            "/trade/rules", {"asset": ["BTC", "BTC"], "target": ["50", "50"], "drift_pp": "5"}
        ),
        await alice.post("/trade/rules", {"asset": ["BTC"], "target": ["abc"], "drift_pp": "5"}),
    ]
    assert [a.status_code for a in answers] == [422, 422, 422]
    for answer in answers:
        message, remedy = shown_error(answer)
        assert message.strip()
        assert remedy.strip()
        assert 'value="BTC"' in answer.text
    assert "targets" in shown_error(answers[2])[0]
    assert "No rules yet." in (await alice.get("/trade/rules")).text
