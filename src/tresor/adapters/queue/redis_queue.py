"""The distributed mode's job queue: taskiq on a Redis Stream (docs/architecture.md says why).

- ``submit`` appends the job to the stream ``<prefix>:jobs``; every worker reads it in one
  consumer group (``<prefix>:workers``), so each job goes to one worker;
- a job is acknowledged once its handler has returned (``WHEN_EXECUTED``): the job of a worker
  that died stays pending and, after ``redeliver_after_s``, another worker claims it
  (``XAUTOCLAIM``) and runs it; the lease it carries decides whether it still should;
- a job stays its worker's while the worker lives, however long it runs: the idle time of its
  pending entry is reset (``XCLAIM ... JUSTID``) every third of ``redeliver_after_s`` until it
  is acknowledged. taskiq-redis's own listener let another worker claim a job that had only
  run longer than that, and run it at the same time under the same lease token (which the
  lease cannot tell apart); it also looked for dead workers' jobs after every job read (two
  more round trips per job), where ``_JobStream`` looks every few seconds. Nothing is
  acknowledged once the queue is closed: a job still running when its worker stops is then
  cancelled, which taskiq counts as run and would acknowledge; it goes to another worker;
- ``backlog`` (jobs not yet read plus jobs read and not acknowledged) lets schedulers stop
  claiming while the workers are behind.

``RedisPeriodicGate`` opens a period with ``SET NX PX``: of all the processes asking, one gets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from taskiq.acks import AckableMessage, AcknowledgeType
from taskiq.api import run_receiver_task
from taskiq.message import BrokerMessage
from taskiq_redis import RedisStreamBroker

from tresor.domain.sync import SyncJob

log = logging.getLogger(__name__)
TASK = "tresor.sync_connection"
RECLAIM_EVERY_S = 5.0  # how often a worker looks for the jobs of dead workers (at most)


class _JobStream(RedisStreamBroker):
    """taskiq-redis's stream broker with a listener of Tresor's own (see the module docstring):
    jobs read one ``XREADGROUP`` at a time, each kept its worker's until acknowledged, and a
    pass for dead workers' jobs (``XAUTOCLAIM``) every ``reclaim_every_s``."""

    def __init__(self, url: str, *, reclaim_every_s: float, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.reclaim_every_s = reclaim_every_s
        # one client on the broker's pool for every command (taskiq-redis builds a client,
        # and its table of reply parsers, for each job sent and each one acknowledged)
        self._client: Redis | None = None
        self._keepers: set[asyncio.Task[None]] = set()  # one per job read, until acknowledged
        self._stopped = False

    def _redis(self) -> Redis:
        if self._client is None:
            self._client = Redis(connection_pool=self.connection_pool)
        return self._client

    async def kick(self, message: BrokerMessage) -> None:
        stream = message.labels.get("queue_name") or self.queue_name
        await self._redis().xadd(
            stream, {b"data": message.message}, maxlen=self.maxlen, approximate=self.approximate
        )

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        loop = asyncio.get_running_loop()
        next_reclaim = loop.time()
        redis = self._redis()
        try:
            while True:
                read: Any = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    count=self.count,
                )
                entries = [entry for _, found in read or () for entry in found]
                if loop.time() >= next_reclaim:
                    next_reclaim = loop.time() + self.reclaim_every_s
                    claimed: Any = await redis.xautoclaim(
                        self.queue_name,
                        self.consumer_group_name,
                        self.consumer_name,
                        min_idle_time=self.idle_timeout,
                        count=self.unacknowledged_batch_size,
                    )
                    entries += claimed[1]
                for entry_id, fields in entries:
                    if fields:  # (an entry trimmed from the stream meanwhile has none)
                        yield self._delivered(entry_id, fields[b"data"])
        finally:
            self._let_go()

    def _let_go(self) -> None:
        """Stop keeping the jobs read and not acknowledged (this worker stops: they go to
        another one after ``idle_timeout``)."""
        for keeper in list(self._keepers):
            keeper.cancel()

    async def shutdown(self) -> None:
        self._stopped = True
        self._let_go()
        await super().shutdown()

    def _delivered(self, entry_id: Any, data: bytes) -> AckableMessage:
        keeper = asyncio.get_running_loop().create_task(self._keep(entry_id))
        self._keepers.add(keeper)
        keeper.add_done_callback(self._keepers.discard)

        async def ack() -> None:
            keeper.cancel()
            if self._stopped:  # a job cancelled as the worker stops did not run to its end:
                return  # it goes to another worker after idle_timeout, and its lease decides
            await self._redis().xack(self.queue_name, self.consumer_group_name, entry_id)

        return AckableMessage(data=data, ack=ack)

    async def _keep(self, entry_id: Any) -> None:
        """Reset the entry's idle time every third of ``idle_timeout`` (ms), so no other worker
        claims it while this one lives."""
        while True:
            await asyncio.sleep(self.idle_timeout / 3000)
            with contextlib.suppress(Exception):  # the next turn tries again
                await self._redis().xclaim(
                    self.queue_name,
                    self.consumer_group_name,
                    self.consumer_name,
                    min_idle_time=0,
                    message_ids=[entry_id],
                    justid=True,
                )


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
        self._broker = _JobStream(
            url,
            reclaim_every_s=min(RECLAIM_EVERY_S, redeliver_after_s / 3),
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
        self._running: set[asyncio.Task[Any]] = set()  # the jobs being handled here

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
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            await self._handler(SyncJob.from_dict(job))
        finally:
            if task is not None:
                self._running.discard(task)

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
        """Close the queue, then stop the jobs still running here: taskiq's receiver, once
        cancelled, leaves them running, and none may outlive what the process closes next (a
        job's database connection taken after the engine was disposed is never closed). They
        are stopped only once the broker is shut down, so none is acknowledged: each is
        delivered again to a worker."""
        if self._started:
            await self._broker.shutdown()
        await self._redis.aclose()
        running = [task for task in self._running if not task.done()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


class RedisPeriodicGate:
    """``PeriodicGate`` shared by every process through one Redis key per chore."""

    def __init__(self, redis: Redis, *, prefix: str = "tresor") -> None:
        self._redis = redis
        self._prefix = prefix

    async def turn(self, name: str, period_s: float) -> bool:
        key = f"{self._prefix}:gate:{name}"
        return bool(await self._redis.set(key, b"1", nx=True, px=max(1, int(period_s * 1000))))
