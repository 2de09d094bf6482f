"""Signed trading calls through the unmodified ccxt binance class: balances, every order type
and time in force, client order ids, queries, cancels and the account's own trades."""

from __future__ import annotations

import math
from decimal import Decimal

import ccxt
import pytest

from tests.contract.conftest import RICH, ClockedVenue, Trader, make_trader
from tests.support.simclient import READ_ONLY, binance


def below_market(ex: ccxt.binance, symbol: str, share: float = 0.9) -> float:
    """A limit buy price that rests: ``share`` of the best bid, on the tick grid."""
    bid = ex.fetch_order_book(symbol, 5)["bids"][0][0]
    return float(ex.price_to_precision(symbol, bid * share))


def deep_amount(ex: ccxt.binance, symbol: str, levels: int = 10) -> float:
    """An amount several times what the top of the book offers, so it must walk the book."""
    asks = ex.fetch_order_book(symbol, 5)["asks"]
    return float(ex.amount_to_precision(symbol, levels * max(q for _, q in asks[:3])))


def above_the_ask_but_beyond_the_book(ex: ccxt.binance, symbol: str) -> tuple[float, float]:
    """A buy limit 0.1 % above the best ask (the market moves at most ~0.02 % a second) for
    far more than the book holds up to that price (about ten levels)."""
    ask = ex.fetch_order_book(symbol, 5)["asks"][0][0]
    limit = float(ex.price_to_precision(symbol, ask * 1.001))
    return limit, float(ex.amount_to_precision(symbol, 3_000_000 / ask))


def test_balance_shows_funded_assets_as_free(trader: Trader) -> None:
    balance = trader.ex.fetch_balance()
    for asset, amount in RICH.items():
        assert balance[asset] == {"free": float(amount), "used": 0.0, "total": float(amount)}
    assert balance["timestamp"] is not None


def test_resting_limit_buy_locks_quote_until_canceled(trader: Trader) -> None:
    ex = trader.ex
    price = below_market(ex, "BTC/USDT")
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.01, price)
    assert order["status"] == "open"
    assert (order["filled"], order["remaining"]) == (0.0, 0.01)
    assert order["info"]["fills"] == []
    locked = ex.fetch_balance()["USDT"]
    assert locked["used"] == pytest.approx(price * 0.01)
    assert locked["total"] == float(RICH["USDT"])
    canceled = ex.cancel_order(order["id"], "BTC/USDT")
    assert canceled["status"] == "canceled"
    assert canceled["id"] == order["id"]
    assert ex.fetch_balance()["USDT"] == {"free": 1e8, "used": 0.0, "total": 1e8}


def test_resting_limit_sell_locks_the_base_asset(trader: Trader) -> None:
    ex = trader.ex
    ask = ex.fetch_order_book("ETH/USDT", 5)["asks"][0][0]
    order = ex.create_order(
        "ETH/USDT", "limit", "sell", 1.5, ex.price_to_precision("ETH/USDT", ask * 1.2)
    )
    assert order["status"] == "open"
    eth = ex.fetch_balance()["ETH"]
    assert (eth["free"], eth["used"]) == (498.5, 1.5)


def test_market_buy_larger_than_the_top_levels_fills_across_several_prices(
    trader: Trader,
) -> None:
    ex = trader.ex
    amount = deep_amount(ex, "BTC/USDT")
    order = ex.create_order("BTC/USDT", "market", "buy", amount)
    assert order["status"] == "closed"
    assert order["filled"] == pytest.approx(amount)
    fills = order["info"]["fills"]
    prices = [Decimal(f["price"]) for f in fills]
    assert len(set(prices)) >= 2
    assert prices == sorted(prices)  # a buy walks the asks upwards
    for fill in fills:
        assert fill["commissionAsset"] == "BTC"  # the fee is taken in the asset received
        assert Decimal(fill["commission"]) == (Decimal(fill["qty"]) * Decimal("0.001")).quantize(
            Decimal("0.00000001")
        )
    assert order["fee"]["currency"] == "BTC"
    assert order["fee"]["cost"] == pytest.approx(amount * 0.001)
    assert min(prices) <= Decimal(str(order["average"])) <= max(prices)
    assert order["cost"] == pytest.approx(sum(float(f["price"]) * float(f["qty"]) for f in fills))
    btc = ex.fetch_balance()["BTC"]["free"]
    assert btc == pytest.approx(50 + amount - order["fee"]["cost"])


def test_market_sell_by_amount_pays_the_fee_in_the_quote_asset(trader: Trader) -> None:
    order = trader.ex.create_order("ETH/USDT", "market", "sell", 2)
    assert order["status"] == "closed"
    assert order["filled"] == 2
    assert {f["commissionAsset"] for f in order["info"]["fills"]} == {"USDT"}
    assert order["fee"]["cost"] == pytest.approx(order["cost"] * 0.001)


