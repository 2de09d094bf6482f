"""``POST /v1/batch``: up to 50 operations, each with its own result, one failure hiding none
of the others, the batch idempotent as a whole; against the simulator on both databases."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from tests.e2e.api.conftest import Api, Tenant, assert_problem, resting_order
from tests.e2e.api.test_orders_api import exchange_orders, place, trading_connection


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
