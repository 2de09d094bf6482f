"""What ``OrderService`` does with the work of a handler that died (issue 5), against the
simulator, on SQLite and PostgreSQL: a repeated request takes over the order the dead handler
stored and looks it up before any send; the tracker marks a pending order that was never sent
rejected (``not_sent``) instead of sending it late, sends again an unknown order the exchange
never received while it is young, and marks it rejected (``not_placed``) once it is old.

No request through the API can stop a handler halfway, so its state is written through the
``TradingStore`` port as it would have left it, dated further back than ``KEY_LOCK_MS`` (the
time after which a handler is taken for dead), and the service is called directly. The orders
are market orders: they do not rest, so the exchange would accept a second send under the same
client order id and a double placement would show."""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

from tests.e2e.api.conftest import Api, Tenant
from tests.e2e.api.test_orders_api import trade_only_connection
from tests.support.simclient import binance
from tresor.adapters.db.trading_store import SqlTradingStore
from tresor.domain.orders import OrderRequest, OrderState, PlacedOrder, exchange_client_id
from tresor.services.ports.trading import NewKey
from tresor.services.trading import KEY_LOCK_MS, RESEND_WITHIN_MS, OrderService, new_order_id

DEAD_SINCE_MS = KEY_LOCK_MS + 1_000  # how long ago the handler stopped
LOOKED_UP_AFTER_MS = 10_000  # a send this old can no longer reach the exchange


class Trading:
    """A user with a trade connection on a simulated account, the service that trades for it
    and the store under it."""

    def __init__(self, api: Api, user_id: str, connection_id: str, account: int, key: Any) -> None:
        self.api = api
        self.user_id = user_id
        self.connection_id = connection_id
        self.account = account
        self.key = key
        orders = api.runtime.container.orders
        assert isinstance(orders, OrderService)
        self.orders = orders
        self.store = SqlTradingStore(api.runtime.database.engine)

    def request(self) -> OrderRequest:
        return OrderRequest(
            connection_id=self.connection_id,
            symbol="BTC/USDT",
            side="buy",
            type="market",
            amount=Decimal("0.01"),
        )

    def order(self, idempotency_key: str, *, at_ms: int, attempts: int) -> PlacedOrder:
        """The order a handler stores for ``idempotency_key`` at ``at_ms``, ``attempts`` sends
        counted."""
        return PlacedOrder(
            id=new_order_id(),
            user_id=self.user_id,
            request=self.request(),
            exchange_client_id=exchange_client_id(self.user_id, idempotency_key),
            state=OrderState.PENDING,
            created_ms=at_ms,
            updated_ms=at_ms,
            attempts=attempts,
            sent_ms=at_ms if attempts else None,
        )

    def new_key(self, idempotency_key: str, *, at_ms: int) -> NewKey:
        return NewKey(
            user_id=self.user_id,
            key=idempotency_key,
            fingerprint=self.request().fingerprint(),
            created_ms=at_ms,
            locked_until_ms=at_ms + KEY_LOCK_MS,
        )

    def on_exchange(self, client_id: str) -> list[dict[str, Any]]:
        """The exchange's orders under ``client_id`` (its ground truth)."""
        orders = self.api.sim.truth(self.account)["orders"]
        return [o for o in orders if o["clientOrderId"] == client_id]

    async def stored(self, order_id: str) -> PlacedOrder:
        found = await self.store.order(order_id, self.user_id)
        assert found is not None
        return found


