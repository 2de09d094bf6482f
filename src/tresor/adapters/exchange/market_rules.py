"""A ccxt market as ``MarketRules``: the exact rules the pre-trade checks work from.

Binance (and Binance.US, same answer) is read from the raw ``exchangeInfo`` symbol ccxt keeps
in ``market["info"]``: its filters are decimal strings, which ccxt's unified ``precision`` and
``limits`` have turned into floats. Filters as Binance documents them (binance-spot-api-docs,
filters.md):

    PRICE_FILTER      tickSize, minPrice, maxPrice; each rule is disabled when it is 0
    LOT_SIZE          stepSize, minQty, maxQty: every order's quantity
    MARKET_LOT_SIZE   minQty, maxQty (and a stepSize, usually 0): MARKET orders on top
    NOTIONAL          minNotional, maxNotional (price x quantity; market orders use the
                      average price of the last avgPriceMins minutes)
    MIN_NOTIONAL      minNotional (the older filter NOTIONAL replaced)
    status            "TRADING", or "HALT" / "BREAK" / "END_OF_DAY" ... when it does not trade

Every other exchange comes through ccxt's unified ``precision``, ``limits``, ``active``,
``maker`` and ``taker``, each converted through ``str()`` (never ``Decimal(float)``, which
would carry the float's binary error). ``precision`` means a step (``TICK_SIZE``) or a number
of decimal places (``DECIMAL_PLACES``) as the exchange's ccxt class says (``precisionMode``);
significant digits cannot be written as a step and give none.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE

from tresor.domain.order_rules import MarketRules

BINANCE_FAMILY = frozenset({"binance", "binanceus"})
ZERO = Decimal(0)

__all__ = ["DECIMAL_PLACES", "SIGNIFICANT_DIGITS", "TICK_SIZE", "rules_from_market"]


def decimal_of(value: Any) -> Decimal | None:
    """A number from ccxt or the exchange (string, int or float) as an exact ``Decimal``,
    through its shortest text; ``None`` for missing or unreadable values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _positive(value: Any) -> Decimal | None:
    """A limit or step where 0 (or less) means "no such rule"."""
    number = decimal_of(value)
    return number if number is not None and number > 0 else None


def rules_from_market(
    market: Mapping[str, Any], exchange: str, *, precision_mode: int = TICK_SIZE
) -> MarketRules:
    """The rules of one ccxt unified market (an entry of ``exchange.markets``).

    ``precision_mode`` is the ccxt instance's ``precisionMode`` (unused for Binance, whose raw
    filters are read instead).
    """
    info = market.get("info")
    if exchange in BINANCE_FAMILY and isinstance(info, Mapping) and "filters" in info:
        return _binance(market, info, exchange)
    return _unified(market, exchange, precision_mode)


def _fee(market: Mapping[str, Any], name: str) -> Decimal:
    return decimal_of(market.get(name)) or ZERO


def _binance(market: Mapping[str, Any], info: Mapping[str, Any], exchange: str) -> MarketRules:
    filters: dict[str, Mapping[str, Any]] = {
        str(f.get("filterType")): f for f in info.get("filters") or [] if isinstance(f, Mapping)
    }
    price = filters.get("PRICE_FILTER", {})
    lot = filters.get("LOT_SIZE", {})
    market_lot = filters.get("MARKET_LOT_SIZE", {})
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    return MarketRules(
        exchange=exchange,
        symbol=str(market["symbol"]),
        base=str(market["base"]),
        quote=str(market["quote"]),
        trading=info.get("status") == "TRADING",
        amount_step=_positive(lot.get("stepSize")),
        price_tick=_positive(price.get("tickSize")),
        min_amount=_positive(lot.get("minQty")),
        max_amount=_positive(lot.get("maxQty")),
        market_min_amount=_positive(market_lot.get("minQty")),
        market_max_amount=_positive(market_lot.get("maxQty")),
        min_price=_positive(price.get("minPrice")),
        max_price=_positive(price.get("maxPrice")),
        min_notional=_positive(notional.get("minNotional")),
        max_notional=_positive(notional.get("maxNotional")),
        maker_fee=_fee(market, "maker"),
        taker_fee=_fee(market, "taker"),
    )


def step_of(precision: Any, precision_mode: int) -> Decimal | None:
    """ccxt's ``precision`` entry as a step: itself in ``TICK_SIZE`` mode, ``10**-places`` in
    ``DECIMAL_PLACES`` mode, none for significant digits (not a step)."""
    number = decimal_of(precision)
    if number is None:
        return None
    if precision_mode == TICK_SIZE:
        return number if number > 0 else None
    if precision_mode == DECIMAL_PLACES:
        if number != number.to_integral_value():
            return None
        return Decimal(1).scaleb(-int(number))
    return None


def _limit(limits: Mapping[str, Any], name: str, end: str) -> Decimal | None:
    entry = limits.get(name)
    return _positive(entry.get(end)) if isinstance(entry, Mapping) else None


def _unified(market: Mapping[str, Any], exchange: str, precision_mode: int) -> MarketRules:
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    return MarketRules(
        exchange=exchange,
        symbol=str(market["symbol"]),
        base=str(market["base"]),
        quote=str(market["quote"]),
        trading=market.get("active") is not False,  # None: ccxt does not know, so not closed
        amount_step=step_of(precision.get("amount"), precision_mode),
        price_tick=step_of(precision.get("price"), precision_mode),
        min_amount=_limit(limits, "amount", "min"),
        max_amount=_limit(limits, "amount", "max"),
        market_min_amount=_limit(limits, "market", "min"),
        market_max_amount=_limit(limits, "market", "max"),
        min_price=_limit(limits, "price", "min"),
        max_price=_limit(limits, "price", "max"),
        min_notional=_limit(limits, "cost", "min"),
        max_notional=_limit(limits, "cost", "max"),
        maker_fee=_fee(market, "maker"),
        taker_fee=_fee(market, "taker"),
    )