def test_market_buy_with_cost_spends_at_most_the_quote_amount(trader: Trader) -> None:
    ex = trader.ex
    order = ex.create_market_buy_order_with_cost("ETH/USDT", 1000)
    assert "quoteOrderQty=1000" in ex.last_request_body
    assert order["status"] == "closed"
    assert Decimal(order["info"]["origQuoteOrderQty"]) == 1000
    assert 990 < order["cost"] <= 1000
    assert order["filled"] == pytest.approx(order["cost"] / order["average"])
    assert ex.fetch_balance()["USDT"]["free"] == pytest.approx(1e8 - order["cost"])


def test_market_order_with_a_price_is_sent_as_a_quote_amount(trader: Trader) -> None:
    """ccxt's createOrder option quoteOrderQty: market + price means "spend amount * price"."""
    ex = trader.ex
    bought = ex.create_order("ETH/USDT", "market", "buy", 1, 2000)
    assert "quoteOrderQty=2000" in ex.last_request_body
    assert "quantity=" not in ex.last_request_body
    assert 1990 < bought["cost"] <= 2000
    sold = ex.create_market_sell_order_with_cost("ETH/USDT", 1500)
    assert "quoteOrderQty=1500" in ex.last_request_body
    assert sold["status"] == "closed"
    assert 1490 < sold["cost"] <= 1500
    assert {f["commissionAsset"] for f in sold["info"]["fills"]} == {"USDT"}


def test_ioc_limit_fills_what_the_book_offers_at_its_price_and_expires_the_rest(
    trader: Trader,
) -> None:
    ex = trader.ex
    limit, amount = above_the_ask_but_beyond_the_book(ex, "SOL/USDT")
    order = ex.create_order("SOL/USDT", "limit", "buy", amount, limit, {"timeInForce": "IOC"})
    assert order["info"]["status"] == "EXPIRED"
    assert order["status"] == "expired"
    assert 0 < order["filled"] < amount
    prices = [Decimal(f["price"]) for f in order["info"]["fills"]]
    assert len(set(prices)) >= 2
    assert max(prices) <= Decimal(str(limit))
    assert ex.fetch_open_orders("SOL/USDT") == []
    assert ex.fetch_balance()["USDT"]["used"] == 0


def test_ioc_limit_below_the_market_expires_without_a_fill(trader: Trader) -> None:
    ex = trader.ex
    order = ex.create_order(
        "ETH/USDT", "limit", "buy", 1, below_market(ex, "ETH/USDT"), {"timeInForce": "IOC"}
    )
    assert order["status"] == "expired"
    assert order["filled"] == 0
    assert order["trades"] == []


def test_fok_limit_that_cannot_fill_entirely_expires_untouched(trader: Trader) -> None:
    ex = trader.ex
    limit, amount = above_the_ask_but_beyond_the_book(ex, "SOL/USDT")
    order = ex.create_order("SOL/USDT", "limit", "buy", amount, limit, {"timeInForce": "FOK"})
    assert order["status"] == "expired"
    assert order["filled"] == 0
    assert ex.fetch_balance()["USDT"] == {"free": 1e8, "used": 0.0, "total": 1e8}
    assert ex.fetch_my_trades("SOL/USDT") == []


def test_fok_limit_that_can_fill_entirely_fills(trader: Trader) -> None:
    ex = trader.ex
    ask = ex.fetch_order_book("BTC/USDT", 5)["asks"][0][0]
    limit = ex.price_to_precision("BTC/USDT", ask * 1.01)
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.001, limit, {"timeInForce": "FOK"})
    assert order["status"] == "closed"
    assert order["filled"] == 0.001


def test_marketable_gtc_limit_takes_at_or_below_its_price(trader: Trader) -> None:
    ex = trader.ex
    ask = ex.fetch_order_book("SOL/USDT", 5)["asks"][0][0]
    limit = float(ex.price_to_precision("SOL/USDT", ask * 1.002))
    order = ex.create_order("SOL/USDT", "limit", "buy", 3, limit)
    assert order["status"] == "closed"
    assert order["filled"] == 3
    assert order["average"] <= limit
    assert ex.fetch_open_orders("SOL/USDT") == []


