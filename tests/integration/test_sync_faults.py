"""The sync stays exact when the exchange misbehaves: 5xx answers, HTML 503s, hanging
requests, 429s from a weight limit lower than Tresor budgets, and a sync process killed in the
middle of a backfill."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.integration.conftest import WEIGHT, MakeAccount, Synced
from tests.integration.test_sync_truth import assert_equals_truth
from tests.support.simclient import SimAdmin
from tresor.bootstrap import build_runtime
from tresor.config import Settings
from tresor.domain.connections import ConnectionStatus, Credentials
from tresor.domain.errors import ExchangeTrouble
from tresor.domain.records import CallQuery
from tresor.domain.secrets import Secret
from tresor.domain.sync import EventKind
from tresor.sim.server import SimConfig, serve_in_thread

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


# -- 429s: the exchange's own weight limit, below what Tresor budgets ---------------------------
# a small venue, so the backfill needs a few dozen requests: every listed pair but the last
# one has an asset the account holds (LTCBTC is read and found empty; NEAREUR is never read)
LISTING = [
    "BTCUSDT",
    "ETHUSDT",
    "BNBUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "DOGEUSDT",
    "ADAUSDT",
    "ETHBTC",
    "SOLBTC",
    "BNBBTC",
    "LTCBTC",
    "NEAREUR",
]
FIXED_WEIGHT = 20 + 20 + 4 + 80  # exchangeInfo, account, ticker/price, openOrders
MINUTE_MS = 60_000
# how far the venue's clock may run ahead of Tresor's: well inside the recvWindow of signed
# requests (ccxt's 10 s), or they are refused as stale (-1021)
MAX_CLOCK_OFFSET_MS = 5_000


def _expected_weight(truth: dict[str, Any], pairs: dict[str, tuple[str, str]]) -> int:
    """The REQUEST_WEIGHT a backfill of ``truth`` takes: 20 per allOrders and myTrades page."""
    held = {t["coin"] for t in truth["deposits"]} | {
        asset for t in truth["trades"] for asset in pairs[t["symbol"]]
    }
    candidates = [s for s, (base, quote) in pairs.items() if base in held or quote in held]
    orders = Counter(o["symbol"] for o in truth["orders"])
    trades = Counter(t["symbol"] for t in truth["trades"])
    pages = sum(max(1, math.ceil(orders[s] / 1000)) for s in candidates)
    pages += sum(math.ceil(n / 1000) for n in trades.values())
    return FIXED_WEIGHT + 20 * pages


def _offset_for_minute_end_in(seconds: float) -> int:
    """A venue clock offset (ms, >= 0) that ends the venue's rate-limit minute ``seconds`` from
    now, so the test waits seconds for the next window rather than up to a minute."""
    into = int(time.time() * 1000) % MINUTE_MS
    return (MINUTE_MS - int(seconds * 1000) - into) % MINUTE_MS


async def _small_offset_ending_the_minute_soon() -> int:
    """A venue clock offset of at most ``MAX_CLOCK_OFFSET_MS`` that ends the venue's minute 8
    to 20 s from now, once the real clock allows one (the real minute is 35 to 52 s in)."""
    while True:
        for seconds in range(8, 21):
            if (offset := _offset_for_minute_end_in(seconds)) <= MAX_CLOCK_OFFSET_MS:
                return offset
        await asyncio.sleep(0.25)


async def test_injected_429s_are_waited_out_never_banned_and_the_data_equals_the_truth(
    tmp_path: Path,
) -> None:
    running = serve_in_thread(SimConfig(seed=21, symbols=LISTING))
    sim = SimAdmin(running)
    runtime = None
    try:
        account = sim.account({})
        sim.history(account, days=20, trades=1500, seed=6)
        key = sim.key(account, {"enableReading": True})
        runtime = await build_runtime(
            Settings(
                data_dir=tmp_path / "data",
                # Tresor budgets far more than the venue will allow: the venue answers 429
                endpoints={
                    "sim": {"exchange": "binance", "url": sim.url, "weight_per_minute": WEIGHT}
                },
            )
        )
        user = await runtime.container.access.create_user("alice")
        connection = await runtime.container.connections.add(
            user.id,
            exchange="binance",
            label="main",
            endpoint="sim",
            read_key=Credentials(Secret(key["api_key"]), Secret(key["secret"])),
        )
        s = Synced(runtime, sim, account, connection.id, user.id, user.name)
        listing = sim.http.get("/api/v3/exchangeInfo").json()["symbols"]
        pairs = {p["symbol"]: (p["baseAsset"], p["quoteAsset"]) for p in listing}
        weight = _expected_weight(s.truth(), pairs)
        # the venue's minute allows about 60% of the backfill: the rest must wait for the next
        limit = math.ceil(weight * 0.6)
        offset = await _small_offset_ending_the_minute_soon()
        sim.reset_limits()
        sim.faults(weight_limit=limit, clock_offset_ms=offset)
        minute_ends_ms = (int(time.time() * 1000) + offset) // MINUTE_MS * MINUTE_MS + MINUTE_MS
        minute_ends_ms -= offset  # on Tresor's clock

        runs = 0
        while True:  # as the scheduler would: run again until a run gets through
            runs += 1
            try:
                await runtime.sync.sync(s.connection_id)
                break
            except ExchangeTrouble:
                assert runs < 5
        await runtime.request_log.flush()
        calls = [
            c.call
            for c in await runtime.store.calls(
                CallQuery(connection_ids=(s.connection_id,), limit=10_000)
            )
            if c.call.path.startswith("/api/")
        ]
        statuses = Counter(c.status for c in calls)
        assert statuses[429] >= 1, f"the venue must have refused some requests: {statuses}"
        assert 418 not in statuses, "Tresor kept sending after a 429 and was banned"
        assert set(statuses) <= {200, 429}
        # Retry-After honoured: once the first 429 was read, nothing was sent to the venue
        # before its minute ended (requests already on their way may have met a 429 too)
        first_refusal = min(c.at_ms for c in calls if c.status == 429)
        for c in calls:
            sent_ms = c.at_ms - c.latency_ms
            assert not first_refusal + 5 < sent_ms < minute_ends_ms - 5, c
        later = [c for c in calls if c.at_ms - c.latency_ms >= minute_ends_ms - 5]
        assert later, "the backfill went on in the next minute"
        assert all(c.status == 200 for c in later)
        sim.clear_faults()
        await assert_equals_truth(s)
    finally:
        if runtime is not None:
            await runtime.aclose()
        sim.close()
        running.stop()
