"""The rate budgets the contract suite runs against: in memory and in Redis.

Redis is ``TRESOR_TEST_REDIS_URL`` (default: the local server's database 0). Each test gets its
own random key prefix, whose keys are deleted afterwards, so runs on one server do not collide.
When the server cannot be reached the Redis tests are skipped with the reason, except under
``CI=true``, where they fail: CI must test both implementations.

The tests find window boundaries with this machine's clock, and the Redis budget takes its
windows from the server's clock: the server must run on this machine (or one in sync with it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.support.services import redis_clients
from tresor.adapters.ratelimit.memory import InMemoryRateBudget
from tresor.adapters.ratelimit.redis import RedisRateBudget
from tresor.services.ports import RateBudget

RedisBudgetFactory = Callable[[], Awaitable[RedisRateBudget]]
"""Another ``RedisRateBudget`` on its own connection, sharing the test's prefix: a "worker"."""


@pytest.fixture
async def redis_budgets() -> AsyncIterator[RedisBudgetFactory]:
    """Budgets in Redis under a prefix of this test's own; the keys are deleted afterwards."""
    async with redis_clients() as (prefix, connect):

        async def new_budget() -> RedisRateBudget:
            return RedisRateBudget(await connect(), prefix=prefix)

        yield new_budget


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
