"""The market model: mid prices, order books, candles, the public trade tape and tickers.

Everything public is a pure function of (seed, symbol, time): asset prices in USD follow
``noise.Path`` octaves keyed by a world seed shared by every simulated venue, and each venue adds
its own small deviation keyed by its ``--seed``. Two venues therefore quote nearly, but not
exactly, the same prices, which is what cross-venue routing needs to be tested against.
"""

from __future__ import annotations

import math
from calendar import monthrange
from datetime import UTC, datetime
from decimal import Decimal

from tresor.sim.catalogue import STABLES, Pair, asset_usd_refs
from tresor.sim.noise import (
    STABLE_OCTAVES,
    VENUE_OCTAVES,
    VOLATILE_OCTAVES,
    Path,
    key_of,
    unit,
)

WORLD_SEED = 20240101
ZERO = Decimal(0)

INTERVAL_MS: dict[str, int] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
    "1M": 0,  # calendar month, handled apart
}
# Weekly candles open on Monday 00:00 UTC; the epoch was a Thursday.
_WEEK_OFFSET_MS = 4 * 86_400_000

Level = tuple[Decimal, Decimal]


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``step``."""
    return (value // step) * step


class Market:
    """Public market data of one simulated venue."""

    def __init__(self, pairs: list[Pair], seed: int) -> None:
        self.seed = seed
        self.pairs: dict[str, Pair] = {p.symbol: p for p in pairs}
        refs = asset_usd_refs()
        for p in pairs:
            refs.setdefault(p.base, p.ref_price * refs.get(p.quote, 1.0))
        self._usd_ref = refs
        self._asset_paths: dict[str, Path] = {}
        self._venue_paths: dict[str, Path] = {
            p.symbol: Path(key_of("venue", seed, p.symbol), VENUE_OCTAVES) for p in pairs
        }
        self._tick_f = {p.symbol: float(p.tick_size) for p in pairs}
        self._step_f = {p.symbol: float(p.step_size) for p in pairs}
        self._ticker_cache: dict[str, tuple[int, dict[str, str | int]]] = {}

    # -- prices ------------------------------------------------------------------------------
    def _asset_path(self, asset: str) -> Path:
        path = self._asset_paths.get(asset)
        if path is None:
            octaves = STABLE_OCTAVES if asset in STABLES else VOLATILE_OCTAVES
            path = Path(key_of("world", WORLD_SEED, asset), octaves)
            self._asset_paths[asset] = path
        return path

    def usd(self, asset: str, t_ms: int) -> float:
        """The world USD price of an asset at ``t_ms`` (no venue deviation)."""
        if asset == "USD":
            return 1.0
        ref = self._usd_ref.get(asset)
        if ref is None:
            return 0.0
        return ref * math.exp(self._asset_path(asset).value(t_ms / 1000.0))

    def mid(self, symbol: str, t_ms: int) -> float:
        p = self.pairs[symbol]
        t = t_ms / 1000.0
        log_ratio = (
            self._asset_path(p.base).value(t)
            - self._asset_path(p.quote).value(t)
            + self._venue_paths[symbol].value(t)
        )
        return p.ref_price * math.exp(log_ratio)

    def price(self, symbol: str, t_ms: int) -> Decimal:
        """The mid price rounded to the pair's tick size."""
        tick = self._tick_f[symbol]
        ticks = max(1, round(self.mid(symbol, t_ms) / tick))
        return Decimal(ticks) * self.pairs[symbol].tick_size

    def _qty(self, symbol: str, usd_value: float, t_ms: int) -> Decimal:
        p = self.pairs[symbol]
        base_usd = self.usd(p.base, t_ms) or 1.0
        steps = max(1, int(usd_value / base_usd / self._step_f[symbol]))
        return Decimal(steps) * p.step_size

    # -- order book ----------------------------------------------------------------------------
    def book(self, symbol: str, t_ms: int, limit: int) -> tuple[list[Level], list[Level]]:
        """Bids (best first) and asks (best first) around the mid price at ``t_ms``."""
        p = self.pairs[symbol]
        tick = self._tick_f[symbol]
        mid = self.mid(symbol, t_ms)
        half = max(tick / 2, mid * 0.00005)
        bid0 = max(1, math.floor((mid - half) / tick))
        ask0 = max(bid0 + 1, math.ceil((mid + half) / tick))
        gap = max(1, round(mid * 0.0001 / tick))
        key = key_of("book", self.seed, symbol, t_ms // 1000)
        base_usd = self.usd(p.base, t_ms) or 1.0
        step_f = self._step_f[symbol]
        bids: list[Level] = []
        asks: list[Level] = []
        for i in range(limit):
            depth = p.liquidity_usd * (1.0 + 0.04 * i) / base_usd / step_f
            bid_ticks = bid0 - i * gap
            if bid_ticks > 0:
                steps = max(1, int(depth * (0.3 + 1.4 * unit(key, 2 * i))))
                bids.append((Decimal(bid_ticks) * p.tick_size, Decimal(steps) * p.step_size))
            steps = max(1, int(depth * (0.3 + 1.4 * unit(key, 2 * i + 1))))
            asks.append((Decimal(ask0 + i * gap) * p.tick_size, Decimal(steps) * p.step_size))
        return bids, asks

    # -- candles -------------------------------------------------------------------------------
    def candle_open(self, interval: str, t_ms: int) -> int:
        if interval == "1M":
            d = datetime.fromtimestamp(t_ms / 1000, UTC)
            return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1000)
        size = INTERVAL_MS[interval]
        if interval == "1w":
            return ((t_ms - _WEEK_OFFSET_MS) // size) * size + _WEEK_OFFSET_MS
        return (t_ms // size) * size

    def candle_close(self, interval: str, open_ms: int) -> int:
        """The next candle's open time (exclusive end)."""
        if interval == "1M":
            d = datetime.fromtimestamp(open_ms / 1000, UTC)
            days = monthrange(d.year, d.month)[1]
            return open_ms + days * 86_400_000
        return open_ms + INTERVAL_MS[interval]

    def kline(self, symbol: str, interval: str, open_ms: int, now_ms: int) -> list[object]:
        p = self.pairs[symbol]
        end = self.candle_close(interval, open_ms)
        last = min(end - 1, now_ms)
        span = max(1, last - open_ms)
        samples = min(24, max(1, span // 1000))
        prices = [self.price(symbol, open_ms + span * k // samples) for k in range(samples + 1)]
        o, c = prices[0], prices[-1]
        key = key_of("kline", self.seed, symbol, interval, open_ms)
        length_days = (end - open_ms) / 86_400_000
        usd_volume = p.liquidity_usd * 3000.0 * length_days * (0.4 + 1.2 * unit(key, 0))
        if last < end - 1:
            usd_volume *= span / (end - open_ms)
        volume = self._qty(symbol, usd_volume, open_ms) if usd_volume > 0 else ZERO
        quote_volume = volume * c
        trades = max(1, span // p.trade_every_ms)
        taker_share = Decimal(int(300 + 400 * unit(key, 1))) / 1000
        taker_base = floor_to(volume * taker_share, p.step_size)
        return [
            open_ms,
            f8(o),
            f8(max(prices)),
            f8(min(prices)),
            f8(c),
            f8(volume),
            end - 1,
            f8(quote_volume),
            int(trades),
            f8(taker_base),
            f8(taker_base * c),
            "0",
        ]

    # -- public trade tape ---------------------------------------------------------------------
    def tape_id_at(self, symbol: str, t_ms: int) -> int:
        """The id of the last public trade at or before ``t_ms``."""
        return t_ms // self.pairs[symbol].trade_every_ms

    def tape_trade(self, symbol: str, trade_id: int) -> dict[str, object]:
        p = self.pairs[symbol]
        t_ms = trade_id * p.trade_every_ms
        key = key_of("tape", self.seed, symbol)
        jitter = (1 if unit(key, 3 * trade_id) > 0.5 else -1) * p.tick_size
        price = max(p.tick_size, self.price(symbol, t_ms) + jitter)
        qty = self._qty(
            symbol, p.liquidity_usd * 0.05 * (0.05 + 2 * unit(key, 3 * trade_id + 1)), t_ms
        )
        return {
            "id": trade_id,
            "price": f8(price),
            "qty": f8(qty),
            "quoteQty": f8(price * qty),
            "time": t_ms,
            "isBuyerMaker": unit(key, 3 * trade_id + 2) < 0.5,
            "isBestMatch": True,
        }

    # -- tickers -------------------------------------------------------------------------------
    def ticker_24h(self, symbol: str, now_ms: int) -> dict[str, str | int]:
        cached = self._ticker_cache.get(symbol)
        if cached is not None and cached[0] == now_ms // 1000:
            return cached[1]
        p = self.pairs[symbol]
        open_ms = now_ms - 86_400_000
        samples = [self.price(symbol, open_ms + k * 1_800_000) for k in range(48)]
        last = self.price(symbol, now_ms)
        samples.append(last)
        o = samples[0]
        bids, asks = self.book(symbol, now_ms, 1)
        volume = self._qty(symbol, p.liquidity_usd * 3000.0, now_ms)
        weighted = (sum(samples, ZERO) / len(samples)).quantize(p.tick_size)
        first_id = self.tape_id_at(symbol, open_ms) + 1
        last_id = self.tape_id_at(symbol, now_ms)
        change = last - o
        ticker: dict[str, str | int] = {
            "symbol": symbol,
            "priceChange": f8(change),
            "priceChangePercent": f"{(change / o * 100):.3f}" if o else "0.000",
            "weightedAvgPrice": f8(weighted),
            "prevClosePrice": f8(o),
            "lastPrice": f8(last),
            "lastQty": f8(p.step_size),
            "bidPrice": f8(bids[0][0]) if bids else f8(ZERO),
            "bidQty": f8(bids[0][1]) if bids else f8(ZERO),
            "askPrice": f8(asks[0][0]),
            "askQty": f8(asks[0][1]),
            "openPrice": f8(o),
            "highPrice": f8(max(samples)),
            "lowPrice": f8(min(samples)),
            "volume": f8(volume),
            "quoteVolume": f8(volume * weighted),
            "openTime": open_ms,
            "closeTime": now_ms,
            "firstId": first_id,
            "lastId": last_id,
            "count": last_id - first_id + 1,
        }
        self._ticker_cache[symbol] = (now_ms // 1000, ticker)
        return ticker


def f8(value: Decimal) -> str:
    """Binance's fixed eight-decimal rendering of amounts and prices."""
    return f"{value:.8f}"
