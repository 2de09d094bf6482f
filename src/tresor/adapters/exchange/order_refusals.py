"""Refusals of an order (a trade call: create or cancel) as the domain errors of
``OrderRefused`` and ``Conflict``, each with its stable code and, for ``InvalidOrder``, the rule
it broke. The mapping table is in ``errors``' docstring; ``errors.translate`` calls
``trading_refusal`` for trade calls before its general table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import ccxt.async_support as ccxt

from tresor.domain.errors import (
    Conflict,
    InsufficientFunds,
    InvalidOrder,
    MarketClosed,
    NotFound,
    OrderNotOpen,
    TresorError,
    UnknownSymbol,
)
from tresor.domain.order_rules import (
    MarketRules,
    check_amount,
    check_notional,
    check_price,
    plain,
)


@dataclass(frozen=True, slots=True)
class SentOrder:
    """The order a refused trade call sent, with its market's rules: lets a filter failure
    name the exact rule it broke. ``reference_price`` (the best price when it was sent) lets a
    market order's value be judged."""

    rules: MarketRules
    side: str
    order_type: str
    amount: Decimal
    price: Decimal | None = None
    reference_price: Decimal | None = None


# Binance texts (binance-spot-api-docs errors.md, "Messages for -1010 ERROR_MSG_RECEIVED, -2010
# NEW_ORDER_REJECTED, and -2011 CANCEL_REJECTED" and "Filter failures").
BINANCE_MARKET_CLOSED = "Market is closed."
BINANCE_INSUFFICIENT = "Account has insufficient balance for requested action."
BINANCE_DUPLICATE = "Duplicate order sent."
BINANCE_UNKNOWN_ORDER = "Unknown order sent."
BINANCE_NO_SUCH_ORDER = "-2013"  # "Order does not exist." (a query, not a cancel)
BINANCE_BAD_SYMBOL = "-1121"
BINANCE_BAD_PRECISION = "-1111"  # "Parameter '%s' has too much precision."
_FILTER = re.compile(r"Filter failure: ([A-Z_]+)")
_PARAMETER = re.compile(r"Parameter '(\w+)'")
# The rule a filter failure names when the order sent does not show which of its rules broke.
FILTER_RULES = {
    "PRICE_FILTER": "price_precision",
    "PERCENT_PRICE": "price_band",
    "PERCENT_PRICE_BY_SIDE": "price_band",
    "LOT_SIZE": "amount_precision",
    # MARKET_LOT_SIZE's minQty and stepSize are 0 on Binance's listings: its maxQty is the rule
    "MARKET_LOT_SIZE": "max_amount",
    "NOTIONAL": "min_notional",
    "MIN_NOTIONAL": "min_notional",
    "MAX_NUM_ORDERS": "max_open_orders",
    "MAX_NUM_ALGO_ORDERS": "max_open_orders",
    "MAX_NUM_ICEBERG_ORDERS": "max_open_orders",
    "EXCHANGE_MAX_NUM_ORDERS": "max_open_orders",
    "EXCHANGE_MAX_NUM_ALGO_ORDERS": "max_open_orders",
}
_FILTER_MESSAGES = {
    "price_precision": (
        "The exchange refused the price: below its minimum, above its maximum or not a whole "
        "multiple of its price tick."
    ),
    "amount_precision": (
        "The exchange refused the amount: below its minimum, above its maximum or not a whole "
        "multiple of its amount step."
    ),
    "max_amount": "The exchange refused the amount: it is outside its limits for market orders.",
    "min_notional": (
        "The exchange refused the order's value (amount x price): it is outside the market's "
        "limits, most often below the minimum order value."
    ),
    "price_band": (
        "The price is too far from the market's recent average price; the exchange accepts "
        "limit prices only within a band around it."
    ),
    "max_open_orders": "The account has as many open orders on this market as the exchange allows.",
    "exchange_rule": "The exchange refused the order as given.",
}
_OPEN_ORDERS_REMEDY = "Cancel open orders on this market, then send the order again."
_PRICE_BAND_REMEDY = "Send a price closer to the market's current price."


