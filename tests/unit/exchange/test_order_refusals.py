"""Each refusal of an order (a trade call) becomes the domain error with its stable code and,
for an invalid order, the rule it broke; outside trade calls the general table is unchanged."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from tests.unit.domain.test_order_rules import BTC
from tresor.adapters.exchange.errors import SentOrder, translate
from tresor.domain.errors import (
    Conflict,
    InsufficientFunds,
    InvalidCredentials,
    InvalidOrder,
    KeyRefusedAmbiguously,
    MarketClosed,
    NotFound,
    OrderNotOpen,
    RateLimited,
    TradePermissionMissing,
    TresorError,
    UnknownSymbol,
    ValidationFailed,
)

D = Decimal


def binance(code: int, msg: str) -> str:
    """The text of a ccxt exception raised for a Binance error answer."""
    return f'binance {{"code":{code},"msg":"{msg}"}}'


def trade(
    exc: BaseException,
    order: SentOrder | None = None,
    headers: dict[str, str] | None = None,
) -> TresorError:
    return translate(exc, exchange="binance", trading=True, order=order, response_headers=headers)


@pytest.mark.parametrize(
    ("exc", "expected", "code"),
    [
        (
            ccxt.MarketClosed(binance(-1013, "Market is closed.")),
            MarketClosed,
            "market_closed",
        ),
        (  # older ccxt raised it as ExchangeNotAvailable (ccxt PR 6570): the text decides
            ccxt.ExchangeNotAvailable(binance(-1013, "Market is closed.")),
            MarketClosed,
            "market_closed",
        ),
        (
            ccxt.InsufficientFunds(
                binance(-2010, "Account has insufficient balance for requested action.")
            ),
            InsufficientFunds,
            "insufficient_funds",
        ),
        (
            ccxt.InvalidOrder(binance(-2010, "Duplicate order sent.")),
            Conflict,
            "conflict",
        ),
        (ccxt.DuplicateOrderId("okx clOrdId in use"), Conflict, "conflict"),
        (
            ccxt.OrderNotFound(binance(-2011, "Unknown order sent.")),
            OrderNotOpen,
            "order_not_open",
        ),
        (
            ccxt.OrderNotFound(binance(-2013, "Order does not exist.")),
            NotFound,
            "not_found",
        ),
        (ccxt.BadSymbol(binance(-1121, "Invalid symbol.")), UnknownSymbol, "unknown_symbol"),
        (ccxt.BadSymbol("binance does not have market symbol NOPE/USDT"), UnknownSymbol, None),
        (
            ccxt.DDoSProtection(
                "binance 429 Too Many Requests "
                + binance(-1015, "Too many new orders; current limit is 100 orders per 10 SECOND.")
            ),
            RateLimited,
            "rate_limited",
        ),
        (
            ccxt.AuthenticationError(binance(-1022, "Signature for this request is not valid.")),
            InvalidCredentials,
            "invalid_credentials",
        ),
        (
            ccxt.AuthenticationError(binance(-2014, "API-key format invalid.")),
            InvalidCredentials,
            "invalid_credentials",
        ),
        (
            ccxt.AuthenticationError(
                binance(-2015, "Invalid API-key, IP, or permissions for action.")
            ),
            KeyRefusedAmbiguously,
            "key_refused",
        ),
        (
            ccxt.PermissionDenied(binance(-2010, "This account may not place or cancel orders.")),
            TradePermissionMissing,
            "trade_permission_missing",
        ),
        (  # a malformed request is Tresor's mistake, not a market rule
            ccxt.BadRequest(binance(-1102, "Mandatory parameter 'price' was not sent.")),
            ValidationFailed,
            "validation_failed",
        ),
    ],
)
def test_each_refusal_of_an_order_has_its_code(
    exc: BaseException, expected: type[TresorError], code: str | None
) -> None:
    error = trade(exc)
    assert type(error) is expected
    if code is not None:
        assert error.code == code
    assert error.details["exchange"] == "binance"


def test_too_many_new_orders_carries_retry_after() -> None:
    exc = ccxt.DDoSProtection(binance(-1015, "Too many new orders."))
    error = trade(exc, headers={"Retry-After": "7"})
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7


def test_insufficient_funds_names_what_the_order_sent_would_spend() -> None:
    exc = ccxt.InsufficientFunds(
        binance(-2010, "Account has insufficient balance for requested action.")
    )
    buy = trade(exc, limit("0.002", "50000")).details
    assert (buy["asset"], buy["needed"]) == ("USDT", "100")
    sell = trade(exc, SentOrder(BTC, side="sell", order_type="market", amount=D("0.5"))).details
    assert (sell["asset"], sell["needed"]) == ("BTC", "0.5")
    market_buy = trade(exc, SentOrder(BTC, side="buy", order_type="market", amount=D("1"))).details
    assert market_buy["asset"] == "USDT"
    assert "needed" not in market_buy  # no reference price: unknown
    assert "asset" not in trade(exc).details


def test_a_duplicate_says_the_earlier_send_got_through() -> None:
    error = trade(ccxt.InvalidOrder(binance(-2010, "Duplicate order sent.")))
    assert error.details["reason"] == "duplicate_order"
    assert "client order id" in error.remedy


@pytest.mark.parametrize(
    ("exc", "rule"),
    [
        (ccxt.InvalidOrder(binance(-1013, "Filter failure: PRICE_FILTER")), "price_precision"),
        (ccxt.InvalidOrder(binance(-1013, "Filter failure: LOT_SIZE")), "amount_precision"),
        (ccxt.InvalidOrder(binance(-1013, "Filter failure: MARKET_LOT_SIZE")), "max_amount"),
        (ccxt.BadRequest(binance(-1013, "Filter failure: NOTIONAL")), "min_notional"),
        (ccxt.BadRequest(binance(-1013, "Filter failure: MIN_NOTIONAL")), "min_notional"),
        (ccxt.InvalidOrder(binance(-1013, "Filter failure: PERCENT_PRICE")), "price_band"),
        (
            ccxt.InvalidOrder(binance(-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")),
            "price_band",
        ),
        (ccxt.BadRequest(binance(-1013, "Filter failure: MAX_NUM_ORDERS")), "max_open_orders"),
        (ccxt.BadRequest(binance(-2010, "Filter failure: MAX_POSITION")), "exchange_rule"),
        (
            ccxt.BadRequest(binance(-1111, "Parameter 'quantity' has too much precision.")),
            "amount_precision",
        ),
        (
            ccxt.BadRequest(binance(-1111, "Parameter 'price' has too much precision.")),
            "price_precision",
        ),
        (
            ccxt.OrderImmediatelyFillable(
                binance(-2010, "Order would immediately match and take.")
            ),
            "post_only",
        ),
        (ccxt.InvalidOrder(binance(-1014, "Unsupported order combination.")), "exchange_rule"),
    ],
)
def test_a_filter_failure_names_the_rule_it_stands_for(exc: BaseException, rule: str) -> None:
    error = trade(exc)
    assert isinstance(error, InvalidOrder)
    assert (error.code, error.rule, error.details["rule"]) == ("invalid_order", rule, rule)


def test_the_filter_is_kept_in_the_details() -> None:
    error = trade(ccxt.BadRequest(binance(-1013, "Filter failure: NOTIONAL")))
    assert error.details["filter"] == "NOTIONAL"
    assert error.details["exchange_code"] == "-1013"


def limit(amount: str, price: str = "50000") -> SentOrder:
    return SentOrder(BTC, side="buy", order_type="limit", amount=D(amount), price=D(price))


@pytest.mark.parametrize(
    ("filter_name", "order", "rule", "limit_name", "limit_value"),
    [
        ("LOT_SIZE", limit("9001", "1"), "max_amount", "max_amount", "9000"),
        ("LOT_SIZE", limit("0.000001"), "min_amount", "min_amount", "0.00001"),
        ("LOT_SIZE", limit("0.000015"), "amount_precision", "amount_step", "0.00001"),
        ("PRICE_FILTER", limit("0.001", "1000001"), "max_price", "max_price", "1000000"),
        ("PRICE_FILTER", limit("0.001", "50000.001"), "price_precision", "price_tick", "0.01"),
        ("NOTIONAL", limit("1", "9000001"), "max_notional", "max_notional", "9000000"),
        ("NOTIONAL", limit("0.0001", "49999"), "min_notional", "min_notional", "5"),
        (
            "MARKET_LOT_SIZE",
            SentOrder(BTC, side="sell", order_type="market", amount=D("150")),
            "max_amount",
            "max_amount",
            "100",
        ),
    ],
)
def test_the_order_sent_shows_which_rule_of_the_filter_broke(
    filter_name: str, order: SentOrder, rule: str, limit_name: str, limit_value: str
) -> None:
    error = trade(ccxt.InvalidOrder(binance(-1013, f"Filter failure: {filter_name}")), order)
    assert isinstance(error, InvalidOrder)
    assert error.rule == rule
    assert error.details[limit_name] == limit_value
    assert error.details["filter"] == filter_name
    assert limit_value in error.message


def test_rules_that_find_nothing_wrong_fall_back_to_the_filters_rule() -> None:
    """Tresor's copy of the rules may be stale: the exchange's word stands."""
    error = trade(ccxt.InvalidOrder(binance(-1013, "Filter failure: LOT_SIZE")), limit("0.001"))
    assert isinstance(error, InvalidOrder)
    assert error.rule == "amount_precision"


def test_ccxts_own_refusal_is_named_from_the_order_sent() -> None:
    exc = ccxt.InvalidOrder(
        "binance amount of BTC/USDT must be greater than minimum amount precision of 0.00001"
    )
    error = trade(exc, limit("0.000001"))
    assert isinstance(error, InvalidOrder)
    assert (error.rule, error.details["min_amount"]) == ("min_amount", "0.00001")
    assert trade(exc).details["rule"] == "exchange_rule"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            ccxt.InsufficientFunds(binance(-2010, "Account has insufficient balance")),
            ValidationFailed,
        ),
        (ccxt.OrderNotFound(binance(-2011, "Unknown order sent.")), NotFound),
        (ccxt.BadSymbol(binance(-1121, "Invalid symbol.")), ValidationFailed),
        (ccxt.MarketClosed(binance(-1013, "Market is closed.")), ValidationFailed),
    ],
)
def test_outside_trade_calls_the_general_table_is_unchanged(
    exc: BaseException, expected: type[TresorError]
) -> None:
    assert type(translate(exc, exchange="binance")) is expected
