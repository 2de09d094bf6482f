"""A market's trading rules, as the exchange publishes them, in one shape for every exchange,
and the pre-trade checks made from them before anything is sent.

``MarketRules`` is what the pre-trade checks, the router and the rebalancing planner need to
know about a market before anything is sent: whether it trades now, the steps amounts and
prices must be multiples of, the minimum and maximum amount, price and notional (amount x
price, in the quote asset), and the fees. ``None`` means the exchange sets no such rule.

``check_order`` refuses an order that the exchange would refuse for one of those rules, with
the domain error that names it (``InvalidOrder.rule`` is one of ``RULES``)::

    MarketClosed                     the market is not trading (halted, in a break, delisted)
    InvalidOrder(rule=...)
      side, order_type               not buy/sell, not limit/market
      time_in_force                  limit: GTC, IOC or FOK; market: IOC, FOK or none
      price_required                 a limit order without a price
      price_not_allowed              a market order with a price
      amount_positive                amount zero, negative or not a number
      price_positive                 price zero, negative or not a number
      min_amount, max_amount         amount outside the market's limits (for market orders the
                                     stricter of the market-order limits and the general ones)
      amount_precision               amount not a whole multiple of the amount step
      min_price, max_price           price outside the market's limits
      price_precision                price not a whole multiple of the price tick
      min_notional, max_notional     amount x price outside the limits (market orders:
                                     amount x reference_price)
    InsufficientFunds                the free balance cannot pay for the order

Four more rule names come only from the exchange's own refusals (the adapter maps them):
``price_band`` (price too far from the recent average, Binance PERCENT_PRICE[_BY_SIDE]),
``max_open_orders`` (too many open orders on the symbol, MAX_NUM_ORDERS), ``post_only`` (a
maker-only order would have taken) and ``exchange_rule`` (another rule of the exchange).

Every value is a ``Decimal``; nothing here goes through float.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

from tresor.domain.errors import InsufficientFunds, InvalidOrder, MarketClosed


@dataclass(frozen=True, slots=True)
class MarketRules:
    exchange: str
    symbol: str  # unified, e.g. "BTC/USDT"
    base: str
    quote: str
    trading: bool  # False while halted, in a break or delisted
    amount_step: Decimal | None  # amounts must be whole multiples of it
    price_tick: Decimal | None  # limit prices must be whole multiples of it
    min_amount: Decimal | None
    max_amount: Decimal | None
    market_min_amount: Decimal | None  # for market orders, when the exchange sets its own
    market_max_amount: Decimal | None
    min_price: Decimal | None
    max_price: Decimal | None
    min_notional: Decimal | None  # amount x price, in the quote asset
    max_notional: Decimal | None
    maker_fee: Decimal  # a fraction: 0.001 is 0.1 %
    taker_fee: Decimal


# The stable names of ``InvalidOrder.rule``: check_order's own, then those only an exchange's
# refusal can name.
RULES = (
    "side",
    "order_type",
    "time_in_force",
    "price_required",
    "price_not_allowed",
    "amount_positive",
    "price_positive",
    "amount_precision",
    "min_amount",
    "max_amount",
    "price_precision",
    "min_price",
    "max_price",
    "min_notional",
    "max_notional",
    "price_band",
    "max_open_orders",
    "post_only",
    "exchange_rule",
)
SIDES = ("buy", "sell")
ORDER_TYPES = ("limit", "market")
LIMIT_TIME_IN_FORCE = ("GTC", "IOC", "FOK")
MARKET_TIME_IN_FORCE = ("IOC", "FOK")
_PRECISION = 80  # digits for exact step arithmetic (far beyond any amount or price)


def plain(value: Decimal) -> str:
    """``value`` as plain decimal text, without exponent or trailing zeros ("0.0001", "5")."""
    if not value.is_finite():
        return str(value)
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _quantum(step: Decimal) -> Decimal:
    """The power of ten a multiple of ``step`` can be written in (at most 1)."""
    exponent = step.normalize().as_tuple().exponent
    return Decimal(1).scaleb(min(exponent, 0) if isinstance(exponent, int) else 0)


def _exact(**values: object) -> None:
    """Refuse floats (and anything else that is not a ``Decimal``): money is exact here."""
    for name, value in values.items():
        if value is not None and not isinstance(value, Decimal):
            raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")


def _to_step(value: Decimal, step: Decimal | None, rounding: str) -> Decimal:
    _exact(value=value, step=step)
    if step is None:
        return value
    if not step.is_finite() or step <= 0:
        raise ValueError(f"a step must be a positive number, not {step}")
    if not value.is_finite():
        raise ValueError(f"cannot round {value} to a step")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        whole = (value / step).to_integral_value(rounding=rounding)
        return (whole * step).quantize(_quantum(step))


def floor_to_step(value: Decimal, step: Decimal | None) -> Decimal:
    """The largest whole multiple of ``step`` not above ``value`` (``value`` when no step).

    Exact: the result never exceeds ``value`` and is written with no more decimals than the
    step (``floor_to_step(Decimal("0.123456"), Decimal("0.001")) == Decimal("0.123")``).
    """
    return _to_step(value, step, ROUND_FLOOR)


def round_price(value: Decimal, tick: Decimal | None, side: str) -> Decimal:
    """A limit price on the tick, rounded in the side's favour: a buy never pays more than
    ``value`` (rounded down), a sell never receives less (rounded up)."""
    if side not in SIDES:
        raise ValueError(f"side must be 'buy' or 'sell', not {side!r}")
    return _to_step(value, tick, ROUND_FLOOR if side == "buy" else ROUND_CEILING)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """Whether ``value`` is a whole multiple of ``step`` (exactly)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return value % step == 0


