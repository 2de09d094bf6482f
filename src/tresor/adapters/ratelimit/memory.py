"""The rate budget of one process (the embedded default)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from tresor.domain.errors import RateBudgetExhausted
from tresor.domain.ratelimits import Bucket

# Wake a little after a window ends rather than a little before it (timer granularity).
_SLACK = 0.001


class InMemoryRateBudget:
    """``RateBudget`` held in this process. Asyncio-safe: checking and charging run without an
    ``await`` in between, so tasks of one event loop cannot interleave them (not thread-safe).

    ``clock`` gives seconds since the epoch (windows are aligned to it) and ``sleep`` waits; both
    are injectable so tests can run on a fake clock.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window index, weight charged)
        self._blocked_until: dict[str, float] = {}

    async def acquire(
        self,
        buckets: Sequence[Bucket],
        weight: int,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (ends in a domain error)
    ) -> None:
        """See ``RateBudget.acquire``.

        Raises:
            RateBudgetExhausted: ``timeout`` passed before every bucket had room.
            ValueError: the weight could never fit one of the buckets.
        """
        for bucket in buckets:
            bucket.check_weight(weight)
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            now = self._clock()
            wait, full = self._try_charge(buckets, weight, now)
            if full is None:
                return
            if deadline is not None and wait > deadline - now:
                # the room comes after the deadline (a window's end, a block's): say so now
                raise RateBudgetExhausted(bucket=full, timeout=timeout or 0.0, retry_after=wait)
            await self._sleep(wait)

    async def room_after(self, buckets: Sequence[Bucket], weight: int) -> tuple[float, str | None]:
        return self._room(buckets, weight, self._clock())

    def _try_charge(
        self, buckets: Sequence[Bucket], weight: int, now: float
    ) -> tuple[float, str | None]:
        """Charge every bucket and return ``(0, None)``, or charge none and return how long to
        wait before trying again and the key of a bucket without room."""
        wait, full = self._room(buckets, weight, now)
        if full is not None:
            return wait, full
        for bucket in buckets:
            index = bucket.window_index(now)
            self._counts[bucket.key] = (index, self._count(bucket.key, index) + weight)
        return 0.0, None

    def _room(self, buckets: Sequence[Bucket], weight: int, now: float) -> tuple[float, str | None]:
        """``(0, None)`` when every bucket has room for ``weight`` now, else how long to wait
        and the key of a bucket without room."""
        wait = 0.0
        full: str | None = None
        for bucket in buckets:
            blocked_until = self._blocked_until.get(bucket.key, 0.0)
            if blocked_until > now:
                wait, full = max(wait, blocked_until - now), bucket.key
            index = bucket.window_index(now)
            if self._count(bucket.key, index) + weight > bucket.limit:
                wait, full = max(wait, bucket.window_end(index) - now + _SLACK), bucket.key
        return wait, full

    def _count(self, key: str, index: int) -> int:
        counted = self._counts.get(key)
        return counted[1] if counted is not None and counted[0] == index else 0

    async def observe(self, bucket: Bucket, used: int) -> None:
        index = bucket.window_index(self._clock())
        self._counts[bucket.key] = (index, max(self._count(bucket.key, index), used))

    async def block(self, bucket: Bucket, seconds: float) -> None:
        until = self._clock() + seconds
        self._blocked_until[bucket.key] = max(self._blocked_until.get(bucket.key, 0.0), until)

    async def used(self, bucket: Bucket) -> int:
        return self._count(bucket.key, bucket.window_index(self._clock()))
