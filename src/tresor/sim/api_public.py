"""Public market-data endpoints (security type NONE); exchangeInfo is in api_exchange_info."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tresor.sim import errors as e
from tresor.sim.catalogue import Pair
from tresor.sim.context import Ctx, Endpoint, fixed
from tresor.sim.market import INTERVAL_MS, f8
from tresor.sim.params import Params


def pair_of(ctx: Ctx, symbol: str | None) -> Pair:
    pair = ctx.venue.market.pairs.get(symbol or "")
    if pair is None:
        raise e.invalid_symbol()
    return pair


def symbols_param(ctx: Ctx) -> list[Pair] | None:
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
    pairs = symbols_param(ctx)
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
    pairs = symbols_param(ctx)
    market = ctx.venue.market
    chosen = pairs if pairs is not None else list(market.pairs.values())
    out = [{"symbol": p.symbol, "price": f8(market.price(p.symbol, ctx.now))} for p in chosen]
    return out[0] if ctx.params.values.get("symbol") else out


def book_ticker(ctx: Ctx) -> Any:
    pairs = symbols_param(ctx)
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
