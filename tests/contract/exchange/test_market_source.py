"""The gateway's keyless market-data source against the simulator: one per endpoint, metered
like every client, and never waiting for the rate budget."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from tests.contract.exchange.conftest import UtcClock
from tests.contract.exchange.test_metering import ListLog
from tests.support.simclient import SimAdmin
from tresor.adapters.exchange import CcxtGateway
from tresor.adapters.exchange.market import candle_end
from tresor.adapters.exchange.weights import binance_plan
from tresor.adapters.ratelimit.memory import InMemoryRateBudget
from tresor.domain.connections import ExchangeTarget
from tresor.domain.errors import RateBudgetExhausted, UnknownExchange, ValidationFailed
from tresor.sim.server import SimConfig

IP = "203.0.113.7"


@pytest.fixture
async def metered() -> AsyncIterator[tuple[CcxtGateway, InMemoryRateBudget, ListLog]]:
    budget, log = InMemoryRateBudget(), ListLog()
    gateway = CcxtGateway(egress_ips=[IP], clock=UtcClock(), budget=budget, request_log=log)
    yield gateway, budget, log
    await gateway.aclose()


async def test_one_source_per_endpoint_sends_no_key_and_is_logged_without_a_connection(
    sim: SimAdmin, metered: tuple[CcxtGateway, InMemoryRateBudget, ListLog]
) -> None:
    gateway, budget, log = metered
    target = ExchangeTarget("binance", "sim", sim.url)
    source = gateway.market(target)
    assert gateway.market(ExchangeTarget("binance", "sim", sim.url)) is source
    assert "BTC/USDT" in await source.symbols()
    await source.symbols()  # loaded once
    book = await source.order_book("BTC/USDT", source.book_limit(7))
    assert len(book.bids) == 100
    assert [(c.path, c.weight, c.connection_id) for c in log.calls] == [
        ("/api/v3/exchangeInfo", 20, None),
        ("/api/v3/depth?symbol=BTCUSDT&limit=100", 5, None),
    ]
    assert await budget.used(binance_plan(target, ip=IP, key_id="public").bucket("ip")) == 25


async def test_no_room_in_the_budget_raises_at_once_instead_of_waiting(
    sim: SimAdmin, metered: tuple[CcxtGateway, InMemoryRateBudget, ListLog]
) -> None:
    gateway, budget, log = metered
    target = ExchangeTarget("binance", "sim", sim.url, weight_per_minute=100)
    source = gateway.market(target)
    await source.symbols()
    bucket = binance_plan(target, ip=IP, key_id="public").bucket("ip")
    await budget.acquire([bucket], bucket.limit - (await budget.used(bucket)))
    started = time.monotonic()
    with pytest.raises(RateBudgetExhausted) as raised:
        await source.ticker("BTC/USDT")
    assert time.monotonic() - started < 0.5
    assert raised.value.retry_after is not None
    assert 0 < raised.value.retry_after <= 60
    assert [c.path for c in log.calls] == ["/api/v3/exchangeInfo"]  # nothing else was sent


async def test_a_request_heavier_than_the_whole_budget_is_refused_as_invalid(
    sim_factory,
    metered: tuple[CcxtGateway, InMemoryRateBudget, ListLog],  # type: ignore[no-untyped-def]
) -> None:
    tight = sim_factory(SimConfig(seed=3, weight_per_minute=30))
    gateway, _, log = metered
    source = gateway.market(ExchangeTarget("binance", "tight", tight.url, weight_per_minute=30))
    await source.symbols()
    with pytest.raises(ValidationFailed) as raised:
        await source.order_book("BTC/USDT", 5000)
    assert raised.value.details == {"weight": 250, "limit": 28}
    assert len(log.calls) == 1


async def test_an_exchange_ccxt_does_not_know_has_no_source(
    metered: tuple[CcxtGateway, InMemoryRateBudget, ListLog],
) -> None:
    gateway, _, _ = metered
    with pytest.raises(UnknownExchange):
        gateway.market(ExchangeTarget("nonexchange", "x", "http://127.0.0.1:1"))


@pytest.mark.parametrize(
    ("open_ms", "timeframe", "end_ms"),
    [
        (1_704_067_200_000, "1h", 1_704_070_800_000),  # 2024-01-01: an hour later
        (1_706_745_600_000, "1M", 1_709_251_200_000),  # February 2024 has 29 days
        (1_701_388_800_000, "1M", 1_704_067_200_000),  # December rolls over the year
        (1_704_067_200_000, "1y", 1_735_689_600_000),  # a leap year: 366 days
    ],
)
def test_candles_end_with_their_timeframe_months_by_the_calendar(
    open_ms: int, timeframe: str, end_ms: int
) -> None:
    seconds = {"1h": 3600, "1M": 2_592_000, "1y": 31_536_000}[timeframe]
    assert candle_end(open_ms, timeframe, seconds) == end_ms
