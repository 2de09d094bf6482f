"""The job queue on Redis: a job stays its worker's however long it runs (no other worker runs
it at the same time), a dead worker's job goes to another worker, and every job is
acknowledged once it has run. Two queues on one prefix are two workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.support.services import REDIS_URL, redis_prefix
from tresor.adapters.queue.redis_queue import RedisJobQueue
from tresor.domain.sync import SyncJob

REDELIVER_S = 1.0

Handler = Callable[[SyncJob], Awaitable[None]]


class Workers:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.runs: list[tuple[str, str]] = []  # (worker, connection)
        self.queues: dict[str, RedisJobQueue] = {}
        self.serving: dict[str, asyncio.Task[None]] = {}
        self.jobs: dict[str, list[asyncio.Task[object]]] = {}

    def start(self, name: str, seconds: float | None) -> RedisJobQueue:
        """A worker running one job at a time, each taking ``seconds`` (None: never ending)."""
        queue = RedisJobQueue(
            REDIS_URL, prefix=self.prefix, concurrency=1, redeliver_after_s=REDELIVER_S
        )

        async def handle(job: SyncJob) -> None:
            self.runs.append((name, job.connection_id))
            task = asyncio.current_task()
            assert task is not None
            self.jobs.setdefault(name, []).append(task)
            await (asyncio.Event().wait() if seconds is None else asyncio.sleep(seconds))

        self.queues[name] = queue
        self.serving[name] = asyncio.create_task(queue.serve(handle))
        return queue

    async def stop(self, name: str) -> None:
        """The worker stops, as a process does: it reads no more jobs, the queue is closed,
        and what was still running is cancelled (and not acknowledged)."""
        serving = self.serving.pop(name)
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await self.queues.pop(name).aclose()
        jobs = self.jobs.pop(name, [])
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    async def until(self, predicate: Callable[[], bool], seconds: float = 10) -> None:
        deadline = time.monotonic() + seconds
        while not predicate():
            assert time.monotonic() < deadline, self.runs
            await asyncio.sleep(0.05)


@pytest.fixture
async def workers() -> AsyncIterator[Workers]:
    async with redis_prefix() as prefix:
        w = Workers(prefix)
        try:
            yield w
        finally:
            for name in list(w.serving):
                await w.stop(name)


async def test_a_job_running_longer_than_the_redelivery_time_stays_its_worker_s(
    workers: Workers,
) -> None:
    a = workers.start("a", seconds=4 * REDELIVER_S)
    await a.submit(SyncJob("c1", "t1"))
    await workers.until(lambda: workers.runs == [("a", "c1")])
    b = workers.start("b", seconds=0)
    await asyncio.sleep(1.5 * REDELIVER_S)  # c1 has run longer than the redelivery time
    await b.submit(SyncJob("c2", "t2"))  # b reads a job, and looks for dead workers' ones
    await workers.until(lambda: ("b", "c2") in workers.runs)
    await asyncio.sleep(3 * REDELIVER_S)  # c1 ran to its end meanwhile
    assert sorted(workers.runs) == [("a", "c1"), ("b", "c2")]  # c1 ran once, on a
    assert await a.backlog() == 0  # both acknowledged


async def test_a_dead_worker_s_job_goes_to_another_worker(workers: Workers) -> None:
    a = workers.start("a", seconds=None)
    await a.submit(SyncJob("c1", "t1"))
    await workers.until(lambda: workers.runs == [("a", "c1")])
    await workers.stop("a")
    b = workers.start("b", seconds=0)
    await workers.until(lambda: ("b", "c1") in workers.runs, seconds=5 * REDELIVER_S + 5)
    await workers.until(lambda: True)
    deadline = time.monotonic() + 5
    while await b.backlog() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await b.backlog() == 0
    assert workers.runs == [("a", "c1"), ("b", "c1")]
