"""Orders the venue refuses, each mapped by ccxt to the exception class it raises against the
real exchange (ccxt's binance.handle_errors: filter names in the body first, then the exact
message table, then the code table)."""

from __future__ import annotations

from collections.abc import Callable

import ccxt
import pytest

from tests.contract.conftest import Trader, make_trader
from tests.support.simclient import SimAdmin
from tresor.sim.server import SimConfig


def bid(ex: ccxt.binance, symbol: str) -> float:
    return float(ex.fetch_order_book(symbol, 5)["bids"][0][0])


def filters(ex: ccxt.binance, symbol: str) -> dict[str, dict[str, str]]:
    return {f["filterType"]: f for f in ex.market(symbol)["info"]["filters"]}


def test_buying_more_than_the_balance_is_insufficient_funds(sim: SimAdmin) -> None:
    t = make_trader(sim, {"USDT": "1000", "ETH": "1"})
    with pytest.raises(ccxt.InsufficientFunds, match="insufficient balance"):
        t.ex.create_order("ETH/USDT", "market", "buy", 5)
    with pytest.raises(ccxt.InsufficientFunds):
        t.ex.create_order("ETH/USDT", "limit", "buy", 1, bid(t.ex, "ETH/USDT"))
    with pytest.raises(ccxt.InsufficientFunds):
        t.ex.create_order("ETH/USDT", "limit", "sell", 2, bid(t.ex, "ETH/USDT") * 2)
    assert t.ex.fetch_balance()["total"] == {"USDT": 1000, "ETH": 1}
    assert t.ex.fetch_orders("ETH/USDT") == []


def test_quantity_off_the_step_or_above_the_maximum_breaks_lot_size(trader: Trader) -> None:
    ex = trader.ex
    with pytest.raises(ccxt.InvalidOrder, match="Filter failure: LOT_SIZE") as off_step:
        ex.private_post_order(
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.000015",
                "price": "50000",
            }
        )
    assert off_step.type is ccxt.InvalidOrder
    too_much = float(filters(ex, "BTC/USDT")["LOT_SIZE"]["maxQty"]) * 2
    price = ex.price_to_precision("BTC/USDT", bid(ex, "BTC/USDT") * 0.9)
    with pytest.raises(ccxt.InvalidOrder, match="Filter failure: LOT_SIZE"):
        ex.create_order("BTC/USDT", "limit", "buy", too_much, price)


def test_market_quantity_above_the_market_maximum_breaks_market_lot_size(
    trader: Trader,
) -> None:
    ex = trader.ex
    too_much = float(filters(ex, "BTC/USDT")["MARKET_LOT_SIZE"]["maxQty"]) * 2
    with pytest.raises(ccxt.InvalidOrder, match="Filter failure: MARKET_LOT_SIZE"):
        ex.create_order("BTC/USDT", "market", "sell", too_much)


def test_price_off_the_tick_breaks_the_price_filter(trader: Trader) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="Filter failure: PRICE_FILTER") as info:
        trader.ex.private_post_order(
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.01",
                "price": "50000.05",
            }
        )
    assert info.type is ccxt.InvalidOrder


def test_order_worth_too_little_breaks_notional_as_a_bad_request(trader: Trader) -> None:
    ex = trader.ex
    price = ex.price_to_precision("BTC/USDT", bid(ex, "BTC/USDT") * 0.9)
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL") as info:
        ex.create_order("BTC/USDT", "limit", "buy", 0.00002, price)
    assert info.type is ccxt.BadRequest  # not InvalidOrder: ccxt maps -1013 by its code
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        ex.create_market_buy_order_with_cost("BTC/USDT", 1)


def test_price_far_from_the_market_breaks_percent_price_by_side(trader: Trader) -> None:
    ex = trader.ex
    price = ex.price_to_precision("ETH/USDT", bid(ex, "ETH/USDT") * 10)
    with pytest.raises(ccxt.InvalidOrder, match="PERCENT_PRICE_BY_SIDE"):
        ex.create_order("ETH/USDT", "limit", "sell", 1, price)


