"""The market-data cache of one process (the embedded default)."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from tresor.domain.market import MarketRecord, Observed

DEFAULT_MAX_ENTRIES = 10_000


class InMemoryMarketCache:
    """``MarketCache`` held in this process: entries expire ``keep_seconds`` after they are
    stored, and past ``max_entries`` the least recently used go first (a client asking for
    candles from ever new ``since`` times cannot make it grow without bound).

    ``clock`` gives monotonic seconds; injectable so tests can run on a fake clock.
    """

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Observed[MarketRecord]]] = OrderedDict()
        self._claims: dict[str, tuple[str, float]] = {}

    async def get(self, key: str) -> Observed[MarketRecord] | None:
        found = self._entries.get(key)
        if found is None:
            return None
        until, entry = found
        if until <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    async def put(self, key: str, entry: Observed[MarketRecord], *, keep_seconds: float) -> None:
        self._entries[key] = (self._clock() + keep_seconds, entry)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def claim(self, key: str, *, seconds: float) -> str | None:
        now = self._clock()
        held = self._claims.get(key)
        if held is not None and held[1] > now:
            return None
        token = secrets.token_hex(8)
        self._claims[key] = (token, now + seconds)
        return token

    async def release(self, key: str, token: str) -> None:
        held = self._claims.get(key)
        if held is not None and held[0] == token:
            del self._claims[key]

    def __len__(self) -> int:
        return len(self._entries)
