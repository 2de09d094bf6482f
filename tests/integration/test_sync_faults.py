"""The sync stays exact when the exchange misbehaves: 5xx answers, HTML 503s, hanging
requests, and a sync process killed in the middle of a backfill."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from tests.integration.conftest import WEIGHT, MakeAccount
from tests.integration.test_sync_truth import assert_equals_truth
from tresor.domain.connections import ConnectionStatus
from tresor.domain.errors import ExchangeTrouble
from tresor.domain.records import CallQuery
from tresor.domain.sync import EventKind

FAST = {"exchange_timeout_ms": 1000}


async def test_injected_5xx_503_and_hangs_lose_nothing_and_duplicate_nothing(
    make_account: MakeAccount,
) -> None:
    s = await make_account(history={"days": 30, "trades": 2500, "seed": 8}, settings=FAST)
    s.runtime.sync.policy = replace(s.runtime.sync.policy, backoff_base=0.01, backoff_cap=0.05)
    s.sim.faults(
        error_5xx={"share": 0.12},
        error_503_html={"share": 0.05},
        hang={"share": 0.03, "seconds": 2},
        seed=4,
    )
    runs = 0
    while True:  # as the scheduler would: run again until a run gets through
        runs += 1
        try:
            await s.runtime.sync.sync(s.connection_id)
            break
        except ExchangeTrouble:
            assert runs < 25
    s.sim.clear_faults()
    await s.runtime.request_log.flush()
    await assert_equals_truth(s)
    failed = await s.runtime.store.calls(
        CallQuery(connection_ids=(s.connection_id,), errors_only=True, limit=10_000)
    )
    assert failed, "the faults must have been met (and logged)"
    assert {c.call.status for c in failed} <= {500, 503, None}


async def test_three_failed_attempts_change_the_status_and_raise_an_alert_then_recover(
    make_account: MakeAccount,
) -> None:
    s = await make_account(history={"days": 5, "trades": 50, "seed": 2}, settings=FAST)
    s.runtime.sync.policy = replace(s.runtime.sync.policy, backoff_base=0.01, backoff_cap=0.05)
    s.sim.faults(maintenance=True)
    try:
        await s.runtime.sync.sync(s.connection_id)
    except ExchangeTrouble:
        pass
    else:  # pragma: no cover
        raise AssertionError("maintenance must fail the sync")
    connection = await s.runtime.container.connections.get(s.user_id, s.connection_id)
    assert connection.status is ConnectionStatus.EXCHANGE_UNAVAILABLE
    state = await s.runtime.store.state(s.connection_id)
    assert state is not None
    assert state.failures == 1
    assert state.paused_until_ms is not None
    kinds = [e.kind for e in await s.runtime.store.events(s.user_id)]
    assert EventKind.SYNC_FAILING in kinds
    assert EventKind.SYNC_PAUSED in kinds
    s.sim.clear_faults()
    await s.runtime.sync.sync(s.connection_id)
    connection = await s.runtime.container.connections.get(s.user_id, s.connection_id)
    assert connection.status is ConnectionStatus.CONNECTED
    assert (await s.runtime.store.events(s.user_id))[0].kind is EventKind.SYNC_RECOVERED
    await assert_equals_truth(s)


async def test_a_sync_process_killed_mid_backfill_resumes_and_ends_exact(
    make_account: MakeAccount,
) -> None:
    s = await make_account(history={"days": 60, "trades": 6000, "seed": 9})
    s.sim.faults(latency={"share": 1.0, "ms": 40})
    settings = s.runtime.settings
    env = {
        **os.environ,
        "TRESOR_DATA_DIR": str(settings.data_dir),
        "TRESOR_ENDPOINTS": json.dumps(
            {"sim": {"exchange": "binance", "url": s.sim.url, "weight_per_minute": WEIGHT}}
        ),
    }
    tresor = str(Path(sys.executable).with_name("tresor"))
    child = subprocess.Popen(
        [tresor, "sync", "--user", s.user_name, "main", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        counts = await s.runtime.store.counts(s.connection_id)
        if counts["trades"] > 1000:
            break
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        await asyncio.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=10)
    partial = await s.runtime.store.counts(s.connection_id)
    assert 0 < partial["trades"] < len(s.truth()["trades"])
    s.sim.clear_faults()
    await s.runtime.sync.sync(s.connection_id)
    await assert_equals_truth(s)
