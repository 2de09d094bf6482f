"""Trading through ``/v1/orders``: placing (once per Idempotency-Key), reading, cancelling and
listing orders, the pre-trade checks and the exchange's refusals as stable codes, and the
trade key as the only key that trades; against the simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from decimal import Decimal
from typing import Any

import httpx

from tests.e2e.api.conftest import Api, Tenant, assert_problem, resting_order
from tests.support.simclient import binance

TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}


def keyed(headers: dict[str, str], key: str | None = None) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key or secrets.token_hex(8)}


async def trading_connection(api: Api, tenant: Tenant) -> tuple[dict[str, str], str, int]:
    """Headers of ``tenant``, a connection with a read and a trade key on one account, and that
    account's id on the simulator."""
    headers = await tenant.headers()
    account = api.sim.account({"USDT": "100000", "BTC": "2"})
    read = api.sim.key(account, {"enableReading": True})
    trade = api.sim.key(account, TRADE)
    for key in (read, trade):
        api.secrets.update({key["api_key"], key["secret"]})
    answer = await api.add(
        headers,
        read={"api_key": read["api_key"], "secret": read["secret"]},
        trade={"api_key": trade["api_key"], "secret": trade["secret"]},
    )
    assert answer.status_code == 201, answer.text
    return headers, answer.json()["id"], account


def exchange_orders(api: Api, account: int) -> list[dict[str, Any]]:
    truth = api.sim.truth(account)
    return [o for o in truth["orders"]]


