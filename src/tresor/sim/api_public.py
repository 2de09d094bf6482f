"""Public market-data endpoints (security type NONE)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from tresor.sim import errors as e
from tresor.sim.catalogue import Pair
from tresor.sim.context import Ctx, Endpoint, RawJSON, fixed
from tresor.sim.market import INTERVAL_MS, f8
from tresor.sim.params import Params

ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET"]
STP_MODES = ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"]


def symbol_info(p: Pair) -> dict[str, Any]:
    return {
        "symbol": p.symbol,
        "status": "TRADING",
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


def pair_of(ctx: Ctx, symbol: str | None) -> Pair:
    pair = ctx.venue.market.pairs.get(symbol or "")
    if pair is None:
        raise e.invalid_symbol()
    return pair


def _symbols(ctx: Ctx) -> list[Pair] | None:
    """The ``symbol`` or ``symbols`` parameter as pairs; None when neither was sent."""
    p = ctx.params
    symbol = p.symbol(required=False)
    symbols = p.symbols_list()
    if symbol is not None and symbols is not None:
        raise e.bad_combination()
    if symbol is not None:
        return [pair_of(ctx, symbol)]
    if symbols is not None:
        if len(set(symbols)) != len(symbols):
            raise e.SimError(400, -1151, "Symbol is present multiple times in the list.")
        return [pair_of(ctx, s) for s in symbols]
    return None


def ping(ctx: Ctx) -> Any:
    return {}


def server_time(ctx: Ctx) -> Any:
    return {"serverTime": ctx.now}


_RATE_LIMITS_KEY = "rateLimits"


def exchange_info(ctx: Ctx) -> Any:
    p = ctx.params
    pairs = _symbols(ctx)
    permissions = p.raw("permissions")
    status = p.raw("symbolStatus")
    show_sets = p.boolean("showPermissionSets", default=True)
    if pairs is not None and (permissions is not None or status is not None):
        raise e.bad_combination()
    if status is not None and status not in ("TRADING", "HALT", "BREAK", "END_OF_DAY"):
        raise e.SimError(400, -1122, "Invalid symbolStatus.")
    if permissions is not None:
        wanted = permissions.strip('[]"').replace('"', "").split(",")
        if "SPOT" not in wanted:
            pairs = []
    if status is not None and status != "TRADING":
        pairs = []
    sim = ctx.sim
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
        body = sim.cache.get("exchangeInfo.symbols")
        if body is None:
            body = orjson.dumps([symbol_info(pair) for pair in sim.venue.market.pairs.values()])
            sim.cache["exchangeInfo.symbols"] = body
    else:
        chosen = pairs if pairs is not None else list(sim.venue.market.pairs.values())
        infos = [symbol_info(pair) for pair in chosen]
        if not show_sets:
            for info in infos:
                info["permissionSets"] = []
        body = orjson.dumps(infos)
    return RawJSON(prefix + b',"symbols":' + body + b"}")


def _depth_weight(params: Params) -> int:
    try:
        limit = int(params.values.get("limit", "100"))
    except ValueError:
        return 5
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def depth(ctx: Ctx) -> Any:
    pair = pair_of(ctx, ctx.params.symbol())
    limit = ctx.params.limit(100, 5000)
    bids, asks = ctx.venue.market.book(pair.symbol, ctx.now, limit)
    return {
        "lastUpdateId": ctx.now // 100,
        "bids": [[f8(pr), f8(q)] for pr, q in bids],
        "asks": [[f8(pr), f8(q)] for pr, q in asks],
    }


def trades(ctx: Ctx) -> Any:
    pair = pair_of(ctx, ctx.params.symbol())
    limit = ctx.params.limit(500, 1000)
    market = ctx.venue.market
    last = market.tape_id_at(pair.symbol, ctx.now)
    return [market.tape_trade(pair.symbol, i) for i in range(last - limit + 1, last + 1)]


def historical_trades(ctx: Ctx) -> Any:
    pair = pair_of(ctx, ctx.params.symbol())
    limit = ctx.params.limit(500, 1000)
    from_id = ctx.params.integer("fromId")
    market = ctx.venue.market
    last = market.tape_id_at(pair.symbol, ctx.now)
    first = last - limit + 1 if from_id is None else from_id
    if first < 0:
        raise e.invalid_value("fromId")
    return [market.tape_trade(pair.symbol, i) for i in range(first, min(first + limit, last + 1))]


def agg_trades(ctx: Ctx) -> Any:
    p = ctx.params
    pair = pair_of(ctx, p.symbol())
    limit = p.limit(500, 1000)
    from_id = p.integer("fromId")
    start = p.time_ms("startTime")
    end = p.time_ms("endTime")
    market = ctx.venue.market
    last = market.tape_id_at(pair.symbol, ctx.now)
    if from_id is not None:
        if start is not None or end is not None:
            raise e.bad_combination()
        first = from_id
    elif start is not None:
        stop = min(last, market.tape_id_at(pair.symbol, end)) if end is not None else last
        first = market.tape_id_at(pair.symbol, start - 1) + 1
        last = min(stop, first + limit - 1)
    elif end is not None:
        last = min(last, market.tape_id_at(pair.symbol, end))
        first = last - limit + 1
    else:
        first = last - limit + 1
    out = []
    for i in range(max(0, first), min(first + limit, last + 1)):
        t = market.tape_trade(pair.symbol, i)
        out.append(
            {
                "a": i,
                "p": t["price"],
                "q": t["qty"],
                "f": i,
                "l": i,
                "T": t["time"],
                "m": t["isBuyerMaker"],
                "M": True,
            }
        )
    return out


def klines(ctx: Ctx) -> Any:
    p = ctx.params
    pair = pair_of(ctx, p.symbol())
    interval = p.require("interval")
    if interval not in INTERVAL_MS:
        raise e.invalid_interval()
    limit = p.limit(500, 1000)
    start = p.time_ms("startTime")
    end = p.time_ms("endTime")
    tz = p.raw("timeZone")
    if tz not in (None, "0", "+0", "0:00", "00:00", "+00:00"):
        raise e.SimError(400, -1130, "Data sent for parameter 'timeZone' is not valid.")
    market = ctx.venue.market
    now = ctx.now
    last_open = market.candle_open(interval, min(now, end) if end is not None else now)
    opens: list[int] = []
    if start is not None:
        t = market.candle_open(interval, start)
        if t < start:
            t = market.candle_close(interval, t)
        while t <= last_open and len(opens) < limit:
            opens.append(t)
            t = market.candle_close(interval, t)
    else:
        t = last_open
        while len(opens) < limit and t >= 0:
            opens.append(t)
            t = market.candle_open(interval, t - 1)
        opens.reverse()
    return [market.kline(pair.symbol, interval, o, now) for o in opens]


def avg_price(ctx: Ctx) -> Any:
    pair = pair_of(ctx, ctx.params.symbol())
    market = ctx.venue.market
    samples = [market.price(pair.symbol, ctx.now - k * 30_000) for k in range(10)]
    avg = (sum(samples, Decimal(0)) / len(samples)).quantize(pair.tick_size)
    return {"mins": 5, "price": f8(avg), "closeTime": ctx.now}


def _ticker_weight(params: Params, one: int, many: int) -> int:
    if "symbol" in params.values:
        return one
    if "symbols" in params.values:
        return many
    return many


def _24hr_weight(params: Params) -> int:
    if "symbol" in params.values:
        return 2
    raw = params.values.get("symbols")
    if raw is None:
        return 80
    n = raw.count(",") + 1
    return 2 if n <= 20 else 40 if n <= 100 else 80


_MINI_FIELDS = (
    "symbol",
    "openPrice",
    "highPrice",
    "lowPrice",
    "lastPrice",
    "volume",
    "quoteVolume",
    "openTime",
    "closeTime",
    "firstId",
    "lastId",
    "count",
)


def ticker_24hr(ctx: Ctx) -> Any:
    pairs = _symbols(ctx)
    kind = (
        ctx.params.enum("type", ("FULL", "MINI"), e.SimError(400, -1139, "Invalid ticker type."))
        or "FULL"
    )
    market = ctx.venue.market
    chosen = pairs if pairs is not None else list(market.pairs.values())
    out = []
    for pair in chosen:
        t = market.ticker_24h(pair.symbol, ctx.now)
        out.append(t if kind == "FULL" else {k: t[k] for k in _MINI_FIELDS})
    return out[0] if ctx.params.values.get("symbol") else out


def ticker_price(ctx: Ctx) -> Any:
    pairs = _symbols(ctx)
    market = ctx.venue.market
    chosen = pairs if pairs is not None else list(market.pairs.values())
    out = [{"symbol": p.symbol, "price": f8(market.price(p.symbol, ctx.now))} for p in chosen]
    return out[0] if ctx.params.values.get("symbol") else out


def book_ticker(ctx: Ctx) -> Any:
    pairs = _symbols(ctx)
    market = ctx.venue.market
    chosen = pairs if pairs is not None else list(market.pairs.values())
    out = []
    for p in chosen:
        bids, asks = market.book(p.symbol, ctx.now, 1)
        out.append(
            {
                "symbol": p.symbol,
                "bidPrice": f8(bids[0][0]),
                "bidQty": f8(bids[0][1]),
                "askPrice": f8(asks[0][0]),
                "askQty": f8(asks[0][1]),
            }
        )
    return out[0] if ctx.params.values.get("symbol") else out


def system_status(ctx: Ctx) -> Any:
    if ctx.sim.faults.maintenance:
        return {"status": 1, "msg": "system_maintenance"}
    return {"status": 0, "msg": "normal"}


def _f(*names: str) -> frozenset[str]:
    return frozenset(names)


ENDPOINTS = [
    Endpoint("GET", "/api/v3/ping", ping, "NONE", fixed(1)),
    Endpoint("GET", "/api/v3/time", server_time, "NONE", fixed(1)),
    Endpoint(
        "GET",
        "/api/v3/exchangeInfo",
        exchange_info,
        "NONE",
        fixed(20),
        params=_f("symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus"),
    ),
    Endpoint(
        "GET",
        "/api/v3/depth",
        depth,
        "NONE",
        _depth_weight,
        params=_f("symbol", "limit", "symbolStatus"),
    ),
    # ccxt sends startTime/endTime to /trades when asked for trades "since"; they are ignored.
    Endpoint(
        "GET",
        "/api/v3/trades",
        trades,
        "NONE",
        fixed(25),
        params=_f("symbol", "limit", "startTime", "endTime"),
    ),
    Endpoint(
        "GET",
        "/api/v3/historicalTrades",
        historical_trades,
        "NONE",
        fixed(25),
        params=_f("symbol", "limit", "fromId"),
    ),
    Endpoint(
        "GET",
        "/api/v3/aggTrades",
        agg_trades,
        "NONE",
        fixed(4),
        params=_f("symbol", "limit", "fromId", "startTime", "endTime"),
    ),
    Endpoint(
        "GET",
        "/api/v3/klines",
        klines,
        "NONE",
        fixed(2),
        params=_f("symbol", "interval", "startTime", "endTime", "limit", "timeZone"),
    ),
    Endpoint(
        "GET",
        "/api/v3/uiKlines",
        klines,
        "NONE",
        fixed(2),
        params=_f("symbol", "interval", "startTime", "endTime", "limit", "timeZone"),
    ),
    Endpoint("GET", "/api/v3/avgPrice", avg_price, "NONE", fixed(2), params=_f("symbol")),
    Endpoint(
        "GET",
        "/api/v3/ticker/24hr",
        ticker_24hr,
        "NONE",
        _24hr_weight,
        params=_f("symbol", "symbols", "type", "symbolStatus"),
    ),
    Endpoint(
        "GET",
        "/api/v3/ticker/price",
        ticker_price,
        "NONE",
        lambda p: _ticker_weight(p, 2, 4),
        params=_f("symbol", "symbols", "symbolStatus"),
    ),
    Endpoint(
        "GET",
        "/api/v3/ticker/bookTicker",
        book_ticker,
        "NONE",
        lambda p: _ticker_weight(p, 2, 4),
        params=_f("symbol", "symbols", "symbolStatus"),
    ),
    Endpoint("GET", "/sapi/v1/system/status", system_status, "NONE", fixed(1), bucket="sapi_ip"),
]
