"""ccxt's own structure validators (``ccxt.test.exchange.base``) on what the unmodified binance
class parses from the venue's answers. The validators are imported under other names so pytest
does not collect them.

Skipped properties are the ones real Binance data needs skipped too (see the ccxt notes): the
spot order book carries no time, and ccxt never fills a transfer's ``updated`` (it reads
``successTime``/``updateTime``, Binance sends ``completeTime``); deposits have no fee."""

from __future__ import annotations

import time
from typing import Any

import ccxt
import pytest
from ccxt.test.exchange.base.test_balance import test_balance as check_balance
from ccxt.test.exchange.base.test_deposit_withdrawal import (
    test_deposit_withdrawal as check_transfer,
)
from ccxt.test.exchange.base.test_last_price import test_last_price as check_last_price
from ccxt.test.exchange.base.test_market import test_market as check_market
from ccxt.test.exchange.base.test_ohlcv import test_ohlcv as check_ohlcv
from ccxt.test.exchange.base.test_order import test_order as check_order
from ccxt.test.exchange.base.test_order_book import test_order_book as check_order_book
from ccxt.test.exchange.base.test_status import test_status as check_status
from ccxt.test.exchange.base.test_ticker import test_ticker as check_ticker
from ccxt.test.exchange.base.test_trade import test_trade as check_trade

from tests.contract.conftest import Trader
from tests.support.simclient import READ_ONLY, SimAdmin, binance

NO_BOOK_TIME = {"timestamp": True, "datetime": True}
NO_UPDATED = {"updated": True}


def now_ms() -> int:
    return int(time.time() * 1000)


def test_every_market_passes_the_market_validator(trader: Trader) -> None:
    assert len(trader.ex.markets) > 300
    for market in trader.ex.markets.values():
        check_market(trader.ex, {}, "fetchMarkets", market)


def test_tickers_pass_the_ticker_validator(trader: Trader) -> None:
    ex = trader.ex
    check_ticker(ex, {}, "fetchTicker", ex.fetch_ticker("BTC/USDT"), "BTC/USDT")
    tickers = ex.fetch_tickers()
    assert len(tickers) == len(ex.markets)
    for symbol, ticker in tickers.items():
        check_ticker(ex, {}, "fetchTickers", ticker, symbol)
    for symbol, book in ex.fetch_bids_asks(["BTC/USDT", "ETH/BTC"]).items():
        check_ticker(ex, {}, "fetchBidsAsks", book, symbol)


def test_last_prices_pass_the_last_price_validator(trader: Trader) -> None:
    prices = trader.ex.fetch_last_prices()
    assert len(prices) == len(trader.ex.markets)
    for symbol, entry in prices.items():
        check_last_price(trader.ex, {}, "fetchLastPrices", entry, symbol)


@pytest.mark.parametrize("limit", [5, 1000])
def test_order_books_pass_the_order_book_validator(trader: Trader, limit: int) -> None:
    for symbol in ("BTC/USDT", "ETH/BTC", "DOGE/USDT"):
        book = trader.ex.fetch_order_book(symbol, limit)
        check_order_book(trader.ex, NO_BOOK_TIME, "fetchOrderBook", book, symbol)


def test_candles_pass_the_ohlcv_validator(trader: Trader) -> None:
    # not "1s": the validator insists on whole minutes, which real 1s candles fail as well
    for timeframe in ("1m", "1h", "1d", "1w", "1M"):
        candles = trader.ex.fetch_ohlcv("ETH/USDT", timeframe, limit=100)
        assert candles
        for candle in candles:
            check_ohlcv(trader.ex, {}, "fetchOHLCV", candle, "ETH/USDT", now_ms())


def test_public_trades_pass_the_trade_validator(sim: SimAdmin) -> None:
    for method in ("publicGetAggTrades", "publicGetTrades"):
        ex = binance(sim.url, options={"fetchTradesMethod": method})
        ex.load_markets()
        trades = ex.fetch_trades("BTC/USDT", limit=200)
        assert len(trades) == 200
        for trade in trades:
            check_trade(ex, {}, "fetchTrades", trade, "BTC/USDT", now_ms(), True)


