"""Public market data, the same for every exchange: amounts ``Decimal``, times epoch
milliseconds as exchanges give them.

- ``Ticker``: a price feed: the last price, the best bid and ask, the day's range and volume.
- ``OrderBook``: liquidity depth: the resting orders of one market as (price, amount) levels.
- ``Candles``: price history: OHLCV candles of one market over one timeframe.

``Observed`` is one of them as it was read from the exchange (when), and ``MarketAnswer`` what a
caller gets: the record, when it was read, its age and whether it is ``stale`` (kept past its
time to live because the exchange could not be asked just now).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Generic, TypeVar

Level = tuple[Decimal, Decimal]  # (price, amount)


@dataclass(frozen=True, slots=True)
class Ticker:
    exchange: str
    symbol: str  # unified, e.g. "BTC/USDT"
    time_ms: int
    last: Decimal | None
    bid: Decimal | None
    bid_amount: Decimal | None
    ask: Decimal | None
    ask_amount: Decimal | None
    high: Decimal | None  # over the last 24 hours
    low: Decimal | None
    base_volume: Decimal | None
    quote_volume: Decimal | None


@dataclass(frozen=True, slots=True)
class OrderBook:
    exchange: str
    symbol: str
    time_ms: int
    bids: tuple[Level, ...]  # best (highest) first
    asks: tuple[Level, ...]  # best (lowest) first

    def top(self, depth: int) -> OrderBook:
        """The best ``depth`` levels of each side."""
        if len(self.bids) <= depth and len(self.asks) <= depth:
            return self
        return OrderBook(
            self.exchange, self.symbol, self.time_ms, self.bids[:depth], self.asks[:depth]
        )


@dataclass(frozen=True, slots=True)
class Candle:
    open_ms: int
    close_ms: int  # when the candle ends (the next one's open): it is closed from then on
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # in the base asset

    def closed(self, now_ms: int) -> bool:
        """Whether the candle is over at ``now_ms`` (its values can no longer change)."""
        return self.close_ms <= now_ms


@dataclass(frozen=True, slots=True)
class Candles:
    exchange: str
    symbol: str
    timeframe: str  # ccxt's notation: "1m", "1h", "1d", "1M" ...
    candles: tuple[Candle, ...]  # oldest first


MarketRecord = Ticker | OrderBook | Candles
R = TypeVar("R", bound=MarketRecord)


@dataclass(frozen=True, slots=True)
class Observed(Generic[R]):
    """A record as read from the exchange at ``fetched_ms`` (what a cache holds)."""

    value: R
    fetched_ms: int


@dataclass(frozen=True, slots=True)
class MarketAnswer(Generic[R]):
    """A record for a caller: read from ``endpoint`` at ``fetched_ms``, ``age_ms`` old when
    answered; ``stale`` when it outlived its time to live because the exchange could not be
    asked just now (no room in the rate budget, rate limited, unreachable)."""

    endpoint: str
    value: R
    fetched_ms: int
    age_ms: int
    stale: bool
