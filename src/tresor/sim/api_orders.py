"""Signed endpoints for the account and its orders: account, new/test/query/cancel order,
open orders, cancel all, and the order rate limits."""

from __future__ import annotations

from typing import Any

from tresor.sim import errors as e
from tresor.sim.api_public import pair_of
from tresor.sim.context import SIGNED_PARAMS, Ctx, Endpoint, fixed, signed_params
from tresor.sim.engine import CLIENT_ID_RE, KNOWN_TYPES, new_client_id
from tresor.sim.market import f8
from tresor.sim.params import Params
from tresor.sim.rules import OrderRequest
from tresor.sim.state import Order

_UNSUPPORTED_TYPE_MSG = {
    "STOP_LOSS": "Stop loss orders are not supported for this symbol.",
    "STOP_LOSS_LIMIT": "Stop loss limit orders are not supported for this symbol.",
    "TAKE_PROFIT": "Take profit orders are not supported for this symbol.",
    "TAKE_PROFIT_LIMIT": "Take profit limit orders are not supported for this symbol.",
}


def account(ctx: Ctx) -> Any:
    acct = ctx.acct
    omit_zero = ctx.params.boolean("omitZeroBalances")
    balances = []
    for asset in sorted(acct.balances):
        bal = acct.balances[asset]
        if omit_zero and bal.free == 0 and bal.locked == 0:
            continue
        balances.append({"asset": asset, "free": f8(bal.free), "locked": f8(bal.locked)})
    key = ctx.api_key
    can_trade = key.permissions.get("enableSpotAndMarginTrading", False)
    return {
        "makerCommission": int(acct.maker_rate * 10000),
        "takerCommission": int(acct.taker_rate * 10000),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": f8(acct.maker_rate),
            "taker": f8(acct.taker_rate),
            "buyer": "0.00000000",
            "seller": "0.00000000",
        },
        "canTrade": can_trade,
        "canWithdraw": key.permissions.get("enableWithdrawals", False),
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": acct.update_time,
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": acct.uid,
    }