def check_order(
    rules: MarketRules,
    *,
    side: str,
    order_type: str,
    amount: Decimal,
    price: Decimal | None,
    time_in_force: str | None,
    reference_price: Decimal | None,
    free: Mapping[str, Decimal] | None,
) -> None:
    """Refuse an order that breaks one of the market's rules, before it is sent.

    ``side`` is "buy" or "sell", ``order_type`` "limit" or "market"; ``amount`` is in the base
    asset. ``reference_price`` is the price a market order is expected to fill at (the best
    ask for a buy, the best bid for a sell); market orders need it. ``free`` is the account's
    free balance by asset (``None`` skips the balance check; a missing asset holds nothing).

    Funds: a buy spends amount x price of the quote asset (the limit price, or the reference
    price for a market order), a sell spends the amount of the base asset. No fee is added:
    Binance charges it in the asset received (a buy's fee comes out of the base bought), so
    the spend is exactly amount x price. A market buy that walks the book past the best ask
    spends more; the exchange's own check catches that and Tresor maps its refusal.

    A market order's value is amount x ``reference_price``, held to both notional limits.
    Binance values it at the average price of the last few minutes instead (filters.md,
    NOTIONAL ``avgPriceMins``) and its listings hold market orders to the minimum only
    (``applyMaxToMarket`` false, a flag ``MarketRules`` does not carry): near a limit the
    exchange may judge otherwise, and its refusal is mapped to the same rule.

    Raises:
        MarketClosed: the market is not trading.
        InvalidOrder: a rule is broken; ``rule`` names it (one of ``RULES``) and the details
            carry the value and the limit as strings.
        InsufficientFunds: the free balance is short (details: asset, needed, available).
        ValueError: a market order without ``reference_price``.
        TypeError: an amount or price that is not a ``Decimal`` (a float, say).
    """
    _exact(amount=amount, price=price, reference_price=reference_price)
    if not rules.trading:
        raise MarketClosed(
            f"{rules.symbol} is not trading on {rules.exchange} now.",
            details={"symbol": rules.symbol, "exchange": rules.exchange},
        )
    _check_kind(rules, side, order_type, price, time_in_force)
    market = order_type == "market"
    if market and reference_price is None:
        raise ValueError("a market order needs reference_price (the current best price)")
    check_amount(rules, amount, market=market)
    if price is not None:
        check_price(rules, price)
    fill_price = reference_price if market else price
    if fill_price is None:  # unreachable: a limit has a price (checked), a market a reference
        raise ValueError("no price to value the order at")
    check_notional(rules, amount * fill_price, market=market)
    if free is not None:
        _check_funds(rules, side, amount, fill_price, free)


def _refuse(rules: MarketRules, rule: str, message: str, **values: Decimal | str) -> InvalidOrder:
    details: dict[str, object] = {"symbol": rules.symbol}
    for name, value in values.items():
        details[name] = plain(value) if isinstance(value, Decimal) else value
    return InvalidOrder(rule, message=message, details=details)


def _check_kind(
    rules: MarketRules, side: str, order_type: str, price: Decimal | None, tif: str | None
) -> None:
    if side not in SIDES:
        raise _refuse(rules, "side", f"The side must be 'buy' or 'sell', not {side!r}.", side=side)
    if order_type not in ORDER_TYPES:
        raise _refuse(
            rules,
            "order_type",
            f"The order type must be 'limit' or 'market', not {order_type!r}.",
            order_type=order_type,
        )
    allowed = LIMIT_TIME_IN_FORCE if order_type == "limit" else MARKET_TIME_IN_FORCE
    if tif is not None and tif.upper() not in allowed:
        raise _refuse(
            rules,
            "time_in_force",
            f"A {order_type} order's time in force must be one of {', '.join(allowed)}, "
            f"not {tif!r}.",
            time_in_force=tif,
            allowed=", ".join(allowed),
        )
    if order_type == "limit" and price is None:
        raise _refuse(rules, "price_required", "A limit order needs a price.")
    if order_type == "market" and price is not None:
        raise _refuse(
            rules,
            "price_not_allowed",
            f"A market order takes no price ({plain(price)} was given); send a limit order "
            "to set one.",
            price=price,
        )


