"""The market-data service on a fake exchange and a fake clock: what is cached for how long,
that concurrent identical requests make one exchange call, and that no room in the rate budget
gives the last known value flagged stale, or a clear error when there is none."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import pytest

from tests.support.clock import FakeClock
from tests.support.market import HOUR_MS, SIM, FakeGateway, FakeMarket
from tresor.adapters.cache.memory import InMemoryMarketCache
from tresor.domain.errors import (
    ExchangeUnavailable,
    RateBudgetExhausted,
    UnknownEndpoint,
    UnknownSymbol,
    UnsupportedTimeframe,
)
from tresor.services.market_data import NO_ROOM_REMEDY, MarketDataService, MarketPolicy


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def exchange(clock: FakeClock) -> FakeMarket:
    return FakeMarket(clock)


@pytest.fixture
def cache(clock: FakeClock) -> InMemoryMarketCache:
    return InMemoryMarketCache(clock=clock.seconds)


def service_on(
    exchange: FakeMarket, cache: InMemoryMarketCache, clock: FakeClock
) -> MarketDataService:
    return MarketDataService(
        gateway=FakeGateway(exchange),
        cache=cache,
        clock=clock,
        endpoints={"sim": SIM},
        policy=MarketPolicy(poll_s=0.001),
    )


@pytest.fixture
def service(
    exchange: FakeMarket, cache: InMemoryMarketCache, clock: FakeClock
) -> MarketDataService:
    return service_on(exchange, cache, clock)


def no_room(retry_after: float = 7.5) -> RateBudgetExhausted:
    return RateBudgetExhausted(
        bucket="sim:ip:default:weight:1m", timeout=0, retry_after=retry_after
    )


async def test_a_ticker_is_answered_from_the_cache_for_two_seconds_then_asked_again(
    service: MarketDataService, exchange: FakeMarket, clock: FakeClock
) -> None:
    first = await service.ticker("sim", "BTC/USDT")
    clock.advance(1.9)
    again = await service.ticker("sim", "BTC/USDT")
    assert exchange.calls["ticker"] == 1
    assert again.value == first.value
    assert (again.fetched_ms, again.age_ms, again.stale) == (first.fetched_ms, 1900, False)
    clock.advance(0.1)
    exchange.price = Decimal("64300")
    later = await service.ticker("sim", "BTC/USDT")
    assert exchange.calls["ticker"] == 2
    assert (later.value.last, later.age_ms, later.stale) == (Decimal("64300"), 0, False)


async def test_concurrent_identical_requests_make_one_exchange_call(
    service: MarketDataService, exchange: FakeMarket
) -> None:
    exchange.hold = asyncio.Event()
    waiting = [asyncio.create_task(service.ticker("sim", "BTC/USDT")) for _ in range(50)]
    await asyncio.sleep(0.01)
    exchange.hold.set()
    answers = await asyncio.gather(*waiting)
    assert exchange.calls["ticker"] == 1
    assert len({(a.value, a.fetched_ms) for a in answers}) == 1


async def test_a_caller_giving_up_does_not_cancel_the_fetch_the_others_wait_for(
    service: MarketDataService, exchange: FakeMarket
) -> None:
    exchange.hold = asyncio.Event()
    impatient = asyncio.create_task(service.ticker("sim", "BTC/USDT"))
    patient = asyncio.create_task(service.ticker("sim", "BTC/USDT"))
    await asyncio.sleep(0.01)
    impatient.cancel()
    exchange.hold.set()
    answer = await patient
    assert answer.stale is False
    assert exchange.calls["ticker"] == 1


async def test_no_room_in_the_budget_answers_the_last_value_flagged_stale_with_its_age(
    service: MarketDataService, exchange: FakeMarket, clock: FakeClock
) -> None:
    fresh = await service.ticker("sim", "BTC/USDT")
    clock.advance(30)
    exchange.fail = no_room()
    stale = await service.ticker("sim", "BTC/USDT")
    assert stale.stale is True
    assert stale.age_ms == 30_000
    assert stale.value == fresh.value
    assert exchange.calls["ticker"] == 2  # it asked (the budget said no), then fell back


async def test_an_unreachable_exchange_also_gives_the_stale_value(
    service: MarketDataService, exchange: FakeMarket, clock: FakeClock
) -> None:
    await service.order_book("sim", "BTC/USDT", 10)
    clock.advance(5)
    exchange.fail = ExchangeUnavailable()
    answer = await service.order_book("sim", "BTC/USDT", 10)
    assert (answer.stale, answer.age_ms) == (True, 5000)


async def test_no_room_and_nothing_cached_is_rate_budget_exhausted_with_retry_after(
    service: MarketDataService, exchange: FakeMarket
) -> None:
    exchange.fail = no_room(retry_after=7.5)
    with pytest.raises(RateBudgetExhausted) as raised:
        await service.ticker("sim", "BTC/USDT")
    error = raised.value
    assert error.code == "rate_budget_exhausted"
    assert error.retry_after == 7.5
    assert error.details["retry_after"] == 7.5
    assert error.remedy == NO_ROOM_REMEDY
    assert "nothing recent enough is cached" in error.message


async def test_a_stale_value_is_kept_only_so_long(
    service: MarketDataService, exchange: FakeMarket, clock: FakeClock
) -> None:
    await service.ticker("sim", "BTC/USDT")
    clock.advance(service.policy.ticker_ttl_s + service.policy.keep_stale_s)
    exchange.fail = no_room()
    with pytest.raises(RateBudgetExhausted):
        await service.ticker("sim", "BTC/USDT")


async def test_a_failed_fetch_fails_every_waiter_and_the_next_request_asks_again(
    service: MarketDataService, exchange: FakeMarket
) -> None:
    exchange.hold, exchange.fail = asyncio.Event(), ExchangeUnavailable()
    waiting = [asyncio.create_task(service.ticker("sim", "ETH/USDT")) for _ in range(5)]
    await asyncio.sleep(0.01)
    exchange.hold.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, ExchangeUnavailable) for r in results)
    exchange.fail = None
    answer = await service.ticker("sim", "ETH/USDT")
    assert answer.stale is False
    assert exchange.calls["ticker"] == 2


async def test_every_depth_up_to_a_weight_step_is_served_by_one_book(
    service: MarketDataService, exchange: FakeMarket
) -> None:
    five = await service.order_book("sim", "BTC/USDT", 5)
    hundred = await service.order_book("sim", "BTC/USDT", 100)
    deep = await service.order_book("sim", "BTC/USDT", 101)
    assert exchange.calls == Counter({"book:100": 1, "book:500": 1})
    assert (len(five.value.bids), len(five.value.asks)) == (5, 5)
    assert five.value.bids == hundred.value.bids[:5]
    assert len(deep.value.asks) == 101


async def test_an_order_book_is_fresh_for_one_second(
    service: MarketDataService, exchange: FakeMarket, clock: FakeClock
) -> None:
    await service.order_book("sim", "BTC/USDT", 20)
    clock.advance(0.999)
    await service.order_book("sim", "BTC/USDT", 20)
    clock.advance(0.001)
    await service.order_book("sim", "BTC/USDT", 20)
    assert exchange.calls["book:100"] == 2


async def test_the_latest_candles_live_a_sixtieth_of_their_timeframe(
    service: MarketDataService, exchange: FakeMarket, clock: FakeClock
) -> None:
    await service.candles("sim", "BTC/USDT", "1h", limit=24)
    clock.advance(59)
    await service.candles("sim", "BTC/USDT", "1h", limit=24)
    assert exchange.calls["candles:1h"] == 1
    clock.advance(1)
    await service.candles("sim", "BTC/USDT", "1h", limit=24)
    assert exchange.calls["candles:1h"] == 2
    await service.candles("sim", "BTC/USDT", "1m", limit=5)
    clock.advance(1)
    await service.candles("sim", "BTC/USDT", "1m", limit=5)
    assert exchange.calls["candles:1m"] == 2  # floor: one second


async def test_a_window_of_closed_candles_is_kept_an_hour(
    service: MarketDataService, exchange: FakeMarket, clock: FakeClock
) -> None:
    now_ms = int(clock.seconds() * 1000)
    since = now_ms - now_ms % HOUR_MS - 10 * HOUR_MS
    closed = await service.candles("sim", "BTC/USDT", "1h", since_ms=since, limit=5)
    assert all(c.closed(closed.fetched_ms) for c in closed.value.candles)
    clock.advance(3599)
    await service.candles("sim", "BTC/USDT", "1h", since_ms=since, limit=5)
    assert exchange.calls["candles:1h"] == 1
    # a window reaching the open candle changes: cached a minute, as the latest ones
    await service.candles("sim", "BTC/USDT", "1h", since_ms=since, limit=20)
    clock.advance(60)
    await service.candles("sim", "BTC/USDT", "1h", since_ms=since, limit=20)
    assert exchange.calls["candles:1h"] == 3


async def test_unknown_endpoints_symbols_and_timeframes_are_input_errors_without_a_request(
    service: MarketDataService, exchange: FakeMarket
) -> None:
    with pytest.raises(UnknownEndpoint) as endpoint:
        await service.ticker("nope", "BTC/USDT")
    assert "GET /v1/markets" in endpoint.value.remedy
    with pytest.raises(UnknownSymbol) as symbol:
        await service.order_book("sim", "DOGE/EUR", 5)
    assert symbol.value.details == {"endpoint": "sim", "symbol": "DOGE/EUR"}
    with pytest.raises(UnsupportedTimeframe) as timeframe:
        await service.candles("sim", "BTC/USDT", "2m")
    assert timeframe.value.details["timeframes"] == ["1m", "1h", "1d"]
    assert sum(exchange.calls.values()) == 0


async def test_a_symbol_in_lower_case_is_the_listed_one(service: MarketDataService) -> None:
    answer = await service.ticker("sim", "eth/usdt")
    assert answer.value.symbol == "ETH/USDT"


async def test_processes_sharing_a_cache_wait_for_the_one_fetching(
    exchange: FakeMarket, cache: InMemoryMarketCache, clock: FakeClock
) -> None:
    # two services on one cache stand for two API processes on one Redis
    first, second = service_on(exchange, cache, clock), service_on(exchange, cache, clock)
    exchange.hold = asyncio.Event()
    fetching = asyncio.create_task(first.ticker("sim", "BTC/USDT"))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(second.ticker("sim", "BTC/USDT"))
    await asyncio.sleep(0.01)
    exchange.hold.set()
    a, b = await fetching, await waiting
    assert exchange.calls["ticker"] == 1
    assert (a.value, a.fetched_ms) == (b.value, b.fetched_ms)


async def test_a_process_whose_fetch_failed_lets_the_waiting_one_try(
    exchange: FakeMarket, cache: InMemoryMarketCache, clock: FakeClock
) -> None:
    first, second = service_on(exchange, cache, clock), service_on(exchange, cache, clock)
    exchange.hold, exchange.fail_next = asyncio.Event(), [ExchangeUnavailable()]
    failing = asyncio.create_task(first.ticker("sim", "BTC/USDT"))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(second.ticker("sim", "BTC/USDT"))
    await asyncio.sleep(0.01)
    exchange.hold.set()
    with pytest.raises(ExchangeUnavailable):
        await failing
    assert (await waiting).stale is False
    assert exchange.calls["ticker"] == 2


def test_the_endpoints_list_names_exchanges_and_timeframes(service: MarketDataService) -> None:
    [sim] = service.endpoints()
    assert (sim.name, sim.exchange, sim.timeframes) == ("sim", "binance", ("1m", "1h", "1d"))
