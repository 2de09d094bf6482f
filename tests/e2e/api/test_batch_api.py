"""``POST /v1/batch``: up to 50 operations, each with its own result, one failure hiding none
of the others, the batch idempotent as a whole; against the simulator on both databases."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

import httpx

from tests.e2e.api.conftest import Api, Tenant, assert_problem, resting_order
from tests.e2e.api.test_orders_api import (
    exchange_orders,
    place,
    trade_only_connection,
    trading_connection,
)


async def batch(
    api: Api, headers: dict[str, str], operations: list[dict[str, Any]], key: str | None = None
) -> httpx.Response:
    return await api.http.post(
        "/v1/batch",
        json={"operations": operations},
        headers={**headers, "Idempotency-Key": key or secrets.token_hex(8)},
    )


async def test_each_operation_gets_its_own_result_and_one_failure_hides_none(
    api: Api, alice: Tenant
) -> None:
    headers, connection, account = await trading_connection(api, alice)
    resting = await resting_order(api, connection)
    to_cancel = (await place(api, headers, resting)).json()
    to_replace = (await place(api, headers, resting)).json()
    market = {
        "connection_id": connection,
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "market",
        "amount": "0.001",
    }
    operations = [
        {"op": "create_order", "order": resting},
        {"op": "create_order", "order": {**resting, "amount": "0.00001"}},  # min notional
        {"op": "create_order", "order": market},
        {"op": "cancel_order", "order_id": to_cancel["id"]},
        {"op": "cancel_order", "order_id": "ord_00000000000000000000"},
        {"op": "replace_order", "order_id": to_replace["id"], "amount": "0.002"},
    ]
    answer = await batch(api, headers, operations, "batch-1")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    results = body["results"]
    assert [r["index"] for r in results] == list(range(6))
    assert [r["status"] for r in results] == [201, 422, 201, 200, 404, 201]
    assert results[0]["order"]["state"] == "open"
    assert results[1]["problem"]["code"] == "invalid_order"
    assert results[1]["problem"]["rule"] == "min_notional"
    assert results[2]["order"]["state"] == "closed"
    assert results[3]["order"]["state"] == "canceled"
    assert results[4]["problem"]["code"] == "not_found"
    assert results[5]["replaced"]["state"] == "canceled"
    assert results[5]["order"]["amount"] == "0.002"
    assert results[5]["order"]["state"] == "open"
    assert (body["succeeded"], body["failed"]) == (4, 2)
    statuses = sorted(o["status"] for o in exchange_orders(api, account))
    # the two placed before, then: resting, market, replacement
    assert statuses == ["CANCELED", "CANCELED", "FILLED", "NEW", "NEW"]


async def test_the_same_batch_under_the_same_key_changes_nothing_more(
    api: Api, alice: Tenant
) -> None:
    headers, connection, account = await trading_connection(api, alice)
    resting = await resting_order(api, connection)
    operations = [{"op": "create_order", "order": resting}] * 3
    first = await batch(api, headers, operations, "batch-2")
    again = await batch(api, headers, operations, "batch-2")
    assert again.headers["idempotent-replayed"] == "true"
    ids = [r["order"]["id"] for r in first.json()["results"]]
    assert len(set(ids)) == 3
    assert [r["order"]["id"] for r in again.json()["results"]] == ids
    assert len(exchange_orders(api, account)) == 3
    other = await batch(api, headers, operations[:2], "batch-2")
    assert_problem(other, 409, "idempotency_key_reused")
    assert len(exchange_orders(api, account)) == 3


async def test_a_batch_of_more_than_fifty_operations_is_refused(api: Api, alice: Tenant) -> None:
    headers, _, account = await trading_connection(api, alice)
    operation = {"op": "cancel_order", "order_id": "ord_1"}
    assert_problem(await batch(api, headers, [operation] * 51), 422, "validation_failed")
    assert_problem(await batch(api, headers, []), 422, "validation_failed")
    assert exchange_orders(api, account) == []


async def test_another_users_orders_and_connections_are_not_found_inside_a_batch(
    api: Api, alice: Tenant
) -> None:
    headers, connection, account = await trading_connection(api, alice)
    resting = await resting_order(api, connection)
    order = (await place(api, headers, resting)).json()
    bob = await api.tenant("bob", "read,trade,admin")
    operations = [
        {"op": "cancel_order", "order_id": order["id"]},
        {"op": "replace_order", "order_id": order["id"], "price": resting["price"]},
        {"op": "create_order", "order": resting},
    ]
    answer = await batch(api, await bob.headers(), operations)
    assert [r["status"] for r in answer.json()["results"]] == [404, 404, 404]
    assert [o["status"] for o in exchange_orders(api, account)] == ["NEW"]


async def test_a_replacement_refused_after_its_cancel_still_shows_the_cancelled_order(
    api: Api, alice: Tenant
) -> None:
    headers, connection, account = await trading_connection(api, alice)
    order = (await place(api, headers, await resting_order(api, connection))).json()
    operations = [{"op": "replace_order", "order_id": order["id"], "amount": "0.00001"}]
    for answer in (
        await batch(api, headers, operations, "batch-refused-replacement"),
        await batch(api, headers, operations, "batch-refused-replacement"),  # replayed
    ):
        (result,) = answer.json()["results"]
        assert result["status"] == 422
        assert result["problem"]["rule"] == "min_notional"
        assert result["replaced"]["id"] == order["id"]  # the cancel stands: said so
        assert result["replaced"]["state"] == "canceled"
        assert result["order"] is None
    assert [o["status"] for o in exchange_orders(api, account)] == ["CANCELED"]


async def test_a_partly_filled_order_is_replaced_by_what_was_left_of_it(
    api: Api, alice: Tenant
) -> None:
    # a book level is worth ~100,000 USDT
    headers, connection, account, _ = await trade_only_connection(api, alice, {"USDT": "10000000"})
    depth = api.sim.http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 100}).json()
    asks = [(Decimal(p), Decimal(q)) for p, q in depth["asks"]]
    limit = (asks[0][0] * Decimal("1.001")).quantize(Decimal(1))
    within = sum((q for p, q in asks if p <= limit), Decimal(0))
    amount = (within * 2).quantize(Decimal("0.00001"))  # takes what is within, the rest rests
    body = {
        "connection_id": connection,
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "limit",
        "amount": str(amount),
        "price": str(limit),
    }
    placed = await place(api, headers, body)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["state"] == "open", order
    filled = Decimal(order["filled"])
    assert 0 < filled < amount
    lower = str((limit * Decimal("0.6")).quantize(Decimal(1)))
    operations = [{"op": "replace_order", "order_id": order["id"], "price": lower}]
    (result,) = (await batch(api, headers, operations)).json()["results"]
    assert result["status"] == 201, result
    left = amount - Decimal(result["replaced"]["filled"])  # as cancelled (it may have filled on)
    assert 0 < left <= amount - filled
    assert Decimal(result["order"]["amount"]) == left
    assert result["order"]["source"] == "batch"
    on_exchange = {o["clientOrderId"]: o for o in exchange_orders(api, account)}
    placed = on_exchange[result["order"]["exchange_client_order_id"]]
    assert Decimal(placed["origQty"]) == left


async def test_a_batch_key_leaves_room_for_its_orders_keys(api: Api, alice: Tenant) -> None:
    headers, connection, account = await trading_connection(api, alice)
    operations = [{"op": "create_order", "order": await resting_order(api, connection)}]
    too_long = await batch(api, headers, operations, "k" * 241)
    assert_problem(too_long, 422, "validation_failed")
    assert exchange_orders(api, account) == []
    longest = await batch(api, headers, operations, "k" * 240)
    (result,) = longest.json()["results"]
    assert result["status"] == 201, result
    assert result["order"]["source"] == "batch"
