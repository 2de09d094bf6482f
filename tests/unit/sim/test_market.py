"""The market model: seeded price paths, the order book, candles and their calendar."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.unit.sim.asgi_client import NOW, client, fixed_app
from tresor.sim.catalogue import pairs_for
from tresor.sim.market import INTERVAL_MS, Market

SYMBOLS = ["BTCUSDT", "ETHBTC", "DOGEUSDT", "PEPEUSDT", "USDCUSDT"]
PAIRS = pairs_for(SYMBOLS)
HOUR = 3_600_000
INSTANTS = [NOW + k * 7 * HOUR + k * 1234 for k in range(-40, 40)]


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp() * 1000)


def test_the_same_seed_gives_the_same_prices_books_and_candles() -> None:
    a, b = Market(PAIRS, 42), Market(PAIRS, 42)
    for symbol in SYMBOLS:
        for t in INSTANTS[::10]:
            assert a.price(symbol, t) == b.price(symbol, t)
            assert a.book(symbol, t, 20) == b.book(symbol, t, 20)
            assert a.kline(symbol, "1h", t - t % HOUR, NOW) == b.kline(
                symbol, "1h", t - t % HOUR, NOW
            )
            assert a.tape_trade(symbol, t // 1000) == b.tape_trade(symbol, t // 1000)


def test_two_seeds_quote_close_but_different_prices() -> None:
    a, b = Market(PAIRS, 1), Market(PAIRS, 2)
    for symbol in SYMBOLS:
        mids = [(a.mid(symbol, t), b.mid(symbol, t)) for t in INSTANTS]
        assert all(abs(x / y - 1) < 0.02 for x, y in mids), symbol
        assert sum(1 for x, y in mids if x != y) > len(mids) * 0.9, symbol


def test_prices_move_over_time_but_stay_near_the_reference() -> None:
    market = Market(PAIRS, 1)
    btc = [market.mid("BTCUSDT", t) for t in INSTANTS]
    assert len(set(btc)) == len(btc)
    assert all(0.3 < p / PAIRS[0].ref_price < 3 for p in btc)
    stable = [market.mid("USDCUSDT", t) for t in INSTANTS]
    assert all(abs(p - 1) < 0.01 for p in stable)


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_prices_lie_on_the_tick_grid(symbol: str) -> None:
    market = Market(PAIRS, 3)
    tick = market.pairs[symbol].tick_size
    for t in INSTANTS:
        price = market.price(symbol, t)
        assert price > 0
        assert price % tick == 0


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_the_book_has_sorted_bids_below_sorted_asks_on_the_grids(symbol: str) -> None:
    market = Market(PAIRS, 3)
    pair = market.pairs[symbol]
    for t in INSTANTS[::4]:
        bids, asks = market.book(symbol, t, 100)
        assert len(asks) == 100
        assert bids
        assert bids[0][0] < asks[0][0]
        bid_prices = [p for p, _ in bids]
        ask_prices = [p for p, _ in asks]
        assert bid_prices == sorted(set(bid_prices), reverse=True)
        assert ask_prices == sorted(set(ask_prices))
        for price, qty in bids + asks:
            assert price > 0
            assert price % pair.tick_size == 0
            assert qty > 0
            assert qty % pair.step_size == 0
        mid = Decimal(repr(market.mid(symbol, t)))
        assert bids[0][0] <= mid + pair.tick_size
        assert asks[0][0] >= mid - pair.tick_size


def test_klines_keep_high_above_open_and_close_above_low() -> None:
    market = Market(PAIRS, 9)
    for symbol in SYMBOLS:
        for interval in ("1m", "1h", "1d"):
            for t in INSTANTS[::8]:
                k = market.kline(symbol, interval, market.candle_open(interval, t), NOW)
                o, h, lo, c = (Decimal(str(x)) for x in k[1:5])
                assert h >= max(o, c)
                assert min(o, c) >= lo > 0
                assert Decimal(str(k[5])) >= 0


def test_weekly_candles_open_on_monday_midnight_utc() -> None:
    market = Market(PAIRS, 1)
    for t in INSTANTS:
        opened = market.candle_open("1w", t)
        start = datetime.fromtimestamp(opened / 1000, UTC)
        assert start.weekday() == 0
        assert (start.hour, start.minute, start.second) == (0, 0, 0)
        assert opened <= t < market.candle_close("1w", opened)
    # Monday 2025-06-09 00:00 opens its own week; the instant before belongs to the previous one
    monday = ms(2025, 6, 9)
    assert market.candle_open("1w", monday) == monday
    assert market.candle_open("1w", monday - 1) == ms(2025, 6, 2)


@pytest.mark.parametrize(
    ("instant", "opens", "closes"),
    [
        (ms(2024, 2, 29, 23, 59), ms(2024, 2, 1), ms(2024, 3, 1)),  # a leap February
        (ms(2025, 2, 1), ms(2025, 2, 1), ms(2025, 3, 1)),
        (ms(2024, 12, 31, 12), ms(2024, 12, 1), ms(2025, 1, 1)),  # across the year
        (ms(2025, 4, 30, 23, 59, 59), ms(2025, 4, 1), ms(2025, 5, 1)),
    ],
)
def test_monthly_candles_follow_the_calendar(instant: int, opens: int, closes: int) -> None:
    market = Market(PAIRS, 1)
    assert market.candle_open("1M", instant) == opens
    assert market.candle_close("1M", opens) == closes


@pytest.mark.parametrize("interval", ["1m", "15m", "1h", "1d", "1w", "1M"])
async def test_klines_endpoint_returns_contiguous_candles(interval: str) -> None:
    app = fixed_app()
    market = app.sim.venue.market
    step = INTERVAL_MS[interval] or 31 * 86_400_000
    start = NOW - 30 * step
    async with client(app) as http:
        r = await http.get(
            "/api/v3/klines",
            params={"symbol": "ETHBTC", "interval": interval, "startTime": start, "limit": 1000},
        )
    assert r.status_code == 200
    candles = r.json()
    assert 29 <= len(candles) <= 31
    assert candles[0][0] >= start
    assert candles[-1][0] == market.candle_open(interval, NOW)
    for prev, nxt in itertools.pairwise(candles):
        assert nxt[0] == prev[6] + 1  # each candle opens right after the previous one closes
    for k in candles:
        o, h, lo, c = (Decimal(x) for x in k[1:5])
        assert h >= max(o, c) >= min(o, c) >= lo


async def test_klines_without_start_end_at_the_current_candle() -> None:
    app = fixed_app()
    async with client(app) as http:
        r = await http.get(
            "/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1h", "limit": 5}
        )
    opens = [k[0] for k in r.json()]
    current = NOW - NOW % HOUR
    assert opens == [current - k * HOUR for k in range(4, -1, -1)]
