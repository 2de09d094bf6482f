"""The market caches the contract suite runs against: in memory and in Redis.

Redis is ``TRESOR_TEST_REDIS_URL`` (default: the local server's database 0), as for the rate
budget (``tests/contract/ratelimit``): each test gets its own random key prefix, deleted
afterwards; when the server cannot be reached the Redis tests are skipped with the reason,
except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from tests.contract.ratelimit.conftest import CONNECT_TIMEOUT, REDIS_URL, _redis_unavailable
from tresor.adapters.cache.memory import InMemoryMarketCache
from tresor.adapters.cache.redis import RedisMarketCache
from tresor.services.ports import MarketCache

RedisCacheFactory = Callable[[], Awaitable[RedisMarketCache]]
"""Another ``RedisMarketCache`` on its own connection, sharing the test's prefix: a process."""


@pytest.fixture
async def redis_caches() -> AsyncIterator[RedisCacheFactory]:
    prefix = f"tresor-test-{secrets.token_hex(6)}"
    clients: list[Redis] = []

    async def connect() -> Redis:
        client = Redis.from_url(REDIS_URL)
        clients.append(client)
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await client.ping()
        return client

    async def new_cache() -> RedisMarketCache:
        return RedisMarketCache(await connect(), prefix=prefix)

    try:
        try:
            admin = await connect()
        except Exception as e:  # whatever stops us from connecting
            _redis_unavailable(f"{type(e).__name__}: {e}")
        yield new_cache
        async for key in admin.scan_iter(match=f"{prefix}:*"):
            await admin.delete(key)
    finally:
        for client in clients:
            await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def cache_maker(request: pytest.FixtureRequest) -> Callable[[], Awaitable[MarketCache]]:
    """Makes caches that share their entries (two "processes" on one cache)."""
    if request.param == "redis":
        factory: RedisCacheFactory = request.getfixturevalue("redis_caches")
        return factory
    shared = InMemoryMarketCache()

    async def in_memory() -> MarketCache:
        return shared

    return in_memory


@pytest.fixture
async def cache(cache_maker: Callable[[], Awaitable[MarketCache]]) -> MarketCache:
    """Each implementation of the ``MarketCache`` port in turn, empty."""
    return await cache_maker()
