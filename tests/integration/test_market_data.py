"""Market data through the real runtime and ccxt against a simulator whose clock stands still:
the values are exactly the simulator's own market at that instant, every request is charged to
the rate budget and logged, a repeat within the time to live reaches no exchange, and with no
room in the budget the answer is the stale value, or a clear error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.simclient import SimAdmin
from tresor.adapters.exchange.weights import binance_plan
from tresor.bootstrap import Runtime, build_runtime
from tresor.config import Settings
from tresor.domain.connections import ExchangeTarget
from tresor.domain.errors import RateBudgetExhausted
from tresor.sim.server import SimConfig, serve_in_thread

NOW_MS = 1_767_268_800_000 + 37_123  # 2026-01-01 12:00:37.123 UTC, the venue's frozen "now"
MINUTE_MS, HOUR_MS = 60_000, 3_600_000
SIM_IP = "127.0.0.1"  # where the venue sees Tresor's requests come from


@pytest.fixture
def frozen() -> Iterator[SimAdmin]:
    running = serve_in_thread(SimConfig(seed=5, weight_per_minute=1_000_000, clock=lambda: NOW_MS))
    admin = SimAdmin(running)
    yield admin
    admin.close()
    running.stop()


@pytest.fixture
async def runtime(tmp_path: Path, frozen: SimAdmin) -> AsyncIterator[Runtime]:
    runtime = await build_runtime(
        Settings(
            data_dir=tmp_path / "data",
            endpoints={"sim": {"exchange": "binance", "url": frozen.url}},
        )
    )
    yield runtime
    await runtime.aclose()


def market(sim: SimAdmin) -> Any:
    """The venue's market model (its truth, read in-process)."""
    return sim.app.sim.venue.market


def used_weight(sim: SimAdmin) -> int:
    """The request weight the venue counted from Tresor in its current minute."""
    return int(sim.app.sim.limits.used_weight(SIM_IP, NOW_MS))


def public_bucket(runtime: Runtime) -> Any:
    target = ExchangeTarget("binance", "sim", runtime.settings.endpoints["sim"].url)
    return binance_plan(target, ip="default", key_id="public").bucket("ip")


async def test_the_ticker_is_the_simulators_own(runtime: Runtime, frozen: SimAdmin) -> None:
    answer = await runtime.container.market.ticker("sim", "BTC/USDT")
    truth = market(frozen).ticker_24h("BTCUSDT", NOW_MS)
    t = answer.value
    assert (t.exchange, t.symbol, t.time_ms) == ("binance", "BTC/USDT", NOW_MS)
    assert (t.last, t.bid, t.bid_amount, t.ask, t.ask_amount) == tuple(
        Decimal(truth[k]) for k in ("lastPrice", "bidPrice", "bidQty", "askPrice", "askQty")
    )
    assert (t.high, t.low, t.base_volume, t.quote_volume) == tuple(
        Decimal(truth[k]) for k in ("highPrice", "lowPrice", "volume", "quoteVolume")
    )
    assert answer.stale is False


async def test_the_order_book_is_the_simulators_own(runtime: Runtime, frozen: SimAdmin) -> None:
    answer = await runtime.container.market.order_book("sim", "ETH/BTC", 7)
    bids, asks = market(frozen).book("ETHBTC", NOW_MS, 7)
    assert answer.value.bids == tuple(bids)
    assert answer.value.asks == tuple(asks)
    assert answer.value.symbol == "ETH/BTC"


async def test_candles_are_the_simulators_own_and_only_the_last_is_open(
    runtime: Runtime, frozen: SimAdmin
) -> None:
    latest = await runtime.container.market.candles("sim", "BTC/USDT", "1m", limit=3)
    last_open = NOW_MS - NOW_MS % MINUTE_MS
    opens = [last_open - 2 * MINUTE_MS, last_open - MINUTE_MS, last_open]
    assert [c.open_ms for c in latest.value.candles] == opens
    for candle, open_ms in zip(latest.value.candles, opens, strict=True):
        kline = market(frozen).kline("BTCUSDT", "1m", open_ms, NOW_MS)
        assert candle.close_ms == kline[6] + 1
        assert (candle.open, candle.high, candle.low, candle.close, candle.volume) == tuple(
            Decimal(v) for v in kline[1:6]
        )
    assert [c.closed(NOW_MS) for c in latest.value.candles] == [True, True, False]

    since = NOW_MS - NOW_MS % HOUR_MS - 10 * HOUR_MS
    window = await runtime.container.market.candles(
        "sim", "BTC/USDT", "1h", since_ms=since, limit=2
    )
    assert [c.open_ms for c in window.value.candles] == [since, since + HOUR_MS]
    closing = market(frozen).kline("BTCUSDT", "1h", since + HOUR_MS, NOW_MS)
    assert window.value.candles[-1].close == Decimal(closing[4])


async def test_every_request_is_charged_to_the_budget_and_logged_without_a_connection(
    runtime: Runtime, frozen: SimAdmin
) -> None:
    await runtime.container.market.ticker("sim", "BTC/USDT")
    await runtime.container.market.order_book("sim", "BTC/USDT", 500)
    await runtime.container.market.candles("sim", "BTC/USDT", "1d", limit=10)
    # exchangeInfo 20, ticker/24hr with a symbol 2, depth up to 500 levels 25, klines 2
    assert await runtime.budget.used(public_bucket(runtime)) == 49
    assert used_weight(frozen) == 49
    await runtime.request_log.flush()
    async with runtime.database.engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT venue, connection_id, path, weight, status FROM exchange_calls")
            )
        ).all()
    assert sorted((r.path, r.weight) for r in rows) == [
        ("/api/v3/depth?symbol=BTCUSDT&limit=500", 25),
        ("/api/v3/exchangeInfo", 20),
        ("/api/v3/klines?interval=1d&limit=10&symbol=BTCUSDT", 2),
        ("/api/v3/ticker/24hr?symbol=BTCUSDT", 2),
    ]
    assert {(r.venue, r.connection_id, r.status) for r in rows} == {("sim", None, 200)}


async def test_repeats_within_the_time_to_live_reach_no_exchange(
    runtime: Runtime, frozen: SimAdmin
) -> None:
    service = runtime.container.market
    first = await service.ticker("sim", "BTC/USDT")
    counted = used_weight(frozen)
    again = await service.ticker("sim", "BTC/USDT")
    crowd = await asyncio.gather(*(service.order_book("sim", "BTC/USDT", d) for d in range(1, 41)))
    assert used_weight(frozen) == counted + 5  # the 40 depths: one request for 100 levels
    assert again.fetched_ms == first.fetched_ms
    assert len({a.fetched_ms for a in crowd}) == 1
    assert [len(a.value.bids) for a in crowd] == list(range(1, 41))


async def test_no_room_in_the_budget_gives_the_stale_book_or_a_clear_error(
    runtime: Runtime, frozen: SimAdmin
) -> None:
    service = runtime.container.market
    fresh = await service.order_book("sim", "BTC/USDT", 10)
    await runtime.budget.block(public_bucket(runtime), 30)  # as after the exchange's 429
    counted = used_weight(frozen)
    await asyncio.sleep(service.policy.book_ttl_s + 0.05)
    stale = await service.order_book("sim", "BTC/USDT", 10)
    assert stale.stale is True
    assert stale.age_ms >= 1000
    assert stale.value == fresh.value
    with pytest.raises(RateBudgetExhausted) as raised:
        await service.order_book("sim", "ETH/USDT", 10)
    assert raised.value.retry_after is not None
    assert 25 < raised.value.retry_after <= 30
    assert used_weight(frozen) == counted  # nothing was sent
