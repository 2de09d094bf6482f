"""Public market data through the unmodified ccxt binance class: every public endpoint, its
parameters and the shapes ccxt parses."""

from __future__ import annotations

import itertools
import json
import time
from decimal import Decimal

import ccxt
import pytest

from tests.support.simclient import SimAdmin, binance

MINUTE = 60_000
FILTERS = {"PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "NOTIONAL"}


@pytest.fixture
def ex(sim: SimAdmin) -> ccxt.binance:
    client = binance(sim.url)
    client.load_markets()
    return client


def now_ms() -> int:
    return int(time.time() * 1000)


def used_weight(ex: ccxt.binance) -> int:
    return int(ex.last_response_headers["x-mbx-used-weight-1m"])


def compact(symbols: list[str]) -> str:
    return json.dumps(symbols, separators=(",", ":"))


def test_ping_answers_an_empty_object_for_weight_one(sim: SimAdmin, ex: ccxt.binance) -> None:
    sim.reset_limits()
    assert ex.public_get_ping() == {}
    assert used_weight(ex) == 1


def test_server_time_is_the_current_time(ex: ccxt.binance) -> None:
    before = now_ms()
    server = ex.fetch_time()
    assert before - 1000 <= server <= now_ms() + 1000


def test_exchange_info_lists_several_hundred_trading_symbols_with_real_filters(
    ex: ccxt.binance,
) -> None:
    info = ex.public_get_exchangeinfo()
    symbols = info["symbols"]
    assert len(symbols) >= 300
    limits = {(r["rateLimitType"], r["interval"]): r["limit"] for r in info["rateLimits"]}
    assert limits[("REQUEST_WEIGHT", "MINUTE")] == 6000
    for raw in symbols:
        assert raw["status"] == "TRADING"
        filters = {f["filterType"]: f for f in raw["filters"]}
        assert FILTERS <= set(filters), raw["symbol"]
        price, lot = filters["PRICE_FILTER"], filters["LOT_SIZE"]
        tick, step = Decimal(price["tickSize"]), Decimal(lot["stepSize"])
        assert tick > 0
        assert step > 0
        assert Decimal(price["minPrice"]) <= Decimal(price["maxPrice"])
        assert Decimal(lot["minQty"]) <= Decimal(lot["maxQty"])
        assert Decimal(lot["minQty"]) % step == 0
        assert Decimal(filters["NOTIONAL"]["minNotional"]) > 0
        assert Decimal(filters["MARKET_LOT_SIZE"]["maxQty"]) > 0
    assert {"BTCUSDT", "ETHUSDT", "ETHBTC", "BNBBTC"} <= {s["symbol"] for s in symbols}


def test_ccxt_derives_precision_and_limits_from_the_filters(ex: ccxt.binance) -> None:
    market = ex.market("BTC/USDT")
    filters = {f["filterType"]: f for f in market["info"]["filters"]}
    assert market["spot"] is True
    assert market["active"] is True
    assert market["precision"]["price"] == float(filters["PRICE_FILTER"]["tickSize"])
    assert market["precision"]["amount"] == float(filters["LOT_SIZE"]["stepSize"])
    assert market["limits"]["amount"]["min"] == float(filters["LOT_SIZE"]["minQty"])
    assert market["limits"]["cost"]["min"] == float(filters["NOTIONAL"]["minNotional"])
    assert market["limits"]["market"]["max"] == float(filters["MARKET_LOT_SIZE"]["maxQty"])
    assert len(ex.markets) == len(ex.public_get_exchangeinfo()["symbols"])


def test_exchange_info_answers_for_one_symbol_or_a_list(ex: ccxt.binance) -> None:
    one = ex.public_get_exchangeinfo({"symbol": "ETHBTC"})
    assert [s["symbol"] for s in one["symbols"]] == ["ETHBTC"]
    two = ex.public_get_exchangeinfo({"symbols": compact(["BTCUSDT", "BNBBTC"])})
    assert sorted(s["symbol"] for s in two["symbols"]) == ["BNBBTC", "BTCUSDT"]


def test_exchange_info_for_an_unknown_symbol_is_bad_symbol(ex: ccxt.binance) -> None:
    with pytest.raises(ccxt.BadSymbol):
        ex.public_get_exchangeinfo({"symbol": "NOPEUSDT"})


def test_ticker_of_one_symbol_is_a_consistent_24h_summary(ex: ccxt.binance) -> None:
    ticker = ex.fetch_ticker("BTC/USDT")
    assert ticker["symbol"] == "BTC/USDT"
    assert 0 < ticker["bid"] < ticker["ask"]
    assert ticker["low"] <= ticker["last"] <= ticker["high"]
    assert ticker["baseVolume"] > 0
    assert abs(ticker["timestamp"] - now_ms()) < 5000
    assert ticker["info"]["closeTime"] - ticker["info"]["openTime"] == 86_400_000


def test_tickers_of_several_symbols_are_exactly_those(ex: ccxt.binance) -> None:
    wanted = ["BTC/USDT", "ETH/USDT", "ETH/BTC"]
    tickers = ex.fetch_tickers(wanted)
    assert sorted(tickers) == sorted(wanted)
    assert all(t["last"] > 0 for t in tickers.values())


def test_tickers_without_symbols_cover_every_market(ex: ccxt.binance) -> None:
    tickers = ex.fetch_tickers()
    assert set(tickers) == set(ex.markets)


def test_last_prices_cover_every_market_and_one_symbol_gives_an_object(
    ex: ccxt.binance,
) -> None:
    prices = ex.fetch_last_prices()
    assert set(prices) == set(ex.markets)
    one = ex.public_get_ticker_price({"symbol": "ETHUSDT"})
    assert one["symbol"] == "ETHUSDT"
    assert Decimal(one["price"]) > 0
    several = ex.public_get_ticker_price({"symbols": compact(["ETHUSDT", "BTCUSDT"])})
    assert sorted(p["symbol"] for p in several) == ["BTCUSDT", "ETHUSDT"]


def test_book_tickers_give_the_best_bid_below_the_best_ask(ex: ccxt.binance) -> None:
    books = ex.fetch_bids_asks(["BTC/USDT", "SOL/USDT"])
    assert sorted(books) == ["BTC/USDT", "SOL/USDT"]
    for book in books.values():
        assert 0 < book["bid"] < book["ask"]
        assert book["bidVolume"] > 0
        assert book["askVolume"] > 0
    everything = ex.public_get_ticker_bookticker()
    assert len(everything) == len(ex.markets)
    one = ex.public_get_ticker_bookticker({"symbol": "BTCUSDT"})
    assert Decimal(one["bidPrice"]) < Decimal(one["askPrice"])


@pytest.mark.parametrize(
    ("limit", "weight"), [(5, 5), (100, 5), (500, 25), (1000, 50), (5000, 250)]
)
def test_order_book_depth_has_the_requested_levels_and_weight(
    sim: SimAdmin, ex: ccxt.binance, limit: int, weight: int
) -> None:
    sim.reset_limits()
    book = ex.fetch_order_book("BTC/USDT", limit)
    assert used_weight(ex) == weight
    bids, asks = book["bids"], book["asks"]
    assert len(bids) == len(asks) == limit
    assert bids[0][0] < asks[0][0]
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert all(q > 0 for _, q in bids + asks)
    assert book["nonce"] is not None


def test_order_book_without_limit_has_a_hundred_levels(sim: SimAdmin, ex: ccxt.binance) -> None:
    sim.reset_limits()
    book = ex.fetch_order_book("ETH/BTC")
    assert used_weight(ex) == 5
    assert len(book["asks"]) == 100


@pytest.mark.parametrize(
    ("timeframe", "step_ms"),
    [
        ("1m", MINUTE),
        ("5m", 5 * MINUTE),
        ("1h", 60 * MINUTE),
        ("1d", 1440 * MINUTE),
        ("1w", 7 * 1440 * MINUTE),
        ("1M", None),
    ],
)
def test_klines_are_consecutive_candles_ending_now(
    ex: ccxt.binance, timeframe: str, step_ms: int | None
) -> None:
    before = now_ms()
    candles = ex.fetch_ohlcv("ETH/USDT", timeframe, limit=12)
    assert len(candles) == 12
    opens = [c[0] for c in candles]
    if step_ms is not None:
        assert all(b - a == step_ms for a, b in itertools.pairwise(opens))
    else:
        assert all(
            27 * 86_400_000 <= b - a <= 31 * 86_400_000 for a, b in itertools.pairwise(opens)
        )
    assert before - (step_ms or 31 * 86_400_000) < opens[-1] <= now_ms()  # the current one
    for _, o, h, low, c, volume in candles:
        assert low <= min(o, c) <= max(o, c) <= h
        assert volume >= 0


def test_klines_from_a_start_time_begin_there_and_respect_the_limit(ex: ccxt.binance) -> None:
    since = (now_ms() // MINUTE - 180) * MINUTE
    candles = ex.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=30)
    assert [c[0] for c in candles] == [since + i * MINUTE for i in range(30)]


def test_klines_between_start_and_end_time_cover_exactly_that_span(ex: ccxt.binance) -> None:
    since = (now_ms() // MINUTE - 600) * MINUTE
    until = since + 99 * MINUTE
    candles = ex.fetch_ohlcv("BTC/USDT", "1m", since=since, params={"until": until})
    assert [c[0] for c in candles] == [since + i * MINUTE for i in range(100)]


def test_klines_up_to_an_end_time_are_the_newest_before_it(ex: ccxt.binance) -> None:
    until = now_ms() - 3 * 86_400_000
    candles = ex.fetch_ohlcv("BTC/USDT", "1h", limit=24, params={"until": until})
    assert len(candles) == 24
    assert candles[-1][0] <= until < candles[-1][0] + 60 * MINUTE


def test_klines_limit_is_capped_at_one_thousand(ex: ccxt.binance) -> None:
    raw = ex.public_get_klines({"symbol": "BTCUSDT", "interval": "1m", "limit": 1500})
    assert len(raw) == 1000


def test_recent_trades_come_from_the_trades_endpoint_when_asked(sim: SimAdmin) -> None:
    ex = binance(sim.url, options={"fetchTradesMethod": "publicGetTrades"})
    ex.load_markets()
    trades = ex.fetch_trades("BTC/USDT", limit=50)
    assert "/api/v3/trades?" in ex.last_request_url
    assert len(trades) == 50
    ids = [int(t["id"]) for t in trades]
    assert ids == list(range(ids[0], ids[0] + 50))
    assert trades[-1]["timestamp"] <= now_ms()
    assert {t["side"] for t in trades} <= {"buy", "sell"}
    assert all(t["cost"] == pytest.approx(t["price"] * t["amount"]) for t in trades)


def test_aggregate_trades_are_ccxts_default_and_honour_since(ex: ccxt.binance) -> None:
    latest = ex.fetch_trades("ETH/USDT", limit=20)
    assert "/api/v3/aggTrades?" in ex.last_request_url
    assert len(latest) == 20
    assert abs(latest[-1]["timestamp"] - now_ms()) < 60_000
    since = now_ms() - 10 * MINUTE
    recent = ex.fetch_trades("ETH/USDT", since=since, limit=30)
    assert len(recent) == 30
    assert since <= recent[0]["timestamp"]
    stamps = [t["timestamp"] for t in recent]
    assert stamps == sorted(stamps)
