"""``SyncScheduler``: the periodic jobs of every connection, run by whichever processes have the
worker role (the embedded default runs them inside ``tresor serve``).

A round (``tick``):

1. once per ``maintenance_s`` across all processes (a ``PeriodicGate``): every connection gets
   a ``SyncState`` the first time it is seen (due at once), stale connections raise their
   alert, and the request log is purged past its retention;
2. the connections whose balance or history sync is due, not paused and not leased, are
   claimed (``SyncStore.claim``: an atomic conditional update, so with several processes
   scheduling each due job is claimed by exactly one of them: a periodic job never runs twice);
3. each claimed job (``SyncJob``: the connection and the claim's token) runs here,
   ``max_parallel`` at a time, or, in the distributed mode, goes to the ``JobQueue`` that any
   worker takes it from.

Running a job (``run_job``, the same in both modes) first renews the lease under the job's
token: if the lease has meanwhile expired and passed to another claim (a job redelivered after
its worker died, say) the job is dropped, so no connection is ever worked on by two workers at
once. The lease is renewed every third of ``lease_s`` while the job runs and released at its
end; if the worker dies, it expires and the connection is claimed again.

A history sync runs every ``balance_interval_s`` too: once caught up it costs one request per
active market; balances alone are taken when only they are due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, replace

from tresor.domain.errors import TresorError
from tresor.domain.sync import SyncJob, SyncState
from tresor.services.ports import Clock, JobQueue, PeriodicGate, SyncStore, UnitOfWorkFactory
from tresor.services.sync import SyncService

log = logging.getLogger(__name__)
DAY_MS = 86_400_000


@dataclass(frozen=True)
class SchedulePolicy:
    lease_s: float = 600.0
    max_parallel: int = 8  # jobs run at once by this process (in process mode)
    batch: int = 100  # claims per round at most
    max_backlog: int = 1_000  # queued jobs beyond which no more are claimed (queue mode)
    request_log_days: int = 30
    maintenance_s: float = 10.0  # enrolment of new connections, stale alerts, log purge


class _EveryCall:
    """The gate of a scheduler that is alone: every period is its own."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}

    async def turn(self, name: str, period_s: float) -> bool:
        now = asyncio.get_running_loop().time()
        if now < self._next.get(name, 0.0):
            return False
        self._next[name] = now + period_s
        return True


