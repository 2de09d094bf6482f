"""The ``RateBudget`` contract: every implementation (memory, Redis) passes the same tests.

Windows are short (0.2 s) so the suite runs in seconds; tests that depend on where a window
starts wait for the next one first (``next_window``).
"""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from tests.contract.ratelimit.conftest import RedisBudgetFactory
from tresor.domain.errors import ExchangeTrouble, RateBudgetExhausted
from tresor.domain.ratelimits import Bucket
from tresor.services.ports import RateBudget

WINDOW = 0.2
LONG = 2.0  # windows that must outlast what happens within them, even on a slow machine


async def next_window(window: float = WINDOW, into: float = 0.01) -> None:
    """Sleep until ``into`` seconds after the next window (aligned to the epoch) starts."""
    now = time.time()
    await asyncio.sleep((math.floor(now / window) + 1) * window - now + into)


def weight_bucket(limit: int = 100, window: float = WINDOW) -> Bucket:
    return Bucket("binance:ip:203.0.113.7:weight", limit=limit, window_seconds=window)


async def test_charges_accumulate_within_a_window_and_reset_in_the_next(
    budget: RateBudget,
) -> None:
    bucket = weight_bucket()
    await next_window()
    for _ in range(3):
        await budget.acquire([bucket], 20)
    assert await budget.used(bucket) == 60
    await next_window()
    assert await budget.used(bucket) == 0
    await budget.acquire([bucket], 5)
    assert await budget.used(bucket) == 5


async def test_buckets_with_different_keys_are_counted_apart(budget: RateBudget) -> None:
    ip, key = weight_bucket(), Bucket("binance:key:abc:orders", limit=10, window_seconds=WINDOW)
    await next_window()
    await budget.acquire([ip], 30)
    await budget.acquire([ip, key], 4)
    assert (await budget.used(ip), await budget.used(key)) == (34, 4)


async def test_one_full_bucket_stops_the_charge_of_all_of_them(budget: RateBudget) -> None:
    ip, orders = weight_bucket(), Bucket("binance:key:abc:orders", limit=10, window_seconds=LONG)
    await next_window(LONG)
    await budget.acquire([orders], 10)
    with pytest.raises(RateBudgetExhausted):
        await budget.acquire([ip, orders], 1, timeout=0.05)
    assert await budget.used(ip) == 0, "the bucket with room was charged anyway"
    assert await budget.used(orders) == 10


async def test_a_charge_that_fits_every_bucket_is_made_to_all_of_them(budget: RateBudget) -> None:
    ip, orders = weight_bucket(), Bucket("binance:key:abc:orders", limit=10, window_seconds=LONG)
    await next_window(LONG)
    await budget.acquire([ip, orders], 10)
    assert (await budget.used(ip), await budget.used(orders)) == (10, 10)


async def test_acquire_waits_for_the_next_window_instead_of_exceeding(budget: RateBudget) -> None:
    bucket = weight_bucket()
    await next_window()
    await budget.acquire([bucket], 90)
    started = time.time()
    await budget.acquire([bucket], 20)
    waited = time.time() - started
    rest_of_window = WINDOW - started % WINDOW
    assert rest_of_window - 0.002 <= waited <= rest_of_window + 1.0  # upper bound loose for CI
    assert await budget.used(bucket) == 20


async def test_timeout_raises_the_domain_error_at_once_without_charging(
    budget: RateBudget,
) -> None:
    """The room comes when the LONG window ends, after the timeout: the error comes at once
    (waiting out the timeout could not help), and nothing is charged."""
    bucket = weight_bucket(window=LONG)
    await next_window(LONG)
    await budget.acquire([bucket], 95)
    started = time.monotonic()
    with pytest.raises(RateBudgetExhausted) as raised:
        await budget.acquire([bucket], 10, timeout=1.0)
    assert time.monotonic() - started < 0.5, "it waited for the timeout instead"
    assert isinstance(raised.value, ExchangeTrouble)
    assert raised.value.code == "rate_budget_exhausted"
    assert raised.value.details["bucket"] == bucket.key
    assert await budget.used(bucket) == 95


async def test_no_room_now_says_when_the_full_bucket_has_room_again(budget: RateBudget) -> None:
    window = weight_bucket(window=LONG)
    blocked = Bucket("binance:ip:198.51.100.1:weight", limit=100, window_seconds=LONG)
    await next_window(LONG)
    await budget.acquire([window], 100)
    with pytest.raises(RateBudgetExhausted) as full:
        await budget.acquire([window], 1, timeout=0)
    rest_of_window = LONG - time.time() % LONG
    assert full.value.retry_after is not None
    assert rest_of_window - 0.05 <= full.value.retry_after <= rest_of_window + 0.05
    assert full.value.details["retry_after"] == round(full.value.retry_after, 3)
    await budget.block(blocked, 0.5)
    with pytest.raises(RateBudgetExhausted) as banned:
        await budget.acquire([blocked], 1, timeout=0)
    assert banned.value.retry_after is not None
    assert 0.3 <= banned.value.retry_after <= 0.5
    assert await budget.used(window) == 100


