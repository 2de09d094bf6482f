"""The periodic jobs: due connections are synced by exactly one of several schedulers (leases
in the database), and not again until they are due."""

from __future__ import annotations

import asyncio

from tests.integration.conftest import MakeAccount
from tests.integration.test_sync_truth import assert_equals_truth
from tresor.domain.records import RecordQuery
from tresor.domain.sync import SyncState
from tresor.services.scheduler import SyncScheduler


async def test_two_schedulers_sync_each_due_connection_once(make_account: MakeAccount) -> None:
    s = await make_account(history={"days": 10, "trades": 300, "seed": 4})
    rt = s.runtime
    assert rt.scheduler is not None
    other = SyncScheduler(
        sync=rt.sync, store=rt.store, uow=rt.database.uow, clock=rt.sync._clock, owner="other"
    )
    started = await asyncio.gather(rt.scheduler.tick(), other.tick())
    assert sorted(started) == [0, 1]
    await asyncio.gather(rt.scheduler.drain(), other.drain())
    latest = await rt.store.latest_snapshots([s.connection_id])
    history = await rt.store.snapshot_history([s.connection_id], since_ms=0, until_ms=2**62)
    assert len(history) == 1
    assert s.connection_id in latest
    await assert_equals_truth(s)
    # not due again for balance_interval_s: another round starts nothing
    assert await rt.scheduler.tick() == 0
    state = await rt.store.state(s.connection_id)
    assert state is not None
    assert state.lease_owner is None
    assert state.last_success_ms is not None
    trades = await rt.store.trades(RecordQuery(connection_ids=(s.connection_id,), limit=10))
    assert trades


async def test_a_lease_goes_to_one_claim_and_a_due_claim_needs_a_due_job(
    make_account: MakeAccount,
) -> None:
    s = await make_account()
    store = s.runtime.store
    cid = s.connection_id
    await store.save_state(SyncState(cid, next_balance_ms=1_000, next_history_ms=5_000))
    assert await store.claim(cid, "a", now_ms=2_000, until_ms=3_000, due=True)
    assert not await store.claim(cid, "b", now_ms=2_500, until_ms=9_000)  # a's, unexpired
    assert await store.claim(cid, "a", now_ms=2_500, until_ms=4_000)  # a renews its own
    assert await store.claim(cid, "b", now_ms=4_001, until_ms=9_000)  # a's expired: b's now
    await store.release(cid, "b")
    # a job found due and synced meanwhile by another process is not claimed again
    await store.save_state(SyncState(cid, next_balance_ms=50_000, next_history_ms=50_000))
    assert not await store.claim(cid, "c", now_ms=10_000, until_ms=20_000, due=True)
    assert await store.claim(cid, "c", now_ms=10_000, until_ms=20_000)  # a renewal needs none


async def test_sync_now_pressed_during_a_running_sync_is_kept_for_after_it(
    make_account: MakeAccount,
) -> None:
    """A sync asked for while one runs ("Sync now" on the dashboard) is not overwritten by the
    running one's end: the connection is due again at once, not a balance interval later."""
    s = await make_account(history={"days": 3, "trades": 60, "seed": 5})
    rt = s.runtime
    await rt.sync.sync(s.connection_id)  # caught up: the next sync is an interval away
    s.sim.faults(latency={"share": 1.0, "ms": 300})
    try:
        running = asyncio.create_task(rt.sync.sync(s.connection_id))
        await asyncio.sleep(0.2)
        asked = await rt.sync.sync_soon(s.user_id, s.connection_id)
        assert not running.done()
        await running
    finally:
        s.sim.clear_faults()
    after = await rt.store.state(s.connection_id)
    assert after is not None
    assert after.last_success_ms is not None
    assert after.last_success_ms > asked.next_balance_ms
    assert after.next_balance_ms == asked.next_balance_ms  # still due: the scheduler takes it
    assert after.next_history_ms == asked.next_history_ms
    # without a request meanwhile, the next one is an interval away as before
    await rt.sync.sync(s.connection_id)
    later = await rt.store.state(s.connection_id)
    assert later is not None
    assert later.next_balance_ms >= later.last_success_ms + later.balance_interval_s * 1000 - 5
