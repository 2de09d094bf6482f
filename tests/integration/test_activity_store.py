"""Sync state, leases and the request log on SQLite and PostgreSQL (where each is one statement
on asyncpg's own connection): the same answers on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.services import POSTGRES_URL, postgres_schema
from tests.support.simclient import SimAdmin
from tresor.bootstrap import Runtime, build_runtime
from tresor.config import Settings
from tresor.domain.connections import Credentials
from tresor.domain.records import CallQuery, ExchangeCall
from tresor.domain.secrets import Secret
from tresor.domain.sync import SyncState


@pytest.fixture(params=["sqlite", "postgresql"])
async def stored(
    request: pytest.FixtureRequest, tmp_path: Path, venue: SimAdmin
) -> AsyncIterator[tuple[Runtime, list[str]]]:
    """A runtime on each database and three connections (the state's foreign key)."""
    async with AsyncExitStack() as stack:
        where: dict[str, str] = {}
        if request.param == "postgresql":
            schema = await stack.enter_async_context(postgres_schema())
            where = {"database_url": POSTGRES_URL, "database_schema": schema}
        runtime = await build_runtime(
            Settings(
                data_dir=tmp_path / "data",
                endpoints={"sim": {"exchange": "binance", "url": venue.url}},
                **where,
            )
        )
        stack.push_async_callback(runtime.aclose)
        user = await runtime.container.access.create_user("alice")
        ids = []
        for n in range(3):
            key = venue.key(venue.account({"USDT": "10"}), {"enableReading": True})
            added = await runtime.container.connections.add(
                user.id,
                exchange="binance",
                label=f"c{n}",
                endpoint="sim",
                read_key=Credentials(Secret(key["api_key"]), Secret(key["secret"])),
            )
            ids.append(added.id)
        yield runtime, ids


async def test_states_are_saved_whole_and_leave_the_lease_alone(
    stored: tuple[Runtime, list[str]],
) -> None:
    rt, (a, b, c) = stored
    store = rt.store
    full = SyncState(
        a,
        balance_interval_s=120,
        backfill_days=30,
        last_attempt_ms=5,
        last_success_ms=4,
        failures=2,
        last_error_code="exchange_unavailable",
        last_error_message="it's down",
        paused_until_ms=9,
        stale_alerted=True,
        next_balance_ms=7,
        next_history_ms=8,
    )
    await store.save_state(full)
    await store.save_state(SyncState(b))
    assert await store.states([a, b, c]) == {a: full, b: SyncState(b)}
    assert await store.state(c) is None
    assert await store.states([]) == {}
    assert await store.claim(a, "w1", now_ms=100, until_ms=200)
    await store.save_state(full)  # a save keeps the lease
    assert await store.state(a) == replace(full, lease_owner="w1", lease_until_ms=200)


async def test_leases_are_claimed_renewed_taken_over_and_released(
    stored: tuple[Runtime, list[str]],
) -> None:
    rt, (a, b, _) = stored
    store = rt.store
    await store.save_state(SyncState(a, next_balance_ms=1_000, next_history_ms=5_000))
    assert await store.claim(a, "x", now_ms=2_000, until_ms=3_000, due=True)
    assert not await store.claim(a, "y", now_ms=2_500, until_ms=9_000)  # x's, unexpired
    assert await store.claim(a, "x", now_ms=2_500, until_ms=4_000)  # x renews its own
    assert await store.claim(a, "y", now_ms=4_001, until_ms=9_000)  # expired: y's now
    await store.release(a, "x")  # not x's any more: nothing happens
    assert (await store.state(a) or SyncState(a)).lease_owner == "y"
    await store.release(a, "y")
    state = await store.state(a)
    assert state is not None
    assert (state.lease_owner, state.lease_until_ms) == (None, None)
    # a due claim needs a job still due and not paused
    await store.save_state(SyncState(a, next_balance_ms=50_000, next_history_ms=50_000))
    assert not await store.claim(a, "z", now_ms=10_000, until_ms=20_000, due=True)
    await store.save_state(SyncState(a, paused_until_ms=60_000))
    assert not await store.claim(a, "z", now_ms=10_000, until_ms=20_000, due=True)
    assert await store.claim(a, "z", now_ms=60_000, until_ms=70_000, due=True)
    assert not await store.claim(b, "z", now_ms=10_000, until_ms=20_000)  # no state: no row


async def test_due_connections_come_earliest_first_without_leased_or_paused_ones(
    stored: tuple[Runtime, list[str]],
) -> None:
    rt, (a, b, c) = stored
    store = rt.store
    await store.save_state(SyncState(a, next_balance_ms=300, next_history_ms=900))
    await store.save_state(SyncState(b, next_balance_ms=900, next_history_ms=100))
    await store.save_state(SyncState(c, next_balance_ms=200, next_history_ms=200))
    assert await store.due(1_000, limit=10) == [b, c, a]
    assert await store.due(1_000, limit=2) == [b, c]
    assert await store.due(250, limit=10) == [b, c]
    assert await store.claim(c, "w", now_ms=1_000, until_ms=5_000)
    await store.save_state(SyncState(a, next_balance_ms=300, paused_until_ms=2_000))
    assert await store.due(1_000, limit=10) == [b]
    assert await store.due(5_001, limit=10) == [a, b, c]  # c's lease expired, a's pause over


async def test_the_request_log_keeps_every_field(stored: tuple[Runtime, list[str]]) -> None:
    rt, (a, b, _) = stored
    calls = [
        ExchangeCall(1_000, a, "sim", "GET", "/api/v3/account", 200, 1.5, 20, None),
        ExchangeCall(1_001, None, "sim", "GET", "/api/v3/ticker/price", None, 0.25, 4, None),
        ExchangeCall(1_002, b, "sim", "POST", "/api/v3/order?symbol=BTCUSDT", 400, 3.0, 1, "-2010"),
    ]
    await rt.store.add_calls(calls)
    await rt.store.add_calls([])
    stored_calls = await rt.store.calls(CallQuery(connection_ids=(a, b), limit=10))
    assert [c.call for c in reversed(stored_calls)] == [calls[0], calls[2]]
    assert await rt.store.purge_calls(1_002) >= 2  # (the setup's own requests are older)
    assert [c.call for c in await rt.store.calls(CallQuery(connection_ids=(a, b)))] == [calls[2]]


async def test_writes_on_the_driver_s_connection_last_after_the_pool_pinged_it(
    stored: tuple[Runtime, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pooled PostgreSQL connection idle for a while is pinged as it is handed out. The
    ping must leave no transaction open: the statements run on asyncpg's own connection
    (leases, states, a new order's key) would otherwise run inside it, as savepoints, and
    the pool's rollback as the connection is given back would undo them though they were
    answered (seen as orders answered 201 and then not found, and leases lost)."""
    from tresor.adapters.db import uow

    monkeypatch.setattr(uow, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkout pings
    rt, (a, b, _) = stored
    store = rt.store
    await store.save_state(SyncState(a))
    await store.save_state(SyncState(b, failures=3))
    assert await store.claim(a, "w1", now_ms=100, until_ms=200)
    states = await store.states([a, b])
    assert states[a].lease_owner == "w1"
    assert states[b].failures == 3
    await store.release(a, "w1")
    assert (await store.states([a]))[a].lease_owner is None
