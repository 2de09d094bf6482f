"""Market records as JSON (for a cache outside the process): amounts as decimal strings, so a
value read back is exactly the one stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from tresor.domain.market import Candle, Candles, MarketRecord, Observed, OrderBook, Ticker

VERSION = 1
_TICKER_AMOUNTS = (
    "last",
    "bid",
    "bid_amount",
    "ask",
    "ask_amount",
    "high",
    "low",
    "base_volume",
    "quote_volume",
)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _record(value: MarketRecord) -> dict[str, Any]:
    if isinstance(value, Ticker):
        return {
            "kind": "ticker",
            "exchange": value.exchange,
            "symbol": value.symbol,
            "time_ms": value.time_ms,
            **{name: _text(getattr(value, name)) for name in _TICKER_AMOUNTS},
        }
    if isinstance(value, OrderBook):
        return {
            "kind": "order_book",
            "exchange": value.exchange,
            "symbol": value.symbol,
            "time_ms": value.time_ms,
            "bids": [[str(p), str(a)] for p, a in value.bids],
            "asks": [[str(p), str(a)] for p, a in value.asks],
        }
    return {
        "kind": "candles",
        "exchange": value.exchange,
        "symbol": value.symbol,
        "timeframe": value.timeframe,
        "candles": [
            [
                c.open_ms,
                c.close_ms,
                str(c.open),
                str(c.high),
                str(c.low),
                str(c.close),
                str(c.volume),
            ]
            for c in value.candles
        ],
    }


def encode(entry: Observed[MarketRecord]) -> bytes:
    return orjson.dumps(
        {"version": VERSION, "fetched_ms": entry.fetched_ms, "value": _record(entry.value)}
    )


def decode(data: bytes) -> Observed[MarketRecord] | None:
    """The entry, or None for data of another version (written by an older Tresor)."""
    raw = orjson.loads(data)
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        return None
    v = raw["value"]
    value: MarketRecord
    if v["kind"] == "ticker":
        value = Ticker(
            exchange=v["exchange"],
            symbol=v["symbol"],
            time_ms=v["time_ms"],
            **{name: _dec(v[name]) for name in _TICKER_AMOUNTS},
        )
    elif v["kind"] == "order_book":
        value = OrderBook(
            exchange=v["exchange"],
            symbol=v["symbol"],
            time_ms=v["time_ms"],
            bids=tuple((Decimal(p), Decimal(a)) for p, a in v["bids"]),
            asks=tuple((Decimal(p), Decimal(a)) for p, a in v["asks"]),
        )
    else:
        value = Candles(
            exchange=v["exchange"],
            symbol=v["symbol"],
            timeframe=v["timeframe"],
            candles=tuple(
                Candle(o_ms, c_ms, Decimal(o), Decimal(h), Decimal(lo), Decimal(c), Decimal(vol))
                for o_ms, c_ms, o, h, lo, c, vol in v["candles"]
            ),
        )
    return Observed(value, int(raw["fetched_ms"]))
