"""``GET /api/v3/exchangeInfo``: the rate limits and every listed symbol with its filters and
status (TRADING unless the admin API halted it: ``POST /_sim/symbols``)."""

from __future__ import annotations

from typing import Any

import orjson

from tresor.sim import errors as e
from tresor.sim.api_public import symbols_param
from tresor.sim.catalogue import Pair
from tresor.sim.context import Ctx, Endpoint, RawJSON, fixed
from tresor.sim.engine import SYMBOL_STATUSES
from tresor.sim.market import f8

ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET"]
STP_MODES = ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"]


SYMBOLS_CACHE = "exchangeInfo.symbols"  # every symbol, serialised; dropped on a status change


def symbol_info(p: Pair, status: str = "TRADING") -> dict[str, Any]:
    return {
        "symbol": p.symbol,
        "status": status,
        "baseAsset": p.base,
        "baseAssetPrecision": 8,
        "quoteAsset": p.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "amendAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": f8(p.tick_size),
                "maxPrice": f8(p.max_price),
                "tickSize": f8(p.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": f8(p.min_qty),
                "maxQty": f8(p.max_qty),
                "stepSize": f8(p.step_size),
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": f8(p.market_max_qty),
                "stepSize": "0.00000000",
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": f8(p.min_notional),
                "applyMinToMarket": True,
                "maxNotional": f8(p.max_notional),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": STP_MODES,
    }


_RATE_LIMITS_KEY = "rateLimits"


def exchange_info(ctx: Ctx) -> Any:
    p = ctx.params
    pairs = symbols_param(ctx)
    permissions = p.raw("permissions")
    status = p.raw("symbolStatus")
    show_sets = p.boolean("showPermissionSets", default=True)
    if pairs is not None and (permissions is not None or status is not None):
        raise e.bad_combination()
    if status is not None and status not in SYMBOL_STATUSES:
        raise e.SimError(400, -1122, "Invalid symbolStatus.")
    sim = ctx.sim
    venue = sim.venue
    if permissions is not None:
        wanted = permissions.strip('[]"').replace('"', "").split(",")
        if "SPOT" not in wanted:
            pairs = []
    if status is not None:
        listed = pairs if pairs is not None else list(venue.market.pairs.values())
        pairs = [pair for pair in listed if venue.status(pair.symbol) == status]
    head = {
        "timezone": "UTC",
        "serverTime": ctx.now,
        _RATE_LIMITS_KEY: [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": sim.limits.config.weight_per_minute,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": sim.limits.config.orders_per_10s,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "DAY",
                "intervalNum": 1,
                "limit": sim.limits.config.orders_per_day,
            },
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ],
        "exchangeFilters": [],
    }
    prefix = orjson.dumps(head)[:-1]
    if pairs is None and show_sets:
        body = sim.cache.get(SYMBOLS_CACHE)
        if body is None:
            body = orjson.dumps(
                [
                    symbol_info(pair, venue.status(pair.symbol))
                    for pair in venue.market.pairs.values()
                ]
            )
            sim.cache[SYMBOLS_CACHE] = body
    else:
        chosen = pairs if pairs is not None else list(venue.market.pairs.values())
        infos = [symbol_info(pair, venue.status(pair.symbol)) for pair in chosen]
        if not show_sets:
            for info in infos:
                info["permissionSets"] = []
        body = orjson.dumps(infos)
    return RawJSON(prefix + b',"symbols":' + body + b"}")


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v3/exchangeInfo",
        exchange_info,
        "NONE",
        fixed(20),
        params=frozenset(
            ("symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus")
        ),
    ),
]
