"""The market-data cache shared by every process through Redis (the distributed mode).

Keys (under ``prefix``)::

    <prefix>:v:<key>       the entry (``codec`` JSON); expires ``keep_seconds`` after it was put
    <prefix>:claim:<key>   present while one process fetches the key (SET NX PX); its value is
                           the claim's token, so only the holder deletes it

With one Redis for budget and cache, N API processes asking for the same ticker at once make
one exchange request between them: the first claims the key, the others wait for its entry.
"""

from __future__ import annotations

import secrets
from typing import Any

from redis.asyncio import Redis

from tresor.adapters.cache.codec import decode, encode
from tresor.domain.market import MarketRecord, Observed

# KEYS: the claim key. ARGV: the token. Deletes the claim only if it is still this token's.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisMarketCache:
    """``MarketCache`` in Redis. The caller owns ``redis_client`` and closes it."""

    def __init__(self, redis_client: Redis, *, prefix: str = "tresor:market") -> None:
        self._redis = redis_client
        self._prefix = prefix
        self._release = redis_client.register_script(_RELEASE)

    async def get(self, key: str) -> Observed[MarketRecord] | None:
        data: Any = await self._redis.get(f"{self._prefix}:v:{key}")
        return None if data is None else decode(data)

    async def put(self, key: str, entry: Observed[MarketRecord], *, keep_seconds: float) -> None:
        await self._redis.set(
            f"{self._prefix}:v:{key}", encode(entry), px=max(1, round(keep_seconds * 1000))
        )

    async def claim(self, key: str, *, seconds: float) -> str | None:
        token = secrets.token_hex(8)
        taken = await self._redis.set(
            f"{self._prefix}:claim:{key}", token, nx=True, px=max(1, round(seconds * 1000))
        )
        return token if taken else None

    async def release(self, key: str, token: str) -> None:
        await self._release(keys=[f"{self._prefix}:claim:{key}"], args=[token])
