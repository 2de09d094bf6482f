"""Every request through a metered client is charged to the rate budget, reconciled with the
exchange's usage header, and logged; a 429 blocks the bucket for ``Retry-After``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

import pytest

from tests.contract.exchange.conftest import UtcClock, credentials
from tests.support.simclient import READ_ONLY, SimAdmin
from tresor.adapters.exchange import CcxtGateway
from tresor.adapters.exchange.weights import BudgetPlan, binance_plan
from tresor.adapters.ratelimit.memory import InMemoryRateBudget
from tresor.domain.connections import ExchangeTarget
from tresor.domain.errors import RateBudgetExhausted, RateLimited
from tresor.domain.ratelimits import Bucket
from tresor.domain.records import ExchangeCall
from tresor.sim.server import SimConfig


class ListLog:
    def __init__(self) -> None:
        self.calls: list[ExchangeCall] = []

    def record(self, call: ExchangeCall) -> None:
        self.calls.append(call)


@pytest.fixture
def tight(sim_factory) -> SimAdmin:  # type: ignore[no-untyped-def]
    """A venue allowing 30 request weight per minute."""
    return sim_factory(SimConfig(seed=3, weight_per_minute=30))


@pytest.fixture
async def metered() -> AsyncIterator[tuple[CcxtGateway, InMemoryRateBudget, ListLog]]:
    budget, log = InMemoryRateBudget(), ListLog()
    gateway = CcxtGateway(
        egress_ips=["203.0.113.7"], clock=UtcClock(), budget=budget, request_log=log
    )
    yield gateway, budget, log
    await gateway.aclose()


async def test_calls_are_charged_their_weight_and_logged_without_secrets(
    tight: SimAdmin, metered: tuple[CcxtGateway, InMemoryRateBudget, ListLog]
) -> None:
    gateway, budget, log = metered
    key = tight.key(tight.account({"USDT": "10"}), READ_ONLY)
    # our budget believes in 1,000 per minute: the exchange's header corrects it
    target = ExchangeTarget("binance", "tight", tight.url, weight_per_minute=1000)
    bucket = binance_plan(target, ip="203.0.113.7", key_id="c1").bucket("ip")
    async with gateway.connect(target, credentials(key), connection_id="c1") as client:
        await client.binance_raw("account", {})
        assert await budget.used(bucket) == 20
        assert log.calls[-1].status == 200
        assert log.calls[-1].weight == 20
        assert log.calls[-1].path == "/api/v3/account"  # no signature, timestamp or key
        assert log.calls[-1].connection_id == "c1"
        with pytest.raises(RateLimited):
            await client.binance_raw("account", {})
    refused = log.calls[-1]
    assert refused.status == 429
    assert refused.error_code == "-1003"
    assert key["secret"] not in repr(log.calls)
    assert key["api_key"] not in repr(log.calls)
    # the bucket is blocked until the exchange's Retry-After: nothing more is sent meanwhile
    with pytest.raises(RateBudgetExhausted):
        await budget.acquire([bucket], 1, timeout=0.2)


class HeldBudget(InMemoryRateBudget):
    """A budget that lets each request go only after ``hold`` seconds, as one waiting for the
    next weight window would."""

    def __init__(self, hold: float) -> None:
        super().__init__()
        self.hold = hold

    async def acquire(
        self,
        buckets: Sequence[Bucket],
        weight: int,
        *,
        timeout: float | None = None,
    ) -> None:
        await asyncio.sleep(self.hold)
        await super().acquire(buckets, weight, timeout=timeout)


async def test_a_request_the_budget_holds_is_signed_when_it_goes(sim: SimAdmin) -> None:
    """The budget is charged before ccxt signs: a request held longer than its ``recvWindow``
    still goes with a fresh timestamp (signed first, it would be refused as stale, -1021)."""
    key = sim.key(sim.account({"USDT": "10"}), READ_ONLY)
    log = ListLog()
    gateway = CcxtGateway(
        egress_ips=["203.0.113.7"], clock=UtcClock(), budget=HeldBudget(1.5), request_log=log
    )
    try:
        target = ExchangeTarget("binance", "sim", sim.url)
        async with gateway.connect(target, credentials(key), connection_id="c1") as client:
            account = await client.binance_raw("account", {"recvWindow": 1000})
            trades = await client.binance_raw(
                "my_trades", {"symbol": "BTCUSDT", "orderId": 1, "recvWindow": 1000}
            )
    finally:
        await gateway.aclose()
    assert account["balances"]
    assert trades == []
    # charged and logged once each, at the documented weight (myTrades by order id: 5)
    assert [(c.path.split("?")[0], c.status, c.weight) for c in log.calls] == [
        ("/api/v3/account", 200, 20),
        ("/api/v3/myTrades", 200, 5),
    ]


@pytest.fixture
def slow_orders(sim_factory) -> SimAdmin:  # type: ignore[no-untyped-def]
    """A venue taking 5 new orders per 10 seconds per account."""
    return sim_factory(SimConfig(seed=3, orders_per_10s=5))


async def _at_window_start() -> None:
    """Wait for a fresh 10-second window if this one ends within 3 s (the orders placed next
    must all count in one window, Tresor's and the venue's alike)."""
    left = 10.0 - time.time() % 10.0
    if left < 3.0:
        await asyncio.sleep(left + 0.05)


async def _low_buys(client: Any, n: int) -> list[str]:
    """``n`` limit IOC buys far below the market (each expires at once, unfilled, and counts
    against the ORDERS limit): "ok", or the code of the error each was refused with."""
    book = await client.binance_raw("prices", {"symbol": "BTCUSDT"})
    price = (Decimal(book["price"]) * Decimal("0.6")).quantize(Decimal(1))
    outcomes = []
    for _ in range(n):
        try:
            await client.create_order(
                symbol="BTC/USDT",
                side="buy",
                order_type="limit",
                amount=Decimal("0.001"),
                price=price,
                time_in_force="IOC",
            )
        except RateLimited as refused:
            outcomes.append(refused.code)
        else:
            outcomes.append("ok")
    return outcomes


@contextlib.asynccontextmanager
async def _trading(
    venue: SimAdmin, gateway: CcxtGateway, orders_per_10s: int
) -> AsyncIterator[tuple[Any, BudgetPlan]]:
    """A metered client on a new funded account of ``venue``, whose endpoint Tresor believes
    takes ``orders_per_10s``, and its budget plan; at the start of an order window."""
    key = venue.key(venue.account({"USDT": "100000"}))
    target = ExchangeTarget("binance", "slow", venue.url, orders_per_10s=orders_per_10s)
    async with gateway.connect(target, credentials(key), connection_id="c1") as client:
        await client.load_markets()
        await _at_window_start()
        yield client, binance_plan(target, ip="203.0.113.7", key_id="c1")


async def test_new_orders_are_charged_to_the_key_s_orders_budget(
    slow_orders: SimAdmin, metered: tuple[CcxtGateway, InMemoryRateBudget, ListLog]
) -> None:
    """Orders count against the key's ORDERS buckets (as Binance counts them per account):
    Tresor holds the key's fifth order back itself, and the venue never answers -1015."""
    gateway, budget, log = metered
    async with _trading(slow_orders, gateway, orders_per_10s=5) as (client, plan):
        assert await _low_buys(client, 4) == ["ok"] * 4  # 5 less the headroom
        assert await budget.used(plan.bucket("orders_10s")) == 4
        assert await budget.used(plan.bucket("orders_1d")) == 4
        with pytest.raises(RateBudgetExhausted):  # the next waits for the next window
            await budget.acquire([plan.bucket("orders_10s")], 1, timeout=0)
    assert not [c for c in log.calls if c.error_code == "-1015"]
    assert [c.weight for c in log.calls if c.path.startswith("/api/v3/order")] == [1] * 4


