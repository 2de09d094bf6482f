"""Malformed requests get Binance's documented -11xx answers (HTTP 400, never a 500), and ccxt
raises for each the class its binance error table gives."""

from __future__ import annotations

import re

import ccxt
import pytest

from tests.contract.conftest import Trader


def raises(error: type[Exception], code: int, msg: str) -> pytest.RaisesExc[Exception]:
    """ccxt's message is the exchange id and the raw body: both code and text must be there."""
    return pytest.raises(error, match=rf'"code":\s*{code},\s*"msg":\s*"{re.escape(msg)}"')


def test_unknown_symbol_is_bad_symbol_on_public_and_signed_endpoints(trader: Trader) -> None:
    ex = trader.ex
    with raises(ccxt.BadSymbol, -1121, "Invalid symbol."):
        ex.public_get_ticker_price({"symbol": "NOPEUSDT"})
    with raises(ccxt.BadSymbol, -1121, "Invalid symbol."):
        ex.private_get_openorders({"symbol": "NOPEUSDT"})
    with raises(ccxt.BadSymbol, -1121, "Invalid symbol."):
        ex.public_get_ticker_24hr({"symbols": '["BTCUSDT","NOPEUSDT"]'})


def test_malformed_number_is_an_illegal_characters_bad_request(trader: Trader) -> None:
    with pytest.raises(
        ccxt.BadRequest,
        match=r"-1100.*Illegal characters found in parameter "
        r"'limit'",
    ):
        trader.ex.public_get_depth({"symbol": "BTCUSDT", "limit": "ten"})
    with pytest.raises(ccxt.BadRequest, match=r"-1100.*parameter 'quantity'"):
        trader.ex.private_post_order(
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1e-3"}
        )


def test_duplicated_parameter_is_a_bad_request(trader: Trader) -> None:
    ex = trader.ex
    url = f"{trader.sim.url}/api/v3/depth?symbol=BTCUSDT&limit=5&limit=10"
    with raises(ccxt.BadRequest, -1101, "Duplicate values for a parameter detected."):
        ex.fetch(url, "GET")


def test_missing_mandatory_parameter_is_a_bad_request(trader: Trader) -> None:
    ex = trader.ex
    with raises(
        ccxt.BadRequest,
        -1102,
        "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
    ):
        ex.public_get_depth()
    with raises(
        ccxt.BadRequest,
        -1102,
        "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
    ):
        ex.private_get_order({"symbol": "BTCUSDT"})


def test_unknown_parameter_is_a_not_all_parameters_read_bad_request(trader: Trader) -> None:
    with raises(
        ccxt.BadRequest,
        -1104,
        "Not all sent parameters were read; read '3' parameter(s) but was sent '4'.",
    ):
        trader.ex.fetch_balance({"colour": "blue"})
    with pytest.raises(ccxt.BadRequest, match="-1104"):
        trader.ex.fetch_order_book("BTC/USDT", params={"depth": 5})


def test_empty_parameter_is_a_bad_request(trader: Trader) -> None:
    with raises(ccxt.BadRequest, -1105, "Parameter 'symbol' was empty."):
        trader.ex.public_get_depth({"symbol": ""})


def test_too_much_precision_is_a_bad_request(trader: Trader) -> None:
    with raises(ccxt.BadRequest, -1111, "Parameter 'quantity' has too much precision."):
        trader.ex.private_post_order(
            {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.123456789"}
        )


def test_invalid_interval_is_a_bad_request(trader: Trader) -> None:
    with raises(ccxt.BadRequest, -1120, "Invalid interval."):
        trader.ex.public_get_klines({"symbol": "BTCUSDT", "interval": "7m"})


def test_invalid_enumerations_are_bad_requests(trader: Trader) -> None:
    ex = trader.ex
    order = {
        "symbol": "ETHUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.1",
        "price": "1000",
    }
    with raises(ccxt.BadRequest, -1117, "Invalid side."):
        ex.private_post_order({**order, "side": "HOLD"})
    with raises(ccxt.BadRequest, -1116, "Invalid orderType."):
        ex.private_post_order({**order, "type": "ICEBERG"})
    with raises(ccxt.BadRequest, -1115, "Invalid timeInForce."):
        ex.private_post_order({**order, "timeInForce": "GTD"})


def test_order_parameters_each_type_requires_or_refuses(trader: Trader) -> None:
    ex = trader.ex
    limit = {
        "symbol": "ETHUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.1",
        "price": "1000",
    }
    with raises(
        ccxt.BadRequest,
        -1102,
        "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
    ):
        ex.private_post_order(limit)
    market = {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET"}
    with raises(
        ccxt.BadRequest,
        -1102,
        "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
    ):
        ex.private_post_order(market)
    with raises(ccxt.BadRequest, -1106, "Parameter 'timeInForce' sent when not required."):
        ex.private_post_order({**market, "quantity": "0.1", "timeInForce": "GTC"})
    assert ex.fetch_open_orders() == []


def test_combination_of_time_window_and_from_id_is_a_bad_request(trader: Trader) -> None:
    with raises(ccxt.BadRequest, -1128, "Combination of optional parameters invalid."):
        trader.ex.private_get_mytrades({"symbol": "BTCUSDT", "fromId": 1, "startTime": 1})


def test_order_history_window_over_a_day_is_a_bad_request(trader: Trader) -> None:
    with raises(ccxt.BadRequest, -1127, "More than 24 hours between startTime and endTime."):
        trader.ex.fetch_orders(
            "BTC/USDT", 1_700_000_000_000, params={"until": 1_700_000_000_000 + 86_400_001}
        )


def test_malformed_requests_never_get_a_server_error(trader: Trader) -> None:
    http = trader.sim.http
    for path in (
        "/api/v3/depth?symbol=%ZZ",
        "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=-5",
        "/api/v3/ticker/24hr?symbols=notjson",
        "/api/v3/exchangeInfo?symbolStatus=NO",
        "/api/v3/aggTrades?symbol=BTCUSDT&fromId=1&startTime=2",
        "/api/v3/depth?symbol=btcusdt",
        "/api/v3/trades?symbol=BTCUSDT&limit=99999999999999999999999",
    ):
        response = http.get(path)
        assert response.status_code == 400, path
        assert set(response.json()) == {"code", "msg"}, path
