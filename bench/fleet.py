"""Fleet: many connections on one simulated exchange, balance syncs every 5 minutes, several
``tresor worker`` processes in the distributed mode (PostgreSQL + Redis) sharing one IP budget.

The first round has every connection due at once: the demand (about 20 weight per balance sync:
``/api/v3/account`` 20, plus ``/api/v3/ticker/price`` 4 every few seconds per worker, the
prices being shared) is far above Binance's 6,000 per minute, so the budget is saturated until
every connection has synced. Reported, from one run:

- budget use: weight charged in each full minute window of the saturated phase / the limit
  (Tresor keeps 5% headroom, so 95% is the ceiling), from the request log;
- 429 and 418 answers (the exchange's own verdict: must be zero);
- CPU per balance sync: the workers' CPU time (``/proc``) / the syncs they did (the first
  round's from the workers' start, so with their startup);
- the request mix per sync;
- with ``--rounds 2``: the same for a second round, every connection made due again (the
  steady state: each worker keeps the clients of the connections it synced);
- with ``--idle-seconds``: the workers' CPU per second with nothing due, and each round's CPU
  per sync beyond that rate (an estimate, the rate taken as constant).

Setup (not measured): accounts and read keys on the simulator, connections added and verified
through Tresor, their history marked as caught up (the fleet is in steady state: only balance
syncs are due). The simulator runs in its own process with a high limit for the setup, then
its limit is set to ``--limit``.

.venv/bin/python bench/fleet.py [--connections 1000] [--workers 2] [--limit 6000] \
    [--rounds 2] [--idle-seconds 20] [--trace] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from common import ROOT, TRESOR, cpu_seconds, start_sim
from tresor.bootstrap import build_runtime
from tresor.config import Settings
from tresor.domain.connections import Credentials
from tresor.domain.secrets import Secret
from tresor.domain.sync import SyncState
from tresor.sim.server import free_port

FAR = 2**62
PER_USER = 10
console = Console(stderr=True)


@dataclass(frozen=True)
class Call:
    at_ms: int
    path: str
    status: int | None
    weight: int


def make_accounts(url: str, count: int) -> list[dict[str, str]]:
    keys = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for n in range(count):
            balances = {"USDT": str(100 + n), "BTC": "0.01", "ETH": "0.5", "BNB": "1"}
            account = http.post("/_sim/accounts", json={"balances": balances}).json()
            keys.append(
                http.post(
                    f"/_sim/accounts/{account['account_id']}/keys",
                    json={"permissions": {"enableReading": True}},
                ).json()
            )
    return keys


async def setup(settings: Settings, keys: list[dict[str, str]]) -> list[str]:
    runtime = await build_runtime(settings)
    ids: list[str] = []
    try:
        with Progress(
            "adding connections", BarColumn(), MofNCompleteColumn(), console=console
        ) as bar:
            task = bar.add_task("", total=len(keys))
            user_id = ""
            for n, key in enumerate(keys):
                if n % PER_USER == 0:
                    user_id = (await runtime.container.access.create_user(f"user{n}")).id
                added = await runtime.container.connections.add(
                    user_id,
                    exchange="binance",
                    label=f"account {n}",
                    endpoint="sim",
                    read_key=Credentials(Secret(key["api_key"]), Secret(key["secret"])),
                )
                ids.append(added.id)
                # caught up: only balance syncs are due (now), history not before long
                await runtime.store.save_state(SyncState(added.id, next_history_ms=FAR))
                bar.advance(task)
    finally:
        await runtime.aclose()
    return ids


async def scalar(engine: Any, query: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(query))).scalar_one())


async def read_calls(url: str, schema: str, *, since_ms: int) -> list[Call]:
    """Every request the workers made (connection-less ones too), from the request log."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    f'SELECT at_ms, path, status, weight FROM "{schema}".exchange_calls'  # noqa: S608
                    " WHERE at_ms >= :since"
                ),
                {"since": since_ms},
            )
            return [Call(*row) for row in rows]
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sim = start_sim(port, "--weight-limit", "100000000")
    schema = f"tresor_fleet_{secrets.token_hex(4)}"
    prefix = f"tresor-fleet-{secrets.token_hex(4)}"
    admin = create_async_engine(args.database_url)
    redis = Redis.from_url(args.redis_url)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        data_dir = Path(tempfile.mkdtemp(prefix="tresor-fleet-"))
        common = {
            "data_dir": data_dir,
            "database_url": args.database_url,
            "database_schema": schema,
        }
        console.print(f"creating {args.connections} simulated accounts ...")
        keys = await asyncio.to_thread(make_accounts, url, args.connections)
        high = {"sim": {"exchange": "binance", "url": url, "weight_per_minute": 100_000_000}}
        ids = await setup(Settings.model_validate({**common, "endpoints": high}), keys)
        async with httpx.AsyncClient(base_url=url) as http:
            (await http.post("/_sim/faults", json={"weight_limit": args.limit})).raise_for_status()
            (await http.delete("/_sim/limits")).raise_for_status()
        endpoints = {"sim": {"exchange": "binance", "url": url, "weight_per_minute": args.limit}}
        env = {
            **os.environ,
            "TRESOR_DATA_DIR": str(data_dir),
            "TRESOR_DATABASE_URL": args.database_url,
            "TRESOR_DATABASE_SCHEMA": schema,
            "TRESOR_REDIS_URL": args.redis_url,
            "TRESOR_REDIS_PREFIX": prefix,
            "TRESOR_WORKER_CONCURRENCY": str(args.concurrency),
            "TRESOR_ENDPOINTS": json.dumps(endpoints),
        }
        rounds: list[Round] = []
        idle_cpu = 0.0
        for n in range(args.workers):
            command = [TRESOR, "worker"]
            if args.profile is not None:  # cProfile writes when the worker exits (SIGINT)
                args.profile.mkdir(parents=True, exist_ok=True)
                out = str(args.profile / f"worker{n}.prof")
                command = [sys.executable, "-m", "cProfile", "-o", out, *command]
            workers.append(
                subprocess.Popen(  # noqa: ASYNC220 (started once, before anything is measured)
                    command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                )
            )
        engine = create_async_engine(args.database_url)
        try:
            for number in range(1, args.rounds + 1):
                if number > 1:  # every connection due again, its client kept by a worker
                    async with engine.begin() as conn:
                        await conn.execute(
                            text(f'UPDATE "{schema}".sync_state SET next_balance_ms = 0')  # noqa: S608
                        )
                rounds.append(await one_round(engine, schema, workers, len(ids), number, args))
            if args.idle_seconds > 0:  # nothing due: what the workers spend just running
                before = sum(cpu_seconds(w.pid) for w in workers)
                await asyncio.sleep(args.idle_seconds)
                idle_cpu = sum(cpu_seconds(w.pid) for w in workers) - before
        finally:
            await engine.dispose()
        for worker in workers:
            worker.send_signal(signal.SIGINT)
        for worker in workers:
            worker.wait(timeout=30)
        calls = await read_calls(args.database_url, schema, since_ms=int(rounds[0].started * 1000))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        sim.terminate()
        sim.wait(timeout=10)
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()
        async for key in redis.scan_iter(match=f"{prefix}:*"):
            await redis.delete(key)
        await redis.aclose()
    first = rounds[0]
    measured = [c for c in calls if c.at_ms < first.finished * 1000]
    statuses = Counter(c.status for c in calls)
    paths = Counter(c.path.split("?")[0] for c in measured)
    windows = first.windows(calls, args.limit)
    result: dict[str, Any] = {
        "connections": len(ids),
        "workers": args.workers,
        "limit_per_minute": args.limit,
        "saturated_seconds": round(first.finished - first.started, 1),
        "full_windows_use": [round(w, 3) for w in windows],
        "mean_use": round(sum(windows) / len(windows), 3) if windows else None,
        "min_use": round(min(windows), 3) if windows else None,
        "requests": len(measured),
        "status_429": statuses.get(429, 0),
        "status_418": statuses.get(418, 0),
        "statuses": {str(k): v for k, v in statuses.items()},
        "balance_syncs": first.syncs,
        "weight_per_sync": round(sum(c.weight for c in measured) / max(first.syncs, 1), 2),
        "requests_by_path": dict(paths),
        "worker_cpu_seconds": round(first.cpu, 2),
        "cpu_ms_per_balance_sync": round(first.cpu / max(first.syncs, 1) * 1000, 2),
    }
    for later in rounds[1:]:
        windows = later.windows(calls, args.limit)
        result[f"round_{later.number}"] = {
            "saturated_seconds": round(later.finished - later.started, 1),
            "full_windows_use": [round(w, 3) for w in windows],
            "balance_syncs": later.syncs,
            "worker_cpu_seconds": round(later.cpu, 2),
            "cpu_ms_per_balance_sync": round(later.cpu / max(later.syncs, 1) * 1000, 2),
        }
    if args.idle_seconds > 0:
        idle_rate = idle_cpu / args.idle_seconds
        result["idle_worker_cpu_ms_per_second"] = round(idle_rate * 1000, 1)
        # what the syncs cost beyond what the workers spend anyway, running with nothing due
        # (an estimate: the idle rate taken as constant through the rounds)
        for r in rounds:
            beyond = r.cpu - idle_rate * (r.finished - r.started)
            figures = result if r.number == 1 else result[f"round_{r.number}"]
            figures["cpu_ms_per_balance_sync_beyond_idle"] = round(
                beyond / max(r.syncs, 1) * 1000, 2
            )
    return result


