"""The market caches the contract suite runs against: in memory and in Redis.

Redis is ``TRESOR_TEST_REDIS_URL`` (default: the local server's database 0), as for the rate
budget (``tests/contract/ratelimit``): each test gets its own random key prefix, deleted
afterwards; when the server cannot be reached the Redis tests are skipped with the reason,
except under ``CI=true``, where they fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.support.services import redis_clients
from tresor.adapters.cache.memory import InMemoryMarketCache
from tresor.adapters.cache.redis import RedisMarketCache
from tresor.services.ports import MarketCache

RedisCacheFactory = Callable[[], Awaitable[RedisMarketCache]]
"""Another ``RedisMarketCache`` on its own connection, sharing the test's prefix: a process."""


@pytest.fixture
async def redis_caches() -> AsyncIterator[RedisCacheFactory]:
    async with redis_clients() as (prefix, connect):

        async def new_cache() -> RedisMarketCache:
            return RedisMarketCache(await connect(), prefix=prefix)

        yield new_cache


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