def trading_refusal(
    exc: BaseException,
    *,
    exchange: str,
    text: str,
    details: dict[str, object],
    order: SentOrder | None = None,
) -> TresorError | None:
    """The domain error for a refused order (create or cancel), or ``None`` when ``exc`` is no
    order refusal (a key, rate or network error: ``translate``'s general table decides).

    ``text`` is the redacted exception text, ``details`` the details every translated error
    carries (exchange, exchange_error, exchange_message, exchange_code).
    """
    binance = exchange.startswith("binance")
    code = details.get("exchange_code")
    if isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.AccountSuspended):
        return None  # the key's errors: translate's general table
    if isinstance(exc, ccxt.MarketClosed) or BINANCE_MARKET_CLOSED in text:
        return MarketClosed(details=details)
    if not isinstance(exc, ccxt.ExchangeError):
        return None  # rate limits, network trouble, timeouts: not a refusal of the order
    if isinstance(exc, ccxt.InsufficientFunds) or BINANCE_INSUFFICIENT in text:
        return InsufficientFunds(details=_spend(order, details))
    if isinstance(exc, ccxt.DuplicateOrderId) or BINANCE_DUPLICATE in text:
        details["reason"] = "duplicate_order"
        return Conflict(
            "An open order with this client order id already exists on the exchange: an "
            "earlier send of this order got through.",
            remedy="Read the open order by its client order id instead of sending it again.",
            details=details,
        )
    if isinstance(exc, ccxt.OrderNotFound) or BINANCE_UNKNOWN_ORDER in text:
        if binance and code == BINANCE_NO_SUCH_ORDER:
            return NotFound("The exchange has no such order.", details=details)
        return OrderNotOpen(
            "The exchange has no open order with this id: it filled, was cancelled or expired.",
            details=details,
        )
    if isinstance(exc, ccxt.BadSymbol) or (binance and code == BINANCE_BAD_SYMBOL):
        return UnknownSymbol(details=details)
    return _invalid_order(exc, text, details, order, binance=binance)


def _spend(order: SentOrder | None, details: dict[str, object]) -> dict[str, object]:
    """The details of an exchange's "insufficient funds" with what the order sent would spend
    (the exchange does not say; the free balance stays unknown)."""
    if order is None:
        return details
    if order.side == "sell":
        return {**details, "asset": order.rules.base, "needed": plain(order.amount)}
    price = order.price if order.order_type == "limit" else order.reference_price
    spent = {} if price is None else {"needed": plain(order.amount * price)}
    return {**details, "asset": order.rules.quote, **spent}


def _invalid_order(
    exc: BaseException,
    text: str,
    details: dict[str, object],
    order: SentOrder | None,
    *,
    binance: bool,
) -> TresorError | None:
    found = _FILTER.search(text)
    if found is not None:
        name = found.group(1)
        details["filter"] = name
        return _broken(order, name, details) or _filter_rule(name, details)
    if binance and details.get("exchange_code") == BINANCE_BAD_PRECISION:
        parameter = _PARAMETER.search(text)
        what = "price" if parameter is not None and parameter.group(1) == "price" else "amount"
        return InvalidOrder(
            f"{what}_precision",
            message=f"The {what} has more decimals than the exchange accepts for this market.",
            details=details,
        )
    if isinstance(exc, ccxt.OrderImmediatelyFillable) and "match and take" in text:
        return InvalidOrder(
            "post_only",
            message="The order would have traded at once, and it may only add liquidity.",
            remedy="Move the price away from the other side of the book, or allow taking.",
            details=details,
        )
    if isinstance(exc, ccxt.InvalidOrder):
        return _broken(order, None, details) or InvalidOrder(
            "exchange_rule", message=_FILTER_MESSAGES["exchange_rule"], details=details
        )
    return None


def _filter_rule(name: str, details: dict[str, object]) -> InvalidOrder:
    rule = FILTER_RULES.get(name, "exchange_rule")
    remedy = {"max_open_orders": _OPEN_ORDERS_REMEDY, "price_band": _PRICE_BAND_REMEDY}.get(rule)
    return InvalidOrder(rule, message=_FILTER_MESSAGES[rule], remedy=remedy, details=details)


def _broken(
    order: SentOrder | None, name: str | None, details: dict[str, object]
) -> InvalidOrder | None:
    """The rule of the market that ``order`` breaks, among those the filter ``name`` checks
    (all of them when the refusal names none), as Tresor's own check words it; ``None`` when
    the order is not known or the rules Tresor holds find nothing wrong (they may be stale)."""
    if order is None:
        return None
    rules, market = order.rules, order.order_type == "market"
    fill_price = order.reference_price if market else order.price
    try:
        if name in (None, "LOT_SIZE", "MARKET_LOT_SIZE"):
            check_amount(rules, order.amount, market=market)
        if name in (None, "PRICE_FILTER") and order.price is not None:
            check_price(rules, order.price)
        if name in (None, "NOTIONAL", "MIN_NOTIONAL") and fill_price is not None:
            check_notional(rules, order.amount * fill_price, market=market)
    except InvalidOrder as broken:
        return InvalidOrder(
            broken.rule, message=broken.message, details={**details, **broken.details}
        )
    return None