class SyncScheduler:
    def __init__(
        self,
        *,
        sync: SyncService,
        store: SyncStore,
        uow: UnitOfWorkFactory,
        clock: Clock,
        policy: SchedulePolicy | None = None,
        owner: str | None = None,
        queue: JobQueue | None = None,
        gate: PeriodicGate | None = None,
    ) -> None:
        self._sync = sync
        self._store = store
        self._uow = uow
        self._clock = clock
        self.policy = policy or SchedulePolicy()
        self.owner = owner or uuid.uuid4().hex
        self.queue = queue
        self._gate: PeriodicGate = gate or _EveryCall()
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.policy.max_parallel)

    def _now(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    async def enroll(self) -> dict[str, str]:
        """Give every connection a sync state; returns them all (connection id to user id)."""
        async with self._uow(read_only=True) as uow:
            owners = dict(await uow.connections.all_ids())
        states = await self._store.states(list(owners))
        for cid in owners:
            if cid not in states:
                await self._store.save_state(SyncState(cid))
        return owners

    async def maintain(self, now_ms: int) -> None:
        """Enrol new connections, raise stale alerts, purge the request log."""
        owners = await self.enroll()
        await self._sync.health.check_stale(owners)
        await self._store.purge_calls(now_ms - self.policy.request_log_days * DAY_MS)

    async def tick(self) -> int:
        """One round; returns how many jobs were claimed (they run in the background, here or
        on a worker: ``drain`` waits for those run here)."""
        now = self._now()
        if await self._gate.turn("maintenance", self.policy.maintenance_s):
            await self.maintain(now)
        room = self.policy.batch
        if self.queue is not None:
            room = min(room, self.policy.max_backlog - await self.queue.backlog())
        started = 0
        if room <= 0:
            return 0
        for cid in await self._store.due(now, limit=room):
            if self.queue is None and self._slots.locked():
                break
            token = f"{self.owner}:{uuid.uuid4().hex[:8]}"
            until = now + int(self.policy.lease_s * 1000)
            if not await self._store.claim(cid, token, now_ms=now, until_ms=until, due=True):
                continue  # another process has it, or has just run it
            job = SyncJob(cid, lease_owner=token)
            if self.queue is not None:
                await self.queue.submit(job)
            else:
                await self._slots.acquire()
                task = asyncio.create_task(self._run_here(job))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            started += 1
        return started

    async def _run_here(self, job: SyncJob) -> None:
        try:
            await self.run_job(job)
        finally:
            self._slots.release()

    async def run_job(self, job: SyncJob) -> None:
        """Run one claimed job, if its lease is still its own.

        The connection's state is read first: when it shows the job's own lease with at least
        half a lease to run (the keeper renews it after a third), the job goes on without
        renewing it now, one write less per job; otherwise (a job that waited long in the
        queue, or one redelivered) the lease is renewed under the job's token, or the job
        dropped if it passed to another claim."""
        cid = job.connection_id
        now = self._now()
        lease_ms = int(self.policy.lease_s * 1000)
        state = await self._store.state(cid)
        if state is None:
            return  # the connection is gone
        if not _held(state, job.lease_owner, now + lease_ms // 2):
            if not await self._store.claim(
                cid, job.lease_owner, now_ms=now, until_ms=now + lease_ms
            ):
                log.info("job for %s dropped: its lease passed to another claim", cid)
                return
            state = await self._store.state(cid)  # as it is now that the lease is ours
        log.info("job start connection=%s worker=%s", cid, self.owner)
        keeper = asyncio.create_task(self._keep_lease(job))
        try:
            if state is None:
                return
            try:
                await self._sync.sync(cid, history=state.next_history_ms <= now, state=state)
            except TresorError as error:  # recorded on the connection by the sync service
                if error.code == "validation_failed":  # disabled, or no usable key
                    await self._store.save_state(
                        _later(state, now + state.balance_interval_s * 1000)
                    )
                log.info("sync of %s failed: %s", cid, error.code)
            except Exception:
                log.exception("sync of %s failed unexpectedly", cid)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            log.info("job end connection=%s worker=%s", cid, self.owner)  # before: still ours
            await self._store.release(cid, job.lease_owner)

    async def _keep_lease(self, job: SyncJob) -> None:
        lease_ms = int(self.policy.lease_s * 1000)
        while True:
            await asyncio.sleep(self.policy.lease_s / 3)
            now = self._now()
            renewed = await self._store.claim(
                job.connection_id, job.lease_owner, now_ms=now, until_ms=now + lease_ms
            )
            if not renewed:  # pragma: no cover - only if this process stalled past its lease
                log.warning("lost the lease of %s while syncing it", job.connection_id)

    async def drain(self) -> None:
        """Wait for the jobs run here so far."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def run(self, interval: float = 1.0) -> None:
        """Tick every ``interval`` seconds until cancelled; in queue mode this process also
        works on the queue's jobs. Running jobs are cancelled with it (their cursors keep what
        was stored; their leases expire, or, queued, they are redelivered)."""
        worker = (
            asyncio.create_task(self.queue.serve(self.run_job)) if self.queue is not None else None
        )
        try:
            while True:
                try:
                    await self.tick()
                except Exception:
                    log.exception("a scheduler round failed; the next one retries")
                await asyncio.sleep(interval)
        finally:
            pending = [*self._running, *([worker] if worker is not None else [])]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


def _held(state: SyncState, owner: str, until_ms: int) -> bool:
    """Whether the state shows ``owner``'s lease, running at least until ``until_ms``."""
    return (
        state.lease_owner == owner
        and state.lease_until_ms is not None
        and state.lease_until_ms >= until_ms
    )


def _later(state: SyncState, at_ms: int) -> SyncState:
    return replace(state, next_balance_ms=at_ms, next_history_ms=at_ms)
