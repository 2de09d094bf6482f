"""The distributed mode for real: PostgreSQL as the store, Redis for the rate budget and the job
queue (taskiq on a Redis Stream), several workers.

Each test gets its own PostgreSQL schema and Redis key prefix (tests/support/services.py); without
the servers the tests skip, except under ``CI=true``, where they fail.

Proof (issue 4): the synced trades, orders and transfers of every connection equal the
simulator's truth, whichever workers ran them, with one of them SIGKILLed mid-run and another
started; no connection was ever worked on by two workers at once (the workers' own
"job start"/"job end" lines never overlap for one connection); both workers did work.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import WEIGHT, Synced
from tests.integration.test_sync_truth import assert_equals_truth
from tests.support.services import POSTGRES_URL, REDIS_URL, postgres_schema, redis_prefix
from tests.support.simclient import SimAdmin
from tresor.bootstrap import Runtime, build_runtime
from tresor.config import Settings
from tresor.domain.connections import Credentials
from tresor.domain.secrets import Secret

CONNECTIONS = 6
LINE = re.compile(r"job (start|end) connection=(\S+) worker=(\S+)")


@pytest.fixture
async def distributed(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    async with postgres_schema() as schema, redis_prefix() as prefix:
        yield {
            "data_dir": tmp_path / "data",
            "database_url": POSTGRES_URL,
            "database_schema": schema,
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
        }


def settings_for(venue: SimAdmin, distributed: dict[str, Any], **more: Any) -> Settings:
    return Settings.model_validate(
        {
            **distributed,
            "process_role": "worker",
            "endpoints": {
                "sim": {"exchange": "binance", "url": venue.url, "weight_per_minute": WEIGHT}
            },
            **more,
        }
    )


async def add_accounts(runtime: Runtime, venue: SimAdmin, count: int) -> list[Synced]:
    user = await runtime.container.access.create_user("alice")
    accounts = []
    for n in range(count):
        account = venue.account({"USDT": "1000"})
        venue.history(account, days=10, trades=150, seed=20 + n)
        key = venue.key(account, {"enableReading": True})
        connection = await runtime.container.connections.add(
            user.id,
            exchange="binance",
            label=f"account {n}",
            endpoint="sim",
            read_key=Credentials(Secret(key["api_key"]), Secret(key["secret"])),
        )
        accounts.append(Synced(runtime, venue, account, connection.id, user.id, user.name))
    return accounts


async def wait_all_synced(runtime: Runtime, accounts: list[Synced], since_ms: int) -> None:
    """Until every connection has had a successful history sync that started after
    ``since_ms`` (its next history sync is scheduled past it)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        states = await runtime.store.states([a.connection_id for a in accounts])
        if len(states) == len(accounts) and all(
            s.last_success_ms is not None and s.next_history_ms > since_ms and s.failures == 0
            for s in states.values()
        ):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"not every connection synced in time: {states}")