async def place(
    api: Api, headers: dict[str, str], body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    return await api.http.post("/v1/orders", json=body, headers=keyed(headers, key))


async def test_a_limit_order_is_placed_read_listed_and_cancelled(api: Api, alice: Tenant) -> None:
    headers, connection, account = await trading_connection(api, alice)
    body = {**await resting_order(api, connection), "client_order_id": "my-ref-1"}
    placed = await place(api, headers, body)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["state"] == "open"
    assert order["id"].startswith("ord_")
    assert order["client_order_id"] == "my-ref-1"
    assert order["amount"] == "0.001"
    assert order["price"] == body["price"]
    assert order["exchange_order_id"]
    on_exchange = exchange_orders(api, account)
    assert [o["clientOrderId"] for o in on_exchange] == [order["exchange_client_order_id"]]

    read = await api.http.get(f"/v1/orders/{order['id']}", headers=headers)
    assert read.status_code == 200
    assert read.json()["state"] == "open"
    listed = await api.http.get("/v1/orders/open", headers=headers)
    assert [o["id"] for o in listed.json()["items"]] == [order["id"]]

    cancelled = await api.http.delete(f"/v1/orders/{order['id']}", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "canceled"
    assert exchange_orders(api, account)[0]["status"] == "CANCELED"
    again = await api.http.delete(f"/v1/orders/{order['id']}", headers=headers)
    assert_problem(again, 409, "order_not_open")
    listed = await api.http.get("/v1/orders/open", headers=headers)
    assert listed.json()["items"] == []


async def test_a_market_order_fills_and_its_fills_are_recorded_as_trades(
    api: Api, alice: Tenant
) -> None:
    headers, connection, account = await trading_connection(api, alice)
    body = {
        "connection_id": connection,
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "market",
        "amount": "0.01",
    }
    placed = await place(api, headers, body)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["state"] == "closed"
    assert order["filled"] == "0.01"
    assert Decimal(order["cost"]) > 0
    assert Decimal(order["average"]) > 0
    trades = await api.http.get(f"/v1/trades?connection_id={connection}", headers=headers)
    mine = [t for t in trades.json()["items"] if t["order_id"] == order["exchange_order_id"]]
    truth = [t for t in api.sim.truth(account)["trades"]]
    assert len(mine) == len(truth) >= 1
    assert sum(Decimal(t["amount"]) for t in mine) == Decimal("0.01")
    synced = await api.http.get(f"/v1/orders?connection_id={connection}", headers=headers)
    assert [o["order_id"] for o in synced.json()["items"]] == [order["exchange_order_id"]]


async def test_the_same_key_and_body_return_the_same_order_without_a_second_one(
    api: Api, alice: Tenant
) -> None:
    headers, connection, account = await trading_connection(api, alice)
    body = await resting_order(api, connection)
    first = await place(api, headers, body, "key-1")
    second = await place(api, headers, body, "key-1")
    assert first.status_code == second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(exchange_orders(api, account)) == 1


async def test_the_same_key_with_another_body_is_refused(api: Api, alice: Tenant) -> None:
    headers, connection, account = await trading_connection(api, alice)
    body = await resting_order(api, connection)
    assert (await place(api, headers, body, "key-2")).status_code == 201
    other = await place(api, headers, {**body, "amount": "0.002"}, "key-2")
    assert_problem(other, 409, "idempotency_key_reused")
    assert len(exchange_orders(api, account)) == 1


async def test_concurrent_requests_with_one_key_reach_the_exchange_once(
    api: Api, alice: Tenant
) -> None:
    headers, connection, account = await trading_connection(api, alice)
    body = await resting_order(api, connection)
    answers = await asyncio.gather(*(place(api, headers, body, "key-3") for _ in range(8)))
    created = [a for a in answers if a.status_code == 201]
    assert created, [a.text for a in answers]
    assert len({a.json()["id"] for a in created}) == 1
    for answer in answers:
        if answer.status_code != 201:
            assert_problem(answer, 409, "idempotency_in_progress")
    assert len(exchange_orders(api, account)) == 1


async def test_an_order_without_an_idempotency_key_is_a_validation_error(
    api: Api, alice: Tenant
) -> None:
    headers, connection, account = await trading_connection(api, alice)
    answer = await api.http.post(
        "/v1/orders", json=await resting_order(api, connection), headers=headers
    )
    assert_problem(answer, 422, "validation_failed")
    assert exchange_orders(api, account) == []


async def test_a_connection_with_only_a_read_key_cannot_trade(api: Api, alice: Tenant) -> None:
    headers = await alice.headers()
    added = await api.add(headers, read=api.key({"enableReading": True}))
    connection = added.json()["id"]
    answer = await place(api, headers, await resting_order(api, connection))
    body = assert_problem(answer, 422, "trade_key_required")
    assert "trade" in body["remedy"]


async def test_another_users_order_is_not_found(api: Api, alice: Tenant) -> None:
    headers, connection, _ = await trading_connection(api, alice)
    order = (await place(api, headers, await resting_order(api, connection))).json()
    bob = await api.tenant("bob", "read,trade,admin")
    bob_headers = await bob.headers()
    for method in ("GET", "DELETE"):
        answer = await api.http.request(method, f"/v1/orders/{order['id']}", headers=bob_headers)
        assert_problem(answer, 404, "not_found")
    theirs = await place(api, bob_headers, await resting_order(api, connection))
    assert_problem(theirs, 404, "not_found")
    listed = await api.http.get("/v1/orders/open", headers=bob_headers)
    assert listed.json()["items"] == []
    still = await api.http.get(f"/v1/orders/{order['id']}", headers=headers)
    assert still.json()["state"] == "open"


async def test_each_pre_trade_refusal_has_its_code_and_nothing_reaches_the_exchange(
    api: Api, alice: Tenant
) -> None:
    headers, connection, account = await trading_connection(api, alice)
    resting = await resting_order(api, connection)
    cases = [
        ({**resting, "amount": "0.0010001"}, "invalid_order", "amount_precision"),
        ({**resting, "amount": "0.0000001"}, "invalid_order", "min_amount"),
        ({**resting, "amount": "0.00001"}, "invalid_order", "min_notional"),
        ({**resting, "price": resting["price"] + ".001"}, "invalid_order", "price_precision"),
        ({**resting, "amount": "3"}, "insufficient_funds", None),
        (
            {**resting, "type": "market", "price": None, "side": "sell", "amount": "5"},
            "insufficient_funds",
            None,
        ),
        ({**resting, "symbol": "NOPE/USDT"}, "unknown_symbol", None),
        ({k: v for k, v in resting.items() if k != "price"}, "invalid_order", "price_required"),
    ]
    for body, code, rule in cases:
        answer = await place(api, headers, {k: v for k, v in body.items() if v is not None})
        problem = assert_problem(answer, 422, code)
        if rule is not None:
            assert problem["rule"] == rule, problem
    assert exchange_orders(api, account) == []


async def test_a_halted_market_is_market_closed(api: Api, alice: Tenant) -> None:
    headers, connection, account = await trading_connection(api, alice)
    body = await resting_order(api, connection)
    api.sim.http.post(
        "/_sim/symbols", json={"symbol": "BTCUSDT", "status": "HALT"}
    ).raise_for_status()
    try:
        answer = await place(api, headers, body)
    finally:
        api.sim.http.post(
            "/_sim/symbols", json={"symbol": "BTCUSDT", "status": "TRADING"}
        ).raise_for_status()
    assert_problem(answer, 422, "market_closed")
    assert exchange_orders(api, account) == []


async def test_a_refusal_by_the_exchange_itself_maps_to_its_code_and_is_kept_for_the_key(
    api: Api, alice: Tenant
) -> None:
    headers, connection, account = await trading_connection(api, alice)
    first = await place(api, headers, await resting_order(api, connection, amount="0.1"))
    assert first.status_code == 201, first.text
    # Funds locked behind Tresor's back: its figure of the free balance (read with the first
    # order, seconds old) still shows them, so its own check passes and the exchange refuses.
    outside = binance(api.sim.url, api.sim.key(account, TRADE))
    body = await resting_order(api, connection, amount="0.5")
    outside.create_order("BTC/USDT", "limit", "buy", 1.7, float(body["price"]))
    second = await place(api, headers, body, "key-refused")
    problem = assert_problem(second, 422, "insufficient_funds")
    again = await place(api, headers, body, "key-refused")
    assert again.json() == {**problem, "instance": again.json()["instance"]}
    assert [o["status"] for o in exchange_orders(api, account)] == ["NEW", "NEW"]


async def test_a_failed_read_before_the_order_is_not_kept_for_the_key(
    api: Api, alice: Tenant
) -> None:
    """The exchange fails the free-balance read that comes before the order (a 5xx): nothing
    is stored or sent, the answer is 503, and the same request with the same key, once the
    exchange is back, places the order (the failure was not kept as the key's answer)."""
    headers, connection, account = await trading_connection(api, alice)
    body = await resting_order(api, connection)
    api.sim.faults(error_5xx={"share": 1.0}, paths=["/api/v3/account"])
    try:
        failed = await place(api, headers, body, "key-after-5xx")
    finally:
        api.sim.clear_faults()
    assert_problem(failed, 503, "exchange_unavailable")
    assert exchange_orders(api, account) == []
    again = await place(api, headers, body, "key-after-5xx")
    assert again.status_code == 201, again.text
    assert [o["status"] for o in exchange_orders(api, account)] == ["NEW"]


async def test_a_revoked_trade_key_keeps_orders_as_last_known_and_tracking_resumes_with_a_new_one(
    api: Api, alice: Tenant
) -> None:
    headers = await alice.headers()
    account = api.sim.account({"USDT": "100000", "BTC": "2"})
    old = api.sim.key(account, TRADE)
    api.secrets.update({old["api_key"], old["secret"]})
    added = await api.add(headers, trade={"api_key": old["api_key"], "secret": old["secret"]})
    connection = added.json()["id"]
    order = (await place(api, headers, await resting_order(api, connection))).json()
    assert order["state"] == "open"
    api.sim.revoke(old["api_key"])
    # the exchange cancels the order meanwhile: Tresor cannot see it without a key
    outside = binance(api.sim.url, api.sim.key(account, TRADE))
    outside.cancel_order(order["exchange_order_id"], "BTC/USDT")
    await asyncio.sleep(1.1)  # an order is asked about at most once a second
    kept = await api.http.get(f"/v1/orders/{order['id']}", headers=headers)
    assert kept.json()["state"] == "open"  # its last known state
    status = await api.http.get(f"/v1/connections/{connection}", headers=headers)
    assert status.json()["status"] == "invalid_credentials", status.json()
    trade_key = next(k for k in status.json()["keys"] if k["role"] == "trade")
    assert trade_key["status"] == "invalid_credentials"

    new = api.sim.key(account, TRADE)
    api.secrets.update({new["api_key"], new["secret"]})
    rotated = await api.http.put(
        f"/v1/connections/{connection}/keys/trade",
        json={"api_key": new["api_key"], "secret": new["secret"]},
        headers=headers,
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["status"] == "connected"
    await asyncio.sleep(1.1)  # an order is asked about at most once a second
    resumed = await api.http.get(f"/v1/orders/{order['id']}", headers=headers)
    assert resumed.json()["state"] == "canceled"


async def trade_only_connection(
    api: Api, tenant: Tenant, funds: dict[str, str] | None = None
) -> tuple[dict[str, str], str, int, dict[str, Any]]:
    """Headers of ``tenant``, a connection with only a trade key on a new account holding
    ``funds``, that account's id and the key (``api_key``, ``secret``)."""
    headers = await tenant.headers()
    account = api.sim.account(funds or {"USDT": "100000", "BTC": "2"})
    trade = api.sim.key(account, TRADE)
    api.secrets.update({trade["api_key"], trade["secret"]})
    added = await api.add(headers, trade={"api_key": trade["api_key"], "secret": trade["secret"]})
    assert added.status_code == 201, added.text
    return headers, added.json()["id"], account, trade


async def _shown_invalid(api: Api, headers: dict[str, str], connection: str) -> None:
    shown = (await api.http.get(f"/v1/connections/{connection}", headers=headers)).json()
    assert shown["status"] == "invalid_credentials", shown
    trade_key = next(k for k in shown["keys"] if k["role"] == "trade")
    assert trade_key["status"] == "invalid_credentials"


async def test_a_trade_key_revoked_before_any_order_is_shown_when_the_pre_trade_read_meets_it(
    api: Api, alice: Tenant
) -> None:
    """The first request to meet the revoked key is the free-balance read before the order:
    nothing is sent, and the connection's status says why (not only once an order is sent)."""
    headers, connection, account, key = await trade_only_connection(api, alice)
    body = await resting_order(api, connection)
    api.sim.revoke(key["api_key"])
    refused = await place(api, headers, body)
    assert_problem(refused, 422, "key_refused")
    assert exchange_orders(api, account) == []
    await _shown_invalid(api, headers, connection)


async def test_a_trade_key_revoked_while_an_order_rests_is_shown_when_the_cancel_meets_it(
    api: Api, alice: Tenant
) -> None:
    headers, connection, account, key = await trade_only_connection(api, alice)
    order = (await place(api, headers, await resting_order(api, connection))).json()
    assert order["state"] == "open"
    api.sim.revoke(key["api_key"])
    refused = await api.http.delete(f"/v1/orders/{order['id']}", headers=headers)
    assert_problem(refused, 422, "key_refused")
    assert [o["status"] for o in exchange_orders(api, account)] == ["NEW"]
    await _shown_invalid(api, headers, connection)


async def test_open_orders_are_listed_a_page_at_a_time(api: Api, alice: Tenant) -> None:
    headers, connection, _ = await trading_connection(api, alice)
    body = await resting_order(api, connection)
    placed = [(await place(api, headers, body)).json()["id"] for _ in range(5)]
    seen: list[str] = []
    created: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await api.http.get("/v1/orders/open", params=params, headers=headers)
        assert page.status_code == 200, page.text
        seen += [o["id"] for o in page.json()["items"]]
        created += [o["created_ms"] for o in page.json()["items"]]
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(placed)  # each once
    assert created == sorted(created, reverse=True)  # newest first
    made_up = await api.http.get("/v1/orders/open", params={"cursor": "abc"}, headers=headers)
    assert_problem(made_up, 422, "validation_failed")


async def test_a_request_repeated_after_a_202_learns_the_orders_outcome(
    api: Api, alice: Tenant
) -> None:
    """The answer to the order and the lookup after it were both lost: 202, state unknown.
    The client sends the same request with the same key again: Tresor asks the exchange (the
    order is not sent again) and answers with what it says."""
    headers, connection, account = await trading_connection(api, alice)
    body = {
        "connection_id": connection,
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "market",
        "amount": "0.001",
    }
    api.sim.faults(lost_response={"share": 1.0, "mode": "5xx"}, paths=["/api/v3/order"])
    try:
        lost = await place(api, headers, body, "key-after-202")
    finally:
        api.sim.clear_faults()
    assert lost.status_code == 202, lost.text
    assert lost.json()["state"] == "unknown"
    await asyncio.sleep(1.1)  # an order is asked about at most once a second
    again = await place(api, headers, body, "key-after-202")
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == lost.json()["id"]
    assert again.json()["state"] == "closed"
    assert [o["status"] for o in exchange_orders(api, account)] == ["FILLED"]