def test_unknown_order_is_order_not_found_for_query_and_cancel(trader: Trader) -> None:
    ex = trader.ex
    with pytest.raises(ccxt.OrderNotFound, match=r"-2013.*Order does not exist\."):
        ex.fetch_order("123", "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "never-sent"})
    with pytest.raises(ccxt.OrderNotFound, match=r"-2011.*Unknown order sent\."):
        ex.cancel_order("123", "BTC/USDT")


def test_canceling_a_closed_order_is_order_not_found(trader: Trader) -> None:
    ex = trader.ex
    filled = ex.create_order("ETH/USDT", "market", "buy", 0.5)
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        ex.cancel_order(filled["id"], "ETH/USDT")
    resting = ex.create_order(
        "ETH/USDT",
        "limit",
        "buy",
        0.5,
        ex.price_to_precision("ETH/USDT", bid(ex, "ETH/USDT") * 0.9),
    )
    ex.cancel_order(resting["id"], "ETH/USDT")
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        ex.cancel_order(resting["id"], "ETH/USDT")
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        ex.cancel_all_orders("ETH/USDT")  # Binance answers -2011 when nothing is open
    assert ex.fetch_order(resting["id"], "ETH/USDT")["status"] == "canceled"


def test_post_only_order_that_would_take_is_immediately_fillable(trader: Trader) -> None:
    ex = trader.ex
    ask = ex.fetch_order_book("ETH/USDT", 5)["asks"][0][0]
    crossing = ex.price_to_precision("ETH/USDT", ask * 1.01)
    with pytest.raises(ccxt.OrderImmediatelyFillable, match="Order would immediately match"):
        ex.create_order("ETH/USDT", "limit", "buy", 1, crossing, {"postOnly": True})
    resting = ex.price_to_precision("ETH/USDT", ask * 0.98)
    order = ex.create_order("ETH/USDT", "limit", "buy", 1, resting, {"postOnly": True})
    assert "type=LIMIT_MAKER" in ex.last_request_body
    assert (order["status"], order["postOnly"], order["info"]["type"]) == (
        "open",
        True,
        "LIMIT_MAKER",
    )


def test_order_types_the_symbol_does_not_list_are_refused(trader: Trader) -> None:
    ex = trader.ex
    with pytest.raises(ccxt.InvalidOrder, match=r"-2010.*Stop loss orders are not supported"):
        ex.private_post_order(
            {
                "symbol": "ETHUSDT",
                "side": "SELL",
                "type": "STOP_LOSS",
                "quantity": "1",
                "stopPrice": "1000",
            }
        )
    before = ex.last_request_url
    with pytest.raises(ccxt.InvalidOrder):  # ccxt checks the market's orderTypes itself
        ex.create_order("ETH/USDT", "market", "sell", 1, None, {"stopLossPrice": 1000})
    assert ex.last_request_url == before  # nothing was sent


def test_more_open_orders_than_the_symbol_allows_is_a_bad_request(
    sim_factory: Callable[[SimConfig], SimAdmin],
) -> None:
    t = make_trader(sim_factory(SimConfig(seed=7, orders_per_10s=1000)))
    ex = t.ex
    max_orders = int(filters(ex, "ETH/USDT")["MAX_NUM_ORDERS"]["maxNumOrders"])
    price = float(ex.price_to_precision("ETH/USDT", bid(ex, "ETH/USDT") * 0.8))
    for _ in range(max_orders):
        ex.create_order("ETH/USDT", "limit", "buy", 0.01, price)
    with pytest.raises(ccxt.BadRequest, match="Filter failure: MAX_NUM_ORDERS"):
        ex.create_order("ETH/USDT", "limit", "buy", 0.01, price)
    assert ex.create_order("BTC/USDT", "limit", "buy", 0.001, 20000)["status"] == "open"
