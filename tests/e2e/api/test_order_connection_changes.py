"""Orders follow every change of their connection at once, although Tresor keeps a trade key
opened between orders: a disabled connection, a removed trade key and a removed connection are
refused on the very next order (nothing reaches the exchange), and a rotated trade key is the
one the next order is signed with; against the simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx

from tests.e2e.api.conftest import Api, Tenant, assert_problem, resting_order
from tresor.domain.connections import KeyRole

TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}


async def trading(api: Api, tenant: Tenant) -> tuple[dict[str, str], str, int, dict[str, Any]]:
    """Headers of ``tenant``, a connection with a read and a trade key on one account, the
    account's id on the simulator and the trade key."""
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
    return headers, answer.json()["id"], account, trade


async def place(
    api: Api, headers: dict[str, str], body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    keyed = {**headers, "Idempotency-Key": key or secrets.token_hex(8)}
    return await api.http.post("/v1/orders", json=body, headers=keyed)


def orders_on_exchange(api: Api, account: int) -> int:
    return len(api.sim.truth(account)["orders"])


async def test_a_disabled_connection_refuses_the_next_order_and_trades_again_once_enabled(
    api: Api, alice: Tenant
) -> None:
    headers, connection, account, _ = await trading(api, alice)
    body = await resting_order(api, connection)
    first = await place(api, headers, body)  # the trade key is opened and kept
    assert first.status_code == 201, first.text
    disabled = await api.http.post(f"/v1/connections/{connection}/disable", headers=headers)
    assert disabled.status_code == 200, disabled.text

    key = secrets.token_hex(8)
    refused = assert_problem(await place(api, headers, body, key), 422, "validation_failed")
    assert refused["reason"] == "connection_disabled"
    assert orders_on_exchange(api, account) == 1
    again = assert_problem(await place(api, headers, body, key), 422, "validation_failed")
    assert again["reason"] == "connection_disabled"  # kept for the key
    # the open order is read as last known: the exchange is not asked through a disabled
    # connection, and reading does not fail
    await asyncio.sleep(1.1)
    read = await api.http.get(f"/v1/orders/{first.json()['id']}", headers=headers)
    assert read.status_code == 200, read.text
    assert read.json()["state"] == "open"

    enabled = await api.http.post(f"/v1/connections/{connection}/enable", headers=headers)
    assert enabled.status_code == 200, enabled.text
    placed = await place(api, headers, body)
    assert placed.status_code == 201, placed.text
    assert orders_on_exchange(api, account) == 2


async def test_a_rotated_trade_key_signs_the_next_order(api: Api, alice: Tenant) -> None:
    headers, connection, account, old = await trading(api, alice)
    body = await resting_order(api, connection)
    assert (await place(api, headers, body)).status_code == 201  # the old key opened and kept
    new = api.sim.key(account, TRADE)
    api.secrets.update({new["api_key"], new["secret"]})
    rotated = await api.http.put(
        f"/v1/connections/{connection}/keys/trade",
        json={"api_key": new["api_key"], "secret": new["secret"]},
        headers=headers,
    )
    assert rotated.status_code == 200, rotated.text
    api.sim.revoke(old["api_key"])  # an order signed with the old key would be refused now
    placed = await place(api, headers, body)
    assert placed.status_code == 201, placed.text
    assert placed.json()["state"] == "open"
    assert orders_on_exchange(api, account) == 2


async def test_a_removed_trade_key_refuses_the_next_order(api: Api, alice: Tenant) -> None:
    headers, connection, account, _ = await trading(api, alice)
    body = await resting_order(api, connection)
    assert (await place(api, headers, body)).status_code == 201  # the trade key opened and kept
    async with api.runtime.database.uow() as uow:  # the API has no call that removes one key
        stored = await uow.connections.get(connection, (await alice_id(api)))
        assert stored is not None
        await uow.connections.update(
            replace(stored, keys=tuple(k for k in stored.keys if k.role is KeyRole.READ))
        )
        await uow.commit()
    assert_problem(await place(api, headers, body), 422, "trade_key_required")
    assert orders_on_exchange(api, account) == 1


async def test_a_removed_connection_is_not_found_on_the_next_order(api: Api, alice: Tenant) -> None:
    headers, connection, account, _ = await trading(api, alice)
    body = await resting_order(api, connection)
    assert (await place(api, headers, body)).status_code == 201  # the trade key opened and kept
    removed = await api.http.delete(f"/v1/connections/{connection}", headers=headers)
    assert removed.status_code == 204, removed.text
    assert_problem(await place(api, headers, body), 404, "not_found")
    assert orders_on_exchange(api, account) == 1


async def test_a_repeated_request_is_answered_even_when_its_checks_could_not_ask_the_exchange(
    api: Api, alice: Tenant
) -> None:
    """The checks run before the key is looked at: a repeated request whose balance check is
    rate limited (nothing sent) still gets its order again, not the rate limit."""
    headers = await alice.headers()
    body_of = await resting_order(api, "placeholder")
    cost = Decimal(body_of["price"]) * Decimal(body_of["amount"])
    account = api.sim.account({"USDT": str(cost * Decimal("1.5")), "BTC": "1"})
    trade = api.sim.key(account, TRADE)
    api.secrets.update({trade["api_key"], trade["secret"]})
    added = await api.add(headers, trade={"api_key": trade["api_key"], "secret": trade["secret"]})
    assert added.status_code == 201, added.text
    body = {**body_of, "connection_id": added.json()["id"]}
    key = secrets.token_hex(8)
    first = await place(api, headers, body, key)
    assert first.status_code == 201, first.text
    # the free balance left is short of a second order: checking the repeated request asks the
    # exchange for the balance, which now answers 429
    api.sim.faults(weight_limit=1, paths=["/api/v3/account"])
    try:
        again = await place(api, headers, body, key)
        assert again.status_code == 201, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        fresh_key = secrets.token_hex(8)
        fresh = await place(api, headers, body, fresh_key)  # a new key gets the refusal
        assert fresh.status_code == 503, fresh.text
        assert fresh.json()["code"] in ("rate_limited", "rate_budget_exhausted")
        kept = "SELECT key FROM idempotency_keys WHERE key = :key"
        assert await api.rows(kept, key=fresh_key) == []  # and nothing is kept for it
    finally:
        api.sim.clear_faults()
    assert orders_on_exchange(api, account) == 1


async def alice_id(api: Api) -> str:
    rows = await api.rows("SELECT id FROM users WHERE name = :name", name="alice")
    return str(rows[0]["id"])