def test_orders_pass_the_order_validator_through_their_life(trader: Trader) -> None:
    ex, symbol = trader.ex, "ETH/USDT"
    price = float(ex.price_to_precision(symbol, ex.fetch_ticker(symbol)["bid"] * 0.9))
    made = [
        ex.create_order(symbol, "limit", "buy", 1, price),
        ex.create_order(symbol, "market", "buy", 200),  # walks several levels
        ex.create_market_buy_order_with_cost(symbol, 500),
        ex.create_order(symbol, "market", "sell", 3),
        ex.create_order(symbol, "limit", "sell", 2, price * 1.25, {"clientOrderId": "v-1"}),
    ]
    canceled = ex.cancel_order(made[0]["id"], symbol)
    checked: list[tuple[str, dict[str, Any]]] = [("createOrder", o) for o in made]
    checked += [("cancelOrder", canceled)]
    checked += [("fetchOrder", ex.fetch_order(o["id"], symbol)) for o in made]
    checked += [("fetchOpenOrders", o) for o in ex.fetch_open_orders()]
    checked += [("fetchOrders", o) for o in ex.fetch_orders(symbol)]
    assert len(checked) == 5 + 1 + 5 + 1 + 5
    assert {o["status"] for _, o in checked} == {"open", "closed", "canceled"}
    for method, order in checked:
        check_order(ex, {}, method, order, symbol, now_ms())
    assert len(made[1]["trades"]) >= 2  # the validator also checked every fill as a trade


def test_own_trades_and_balance_pass_their_validators(trader: Trader) -> None:
    ex = trader.ex
    ex.create_order("BTC/USDT", "market", "buy", 5)
    ex.create_order("BTC/USDT", "market", "sell", 2)
    trades = ex.fetch_my_trades("BTC/USDT")
    assert len(trades) >= 3
    for trade in trades:
        check_trade(ex, {}, "fetchMyTrades", trade, "BTC/USDT", now_ms(), False)
    check_balance(ex, {}, "fetchBalance", ex.fetch_balance())


def test_generated_history_passes_the_trade_and_transfer_validators(sim: SimAdmin) -> None:
    account = sim.account({})
    sim.history(account, days=60, trades=1500, seed=5)
    ex = binance(sim.url, sim.key(account, READ_ONLY))
    ex.load_markets()
    for symbol in ("BTC/USDT", "ETH/BTC", "SOL/USDT"):
        trades = ex.fetch_my_trades(symbol, limit=1000)
        assert trades, symbol
        for trade in trades:
            check_trade(ex, {}, "fetchMyTrades", trade, symbol, now_ms(), False)
    deposits, withdrawals = ex.fetch_deposits(), ex.fetch_withdrawals()
    assert deposits
    assert withdrawals
    for deposit in deposits:
        check_transfer(ex, {**NO_UPDATED, "fee": True}, "fetchDeposits", deposit, None, now_ms())
    for withdrawal in withdrawals:
        check_transfer(ex, NO_UPDATED, "fetchWithdrawals", withdrawal, None, now_ms())
    check_balance(ex, {}, "fetchBalance", ex.fetch_balance())


def test_status_passes_the_status_validator(trader: Trader) -> None:
    status = trader.ex.fetch_status()
    assert status["status"] == "ok"
    check_status(trader.ex, {}, "fetchStatus", status, now_ms())


def test_the_validators_do_catch_a_malformed_order(trader: Trader) -> None:
    """Guards against a validator that silently accepts anything."""
    bad = trader.ex.parse_order(
        {
            "symbol": "BTCUSDT",
            "orderId": 1,
            "status": "FILLED",
            "side": "BUY",
            "type": "LIMIT",
            "origQty": "0.01",
            "executedQty": "0.02",
            "transactTime": now_ms(),
        }
    )
    with pytest.raises(AssertionError):
        check_order(trader.ex, {}, "createOrder", bad, "BTC/USDT", now_ms())
    assert isinstance(trader.ex, ccxt.binance)
