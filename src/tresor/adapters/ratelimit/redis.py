"""The rate budget shared by every process through Redis (the distributed mode).

Each check-and-charge is one Lua script, so charging several buckets is atomic across
processes, and windows come from the Redis server's ``TIME``, so hosts whose clocks disagree
still agree on the window. Keys (under ``prefix``)::

    <prefix>:<bucket key>:w:<window index>   weight charged in that window; expires 1 s after it
    <prefix>:<bucket key>:block              present while the bucket is blocked (PX)

Scripts build the window keys from the declared bucket keys, so this needs a single Redis
server (or a Cluster where one bucket's keys share a hash tag, e.g. ``{binance:ip:1.2.3.4}``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from tresor.domain.errors import RateBudgetExhausted
from tresor.domain.ratelimits import MICROSECONDS, Bucket

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function window_key(base, window)
  local index = math.floor(now / window)
  return base .. ':w:' .. string.format('%.0f', index), (index + 1) * window - now
end
"""

# KEYS: bucket keys. ARGV: weight, then limit and window (us) of each bucket. Finds whether
# every bucket has room (``wait``, ``full``); the window key and time left of each in ``charge``.
_ROOM = (
    _NOW
    + """
local weight = tonumber(ARGV[1])
local wait, full = 0, 0
local charge = {}
for i, base in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local blocked = redis.call('PTTL', base .. ':block')
  if blocked > 0 and blocked * 1000 > wait then
    wait, full = blocked * 1000, i
  end
  local key, left = window_key(base, window)
  local used = tonumber(redis.call('GET', key) or '0')
  if used + weight > limit and left > wait then
    wait, full = left, i
  elseif used + weight > limit and full == 0 then
    full = i
  end
  charge[i] = {key, left}
end
if full > 0 then
  return {math.max(wait, 1), full}
end
"""
)
# Returns {0, 0} when room was found and charged, else {microseconds to wait, 1-based index of
# a full bucket}; ``_ROOM_ONLY`` the same without charging.
_ROOM_ONLY = _ROOM + "return {0, 0}\n"
_ACQUIRE = (
    _ROOM
    + """
for i, c in ipairs(charge) do
  redis.call('INCRBY', c[1], weight)
  redis.call('PEXPIRE', c[1], math.ceil(c[2] / 1000) + 1000)
end
return {0, 0}
"""
)

# KEYS: bucket key. ARGV: used, window (us).
_OBSERVE = (
    _NOW
    + """
local key, left = window_key(KEYS[1], tonumber(ARGV[2]))
local used = tonumber(ARGV[1])
if used > tonumber(redis.call('GET', key) or '0') then
  redis.call('SET', key, used, 'PX', math.ceil(left / 1000) + 1000)
end
return 0
"""
)

# KEYS: bucket key. ARGV: milliseconds. A shorter block never shortens a longer one.
_BLOCK = """
local key = KEYS[1] .. ':block'
local ms = tonumber(ARGV[1])
if redis.call('PTTL', key) < ms then
  redis.call('SET', key, 1, 'PX', ms)
end
return 0
"""

# KEYS: bucket key. ARGV: window (us).
_USED = (
    _NOW
    + """
local key = window_key(KEYS[1], tonumber(ARGV[1]))
return tonumber(redis.call('GET', key) or '0')
"""
)


class RedisRateBudget:
    """``RateBudget`` in Redis, shared by every process using the same server and ``prefix``.

    The caller owns ``redis_client`` (an asyncio client) and closes it. At most
    ``max_calls_in_flight`` scripts run at once from this instance, however many tasks wait, so a
    crowd of waiters cannot exhaust the client's connection pool (redis-py's default is 100).
    """

    def __init__(
        self, redis_client: Redis, *, prefix: str = "tresor:budget", max_calls_in_flight: int = 8
    ) -> None:
        self._prefix = prefix
        self._in_flight = asyncio.Semaphore(max_calls_in_flight)
        self._acquire = redis_client.register_script(_ACQUIRE)
        self._room = redis_client.register_script(_ROOM_ONLY)
        self._observe = redis_client.register_script(_OBSERVE)
        self._block = redis_client.register_script(_BLOCK)
        self._used = redis_client.register_script(_USED)

    def _key(self, bucket: Bucket) -> str:
        return f"{self._prefix}:{bucket.key}"

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
        if not buckets:
            return
        keys, args = self._script_args(buckets, weight)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            async with self._in_flight:
                answer: Any = await self._acquire(keys=keys, args=args)
            wait_us, full = int(answer[0]), int(answer[1])
            if full == 0:
                return
            wait = wait_us / MICROSECONDS
            if deadline is not None and wait > deadline - loop.time():
                # the room comes after the deadline (a window's end, a block's): say so now
                raise RateBudgetExhausted(
                    bucket=buckets[full - 1].key, timeout=timeout or 0.0, retry_after=wait
                )
            await asyncio.sleep(wait)

    async def room_after(self, buckets: Sequence[Bucket], weight: int) -> tuple[float, str | None]:
        if not buckets:
            return 0.0, None
        keys, args = self._script_args(buckets, weight)
        async with self._in_flight:
            answer: Any = await self._room(keys=keys, args=args)
        wait_us, full = int(answer[0]), int(answer[1])
        if full == 0:
            return 0.0, None
        return wait_us / MICROSECONDS, buckets[full - 1].key

    def _script_args(self, buckets: Sequence[Bucket], weight: int) -> tuple[list[str], list[int]]:
        keys = [self._key(bucket) for bucket in buckets]
        args: list[int] = [weight]
        for bucket in buckets:
            args += [bucket.limit, bucket.window_us]
        return keys, args

    async def observe(self, bucket: Bucket, used: int) -> None:
        async with self._in_flight:
            await self._observe(keys=[self._key(bucket)], args=[used, bucket.window_us])

    async def block(self, bucket: Bucket, seconds: float) -> None:
        milliseconds = round(seconds * 1000)
        if milliseconds > 0:
            async with self._in_flight:
                await self._block(keys=[self._key(bucket)], args=[milliseconds])

    async def used(self, bucket: Bucket) -> int:
        async with self._in_flight:
            answer: Any = await self._used(keys=[self._key(bucket)], args=[bucket.window_us])
        return int(answer)
