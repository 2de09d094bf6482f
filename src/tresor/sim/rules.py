"""The rules a new order must pass before the engine accepts it: the symbol's filters
(PRICE_FILTER, PERCENT_PRICE_BY_SIDE, LOT_SIZE, MARKET_LOT_SIZE, NOTIONAL, MAX_NUM_ORDERS),
the uniqueness of ``newClientOrderId`` among open orders, and the free balance it needs.
Each failure is the exchange's own error (-1013 filter failures, -2010 rejections)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from tresor.sim import errors as e
from tresor.sim.catalogue import Pair
from tresor.sim.market import Market
from tresor.sim.state import Account

ZERO = Decimal(0)
MARKET_DEPTH_LEVELS = 50  # how deep a market order may walk the book before it expires
MAX_NUM_ORDERS = 200  # open orders per symbol and account (MAX_NUM_ORDERS filter)


@dataclass(frozen=True)
class OrderRequest:
    """A new order as sent: ``quantity`` and/or ``quoteOrderQty``, ``price`` for limits."""

    side: str
    type_: str
    tif: str | None
    qty: Decimal | None
    quote_qty: Decimal | None
    price: Decimal | None
    client_id: str | None


def validate_new_order(
    market: Market, account: Account, pair: Pair, request: OrderRequest, now: int
) -> None:
    """Apply the symbol filters and the balance check; raise the exchange's error."""
    qty, price, quote_qty = request.qty, request.price, request.quote_qty
    mid = market.price(pair.symbol, now)
    if request.type_ in ("LIMIT", "LIMIT_MAKER"):
        if price is None or qty is None:
            raise e.mandatory("price" if price is None else "quantity")
        check_price(pair, price)
        if price > mid * 5 or price < mid / 5:
            raise e.filter_failure("PERCENT_PRICE_BY_SIDE")
        check_lot(pair, qty, "LOT_SIZE", pair.max_qty)
        if not pair.min_notional <= price * qty <= pair.max_notional:
            raise e.filter_failure("NOTIONAL")
    elif qty is not None:
        # LOT_SIZE applies to every order, MARKET_LOT_SIZE (minQty 0, a lower maxQty) to
        # market orders on top (filters.md)
        if qty > pair.market_max_qty:
            raise e.filter_failure("MARKET_LOT_SIZE")
        check_lot(pair, qty, "LOT_SIZE", pair.max_qty)
        if qty * mid < pair.min_notional:
            raise e.filter_failure("NOTIONAL")
    elif quote_qty is not None and quote_qty < pair.min_notional:
        raise e.filter_failure("NOTIONAL")
    open_here = sum(1 for o in account.open_orders.values() if o.symbol == pair.symbol)
    if open_here >= MAX_NUM_ORDERS:
        raise e.filter_failure("MAX_NUM_ORDERS")
    if request.client_id is not None and any(
        o.client_order_id == request.client_id for o in account.open_orders.values()
    ):
        raise e.new_order_rejected(e.DUPLICATE_ORDER)
    need = funds_needed(market, pair, request, now)
    asset = pair.quote if request.side == "BUY" else pair.base
    if account.balance(asset).free < need:
        raise e.new_order_rejected(e.INSUFFICIENT_BALANCE)


def funds_needed(market: Market, pair: Pair, request: OrderRequest, now: int) -> Decimal:
    """What a new order needs free: quote for a buy, base for a sell."""
    qty, quote_qty = request.qty, request.quote_qty
    price = request.price if request.type_ != "MARKET" else None
    if request.side == "BUY":
        if price is not None and qty is not None:
            return price * qty
        if quote_qty is not None:
            return quote_qty
        if qty is not None:
            return market_cost(market, pair, qty, now)
    else:
        if qty is not None:
            return qty
        if quote_qty is not None:
            return market_sell_qty(market, pair, quote_qty, now)
    raise e.mandatory_one_of("quantity", "quoteOrderQty")


def market_cost(market: Market, pair: Pair, qty: Decimal, now: int) -> Decimal:
    """The quote a market buy of ``qty`` would spend walking the asks now."""
    _, asks = market.book(pair.symbol, now, MARKET_DEPTH_LEVELS)
    cost, left = ZERO, qty
    for price, level_qty in asks:
        take = min(left, level_qty)
        cost += take * price
        left -= take
        if left <= 0:
            break
    return cost


def market_sell_qty(market: Market, pair: Pair, quote_qty: Decimal, now: int) -> Decimal:
    """The base a market sell for ``quote_qty`` would sell walking the bids now."""
    bids, _ = market.book(pair.symbol, now, MARKET_DEPTH_LEVELS)
    qty, left = ZERO, quote_qty
    for price, level_qty in bids:
        take = min(level_qty, floor_step(left / price, pair.step_size))
        qty += take
        left -= take * price
        if take < level_qty:
            break
    return qty


def floor_step(value: Decimal, step: Decimal) -> Decimal:
    if value <= 0:
        return ZERO
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def check_price(pair: Pair, price: Decimal) -> None:
    if price < pair.tick_size or price > pair.max_price or price % pair.tick_size != 0:
        raise e.filter_failure("PRICE_FILTER")


def check_lot(pair: Pair, qty: Decimal, name: str, max_qty: Decimal) -> None:
    if qty < pair.min_qty or qty > max_qty:
        raise e.filter_failure(name)
    if qty % pair.step_size != 0:
        raise e.filter_failure("LOT_SIZE")
