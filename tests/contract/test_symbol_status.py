"""A symbol the venue halts answers as Binance does: exchangeInfo shows its status, ccxt reads
the market as inactive, and new orders are refused with -1013 "Market is closed." (errors.md,
order-placement failures) while cancels still work; once reopened it trades again."""

from __future__ import annotations

import ccxt
import pytest

from tests.contract.conftest import Trader
from tests.support.rawclient import signed
from tests.support.simclient import SimAdmin


def set_status(sim: SimAdmin, symbol: str, status: str) -> None:
    sim.http.post("/_sim/symbols", json={"symbol": symbol, "status": status}).raise_for_status()


def bid(ex: ccxt.binance, symbol: str) -> float:
    return float(ex.fetch_order_book(symbol, 5)["bids"][0][0])


@pytest.mark.parametrize("status", ["HALT", "BREAK", "END_OF_DAY"])
def test_a_new_order_on_a_closed_symbol_is_market_closed(
    sim: SimAdmin, trader: Trader, status: str
) -> None:
    set_status(sim, "ETHUSDT", status)
    order = {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1"}
    for path in ("/api/v3/order", "/api/v3/order/test"):
        answer = signed(sim.http, trader.key, "POST", path, order)
        assert (answer.status_code, answer.json()) == (
            400,
            {"code": -1013, "msg": "Market is closed."},
        )
    with pytest.raises(ccxt.MarketClosed, match="Market is closed"):
        trader.ex.create_order("ETH/USDT", "market", "buy", 0.1)
    assert trader.ex.fetch_orders("ETH/USDT") == []


def test_exchange_info_and_ccxt_show_the_status(sim: SimAdmin, trader: Trader) -> None:
    set_status(sim, "ETHUSDT", "HALT")
    info = sim.http.get("/api/v3/exchangeInfo", params={"symbol": "ETHUSDT"}).json()
    assert info["symbols"][0]["status"] == "HALT"
    halted = sim.http.get("/api/v3/exchangeInfo", params={"symbolStatus": "HALT"}).json()
    assert [s["symbol"] for s in halted["symbols"]] == ["ETHUSDT"]
    markets = trader.ex.load_markets(reload=True)
    assert markets["ETH/USDT"]["active"] is False
    assert markets["BTC/USDT"]["active"] is True


def test_orders_rest_and_cancel_across_a_halt_and_trade_after_it(
    sim: SimAdmin, trader: Trader
) -> None:
    ex = trader.ex
    price = ex.price_to_precision("ETH/USDT", bid(ex, "ETH/USDT") * 0.9)
    resting = ex.create_order("ETH/USDT", "limit", "buy", 0.5, price)
    set_status(sim, "ETHUSDT", "HALT")
    assert ex.fetch_order(resting["id"], "ETH/USDT")["status"] == "open"
    assert ex.cancel_order(resting["id"], "ETH/USDT")["status"] == "canceled"
    assert ex.create_order("BTC/USDT", "market", "buy", 0.001)["status"] == "closed"
    set_status(sim, "ETHUSDT", "TRADING")
    assert ex.create_order("ETH/USDT", "market", "buy", 0.1)["status"] == "closed"


def test_a_market_order_below_the_lot_minimum_breaks_lot_size(trader: Trader) -> None:
    """LOT_SIZE applies to every order; MARKET_LOT_SIZE (minQty 0 here) adds a lower maximum
    for market orders (filters.md), so a market quantity below LOT_SIZE's minQty fails LOT_SIZE."""
    with pytest.raises(ccxt.InvalidOrder, match="Filter failure: LOT_SIZE"):
        trader.ex.private_post_order(
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.000001"}
        )
