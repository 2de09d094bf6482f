"""``SyncScheduler``: the periodic jobs of every connection, run by whichever process has the
worker role (the embedded default runs it inside ``tresor serve``).

A round (``tick``):

1. every ``maintenance_s`` (and at the first round): every connection gets a ``SyncState`` the
   first time it is seen (due at once), stale connections raise their alert, and the request
   log is purged past its retention;
2. the connections whose balance or history sync is due, not paused and not leased, are
   claimed (``SyncStore.claim``: an atomic conditional update, so with several processes each
   connection goes to exactly one of them, and a periodic job never runs twice) and synced,
   ``max_parallel`` at a time; the lease is released afterwards, or expires if the process
   dies, so another one takes over;
3. stale connections raise their alert; the request log is purged past its retention.

A history sync runs every ``balance_interval_s`` too: once caught up it costs one request per
active market; balances alone are taken when only they are due.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, replace

from tresor.domain.errors import TresorError
from tresor.domain.sync import SyncState
from tresor.services.ports import Clock, SyncStore, UnitOfWorkFactory
from tresor.services.sync import SyncService

log = logging.getLogger(__name__)
DAY_MS = 86_400_000


@dataclass(frozen=True)
class SchedulePolicy:
    lease_s: float = 600.0
    max_parallel: int = 8
    batch: int = 100
    request_log_days: int = 30
    maintenance_s: float = 10.0  # enrolment of new connections, stale alerts, log purge


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
    ) -> None:
        self._sync = sync
        self._store = store
        self._uow = uow
        self._clock = clock
        self.policy = policy or SchedulePolicy()
        self.owner = owner or uuid.uuid4().hex
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.policy.max_parallel)
        self._next_maintenance_ms = 0

    def _now(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    async def enroll(self) -> dict[str, str]:
        """Give every connection a sync state; returns them all (connection id to user id)."""
        async with self._uow() as uow:
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
        self._next_maintenance_ms = now_ms + int(self.policy.maintenance_s * 1000)

    async def tick(self) -> int:
        """One round; returns how many syncs were started (they run in the background: ``drain``
        waits for them)."""
        now = self._now()
        if now >= self._next_maintenance_ms:
            await self.maintain(now)
        started = 0
        for cid in await self._store.due(now, limit=self.policy.batch):
            if self._slots.locked():
                break
            until = now + int(self.policy.lease_s * 1000)
            if not await self._store.claim(cid, self.owner, now_ms=now, until_ms=until):
                continue  # another process has it
            await self._slots.acquire()
            task = asyncio.create_task(self._job(cid, now))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            started += 1
        return started

    async def _job(self, connection_id: str, now: int) -> None:
        try:
            state = await self._store.state(connection_id)
            if state is None:
                return
            history = state.next_history_ms <= now
            try:
                await self._sync.sync(connection_id, history=history)
            except TresorError as error:  # recorded on the connection by the sync service
                if error.code == "validation_failed":  # disabled, or no usable key
                    await self._store.save_state(
                        _later(state, now + state.balance_interval_s * 1000)
                    )
                log.info("sync of %s failed: %s", connection_id, error.code)
            except Exception:
                log.exception("sync of %s failed unexpectedly", connection_id)
        finally:
            await self._store.release(connection_id, self.owner)
            self._slots.release()

    async def drain(self) -> None:
        """Wait for the syncs started so far."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def run(self, interval: float = 1.0) -> None:
        """Tick every ``interval`` seconds until cancelled; running syncs are cancelled too
        (their cursors keep what was stored; leases expire)."""
        try:
            while True:
                try:
                    await self.tick()
                except Exception:
                    log.exception("a scheduler round failed; the next one retries")
                await asyncio.sleep(interval)
        finally:
            for task in list(self._running):
                task.cancel()
            await asyncio.gather(*list(self._running), return_exceptions=True)


def _later(state: SyncState, at_ms: int) -> SyncState:
    return replace(state, next_balance_ms=at_ms, next_history_ms=at_ms)