def _new_order(ctx: Ctx, *, test: bool) -> Any:
    p = ctx.params
    pair = pair_of(ctx, p.symbol())
    side = p.choice("side", ("BUY", "SELL"), e.invalid_side())
    type_ = p.choice("type", KNOWN_TYPES, e.invalid_order_type())
    tif = p.raw("timeInForce")
    qty = p.decimal("quantity")
    quote_qty = p.decimal("quoteOrderQty")
    price = p.decimal("price")
    client_id = p.raw("newClientOrderId")
    resp_type = p.enum(
        "newOrderRespType",
        ("ACK", "RESULT", "FULL"),
        e.SimError(
            400,
            -1100,
            "Illegal characters found in parameter "
            "'newOrderRespType'; legal range is 'ACK, RESULT, FULL'.",
        ),
    )
    stp = p.raw("selfTradePreventionMode")
    for name in ("stopPrice", "icebergQty", "trailingDelta", "strategyId", "strategyType"):
        p.raw(name)
    if stp is not None and stp not in (
        "NONE",
        "EXPIRE_TAKER",
        "EXPIRE_MAKER",
        "EXPIRE_BOTH",
        "DECREMENT",
    ):
        raise e.SimError(
            400, -1130, "Data sent for parameter 'selfTradePreventionMode' is not valid."
        )
    if client_id is not None and not CLIENT_ID_RE.match(client_id):
        raise e.illegal_value("newClientOrderId", "^[\\.A-Z\\:/a-z0-9_-]{1,36}$")
    if tif is not None and tif not in ("GTC", "IOC", "FOK"):
        raise e.invalid_tif()
    if type_ in _UNSUPPORTED_TYPE_MSG:
        raise e.new_order_rejected(_UNSUPPORTED_TYPE_MSG[type_])
    if type_ == "LIMIT":
        if tif is None:
            raise e.mandatory("timeInForce")
        if qty is None:
            raise e.mandatory("quantity")
        if price is None:
            raise e.mandatory("price")
        if quote_qty is not None:
            raise e.not_required("quoteOrderQty")
    elif type_ == "LIMIT_MAKER":
        if tif is not None:
            raise e.not_required("timeInForce")
        if qty is None:
            raise e.mandatory("quantity")
        if price is None:
            raise e.mandatory("price")
    else:  # MARKET
        if tif is not None:
            raise e.not_required("timeInForce")
        if price is not None:
            raise e.not_required("price")
        if qty is None and quote_qty is None:
            raise e.mandatory_one_of("quantity", "quoteOrderQty")
        if qty is not None and quote_qty is not None:
            raise e.not_required("quoteOrderQty")
    commission_rates = test and p.boolean("computeCommissionRates")  # order/test only
    p.check_all_read(SIGNED_PARAMS)
    venue, limits, acct = ctx.venue, ctx.sim.limits, ctx.acct
    if test:
        request = OrderRequest(side, type_, tif, qty, quote_qty, price, client_id)
        venue.validate_new_order(acct, pair, request, ctx.now)
        if commission_rates:
            return {
                "standardCommissionForOrder": {
                    "maker": f8(acct.maker_rate),
                    "taker": f8(acct.taker_rate),
                },
                "taxCommissionForOrder": {"maker": "0.00000000", "taker": "0.00000000"},
                "discount": {
                    "enabledForAccount": False,
                    "enabledForSymbol": False,
                    "discountAsset": "BNB",
                    "discount": "0.00000000",
                },
            }
        return {}
    limits.check_orders(acct.account_id, ctx.now, ctx.sim.faults.orders_per_10s)
    order, fills = venue.place_order(
        acct,
        pair,
        side=side,
        type_=type_,
        tif=tif,
        qty=qty,
        quote_qty=quote_qty,
        price=price,
        client_id=client_id,
        now=ctx.now,
    )
    c10, cday = limits.count_order(acct.account_id, ctx.now, filled_at_once=bool(fills))
    ctx.headers.append((b"x-mbx-order-count-10s", str(c10).encode()))
    ctx.headers.append((b"x-mbx-order-count-1d", str(cday).encode()))
    if resp_type is None:
        resp_type = "FULL" if type_ in ("MARKET", "LIMIT") else "ACK"
    body: dict[str, Any] = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": ctx.now,
    }
    if resp_type == "ACK":
        return body
    body.update(order.common_json())
    body.update(
        {
            "origQuoteOrderQty": f8(order.orig_quote_qty),
            "workingTime": ctx.now,
            "selfTradePreventionMode": stp or "EXPIRE_MAKER",
        }
    )
    if resp_type == "FULL":
        body["fills"] = [t.fill_json() for t in fills]
    return body


def new_order(ctx: Ctx) -> Any:
    return _new_order(ctx, test=False)


def test_order(ctx: Ctx) -> Any:
    return _new_order(ctx, test=True)


def _test_order_weight(params: Params) -> int:
    return 20 if params.values.get("computeCommissionRates", "").lower() == "true" else 1


def _find(ctx: Ctx) -> Order:
    p = ctx.params
    pair = pair_of(ctx, p.symbol())
    order_id = p.integer("orderId")
    client_id = p.raw("origClientOrderId")
    if order_id is None and client_id is None:
        raise e.mandatory_one_of("origClientOrderId", "orderId")
    order = ctx.acct.find_order(pair.symbol, order_id, client_id)
    if order is None:
        raise e.err(e.NO_SUCH_ORDER)
    return order


def query_order(ctx: Ctx) -> Any:
    return _find(ctx).query_json()


def _cancel_json(order: Order, cancel_id: str, now: int) -> dict[str, Any]:
    body = order.common_json()
    body["origClientOrderId"] = order.client_order_id
    body["clientOrderId"] = cancel_id
    body["transactTime"] = now
    body["origQuoteOrderQty"] = f8(order.orig_quote_qty)
    body["selfTradePreventionMode"] = "EXPIRE_MAKER"
    return body


