"""The distributed mode's job queue: taskiq on a Redis Stream (docs/architecture.md says why).

- ``submit`` appends the job to the stream ``<prefix>:jobs``; every worker reads it in one
  consumer group (``<prefix>:workers``), so each job goes to one worker;
- a job is acknowledged once its handler has returned (``WHEN_EXECUTED``): the job of a worker
  that died stays pending and, after ``redeliver_after_s``, another worker claims it
  (``XAUTOCLAIM``) and runs it; the lease it carries decides whether it still should;
- ``backlog`` (jobs not yet read plus jobs read and not acknowledged) lets schedulers stop
  claiming while the workers are behind.

``RedisPeriodicGate`` opens a period with ``SET NX PX``: of all the processes asking, one gets it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from taskiq.acks import AcknowledgeType
from taskiq.api import run_receiver_task
from taskiq_redis import RedisStreamBroker

from tresor.domain.sync import SyncJob

log = logging.getLogger(__name__)
TASK = "tresor.sync_connection"


class RedisJobQueue:
    """``JobQueue`` on a Redis Stream through taskiq."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "tresor",
        concurrency: int = 8,
        redeliver_after_s: float = 600.0,
    ) -> None:
        self.stream = f"{prefix}:jobs"
        self.group = f"{prefix}:workers"
        self._concurrency = concurrency
        self._broker = RedisStreamBroker(
            url,
            queue_name=self.stream,
            consumer_group_name=self.group,
            consumer_id="0",  # a new group reads what was queued before it existed
            idle_timeout=int(redeliver_after_s * 1000),
            xread_block=1000,
            xread_count=1,  # take one job at a time: the others stay for idle workers
            maxlen=100_000,
        )
        self._redis: Redis = Redis.from_url(url)
        self._handler: Callable[[SyncJob], Awaitable[None]] | None = None

        async def run(job: dict[str, Any]) -> None:  # a function: taskiq renames what it gets
            await self._run(job)

        self._task = self._broker.register_task(run, task_name=TASK)
        self._started = False

    async def _start(self) -> None:
        if not self._started:
            self._started = True
            await self._broker.startup()

    async def submit(self, job: SyncJob) -> None:
        await self._start()
        await self._task.kiq(job.as_dict())

    async def serve(self, handler: Callable[[SyncJob], Awaitable[None]]) -> None:
        self._handler = handler
        self._broker.is_worker_process = True
        await self._start()
        await run_receiver_task(
            self._broker,
            max_async_tasks=self._concurrency,
            ack_time=AcknowledgeType.WHEN_EXECUTED,
            propagate_exceptions=False,
        )

    async def _run(self, job: dict[str, Any]) -> None:
        if self._handler is None:  # pragma: no cover - serve() sets it before reading
            raise RuntimeError("a job arrived in a process that does not serve the queue")
        await self._handler(SyncJob.from_dict(job))

    async def backlog(self) -> int:
        """Jobs queued and not yet finished (read or not)."""
        try:
            groups = await self._redis.xinfo_groups(self.stream)
        except Exception:  # the stream does not exist yet
            return 0
        for group in groups:
            name = group.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == self.group:
                return int(group.get("lag") or 0) + int(group.get("pending") or 0)
        return 0

    async def aclose(self) -> None:
        if self._started:
            await self._broker.shutdown()
        await self._redis.aclose()


class RedisPeriodicGate:
    """``PeriodicGate`` shared by every process through one Redis key per chore."""

    def __init__(self, redis: Redis, *, prefix: str = "tresor") -> None:
        self._redis = redis
        self._prefix = prefix

    async def turn(self, name: str, period_s: float) -> bool:
        key = f"{self._prefix}:gate:{name}"
        return bool(await self._redis.set(key, b"1", nx=True, px=max(1, int(period_s * 1000))))
