"""Fleet: many connections on one simulated exchange, balance syncs every 5 minutes, several
``tresor worker`` processes in the distributed mode (PostgreSQL + Redis) sharing one IP budget.

The first round has every connection due at once: the demand (about 24 weight per balance sync:
``/api/v3/account`` 20, ``/api/v3/ticker/price`` 4) is far above Binance's 6,000 per minute,
so the budget is saturated until every connection has synced. Reported, from one run:

- budget use: weight charged in each full minute window of the saturated phase / the limit
  (Tresor keeps 5% headroom, so 95% is the ceiling), from the request log;
- 429 and 418 answers (the exchange's own verdict: must be zero);
- CPU per balance sync: the workers' CPU time (``/proc``) / the syncs they did;
- the request mix per sync.

Setup (not measured): accounts and read keys on the simulator, connections added and verified
through Tresor, their history marked as caught up (the fleet is in steady state: only balance
syncs are due). The simulator runs in its own process with a high limit for the setup, then
its limit is set to ``--limit``.

.venv/bin/python bench/fleet.py [--connections 1000] [--workers 2] [--limit 6000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
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
        started = time.time()
        for _ in range(args.workers):
            workers.append(
                subprocess.Popen(  # noqa: ASYNC220 (started once, before anything is measured)
                    [TRESOR, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                )
            )
        engine = create_async_engine(args.database_url)
        try:
            with Progress(
                "balance syncs (saturated)",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("", total=len(ids))
                while (
                    done := await scalar(
                        engine,
                        f'SELECT count(DISTINCT connection_id) FROM "{schema}".balance_snapshots',  # noqa: S608
                    )
                ) < len(ids):
                    bar.update(task, completed=done)
                    for worker in workers:
                        if worker.poll() is not None:
                            raise SystemExit(worker.stderr.read().decode() if worker.stderr else "")
                    await asyncio.sleep(0.5)
                bar.update(task, completed=done)
            finished = time.time()
            cpu = sum(cpu_seconds(w.pid) for w in workers)
            syncs = await scalar(
                engine,
                f'SELECT count(*) FROM "{schema}".balance_snapshots',  # noqa: S608
            )
        finally:
            await engine.dispose()
        for worker in workers:
            worker.send_signal(signal.SIGINT)
        for worker in workers:
            worker.wait(timeout=30)
        calls = await read_calls(args.database_url, schema, since_ms=int(started * 1000))
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
    measured = [c for c in calls if c.at_ms >= started * 1000]
    by_window: Counter[int] = Counter()
    for c in measured:
        if not c.path.startswith("/sapi/"):
            by_window[c.at_ms // 60_000] += c.weight
    first = int(started * 1000) // 60_000 + 1  # full windows only
    last = int(finished * 1000) // 60_000 - 1
    windows = [by_window[w] / args.limit for w in range(first, last + 1)]
    statuses = Counter(c.status for c in measured)
    paths = Counter(c.path.split("?")[0] for c in measured)
    return {
        "connections": len(ids),
        "workers": args.workers,
        "limit_per_minute": args.limit,
        "saturated_seconds": round(finished - started, 1),
        "full_windows_use": [round(w, 3) for w in windows],
        "mean_use": round(sum(windows) / len(windows), 3) if windows else None,
        "min_use": round(min(windows), 3) if windows else None,
        "requests": len(measured),
        "status_429": statuses.get(429, 0),
        "status_418": statuses.get(418, 0),
        "statuses": {str(k): v for k, v in statuses.items()},
        "balance_syncs": syncs,
        "weight_per_sync": round(sum(c.weight for c in measured) / max(syncs, 1), 2),
        "requests_by_path": dict(paths),
        "worker_cpu_seconds": round(cpu, 2),
        "cpu_ms_per_balance_sync": round(cpu / max(syncs, 1) * 1000, 2),
    }


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