def test_client_order_id_is_echoed_and_finds_the_order(trader: Trader) -> None:
    ex = trader.ex
    price = below_market(ex, "ETH/USDT")
    order = ex.create_order(
        "ETH/USDT", "limit", "buy", 0.5, price, {"clientOrderId": "tresor-conf-1"}
    )
    assert "newClientOrderId=tresor-conf-1" in ex.last_request_body
    assert order["clientOrderId"] == "tresor-conf-1"
    by_id = ex.fetch_order(order["id"], "ETH/USDT")
    by_client_id = ex.fetch_order(None, "ETH/USDT", {"clientOrderId": "tresor-conf-1"})
    assert by_id["id"] == by_client_id["id"] == order["id"]
    assert by_client_id["clientOrderId"] == "tresor-conf-1"
    assert (by_id["price"], by_id["amount"], by_id["side"]) == (price, 0.5, "buy")


def test_ccxt_generates_a_client_order_id_the_venue_keeps(trader: Trader) -> None:
    ex = trader.ex
    order = ex.create_order("ETH/USDT", "limit", "buy", 0.5, below_market(ex, "ETH/USDT"))
    assert order["clientOrderId"].startswith("x-TKT5PX2F")
    fetched = ex.fetch_order(None, "ETH/USDT", {"clientOrderId": order["clientOrderId"]})
    assert fetched["id"] == order["id"]


def test_client_order_id_is_refused_while_open_and_reusable_once_closed(trader: Trader) -> None:
    ex = trader.ex
    price = below_market(ex, "BTC/USDT")
    params = {"clientOrderId": "tresor-once"}
    first = ex.create_order("BTC/USDT", "limit", "buy", 0.01, price, params)
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, price, params)
    assert len(ex.fetch_open_orders("BTC/USDT")) == 1
    ex.cancel_order(first["id"], "BTC/USDT")
    second = ex.create_order("BTC/USDT", "limit", "buy", 0.01, price, params)
    assert second["id"] != first["id"]
    assert second["clientOrderId"] == "tresor-once"
    latest = ex.fetch_order(None, "BTC/USDT", params)
    assert (latest["id"], latest["status"]) == (second["id"], "open")


def test_cancel_by_client_order_id_reports_the_original_id(trader: Trader) -> None:
    ex = trader.ex
    order = ex.create_order(
        "ETH/USDT",
        "limit",
        "buy",
        0.5,
        below_market(ex, "ETH/USDT"),
        {"clientOrderId": "tresor-cancel-me"},
    )
    canceled = ex.cancel_order(None, "ETH/USDT", {"clientOrderId": "tresor-cancel-me"})
    assert canceled["status"] == "canceled"
    assert canceled["id"] == order["id"]
    assert canceled["info"]["origClientOrderId"] == "tresor-cancel-me"


def test_cancel_all_orders_cancels_every_open_order_of_that_symbol_only(trader: Trader) -> None:
    ex = trader.ex
    price = below_market(ex, "BTC/USDT")
    mine = {ex.create_order("BTC/USDT", "limit", "buy", 0.01, price - i)["id"] for i in range(3)}
    other = ex.create_order("ETH/USDT", "limit", "buy", 0.5, below_market(ex, "ETH/USDT"))
    canceled = ex.cancel_all_orders("BTC/USDT")
    assert {o["id"] for o in canceled} == mine
    assert {o["status"] for o in canceled} == {"canceled"}
    assert ex.fetch_open_orders("BTC/USDT") == []
    assert [o["id"] for o in ex.fetch_open_orders()] == [other["id"]]
    assert ex.fetch_balance()["USDT"]["used"] == pytest.approx(other["price"] * 0.5)


def test_open_orders_with_and_without_a_symbol(trader: Trader) -> None:
    ex = trader.ex
    btc = ex.create_order("BTC/USDT", "limit", "buy", 0.01, below_market(ex, "BTC/USDT"))
    eth = ex.create_order("ETH/USDT", "limit", "buy", 0.5, below_market(ex, "ETH/USDT"))
    ex.create_order("ETH/USDT", "market", "buy", 0.5)
    assert [o["id"] for o in ex.fetch_open_orders("ETH/USDT")] == [eth["id"]]
    everywhere = ex.fetch_open_orders()
    assert sorted(o["id"] for o in everywhere) == sorted([btc["id"], eth["id"]])
    assert {o["symbol"] for o in everywhere} == {"BTC/USDT", "ETH/USDT"}
    assert "symbol=" not in ex.last_request_url


def test_all_orders_lists_open_filled_and_canceled_orders_oldest_first(trader: Trader) -> None:
    ex = trader.ex
    price = below_market(ex, "ETH/USDT")
    resting = ex.create_order("ETH/USDT", "limit", "buy", 0.5, price)
    filled = ex.create_order("ETH/USDT", "market", "buy", 0.5)
    canceled = ex.create_order("ETH/USDT", "limit", "buy", 0.5, price)
    ex.cancel_order(canceled["id"], "ETH/USDT")
    orders = ex.fetch_orders("ETH/USDT")
    assert [o["id"] for o in orders] == [resting["id"], filled["id"], canceled["id"]]
    assert [o["status"] for o in orders] == ["open", "closed", "canceled"]
    assert [o["id"] for o in ex.fetch_closed_orders("ETH/USDT")] == [filled["id"]]
    assert [o["id"] for o in ex.fetch_canceled_orders("ETH/USDT")] == [canceled["id"]]


