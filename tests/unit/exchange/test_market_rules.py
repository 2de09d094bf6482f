"""A ccxt market as MarketRules: Binance from its raw filter strings, every other exchange from
ccxt's unified fields through str(), in either of ccxt's precision modes; never via float."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tresor.adapters.exchange.market_rules import (
    DECIMAL_PLACES,
    SIGNIFICANT_DIGITS,
    TICK_SIZE,
    decimal_of,
    rules_from_market,
    step_of,
)

D = Decimal


def binance_market(status: str = "TRADING", **filters: dict[str, Any]) -> dict[str, Any]:
    default = {
        "PRICE_FILTER": {
            "filterType": "PRICE_FILTER",
            "minPrice": "0.01000000",
            "maxPrice": "1000000.00000000",
            "tickSize": "0.01000000",
        },
        "LOT_SIZE": {
            "filterType": "LOT_SIZE",
            "minQty": "0.00001000",
            "maxQty": "9000.00000000",
            "stepSize": "0.00001000",
        },
        "MARKET_LOT_SIZE": {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": "0.00000000",
            "maxQty": "76.88566541",
            "stepSize": "0.00000000",
        },
        "NOTIONAL": {
            "filterType": "NOTIONAL",
            "minNotional": "5.00000000",
            "applyMinToMarket": True,
            "maxNotional": "9000000.00000000",
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
    }
    default.update(filters)
    return {
        "symbol": "BTC/USDT",
        "base": "BTC",
        "quote": "USDT",
        "active": status == "TRADING",
        # ccxt's floats, deliberately off: the raw strings must win
        "precision": {"amount": 1.0000000000000001e-05, "price": 0.01},
        "limits": {"amount": {"min": 1e-05, "max": 9000.0}, "cost": {"min": 5.0}},
        "maker": 0.001,
        "taker": 0.001,
        "info": {
            "symbol": "BTCUSDT",
            "status": status,
            "filters": [f for f in default.values() if f],
        },
    }


def test_binance_rules_are_the_exact_filter_strings() -> None:
    rules = rules_from_market(binance_market(), "binance")
    assert rules.trading
    assert (rules.symbol, rules.base, rules.quote) == ("BTC/USDT", "BTC", "USDT")
    assert rules.amount_step == D("0.00001")
    assert rules.price_tick == D("0.01")
    assert (rules.min_amount, rules.max_amount) == (D("0.00001"), D("9000"))
    assert rules.market_min_amount is None  # 0: no rule
    assert rules.market_max_amount == D("76.88566541")
    assert (rules.min_price, rules.max_price) == (D("0.01"), D("1000000"))
    assert (rules.min_notional, rules.max_notional) == (D("5"), D("9000000"))
    assert (rules.maker_fee, rules.taker_fee) == (D("0.001"), D("0.001"))
    for value in (rules.amount_step, rules.price_tick, rules.min_notional):
        assert type(value) is Decimal


@pytest.mark.parametrize("status", ["HALT", "BREAK", "END_OF_DAY"])
def test_a_binance_symbol_not_trading_is_closed(status: str) -> None:
    assert not rules_from_market(binance_market(status), "binance").trading


def test_binance_price_filter_rules_set_to_zero_are_disabled() -> None:
    """filters.md: any PRICE_FILTER variable may be 0, which disables that rule."""
    market = binance_market(
        PRICE_FILTER={
            "filterType": "PRICE_FILTER",
            "minPrice": "0",
            "maxPrice": "0.00000000",
            "tickSize": "0.00010000",
        }
    )
    rules = rules_from_market(market, "binance")
    assert (rules.min_price, rules.max_price, rules.price_tick) == (None, None, D("0.0001"))


def test_the_older_min_notional_filter_is_read_when_there_is_no_notional() -> None:
    market = binance_market(
        NOTIONAL={},
        MIN_NOTIONAL={
            "filterType": "MIN_NOTIONAL",
            "minNotional": "10.00000000",
            "applyToMarket": True,
            "avgPriceMins": 5,
        },
    )
    rules = rules_from_market(market, "binanceus")
    assert (rules.min_notional, rules.max_notional) == (D("10"), None)


def unified(precision: dict[str, Any], active: bool | None = True) -> dict[str, Any]:
    return {
        "symbol": "XBT/EUR",
        "base": "XBT",
        "quote": "EUR",
        "active": active,
        "precision": precision,
        "limits": {
            "amount": {"min": 0.0001, "max": None},
            "price": {"min": None, "max": None},
            "cost": {"min": 0.5, "max": 0},
            "market": {"min": None, "max": 25.5},
        },
        "maker": 0.0016,
        "taker": 0.0026,
        "info": {"status": "online"},
    }


def test_other_exchanges_use_ccxt_unified_fields_in_tick_size_mode() -> None:
    rules = rules_from_market(unified({"amount": 1e-08, "price": 0.1}), "kraken")
    assert rules.amount_step == D("1e-08")
    assert rules.price_tick == D("0.1")
    assert (rules.min_amount, rules.max_amount) == (D("0.0001"), None)
    assert (rules.market_min_amount, rules.market_max_amount) == (None, D("25.5"))
    assert (rules.min_notional, rules.max_notional) == (D("0.5"), None)  # 0: no maximum
    assert (rules.maker_fee, rules.taker_fee) == (D("0.0016"), D("0.0026"))
    assert rules.trading


def test_decimal_places_become_steps() -> None:
    rules = rules_from_market(
        unified({"amount": 8, "price": 1}), "somewhere", precision_mode=DECIMAL_PLACES
    )
    assert (rules.amount_step, rules.price_tick) == (D("1e-8"), D("0.1"))


def test_significant_digits_are_no_step() -> None:
    rules = rules_from_market(
        unified({"amount": 5, "price": 5}), "somewhere", precision_mode=SIGNIFICANT_DIGITS
    )
    assert (rules.amount_step, rules.price_tick) == (None, None)


@pytest.mark.parametrize(("active", "trading"), [(True, True), (None, True), (False, False)])
def test_an_inactive_market_is_closed_and_an_unknown_one_is_not(
    active: bool | None, trading: bool
) -> None:
    assert rules_from_market(unified({}, active), "kraken").trading is trading


def test_numbers_go_through_their_shortest_text_never_through_float() -> None:
    assert decimal_of(0.1) == D("0.1")  # Decimal(0.1) would be 0.1000000000000000055...
    assert decimal_of("0.00100000") == D("0.001")
    assert decimal_of(None) is None
    assert decimal_of(True) is None
    assert decimal_of("n/a") is None
    assert decimal_of(float("inf")) is None
    assert step_of(0.05, TICK_SIZE) == D("0.05")
    assert step_of(2.5, DECIMAL_PLACES) is None
    assert step_of(0, TICK_SIZE) is None
