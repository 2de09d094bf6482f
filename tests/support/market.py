"""A fake exchange for the market-data service: a ``MarketSource`` (and the gateway giving it)
that counts the requests reaching it and fails or holds them on demand."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

from tests.support.clock import FakeClock
from tresor.domain.connections import ExchangeTarget
from tresor.domain.errors import TresorError
from tresor.domain.market import Candle, Candles, OrderBook, Ticker

HOUR_MS = 3_600_000
SIM = ExchangeTarget("binance", "sim", "http://127.0.0.1:1")


class FakeMarket:
    """A ``MarketSource`` counting the requests that reach it; ``fail`` makes them fail (the
    next ones: ``fail_next``) and ``hold`` keeps them waiting until it is set."""

    exchange = "binance"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: Counter[str] = Counter()
        self.fail: TresorError | None = None
        self.fail_next: list[TresorError] = []
        self.hold: asyncio.Event | None = None
        self.price = Decimal("64250.5")

    async def _request(self, name: str) -> None:
        self.calls[name] += 1
        if self.hold is not None:
            await self.hold.wait()
        if self.fail is not None:
            raise self.fail
        if self.fail_next:
            raise self.fail_next.pop(0)

    def now_ms(self) -> int:
        return int(self.clock.seconds() * 1000)

    async def symbols(self) -> frozenset[str]:
        return frozenset({"BTC/USDT", "ETH/USDT"})

    def timeframes(self) -> tuple[str, ...]:
        return ("1m", "1h", "1d")

    def book_limit(self, depth: int) -> int:
        return next(step for step in (100, 500, 1000, 5000) if depth <= step)

    async def ticker(self, symbol: str) -> Ticker:
        await self._request("ticker")
        p = self.price
        return Ticker(
            "binance", symbol, self.now_ms(), p, p, Decimal(1), p, Decimal(1), p, p, None, None
        )

    async def order_book(self, symbol: str, limit: int) -> OrderBook:
        await self._request(f"book:{limit}")
        bids = tuple((self.price - i, Decimal(i + 1)) for i in range(limit))
        asks = tuple((self.price + 1 + i, Decimal(i + 1)) for i in range(limit))
        return OrderBook("binance", symbol, self.now_ms(), bids, asks)

    async def candles(
        self, symbol: str, timeframe: str, *, since_ms: int | None, limit: int
    ) -> Candles:
        await self._request(f"candles:{timeframe}")
        length = {"1m": 60_000, "1h": HOUR_MS, "1d": 24 * HOUR_MS}[timeframe]
        now = self.now_ms()
        first = since_ms if since_ms is not None else now - now % length - (limit - 1) * length
        opens = [first + i * length for i in range(limit) if first + i * length <= now]
        p = self.price
        rows = tuple(Candle(o, o + length, p, p, p, p, Decimal(1)) for o in opens)
        return Candles("binance", symbol, timeframe, rows)


class FakeGateway:
    def __init__(self, market: FakeMarket) -> None:
        self.source = market

    def market(self, target: ExchangeTarget) -> FakeMarket:
        assert target == SIM
        return self.source