def test_my_trades_are_the_fills_of_my_orders(trader: Trader) -> None:
    ex = trader.ex
    amount = deep_amount(ex, "BTC/USDT", levels=5)
    order = ex.create_order("BTC/USDT", "market", "buy", amount)
    ex.create_order("ETH/USDT", "market", "sell", 1)
    trades = ex.fetch_my_trades("BTC/USDT")
    fills = order["info"]["fills"]
    assert [int(t["id"]) for t in trades] == [f["tradeId"] for f in fills]
    for trade, fill in zip(trades, fills, strict=True):
        assert trade["order"] == order["id"]
        assert (trade["side"], trade["takerOrMaker"]) == ("buy", "taker")
        assert trade["price"] == float(fill["price"])
        assert trade["amount"] == float(fill["qty"])
        assert trade["fee"] == {"currency": "BTC", "cost": float(fill["commission"])}
    by_order = ex.fetch_my_trades("BTC/USDT", params={"orderId": order["id"]})
    assert [t["id"] for t in by_order] == [t["id"] for t in trades]


def test_resting_limit_order_fills_as_maker_when_the_price_crosses_it(
    clocked: ClockedVenue,
) -> None:
    t = make_trader(clocked.sim, options={"adjustForTimeDifference": True})
    ex, symbol = t.ex, "BTC/USDT"
    price = below_market(ex, symbol, share=0.995)
    order = ex.create_order(symbol, "limit", "buy", 0.01, price)
    assert order["status"] == "open"
    # The market is a pure function of time: find when it will next trade well below our price.
    market = clocked.sim.app.sim.venue.market
    start = clocked.clock() + 60_000
    crossing = next(
        at
        for at in range(start, start + 60 * 86_400_000, 60_000)
        if market.mid("BTCUSDT", at) < price * 0.999
        and max(market.mid("BTCUSDT", at + k * 1000) for k in range(-5, 30)) < price * 0.999
    )
    clocked.clock.advance(crossing - clocked.clock())
    ex.load_time_difference()
    filled = ex.fetch_order(order["id"], symbol)
    assert filled["filled"] > 0
    trades = ex.fetch_my_trades(symbol)
    assert {(tr["price"], tr["takerOrMaker"], tr["order"]) for tr in trades} == {
        (price, "maker", order["id"])
    }
    assert math.isclose(sum(tr["amount"] for tr in trades), filled["filled"])
    assert all(tr["timestamp"] > order["timestamp"] for tr in trades)
    btc = ex.fetch_balance()["BTC"]["total"]
    assert btc == pytest.approx(50 + filled["filled"] * 0.999)


def test_api_restrictions_report_the_key_permissions(trader: Trader) -> None:
    trading = trader.ex.sapi_get_account_apirestrictions()
    assert trading["enableReading"] is True
    assert trading["enableSpotAndMarginTrading"] is True
    assert trading["enableWithdrawals"] is False
    assert trading["ipRestrict"] is False
    assert "tradingAuthorityExpirationTime" not in trading
    reader_key = trader.sim.key(trader.account, READ_ONLY, ip_whitelist=["127.0.0.1"])
    restricted = binance(trader.sim.url, reader_key).sapi_get_account_apirestrictions()
    assert restricted["enableSpotAndMarginTrading"] is False
    assert restricted["ipRestrict"] is True


def test_account_status_is_normal(trader: Trader) -> None:
    assert trader.ex.sapi_get_account_status() == {"data": "Normal"}


def test_test_order_is_validated_but_never_placed(trader: Trader) -> None:
    ex = trader.ex
    checked = ex.create_order("ETH/USDT", "market", "buy", 1, None, {"test": True})
    assert "/api/v3/order/test" in ex.last_request_url
    assert checked["info"] == {}
    assert checked["id"] is None
    rates = ex.private_post_order_test(
        {
            "symbol": "ETHUSDT",
            "side": "SELL",
            "type": "MARKET",
            "quantity": "1",
            "computeCommissionRates": True,
        }
    )
    assert rates["standardCommissionForOrder"] == {"maker": "0.00100000", "taker": "0.00100000"}
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order("ETH/USDT", "market", "sell", 499, 10**6, {"test": True})
    assert ex.fetch_orders("ETH/USDT") == []
    assert ex.fetch_balance()["ETH"]["total"] == 500