async def trading(api: Api, tenant: Tenant) -> Trading:
    _, connection, account, key = await trade_only_connection(api, tenant)
    rows = await api.rows("SELECT id FROM users WHERE name = :name", name=tenant.name)
    return Trading(api, str(rows[0]["id"]), connection, account, key)


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_a_repeated_request_takes_over_the_dead_handlers_order_and_never_sends_it_twice(
    api: Api, alice: Tenant
) -> None:
    """The first handler stored the order, sent it (the exchange has it) and died before the
    answer was kept: the request sent again with the key gets that order, as the exchange has
    it, looked up by its client order id, and nothing is sent again."""
    t = await trading(api, alice)
    idempotency_key = secrets.token_hex(8)
    died = now_ms() - DEAD_SINCE_MS
    order = t.order(idempotency_key, at_ms=died, attempts=1)
    assert await t.store.open_order(order, t.new_key(idempotency_key, at_ms=died))
    # the send that reached the exchange before the handler died
    sent = binance(api.sim.url, t.key).create_order(
        "BTC/USDT", "market", "buy", 0.01, params={"newClientOrderId": order.exchange_client_id}
    )

    placed = await t.orders.place(t.user_id, t.request(), idempotency_key=idempotency_key)

    assert placed.order.id == order.id  # the stored order, not a new one
    assert placed.order.state is OrderState.CLOSED
    assert placed.order.exchange_order_id == sent["id"]
    assert placed.order.filled == Decimal("0.01")
    assert len(t.on_exchange(order.exchange_client_id)) == 1
    assert (await t.stored(order.id)).attempts == 1  # looked up, never sent again


async def test_a_pending_order_whose_handler_died_before_sending_it_is_rejected_not_sent_late(
    api: Api, alice: Tenant
) -> None:
    t = await trading(api, alice)
    idempotency_key = secrets.token_hex(8)
    died = now_ms() - DEAD_SINCE_MS
    claim = await t.store.claim_key(
        t.user_id,
        idempotency_key,
        t.request().fingerprint(),
        now_ms=died,
        lock_ms=KEY_LOCK_MS,
    )
    assert claim.owned
    # stored by a taken-over key (nothing sent yet), then the handler died
    order = t.order(idempotency_key, at_ms=died, attempts=0)
    await t.store.add_order(order, key=idempotency_key)

    assert await t.orders.track() >= 1

    kept = await t.stored(order.id)
    assert kept.state is OrderState.REJECTED
    assert kept.error_code == "not_sent"
    assert kept.attempts == 0
    assert t.on_exchange(order.exchange_client_id) == []


async def test_a_young_unknown_order_the_exchange_never_received_is_sent_again_once(
    api: Api, alice: Tenant
) -> None:
    """Its send was lost before reaching the exchange and its handler died: the tracker looks
    it up, finds nothing, and sends it again under the same client order id."""
    t = await trading(api, alice)
    idempotency_key = secrets.token_hex(8)
    sent = now_ms() - LOOKED_UP_AFTER_MS
    order = t.order(idempotency_key, at_ms=sent, attempts=1)
    assert order.lookup_after_ms() < now_ms() < sent + RESEND_WITHIN_MS
    assert await t.store.open_order(order, t.new_key(idempotency_key, at_ms=sent))
    await t.store.save_order(replace(order, state=OrderState.UNKNOWN))

    assert await t.orders.track() >= 1

    kept = await t.stored(order.id)
    found = t.on_exchange(order.exchange_client_id)
    assert len(found) == 1, found
    assert kept.state is OrderState.CLOSED
    assert kept.exchange_order_id == str(found[0]["orderId"])
    assert kept.attempts == 2


async def test_an_old_unknown_order_the_exchange_never_received_is_rejected_not_sent_again(
    api: Api, alice: Tenant
) -> None:
    t = await trading(api, alice)
    idempotency_key = secrets.token_hex(8)
    sent = now_ms() - RESEND_WITHIN_MS - 1_000
    order = t.order(idempotency_key, at_ms=sent, attempts=1)
    assert await t.store.open_order(order, t.new_key(idempotency_key, at_ms=sent))
    await t.store.save_order(replace(order, state=OrderState.UNKNOWN))

    assert await t.orders.track() >= 1

    kept = await t.stored(order.id)
    assert kept.state is OrderState.REJECTED
    assert kept.error_code == "not_placed"
    assert kept.attempts == 1
    assert t.on_exchange(order.exchange_client_id) == []
