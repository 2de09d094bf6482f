"""Binance's raw trade and order rows read into the flat form pages carry: the flat form of the
domain's records, amounts exact to the decimal (as Binance wrote them), and a row that is not
one refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tresor.adapters.exchange.binance_records import order_tuples, trade_tuples
from tresor.domain.errors import ExchangeUnavailable
from tresor.domain.records import (
    FlatRecords,
    OrderRecord,
    OrderStatus,
    Side,
    TradeRecord,
    flatten,
)

# GET /api/v3/myTrades and /api/v3/allOrders rows, shaped as Binance's documentation shows them
TRADE: dict[str, Any] = {
    "symbol": "BNBBTC",
    "id": 28457,
    "orderId": 100234,
    "orderListId": -1,
    "price": "4.00000100",
    "qty": "12.00000000",
    "quoteQty": "48.000012",
    "commission": "0.00000000",
    "commissionAsset": "BNB",
    "time": 1499865549590,
    "isBuyer": True,
    "isMaker": False,
    "isBestMatch": True,
}
ORDER: dict[str, Any] = {
    "symbol": "LTCBTC",
    "orderId": 1,
    "orderListId": -1,
    "clientOrderId": "myOrder1",
    "price": "0.1",
    "origQty": "1.0",
    "executedQty": "0.0",
    "cummulativeQuoteQty": "0.0",
    "status": "NEW",
    "timeInForce": "GTC",
    "type": "LIMIT",
    "side": "BUY",
    "stopPrice": "0.0",
    "icebergQty": "0.0",
    "time": 1499827319559,
    "updateTime": 1499827319559,
    "isWorking": True,
    "workingTime": 1499827319559,
    "origQuoteOrderQty": "0.000000",
    "selfTradePreventionMode": "NONE",
}


def test_trades_are_flat_records_exact_to_the_decimal() -> None:
    sell = {**TRADE, "id": 28458, "isBuyer": False, "isMaker": True, "commission": "7E-8"}
    first, second = trade_tuples([TRADE, sell], "c1", "BNB/BTC")
    # the flat form of the domain's record: amounts exact, as Binance wrote them
    assert FlatRecords(trades=[first]).records() == [
        TradeRecord(
            "c1",
            "BNB/BTC",
            "28457",
            "100234",
            Side.BUY,
            Decimal("4.00000100"),
            Decimal("12.00000000"),
            Decimal("48.000012"),
            Decimal("0E-8"),
            "BNB",
            False,
            1499865549590,
        )
    ]
    assert first == flatten(FlatRecords(trades=[first]).records()).trades[0]
    assert first[5:9] == ("4.00000100", "12.00000000", "48.000012", "0.00000000")
    # an amount in another form goes through Decimal, and is stored without an exponent
    assert (second[4], second[8], second[10]) == ("sell", "0.00000007", True)


def test_orders_are_flat_records_exact_to_the_decimal() -> None:
    market = {
        **ORDER,
        "orderId": 2,
        "type": "MARKET",
        "price": "0.00000000",
        "status": "FILLED",
        "clientOrderId": "",
        "timeInForce": "",
        "updateTime": 0,
    }
    odd = {**ORDER, "orderId": 3, "price": "0E-8", "origQty": " 2.5", "status": "SOMETHING_NEW"}
    limit, filled, other = order_tuples([ORDER, market, odd], "c1", "LTC/BTC")
    assert FlatRecords(orders=[limit]).records() == [
        OrderRecord(
            "c1",
            "LTC/BTC",
            "1",
            "myOrder1",
            Side.BUY,
            "limit",
            OrderStatus.OPEN,
            "GTC",
            Decimal("0.1"),
            Decimal("1.0"),
            Decimal("0.0"),
            Decimal("0.0"),
            1499827319559,
            1499827319559,
        )
    ]
    assert limit == flatten(FlatRecords(orders=[limit]).records()).orders[0]
    (record,) = FlatRecords(orders=[filled]).records()
    assert record.price is None  # a market order's price of zero
    assert record.client_order_id is None
    assert record.time_in_force is None
    assert record.status is OrderStatus.CLOSED
    assert record.updated_ms == record.created_ms
    # zero in another form is none too; amounts in another form go through Decimal; a status
    # Tresor does not know reads as open (the order is read again until it settles)
    assert (other[8], other[9], other[6]) == (None, "2.5", "open")


@pytest.mark.parametrize("amount", ["four", "NaN", "-Infinity", "1.2.3", "", None, 5])
def test_a_row_tresor_cannot_read_fails_the_page(amount: object) -> None:
    with pytest.raises(ExchangeUnavailable):
        trade_tuples([{**TRADE, "price": amount}], "c1", "BNB/BTC")
    with pytest.raises(ExchangeUnavailable):
        order_tuples([{**ORDER, "executedQty": amount}], "c1", "LTC/BTC")


def test_a_field_missing_fails_the_page() -> None:
    with pytest.raises(ExchangeUnavailable):
        trade_tuples([{k: v for k, v in TRADE.items() if k != "time"}], "c1", "BNB/BTC")
    with pytest.raises(ExchangeUnavailable):
        order_tuples([{k: v for k, v in ORDER.items() if k != "origQty"}], "c1", "LTC/BTC")
