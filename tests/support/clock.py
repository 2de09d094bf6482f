"""Clocks tests move: a venue clock (wall time plus a shift that only grows) and a fake
services clock that stands still until told to move."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

DAY_MS = 86_400_000
DAY_END_MARGIN_MS = 5 * 60_000


class SimClock:
    """Pass as ``SimConfig(clock=...)``. The market, limits and bans all read it, so a test can
    jump hours ahead or start a fresh rate-limit window instead of waiting for one."""

    def __init__(self) -> None:
        self.shift_ms = 0

    def __call__(self) -> int:
        return int(time.time() * 1000) + self.shift_ms

    def advance(self, ms: int) -> None:
        self.shift_ms += ms

    def to_start_of_window(self, window_ms: int, lead_ms: int = 20) -> None:
        """Jump to just after the start of the next ``window_ms`` window (limits use fixed
        windows), so the next seconds of requests all fall into one window. Never lands in the
        last minutes of a UTC day, so the daily order count does not roll over either."""
        now = self()
        target = now - now % window_ms + window_ms
        if DAY_MS - target % DAY_MS < DAY_END_MARGIN_MS:
            target += DAY_MS - target % DAY_MS
        self.advance(target + lead_ms - now)


class FakeClock:
    """A services ``Clock`` that moves only when the test says so; ``seconds`` is the same time
    as a float, for adapters that take a clock of seconds (the in-memory caches)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.t = start or datetime(2026, 1, 5, 12, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t

    def seconds(self) -> float:
        return self.t.timestamp()

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)
