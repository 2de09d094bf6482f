"""What a sync keeps between runs, end to end: the connection's client goes with a rotated key
(the new key reads from the next sync on), a disabled or removed connection, and a scheduled
job runs on the lease it was claimed with, renewing it first only when it is running out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.integration.conftest import MakeAccount
from tresor.domain.connections import Credentials, KeyRole
from tresor.domain.errors import NotFound, ValidationFailed
from tresor.domain.secrets import Secret
from tresor.domain.sync import SyncJob, SyncState


async def usdt(s: Any) -> Decimal:
    latest = await s.runtime.store.latest_snapshots([s.connection_id])
    return Decimal(latest[s.connection_id].snapshot.balances["USDT"].free)


async def test_a_rotated_read_key_is_the_one_read_with_from_the_next_sync(
    make_account: MakeAccount,
) -> None:
    s = await make_account()
    rt = s.runtime
    await rt.sync.sync(s.connection_id, history=False)
    assert await usdt(s) == Decimal(1000)
    assert rt.gateway.kept_clients() == 1
    other = s.sim.key(s.sim.account({"USDT": "7"}), {"enableReading": True})
    await rt.container.connections.rotate(
        s.user_id,
        s.connection_id,
        KeyRole.READ,
        Credentials(Secret(other["api_key"]), Secret(other["secret"])),
    )
    await rt.sync.sync(s.connection_id, history=False)
    assert await usdt(s) == Decimal(7)
    assert rt.gateway.kept_clients() == 1
    assert other["secret"] in rt.gateway.redactor.secrets()


async def test_a_disabled_or_removed_connection_s_client_is_closed(
    make_account: MakeAccount,
) -> None:
    s = await make_account()
    rt, cid = s.runtime, s.connection_id
    await rt.sync.sync(cid, history=False)
    assert rt.gateway.kept_clients() == 1
    await rt.container.connections.set_enabled(s.user_id, cid, False)
    with pytest.raises(ValidationFailed):
        await rt.sync.sync(cid, history=False)
    assert rt.gateway.kept_clients() == 0
    await rt.container.connections.set_enabled(s.user_id, cid, True)
    await rt.sync.sync(cid, history=False)
    assert rt.gateway.kept_clients() == 1
    await rt.container.connections.remove(s.user_id, cid)
    with pytest.raises(NotFound):
        await rt.sync.sync(cid, history=False)
    assert rt.gateway.kept_clients() == 0
    assert rt.gateway.redactor.secrets() == ()


class Claims:
    """Counts the store's ``claim`` calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store: Any) -> None:
        self.calls: list[str] = []
        claim = store.claim

        async def counting(connection_id: str, owner: str, **kwargs: Any) -> bool:
            self.calls.append(owner)
            return bool(await claim(connection_id, owner, **kwargs))

        monkeypatch.setattr(store, "claim", counting)


async def test_a_job_runs_on_its_claim_and_renews_the_lease_only_when_it_runs_out(
    make_account: MakeAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await make_account()
    rt, cid = s.runtime, s.connection_id
    scheduler = rt.scheduler
    assert scheduler is not None
    store = rt.store
    await store.save_state(SyncState(cid, next_history_ms=2**62))  # balances only
    claims = Claims(monkeypatch, store)
    assert await scheduler.tick() == 1
    await scheduler.drain()
    assert len(claims.calls) == 1  # the scheduler's claim, not renewed: it had the whole lease
    snapshots = await store.snapshot_history([cid], since_ms=0, until_ms=2**62)
    assert len(snapshots) == 1
    state = await store.state(cid)
    assert state is not None
    assert state.lease_owner is None  # released

    # a job whose lease runs out soon (it waited in the queue) renews it before it runs
    now = scheduler._now()
    await store.save_state(SyncState(cid, next_history_ms=2**62))
    assert await store.claim(cid, "late", now_ms=now, until_ms=now + 1_000, due=True)
    await scheduler.run_job(SyncJob(cid, "late"))
    assert claims.calls[-1] == "late"
    assert len(claims.calls) == 3
    assert len(await store.snapshot_history([cid], since_ms=0, until_ms=2**62)) == 2

    # a job whose lease passed to another claim is dropped
    await store.save_state(SyncState(cid, next_history_ms=2**62))
    assert await store.claim(cid, "newer", now_ms=now, until_ms=now + 600_000, due=True)
    await scheduler.run_job(SyncJob(cid, "older"))
    assert len(await store.snapshot_history([cid], since_ms=0, until_ms=2**62)) == 2
    state = await store.state(cid)
    assert state is not None
    assert state.lease_owner == "newer"