async def test_room_after_tells_the_wait_acquire_would_have_and_charges_nothing(
    budget: RateBudget,
) -> None:
    ip, orders = (
        weight_bucket(window=LONG),
        Bucket("binance:key:abc:orders", limit=10, window_seconds=LONG),
    )
    await next_window(LONG)
    assert await budget.room_after([ip, orders], 10) == (0.0, None)
    assert (await budget.used(ip), await budget.used(orders)) == (0, 0)
    await budget.acquire([orders], 10)
    wait, full = await budget.room_after([ip, orders], 1)
    rest_of_window = LONG - time.time() % LONG
    assert full == orders.key
    assert rest_of_window - 0.05 <= wait <= rest_of_window + 0.05
    assert await budget.room_after([ip], 100) == (0.0, None)  # the other has room
    await budget.block(ip, 0.5)
    wait, full = await budget.room_after([ip], 1)
    assert full == ip.key
    assert 0.3 <= wait <= 0.5
    assert (await budget.used(ip), await budget.used(orders)) == (0, 10)


@pytest.mark.parametrize("weight", [101, -1])
async def test_a_weight_that_can_never_fit_is_a_programming_error(
    budget: RateBudget, weight: int
) -> None:
    bucket = weight_bucket()
    with pytest.raises(ValueError, match="weight"):
        await budget.acquire([bucket], weight)
    assert await budget.used(bucket) == 0


async def test_observe_raises_usage_to_the_exchanges_count_but_never_lowers_it(
    budget: RateBudget,
) -> None:
    bucket = weight_bucket(window=LONG)
    await next_window(LONG)
    await budget.acquire([bucket], 5)
    await budget.observe(bucket, 80)
    assert await budget.used(bucket) == 80
    await budget.observe(bucket, 10)
    assert await budget.used(bucket) == 80
    with pytest.raises(RateBudgetExhausted):
        await budget.acquire([bucket], 30, timeout=0.05)
    await budget.acquire([bucket], 20)
    assert await budget.used(bucket) == 100


async def test_block_stops_charges_until_it_ends(budget: RateBudget) -> None:
    blocked, other = (
        weight_bucket(),
        Bucket("binance:key:abc:orders", limit=10, window_seconds=LONG),
    )
    await next_window(LONG)  # both charges of ``other`` fall in one window
    started = time.monotonic()
    await budget.block(blocked, 0.3)
    await budget.block(blocked, 0.05)  # a shorter block does not shorten the first
    with pytest.raises(RateBudgetExhausted):
        await budget.acquire([blocked], 1, timeout=0.1)
    await budget.acquire([other], 1, timeout=1.0)  # other buckets are not blocked
    await budget.acquire([blocked, other], 1)
    assert time.monotonic() - started >= 0.3 - 0.01
    assert await budget.used(other) == 2


async def test_saturated_budget_never_exceeds_a_window_and_uses_most_of_it(
    budget: RateBudget,
) -> None:
    await _saturate([budget], tasks=200)


async def test_two_redis_workers_sharing_a_bucket_never_exceed_it_together(
    redis_budgets: RedisBudgetFactory,
) -> None:
    await _saturate([await redis_budgets(), await redis_budgets()], tasks=112)


async def _saturate(budgets: list[RateBudget], *, tasks: int, weight: int = 7) -> None:
    """``tasks`` concurrent acquisitions of ``weight`` against 100 per window, spread over
    ``budgets``. Every reading of the window's count (right after each charge, and by a monitor)
    stays within the limit; the time taken shows that no window held more than fits in it, and
    that the budget was used nearly in full (at most 98 of 100 fit per window with weight 7)."""
    bucket = weight_bucket(limit=100)
    readings: list[int] = []
    stop = asyncio.Event()

    async def one(budget: RateBudget) -> None:
        await budget.acquire([bucket], weight)
        readings.append(await budget.used(bucket))

    async def monitor() -> None:
        while not stop.is_set():
            readings.append(await budgets[0].used(bucket))
            await asyncio.sleep(0.003)

    await next_window()
    started = time.time()
    watching = asyncio.create_task(monitor())
    await asyncio.gather(*(one(budgets[i % len(budgets)]) for i in range(tasks)))
    elapsed = time.time() - started
    stop.set()
    await watching

    assert max(readings) <= bucket.limit
    per_window = bucket.limit // weight * weight
    windows_needed = math.ceil(tasks * weight / per_window)
    # started ``offset`` into a window: the last charge can come only once windows_needed - 1
    # windows have ended (2 ms for clock granularity)
    offset = started % WINDOW
    assert elapsed >= (windows_needed - 1) * WINDOW - offset - 0.002, "a window held too much"
    windows_used = math.floor((elapsed + offset) / WINDOW) + 1
    use = tasks * weight / (bucket.limit * windows_used)
    # at least 90% on a quiet machine (docs/benchmarks.md measures it); 80% leaves room for
    # a loaded CI machine stalling a window
    assert use >= 0.8, f"budget use {use:.0%} over {windows_used} windows"
