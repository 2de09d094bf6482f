"""``CcxtMarket``: the ``MarketSource`` port on ccxt's unified public calls (``fetch_ticker``,
``fetch_order_book``, ``fetch_ohlcv``) for one endpoint, without a key.

The gateway opens one per endpoint and keeps it: its markets are loaded once (one
``GET /api/v3/exchangeInfo`` on Binance, weight 20) and refreshed hourly. Its client is metered
like every other (``metering.Meter``: charged, reconciled, logged with no connection id), but
with no wait for the budget: a call that finds no room raises ``RateBudgetExhausted`` at once,
so the market-data service can answer from its cache instead of keeping the caller waiting.

ccxt gives numbers as floats; they become ``Decimal(str(x))``, the shortest decimal that reads
back as the same float (exact for the 8-decimal prices and amounts exchanges send).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tresor.adapters.exchange.client import ExchangeClient
from tresor.domain.errors import ExchangeUnavailable, TresorError
from tresor.domain.market import Candle, Candles, Level, OrderBook, Ticker

MARKETS_TTL_MS = 3_600_000
# Binance's order book weight steps (GET /api/v3/depth: limit 1-100: 5, 101-500: 25,
# 501-1000: 50, 1001-5000: 250): asking for the top of a step costs the same as any depth in it
BINANCE_BOOK_LIMITS = (100, 500, 1000, 5000)
_TIMEFRAME = re.compile(r"^([1-9][0-9]*)([smhdwMy])$")


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _levels(rows: Any) -> tuple[Level, ...]:
    if not isinstance(rows, list):
        raise ExchangeUnavailable("The exchange sent an order book Tresor cannot read.")
    return tuple((Decimal(str(row[0])), Decimal(str(row[1]))) for row in rows)


def _add_months(open_ms: int, months: int) -> int:
    start = datetime.fromtimestamp(open_ms / 1000, UTC)
    index = start.year * 12 + start.month - 1 + months
    end = start.replace(year=index // 12, month=index % 12 + 1)
    return open_ms + int((end - start).total_seconds() * 1000)


def candle_end(open_ms: int, timeframe: str, seconds: int) -> int:
    """When a candle opened at ``open_ms`` ends: ``seconds`` later, except for months and
    years, which are calendar ones (ccxt counts a month as 30 days)."""
    match = _TIMEFRAME.match(timeframe)
    if match is not None and match.group(2) in "My":
        n = int(match.group(1))
        return _add_months(open_ms, n if match.group(2) == "M" else 12 * n)
    return open_ms + seconds * 1000


class CcxtMarket:
    """Public market data of one endpoint through one long-lived, metered ccxt client."""

    def __init__(
        self,
        client: ExchangeClient,
        *,
        now_ms: Callable[[], int],
        markets_ttl_ms: int = MARKETS_TTL_MS,
    ) -> None:
        self.client = client
        self.exchange = client.exchange
        self.now_ms = now_ms
        self.markets_ttl_ms = markets_ttl_ms
        self._symbols: frozenset[str] | None = None
        self._loaded_ms = 0
        self._loading = asyncio.Lock()

    async def symbols(self) -> frozenset[str]:
        """See ``MarketSource.symbols``. A failed hourly refresh keeps the markets known."""
        if self._symbols is not None and self.now_ms() - self._loaded_ms < self.markets_ttl_ms:
            return self._symbols
        async with self._loading:
            if self._symbols is None or self.now_ms() - self._loaded_ms >= self.markets_ttl_ms:
                try:
                    markets = await self.client.load_markets(reload=self._symbols is not None)
                except TresorError:
                    if self._symbols is None:
                        raise
                    self._loaded_ms = self.now_ms()  # try again in an hour, not at every call
                else:
                    self._symbols = frozenset(markets)
                    self._loaded_ms = self.now_ms()
            return self._symbols

    def timeframes(self) -> tuple[str, ...]:
        return self.client.timeframes()

    def book_limit(self, depth: int) -> int:
        if self.exchange == "binance":
            return next((step for step in BINANCE_BOOK_LIMITS if depth <= step), depth)
        return depth

    async def ticker(self, symbol: str) -> Ticker:
        fetched = self.now_ms()
        raw = await self.client.fetch_ticker(symbol)
        return Ticker(
            exchange=self.exchange,
            symbol=symbol,
            time_ms=int(raw.get("timestamp") or fetched),
            last=_dec(raw.get("last")),
            bid=_dec(raw.get("bid")),
            bid_amount=_dec(raw.get("bidVolume")),
            ask=_dec(raw.get("ask")),
            ask_amount=_dec(raw.get("askVolume")),
            high=_dec(raw.get("high")),
            low=_dec(raw.get("low")),
            base_volume=_dec(raw.get("baseVolume")),
            quote_volume=_dec(raw.get("quoteVolume")),
        )

    async def order_book(self, symbol: str, limit: int) -> OrderBook:
        fetched = self.now_ms()
        raw = await self.client.fetch_order_book(symbol, limit)
        return OrderBook(
            exchange=self.exchange,
            symbol=symbol,
            # Binance's depth has no time (ccxt's timestamp is None): when it was asked for
            time_ms=int(raw.get("timestamp") or fetched),
            bids=_levels(raw.get("bids")),
            asks=_levels(raw.get("asks")),
        )

    async def candles(
        self, symbol: str, timeframe: str, *, since_ms: int | None, limit: int
    ) -> Candles:
        seconds = self.client.timeframe_seconds(timeframe)
        since = None if since_ms is None else datetime.fromtimestamp(since_ms / 1000, UTC)
        rows = await self.client.fetch_ohlcv(symbol, timeframe, since=since, limit=limit)
        candles = []
        for row in rows:
            if not isinstance(row, list) or len(row) < 5 or None in row[:5]:
                continue  # a candle without prices (some exchanges' empty intervals)
            open_ms = int(row[0])
            candles.append(
                Candle(
                    open_ms=open_ms,
                    close_ms=candle_end(open_ms, timeframe, seconds),
                    open=Decimal(str(row[1])),
                    high=Decimal(str(row[2])),
                    low=Decimal(str(row[3])),
                    close=Decimal(str(row[4])),
                    volume=_dec(row[5] if len(row) > 5 else None) or Decimal(0),
                )
            )
        return Candles(self.exchange, symbol, timeframe, tuple(candles))

    async def aclose(self) -> None:
        await self.client.close()