async def test_too_many_orders_blocks_the_key_s_orders_not_the_ip_weight(
    slow_orders: SimAdmin, metered: tuple[CcxtGateway, InMemoryRateBudget, ListLog]
) -> None:
    """A budget that believes in more orders than the venue allows (an operator's wrong
    setting, or orders placed outside Tresor) meets -1015 once: that key's orders wait for the
    venue's Retry-After; reads, and the IP's weight, go on."""
    gateway, budget, log = metered
    async with _trading(slow_orders, gateway, orders_per_10s=100) as (client, plan):
        assert await _low_buys(client, 6) == ["ok"] * 5 + ["rate_limited"]
        with pytest.raises(RateBudgetExhausted):
            await budget.acquire([plan.bucket("orders_10s")], 1, timeout=0)
        await budget.acquire([plan.bucket("ip")], 1, timeout=0)  # not blocked
        assert (await client.binance_raw("account", {}))["balances"]
    assert [c.error_code for c in log.calls if c.status == 429] == ["-1015"]


async def test_an_order_the_key_s_budget_cannot_send_in_time_is_refused_before_any_work(
    slow_orders: SimAdmin, metered: tuple[CcxtGateway, InMemoryRateBudget, ListLog]
) -> None:
    """The trading path looks at the key's order budget before it stores an order: with the
    window's orders spent and more than the trading wait (2 s) left of it, ``order_room``
    refuses at once, charging and sending nothing; with room, it lets the order go."""
    gateway, budget, log = metered
    key = slow_orders.key(slow_orders.account({"USDT": "100000"}))
    target = ExchangeTarget("binance", "slow", slow_orders.url, orders_per_10s=5)
    plan = binance_plan(target, ip="203.0.113.7", key_id="c1")
    left = 10.0 - time.time() % 10.0
    if left < 6.0:  # the orders below must leave more than 2 s of their window
        await asyncio.sleep(left + 0.05)
    trading = await gateway.trading_client(target, credentials(key), connection_id="c1")
    try:
        await trading.order_room()  # room: nothing said
        assert await _low_buys(trading, 4) == ["ok"] * 4
        sent = len(log.calls)
        with pytest.raises(RateBudgetExhausted) as refused:
            await trading.order_room()
        assert refused.value.details["bucket"] == plan.bucket("orders_10s").key
        assert len(log.calls) == sent  # nothing sent
        assert await budget.used(plan.bucket("orders_10s")) == 4  # nothing charged
    finally:
        await trading.close()
