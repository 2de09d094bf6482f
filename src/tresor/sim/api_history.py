"""Signed endpoints for history: all orders, own trades, deposits and withdrawals, and the
key's restrictions and account status."""

from __future__ import annotations

import bisect
from typing import Any

from tresor.sim import errors as e
from tresor.sim.api_public import pair_of
from tresor.sim.context import Ctx, Endpoint, fixed, signed_params
from tresor.sim.params import Params
from tresor.sim.state import Trade, Transfer

DAY_MS = 86_400_000
NINETY_DAYS_MS = 90 * DAY_MS


def _window(p: Params, max_hours: int = 24) -> tuple[int | None, int | None]:
    start = p.time_ms("startTime")
    end = p.time_ms("endTime")
    if start is not None and end is not None:
        if end < start:
            raise e.invalid_value("endTime")
        if end - start > max_hours * 3_600_000:
            raise e.window_too_long(max_hours)
    return start, end


def all_orders(ctx: Ctx) -> Any:
    p = ctx.params
    pair = pair_of(ctx, p.symbol())
    order_id = p.integer("orderId")
    start, end = _window(p)
    limit = p.limit(500, 1000)
    orders = ctx.acct.orders.get(pair.symbol, [])
    ids = ctx.acct.order_ids.get(pair.symbol, [])
    lo, hi = 0, len(orders)
    if order_id is not None:
        lo = bisect.bisect_left(ids, order_id)
    if start is not None:
        lo = max(lo, bisect.bisect_left(orders, start, key=lambda o: o.time))
    if end is not None:
        hi = bisect.bisect_right(orders, end, key=lambda o: o.time)
    if order_id is None and start is None:
        lo = max(lo, hi - limit)
    return [o.query_json() for o in orders[lo : min(hi, lo + limit)]]


def _trades_weight(params: Params) -> int:
    return 5 if "orderId" in params.values else 20


def my_trades(ctx: Ctx) -> Any:
    p = ctx.params
    pair = pair_of(ctx, p.symbol())
    order_id = p.integer("orderId")
    from_id = p.integer("fromId")
    start, end = _window(p)
    limit = p.limit(500, 1000)
    if from_id is not None and (start is not None or end is not None):
        raise e.bad_combination()
    if order_id is not None and (start is not None or end is not None):
        raise e.bad_combination()
    trades: list[Trade] = ctx.acct.trades.get(pair.symbol, [])
    ids = ctx.acct.trade_ids.get(pair.symbol, [])
    if order_id is not None:
        chosen = [
            t
            for t in trades
            if t.order_id == order_id and (from_id is None or t.trade_id >= from_id)
        ]
        return [t.json() for t in chosen[:limit]]
    lo, hi = 0, len(trades)
    if from_id is not None:
        lo = bisect.bisect_left(ids, from_id)
        return [t.json() for t in trades[lo : lo + limit]]
    if start is not None:
        lo = bisect.bisect_left(trades, start, key=lambda t: t.time)
    if end is not None:
        hi = bisect.bisect_right(trades, end, key=lambda t: t.time)
    if start is None:
        lo = max(lo, hi - limit)
    return [t.json() for t in trades[lo : min(hi, lo + limit)]]


def _wallet_window(ctx: Ctx) -> tuple[int, int]:
    p = ctx.params
    start = p.time_ms("startTime")
    end = p.time_ms("endTime")
    if start is None:
        end = ctx.now if end is None else end
        start = end - NINETY_DAYS_MS
    elif end is None:
        end = min(ctx.now, start + NINETY_DAYS_MS)
    if end < start or end - start > NINETY_DAYS_MS:
        raise e.SimError(400, -1127, "Lookup interval is too big.")
    return start, end


def _wallet_history(ctx: Ctx, items: list[Transfer], extra: tuple[str, ...]) -> Any:
    p = ctx.params
    start, end = _wallet_window(ctx)
    coin = p.raw("coin")
    status = p.integer("status")
    offset = p.integer("offset", default=0) or 0
    limit = p.limit(1000, 1000)
    for name in extra:
        p.raw(name)
    if offset < 0:
        raise e.invalid_value("offset")
    id_list = p.values.get("idList")
    wanted_ids = set(id_list.split(",")) if id_list else None
    tx_id = p.values.get("txId")
    chosen = [
        t
        for t in items
        if start <= t.time <= end
        and (coin is None or t.coin == coin)
        and (status is None or t.status == status)
        and (wanted_ids is None or t.transfer_id in wanted_ids)
        and (tx_id is None or t.tx_id == tx_id)
    ]
    chosen.sort(key=lambda t: t.time, reverse=True)  # newest first, as the exchange answers
    return [t.json() for t in chosen[offset : offset + limit]]


def deposit_history(ctx: Ctx) -> Any:
    return _wallet_history(ctx, ctx.acct.deposits, ("includeSource", "txId"))


def withdraw_history(ctx: Ctx) -> Any:
    return _wallet_history(ctx, ctx.acct.withdrawals, ("withdrawOrderId", "idList"))


def api_restrictions(ctx: Ctx) -> Any:
    return ctx.api_key.restrictions_json()


def account_status(ctx: Ctx) -> Any:
    return {"data": "Normal"}


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v3/allOrders",
        all_orders,
        "USER_DATA",
        fixed(20),
        params=signed_params("symbol", "orderId", "startTime", "endTime", "limit"),
    ),
    Endpoint(
        "GET",
        "/api/v3/myTrades",
        my_trades,
        "USER_DATA",
        _trades_weight,
        params=signed_params("symbol", "orderId", "startTime", "endTime", "fromId", "limit"),
    ),
    Endpoint(
        "GET",
        "/sapi/v1/capital/deposit/hisrec",
        deposit_history,
        "USER_DATA",
        fixed(1),
        bucket="sapi_ip",
        params=signed_params(
            "includeSource", "coin", "status", "startTime", "endTime", "offset", "limit", "txId"
        ),
    ),
    Endpoint(
        "GET",
        "/sapi/v1/capital/withdraw/history",
        withdraw_history,
        "USER_DATA",
        fixed(18000),
        bucket="sapi_uid",
        params=signed_params(
            "coin", "withdrawOrderId", "status", "offset", "limit", "idList", "startTime", "endTime"
        ),
    ),
    Endpoint(
        "GET",
        "/sapi/v1/account/apiRestrictions",
        api_restrictions,
        "USER_DATA",
        fixed(1),
        bucket="sapi_ip",
        params=signed_params(),
    ),
    Endpoint(
        "GET",
        "/sapi/v1/account/status",
        account_status,
        "USER_DATA",
        fixed(1),
        bucket="sapi_ip",
        params=signed_params(),
    ),
]
