"""Every request through a metered client is charged to the rate budget, reconciled with the
exchange's usage header, and logged; a 429 blocks the bucket for ``Retry-After``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from tests.contract.exchange.conftest import UtcClock, credentials
from tests.support.simclient import READ_ONLY, SimAdmin
from tresor.adapters.exchange import CcxtGateway
from tresor.adapters.exchange.weights import binance_plan
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