def assert_never_two_at_once(spans: list[tuple[str, str, float, float]]) -> None:
    """``spans``: (connection, worker, start, end). One connection's spans must not overlap."""
    by_connection: dict[str, list[tuple[float, float, str]]] = {}
    for cid, worker, start, end in spans:
        by_connection.setdefault(cid, []).append((start, end, worker))
    for cid, runs in by_connection.items():
        runs.sort()
        for (_, end, first), (start, _, second) in itertools.pairwise(runs):
            assert end <= start, f"{cid} worked on by {first} and {second} at once"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: list[tuple[str, str, str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = LINE.search(record.getMessage())
        if found:
            self.seen.append((found[1], found[2], found[3], record.created))


def spans_of(
    seen: list[tuple[str, str, str, float]], killed_at: float | None = None
) -> list[tuple[str, str, float, float]]:
    open_: dict[tuple[str, str], float] = {}
    spans = []
    for kind, cid, worker, at in sorted(seen, key=lambda line: line[3]):
        if kind == "start":
            open_[(cid, worker)] = at
        else:
            started = open_.pop((cid, worker), None)
            assert started is not None, f"job on {cid} by {worker} ended, never started: " + (
                "; ".join(
                    f"{k} {w[:6]} {t:.3f}"
                    for k, c, w, t in sorted(seen, key=lambda x: x[3])
                    if c == cid
                )
            )
            spans.append((cid, worker, started, at))
    for (cid, worker), at in open_.items():  # a killed worker's job ends when it died
        assert killed_at is not None, f"job on {cid} by {worker} never ended"
        spans.append((cid, worker, at, killed_at))
    return spans


async def test_two_workers_share_the_jobs_through_the_queue(
    venue: SimAdmin, distributed: dict[str, Any]
) -> None:
    first = await build_runtime(settings_for(venue, distributed, worker_concurrency=2))
    second = await build_runtime(settings_for(venue, distributed, worker_concurrency=2))
    lines = Lines()
    logger = logging.getLogger("tresor.services.scheduler")
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        assert first.scheduler is not None
        assert second.scheduler is not None
        assert first.scheduler.queue is not None  # the distributed mode's queue, not in process
        accounts = await add_accounts(first, venue, CONNECTIONS)
        since = int(time.time() * 1000)
        first.start_background(scheduler_interval=0.2)
        second.start_background(scheduler_interval=0.2)
        await wait_all_synced(first, accounts, since)
    finally:
        logger.removeHandler(lines)
        await second.aclose()
        await first.aclose()
    # reopen to read what the workers stored
    reader = await build_runtime(settings_for(venue, distributed))
    try:
        for account in accounts:
            await assert_equals_truth(
                Synced(reader, venue, account.account_id, account.connection_id, "", "")
            )
        spans = spans_of(lines.seen)
        assert {worker for _, worker, _, _ in spans} == {
            first.scheduler.owner,
            second.scheduler.owner,
        }, "both workers took jobs from the queue"
        assert {cid for cid, *_ in spans} == {a.connection_id for a in accounts}
        assert_never_two_at_once(spans)
        # the budget was one, in Redis, shared by both: its keys are under the test's prefix
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL)
        try:
            budget_keys = [
                k async for k in client.scan_iter(match=f"{distributed['redis_prefix']}:budget:*")
            ]
        finally:
            await client.aclose()
        assert budget_keys
    finally:
        await reader.aclose()


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as stderr:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("tresor")), "worker", "--log-level", "info"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def lines_of(log: Path) -> list[tuple[str, str, str, float]]:
    seen = []
    for line in log.read_text(errors="replace").splitlines():
        found = LINE.search(line)
        if found:
            at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()  # noqa: DTZ007
            seen.append((found[1], found[2], found[3], at))
    return seen


async def test_a_killed_worker_s_jobs_are_finished_by_the_others(
    venue: SimAdmin, distributed: dict[str, Any], tmp_path: Path
) -> None:
    lease = 6
    runtime = await build_runtime(settings_for(venue, distributed))
    try:
        accounts = await add_accounts(runtime, venue, 4)
    finally:
        await runtime.aclose()
    venue.faults(latency={"share": 1.0, "ms": 15})  # long enough runs to kill one mid-way
    env = {
        **os.environ,
        "TRESOR_DATA_DIR": str(distributed["data_dir"]),
        "TRESOR_DATABASE_URL": POSTGRES_URL,
        "TRESOR_DATABASE_SCHEMA": distributed["database_schema"],
        "TRESOR_REDIS_URL": REDIS_URL,
        "TRESOR_REDIS_PREFIX": distributed["redis_prefix"],
        "TRESOR_SYNC_LEASE_SECONDS": str(lease),
        "TRESOR_WORKER_CONCURRENCY": "2",
        "TRESOR_ENDPOINTS": json.dumps(
            {"sim": {"exchange": "binance", "url": venue.url, "weight_per_minute": WEIGHT}}
        ),
    }
    since = int(time.time() * 1000)
    logs = [tmp_path / "a.log", tmp_path / "b.log", tmp_path / "c.log"]
    workers = [start_worker(env, logs[0]), start_worker(env, logs[1])]
    killed_at = None
    try:
        deadline = time.monotonic() + 60
        while not any(kind == "start" for kind, *_ in lines_of(logs[0])):
            assert time.monotonic() < deadline, logs[0].read_text()
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # mid-run
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        killed_at = time.time()
        workers.append(start_worker(env, logs[2]))
        reader = await build_runtime(settings_for(venue, distributed))
        try:
            await wait_all_synced(reader, accounts, since)
            venue.clear_faults()
            for account in accounts:
                await assert_equals_truth(
                    Synced(reader, venue, account.account_id, account.connection_id, "", "")
                )
        finally:
            await reader.aclose()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGINT)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    seen = [line for log in logs for line in lines_of(log)]
    killed = [line for line in lines_of(logs[0]) if line[0] == "start"]
    assert killed, "the killed worker had a job"
    unfinished = {cid for _, cid, _, _ in killed} - {
        cid for kind, cid, _, _ in lines_of(logs[0]) if kind == "end"
    }
    assert unfinished, "it was killed mid-job"
    spans = spans_of(seen, killed_at=killed_at)
    assert_never_two_at_once(spans)
    # the killed worker's unfinished jobs were done again by another worker
    for cid in unfinished:
        assert any(c == cid and s > killed_at - 1 for c, _, s, _ in spans if killed_at), cid