def _amount_limits(rules: MarketRules, *, market: bool) -> tuple[Decimal | None, Decimal | None]:
    """The amount limits an order must respect. A market order must pass both the market-order
    limits and the general ones (Binance applies LOT_SIZE to every order and MARKET_LOT_SIZE to
    market orders on top: filters.md), so it gets the stricter of each."""
    low, high = rules.min_amount, rules.max_amount
    if market:
        if rules.market_min_amount is not None:
            low = rules.market_min_amount if low is None else max(low, rules.market_min_amount)
        if rules.market_max_amount is not None:
            high = rules.market_max_amount if high is None else min(high, rules.market_max_amount)
    return low, high


def check_amount(rules: MarketRules, amount: Decimal, *, market: bool) -> None:
    """The amount rules alone: amount_positive, min_amount, max_amount, amount_precision."""
    base = rules.base
    if not amount.is_finite() or amount <= 0:
        raise _refuse(
            rules,
            "amount_positive",
            f"The amount must be above zero, not {plain(amount)}.",
            amount=amount,
        )
    low, high = _amount_limits(rules, market=market)
    if low is not None and amount < low:
        raise _refuse(
            rules,
            "min_amount",
            f"The amount {plain(amount)} {base} is below the market's minimum of "
            f"{plain(low)} {base}.",
            amount=amount,
            min_amount=low,
        )
    if high is not None and amount > high:
        raise _refuse(
            rules,
            "max_amount",
            f"The amount {plain(amount)} {base} is above the market's maximum of "
            f"{plain(high)} {base}" + (" for market orders." if market else "."),
            amount=amount,
            max_amount=high,
        )
    step = rules.amount_step
    if step is not None and not is_multiple(amount, step):
        raise _refuse(
            rules,
            "amount_precision",
            f"The amount {plain(amount)} {base} is not a whole multiple of the market's amount "
            f"step {plain(step)} (round it down to {plain(floor_to_step(amount, step))}).",
            amount=amount,
            amount_step=step,
        )


def check_price(rules: MarketRules, price: Decimal) -> None:
    """The price rules alone: price_positive, min_price, max_price, price_precision."""
    quote = rules.quote
    if not price.is_finite() or price <= 0:
        raise _refuse(
            rules,
            "price_positive",
            f"The price must be above zero, not {plain(price)}.",
            price=price,
        )
    if rules.min_price is not None and price < rules.min_price:
        raise _refuse(
            rules,
            "min_price",
            f"The price {plain(price)} {quote} is below the market's minimum of "
            f"{plain(rules.min_price)} {quote}.",
            price=price,
            min_price=rules.min_price,
        )
    if rules.max_price is not None and price > rules.max_price:
        raise _refuse(
            rules,
            "max_price",
            f"The price {plain(price)} {quote} is above the market's maximum of "
            f"{plain(rules.max_price)} {quote}.",
            price=price,
            max_price=rules.max_price,
        )
    tick = rules.price_tick
    if tick is not None and not is_multiple(price, tick):
        raise _refuse(
            rules,
            "price_precision",
            f"The price {plain(price)} {quote} is not a whole multiple of the market's price "
            f"tick {plain(tick)}.",
            price=price,
            price_tick=tick,
        )


def check_notional(rules: MarketRules, notional: Decimal, *, market: bool) -> None:
    """The order value rules alone (``notional`` = amount x price): min_ and max_notional."""
    quote = rules.quote
    at = " at the current price" if market else ""
    if rules.min_notional is not None and notional < rules.min_notional:
        raise _refuse(
            rules,
            "min_notional",
            f"The order is worth {plain(notional)} {quote}{at}, below the market's minimum "
            f"order value of {plain(rules.min_notional)} {quote}.",
            notional=notional,
            min_notional=rules.min_notional,
        )
    if rules.max_notional is not None and notional > rules.max_notional:
        raise _refuse(
            rules,
            "max_notional",
            f"The order is worth {plain(notional)} {quote}{at}, above the market's maximum "
            f"order value of {plain(rules.max_notional)} {quote}.",
            notional=notional,
            max_notional=rules.max_notional,
        )


def _check_funds(
    rules: MarketRules, side: str, amount: Decimal, price: Decimal, free: Mapping[str, Decimal]
) -> None:
    asset, needed = (rules.quote, amount * price) if side == "buy" else (rules.base, amount)
    available = free.get(asset, Decimal(0))
    if available < needed:
        raise InsufficientFunds(
            f"The order needs {plain(needed)} {asset} free; the account has "
            f"{plain(available)} {asset} free.",
            details={
                "symbol": rules.symbol,
                "asset": asset,
                "needed": plain(needed),
                "available": plain(available),
            },
        )
