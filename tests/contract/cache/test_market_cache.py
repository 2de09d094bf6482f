"""The ``MarketCache`` contract: every implementation (memory, Redis) passes the same tests.
A record read back is exactly the one stored; entries expire; one claim at a time per key; and
market-data services in several processes sharing it make one exchange request between them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest

from tests.support.clock import FakeClock
from tests.support.market import SIM, FakeGateway, FakeMarket
from tresor.adapters.cache.memory import InMemoryMarketCache
from tresor.domain.market import Candle, Candles, MarketRecord, Observed, OrderBook, Ticker
from tresor.services.market_data import MarketDataService, MarketPolicy
from tresor.services.ports import MarketCache

D = Decimal
RECORDS: list[MarketRecord] = [
    Ticker(
        "binance", "BTC/USDT", 1_700_000_000_123, D("64250.12345678"), D("64250.1"),
        D("0.00012"), D("64250.2"), D("3.5"), D("65000"), D("63000"), D("7115.94635"), None,
    ),
    OrderBook(
        "binance", "ETH/BTC", 1_700_000_000_000,
        ((D("0.05123"), D("12.5")), (D("0.05122"), D("0.001"))),
        ((D("0.05124"), D("100000000.12345678")),),
    ),
    Candles(
        "binance", "BTC/USDT", "1M",
        (Candle(1_701_388_800_000, 1_704_067_200_000, D("1"), D("2.5"), D("0.5"), D("2"), D("0")),),
    ),
    Candles("kraken", "XBT/EUR", "1h", ()),
]  # fmt: skip


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
async def test_an_entry_reads_back_exactly_as_stored(
    cache: MarketCache, record: MarketRecord
) -> None:
    await cache.put("k", Observed(record, 1_700_000_000_999), keep_seconds=60)
    assert await cache.get("k") == Observed(record, 1_700_000_000_999)
    assert await cache.get("other") is None


async def test_an_entry_is_gone_after_its_keep_time(cache: MarketCache) -> None:
    await cache.put("k", Observed(RECORDS[0], 1), keep_seconds=0.05)
    await cache.put("long", Observed(RECORDS[1], 2), keep_seconds=60)
    await asyncio.sleep(0.1)
    assert await cache.get("k") is None
    assert await cache.get("long") == Observed(RECORDS[1], 2)


async def test_a_put_replaces_the_entry(cache: MarketCache) -> None:
    await cache.put("k", Observed(RECORDS[0], 1), keep_seconds=60)
    await cache.put("k", Observed(RECORDS[1], 2), keep_seconds=60)
    assert await cache.get("k") == Observed(RECORDS[1], 2)


async def test_processes_sharing_the_cache_see_each_others_entries(
    cache_maker: Callable[[], Awaitable[MarketCache]],
) -> None:
    one, two = await cache_maker(), await cache_maker()
    await one.put("k", Observed(RECORDS[2], 5), keep_seconds=60)
    assert await two.get("k") == Observed(RECORDS[2], 5)


async def test_one_claim_per_key_at_a_time_until_released_or_expired(
    cache_maker: Callable[[], Awaitable[MarketCache]],
) -> None:
    one, two = await cache_maker(), await cache_maker()
    token = await one.claim("k", seconds=60)
    assert token is not None
    assert await two.claim("k", seconds=60) is None
    assert await two.claim("other", seconds=60) is not None
    await two.release("k", "not-the-token")  # only the holder ends a claim
    assert await two.claim("k", seconds=60) is None
    await one.release("k", token)
    again = await two.claim("k", seconds=0.05)
    assert again is not None
    await asyncio.sleep(0.1)
    late = await one.claim("k", seconds=60)
    assert late is not None
    await two.release("k", again)  # an expired claim's holder cannot end the new one
    assert await two.claim("k", seconds=60) is None


async def test_the_memory_cache_drops_the_least_recently_used_past_its_size() -> None:
    cache = InMemoryMarketCache(max_entries=2)
    for key in ("a", "b"):
        await cache.put(key, Observed(RECORDS[0], 1), keep_seconds=60)
    assert await cache.get("a") is not None  # "b" is now the least recently used
    await cache.put("c", Observed(RECORDS[0], 1), keep_seconds=60)
    assert [await cache.get(k) is not None for k in ("a", "b", "c")] == [True, False, True]
    assert len(cache) == 2


async def test_processes_sharing_the_cache_ask_the_exchange_once_between_them(
    cache_maker: Callable[[], Awaitable[MarketCache]],
) -> None:
    clock = FakeClock()
    exchange = FakeMarket(clock)
    exchange.hold = asyncio.Event()
    processes = [
        MarketDataService(
            gateway=FakeGateway(exchange),
            cache=await cache_maker(),
            clock=clock,
            endpoints={"sim": SIM},
            policy=MarketPolicy(poll_s=0.005),
        )
        for _ in range(3)
    ]
    asking = [
        asyncio.create_task(process.ticker("sim", "BTC/USDT"))
        for process in processes
        for _ in range(5)
    ]
    await asyncio.sleep(0.05)
    exchange.hold.set()
    answers = await asyncio.gather(*asking)
    assert exchange.calls["ticker"] == 1
    assert len({(a.value, a.fetched_ms) for a in answers}) == 1