@dataclass
class Round:
    """One round: every connection synced once more. CPU and syncs are counted from the
    round's start (the first round's from the workers' start, so it includes their startup)."""

    number: int
    started: float
    finished: float
    cpu: float
    syncs: int

    def windows(self, calls: list[Call], limit: int) -> list[float]:
        """Weight charged in each full minute window of the round / the limit."""
        by_window: Counter[int] = Counter()
        for c in calls:
            if not c.path.startswith("/sapi/"):
                by_window[c.at_ms // 60_000] += c.weight
        first = int(self.started * 1000) // 60_000 + 1  # full windows only
        last = int(self.finished * 1000) // 60_000 - 1
        return [by_window[w] / limit for w in range(first, last + 1)]


async def one_round(
    engine: Any,
    schema: str,
    workers: list[subprocess.Popen[bytes]],
    connections: int,
    number: int,
    args: argparse.Namespace,
) -> Round:
    """Until every connection has ``number`` snapshots."""
    snapshots = f'"{schema}".balance_snapshots'
    synced = (
        f"SELECT count(*) FROM (SELECT connection_id FROM {snapshots}"  # noqa: S608
        f" GROUP BY connection_id HAVING count(*) >= {number}) AS synced"
    )
    started = time.time()
    cpu = sum(cpu_seconds(w.pid) for w in workers) if number > 1 else 0.0
    before = await scalar(engine, f"SELECT count(*) FROM {snapshots}")  # noqa: S608
    with Progress(
        f"round {number}: balance syncs (saturated)",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("", total=connections)
        traced = started
        while (done := await scalar(engine, synced)) < connections:
            bar.update(task, completed=done)
            if args.trace and time.time() - traced >= 10:
                traced = time.time()
                cpu_now = sum(cpu_seconds(w.pid) for w in workers)
                console.print(f"{traced - started:6.1f} s: {done} synced, CPU {cpu_now:.2f} s")
            for worker in workers:
                if worker.poll() is not None:
                    raise SystemExit(worker.stderr.read().decode() if worker.stderr else "")
            await asyncio.sleep(0.5)
        bar.update(task, completed=done)
    finished = time.time()
    cpu = sum(cpu_seconds(w.pid) for w in workers) - cpu
    syncs = await scalar(engine, f"SELECT count(*) FROM {snapshots}") - before  # noqa: S608
    return Round(number, started, finished, cpu, syncs)


def show(result: dict[str, Any]) -> None:
    table = Table(title="Fleet: balance syncs, workers sharing one IP budget")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8, help="jobs per worker at once")
    parser.add_argument("--limit", type=int, default=6000, help="REQUEST_WEIGHT per minute")
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds of syncs: from the second on, every connection is made due again "
        "(the steady state: workers keep the clients of connections they synced)",
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=0,
        help="then measure the workers' CPU for this long with nothing due",
    )
    parser.add_argument("--trace", action="store_true", help="print the workers' CPU every 10 s")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="run each worker under cProfile, writing DIR/worker<n>.prof (slows them down)",
    )
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        show(result)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fleet.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