def cancel_order(ctx: Ctx) -> Any:
    p = ctx.params
    pair = pair_of(ctx, p.symbol())
    order_id = p.integer("orderId")
    client_id = p.raw("origClientOrderId")
    cancel_id = p.raw("newClientOrderId") or new_client_id()
    restrictions = p.raw("cancelRestrictions")
    if restrictions is not None and restrictions not in ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"):
        raise e.SimError(
            400, -1145, "cancelRestrictions has to be either ONLY_NEW or ONLY_PARTIALLY_FILLED."
        )
    if order_id is None and client_id is None:
        raise e.mandatory_one_of("origClientOrderId", "orderId")
    p.check_all_read(SIGNED_PARAMS)
    ctx.venue.settle_account(ctx.acct, ctx.now)
    order = ctx.acct.find_order(pair.symbol, order_id, client_id)
    if order is None or not order.is_open:
        raise e.cancel_rejected()
    if restrictions is not None and order.status != restrictions.removeprefix("ONLY_"):
        raise e.cancel_rejected("Order was not canceled due to cancel restrictions.")
    ctx.venue.cancel(ctx.acct, order, ctx.now)
    return _cancel_json(order, cancel_id, ctx.now)


def cancel_all(ctx: Ctx) -> Any:
    pair = pair_of(ctx, ctx.params.symbol())
    ctx.params.check_all_read(SIGNED_PARAMS)
    acct = ctx.acct
    ctx.venue.settle_account(acct, ctx.now)
    targets = sorted(
        (o for o in acct.open_orders.values() if o.symbol == pair.symbol), key=lambda o: o.order_id
    )
    if not targets:
        raise e.cancel_rejected()
    cancel_id = new_client_id()
    out = []
    for order in targets:
        ctx.venue.cancel(acct, order, ctx.now)
        out.append(_cancel_json(order, cancel_id, ctx.now))
    return out


def _open_orders_weight(params: Params) -> int:
    return 6 if "symbol" in params.values else 80


def open_orders(ctx: Ctx) -> Any:
    symbol = ctx.params.symbol(required=False)
    if symbol is not None:
        pair_of(ctx, symbol)
    orders = sorted(ctx.acct.open_orders.values(), key=lambda o: (o.symbol, o.order_id))
    return [o.query_json() for o in orders if symbol is None or o.symbol == symbol]


def order_rate_limit(ctx: Ctx) -> Any:
    limits = ctx.sim.limits
    c10, cday = limits.count_order(ctx.acct.account_id, ctx.now, filled_at_once=True)
    return [
        {
            "rateLimitType": "ORDERS",
            "interval": "SECOND",
            "intervalNum": 10,
            "limit": ctx.sim.faults.orders_per_10s or limits.config.orders_per_10s,
            "count": c10,
        },
        {
            "rateLimitType": "ORDERS",
            "interval": "DAY",
            "intervalNum": 1,
            "limit": limits.config.orders_per_day,
            "count": cday,
        },
    ]


_ORDER_PARAMS = signed_params(
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
)

ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v3/account",
        account,
        "USER_DATA",
        fixed(20),
        params=signed_params("omitZeroBalances"),
    ),
    Endpoint("POST", "/api/v3/order", new_order, "TRADE", fixed(1), params=_ORDER_PARAMS),
    Endpoint(
        "POST",
        "/api/v3/order/test",
        test_order,
        "TRADE",
        _test_order_weight,
        params=_ORDER_PARAMS | {"computeCommissionRates"},
    ),
    Endpoint(
        "GET",
        "/api/v3/order",
        query_order,
        "USER_DATA",
        fixed(4),
        params=signed_params("symbol", "orderId", "origClientOrderId"),
    ),
    Endpoint(
        "DELETE",
        "/api/v3/order",
        cancel_order,
        "TRADE",
        fixed(1),
        params=signed_params(
            "symbol", "orderId", "origClientOrderId", "newClientOrderId", "cancelRestrictions"
        ),
    ),
    Endpoint(
        "GET",
        "/api/v3/openOrders",
        open_orders,
        "USER_DATA",
        _open_orders_weight,
        params=signed_params("symbol"),
    ),
    Endpoint(
        "DELETE",
        "/api/v3/openOrders",
        cancel_all,
        "TRADE",
        fixed(1),
        params=signed_params("symbol"),
    ),
    Endpoint("GET", "/api/v3/rateLimit/order", order_rate_limit, "USER_DATA", fixed(40)),
]
