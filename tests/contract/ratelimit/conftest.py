"""The rate budgets the contract suite runs against: in memory and in Redis.

Redis is ``TRESOR_TEST_REDIS_URL`` (default: the local server's database 0). Each test gets its
own random key prefix, whose keys are deleted afterwards, so runs on one server do not collide.
When the server cannot be reached the Redis tests are skipped with the reason, except under
``CI=true``, where they fail: CI must test both implementations.

The tests find window boundaries with this machine's clock, and the Redis budget takes its
windows from the server's clock: the server must run on this machine (or one in sync with it).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NoReturn

import pytest
from redis.asyncio import Redis

from tresor.adapters.ratelimit.memory import InMemoryRateBudget
from tresor.adapters.ratelimit.redis import RedisRateBudget
from tresor.services.ports import RateBudget

REDIS_URL = os.environ.get("TRESOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CONNECT_TIMEOUT = 5.0

RedisBudgetFactory = Callable[[], Awaitable[RedisRateBudget]]
"""Another ``RedisRateBudget`` on its own connection, sharing the test's prefix: a "worker"."""


def _redis_unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Redis is required under CI=true; {REDIS_URL}: {reason}", pytrace=False)
    pytest.skip(f"Redis not reachable at {REDIS_URL} ({reason})")


@pytest.fixture
async def redis_budgets() -> AsyncIterator[RedisBudgetFactory]:
    """Budgets in Redis under a prefix of this test's own; the keys are deleted afterwards."""
    prefix = f"tresor-test-{secrets.token_hex(6)}"
    clients: list[Redis] = []

    async def connect() -> Redis:
        client = Redis.from_url(REDIS_URL)
        clients.append(client)
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await client.ping()
        return client

    async def new_budget() -> RedisRateBudget:
        return RedisRateBudget(await connect(), prefix=prefix)

    try:
        try:
            admin = await connect()
        except Exception as e:  # whatever stops us from connecting
            _redis_unavailable(f"{type(e).__name__}: {e}")
        yield new_budget
        async for key in admin.scan_iter(match=f"{prefix}:*"):
            await admin.delete(key)
    finally:
        for client in clients:
            await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def budget_maker(request: pytest.FixtureRequest) -> Callable[[], Awaitable[RateBudget]]:
    if request.param == "redis":
        factory: RedisBudgetFactory = request.getfixturevalue("redis_budgets")
        return factory

    async def in_memory() -> RateBudget:
        return InMemoryRateBudget()

    return in_memory


@pytest.fixture
async def budget(budget_maker: Callable[[], Awaitable[RateBudget]]) -> RateBudget:
    """Each implementation of the ``RateBudget`` port in turn, empty."""
    return await budget_maker()
