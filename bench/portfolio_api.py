"""``GET /v1/portfolio`` (or ``--route trades``: the first page of ``GET /v1/trades``) under
load: a user with 10 synced connections, 50 concurrent clients.

Setup (not measured): a simulator in a thread of this process; a user, a ``read`` API client and
``--connections`` Binance connections, each to its own simulated account holding
``--assets`` assets; ``--history-days`` of balance snapshots per connection at the default
5-minute balance interval (written in bulk, oldest first, as the sync would have left them),
then one real balance sync per connection (the latest snapshot, valued at the venue's prices).
With ``--route trades``, also ``--trades`` trades over the connections (5 symbols each, a
minute apart), written in bulk as the sync stores them.

Measured: ``tresor serve`` in its own process (a real uvicorn server, ``TRESOR_PROCESS_ROLE=api``
so no sync runs beside it), on SQLite in a temporary data directory or, with
``--database-url``, on PostgreSQL (a fresh database, dropped at the end). ``--clients``
clients in this process, each with its own token and keep-alive connection, call the route
back to back for ``--warmup`` then ``--duration`` seconds. The clients are plain HTTP/1.1 on
asyncio streams (``--client raw``, the default: a request written as bytes, the answer read by
its Content-Length), so the load costs the two cores it shares with the server as little as
it can; ``--client httpx`` is the earlier figures' client (about 0.5 ms of CPU a request).
Measured latency is from writing the request to reading the answer's last byte, so it holds
everything the server does. Reported from one run: requests, throughput, p50/p90/p99/max
latency, errors (any answer but 200, or no answer), the CPU the server used (of one core) and
per request, and the client's. Results also go to bench/results/portfolio_api*.json
(``_postgresql`` with ``--database-url``, ``_trades`` with ``--route trades``); figures and how
they were read in docs/benchmarks.md.

    .venv/bin/python bench/portfolio_api.py [--route portfolio|trades] [--duration 10]
        [--clients 50] [--connections 10] [--trades 100000] [--client raw|httpx]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import make_url

from common import TRESOR, tree_cpu_seconds, wait_until_up
from tresor.adapters.db.sync_store import SNAPSHOTS, TRADES
from tresor.bootstrap import build_runtime
from tresor.config import Settings
from tresor.domain.connections import Credentials
from tresor.domain.secrets import Secret
from tresor.sim.server import SimConfig, free_port, serve_in_thread

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ["USDT", "BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "ADA", "TRX", "AVAX", "LINK", "DOT"]
INTERVAL_MS = 300_000  # the default balance interval
BATCH = 5_000
SYMBOLS = ["BTC/USDT", "ETH/USDT", "BNB/USDT", "SOL/USDT", "ETH/BTC"]
PATHS = {"portfolio": "/v1/portfolio", "trades": "/v1/trades"}
_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


# -- setup -------------------------------------------------------------------------------------
def _plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(url: str) -> str:
    """A fresh PostgreSQL database next to ``url``'s; its URL."""
    name = f"tresor_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(_plain_dsn(url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def drop_database(admin_url: str, url: str) -> None:
    """Drop ``url``'s database, connected to ``admin_url``'s."""
    name = make_url(url).database
    conn = await asyncpg.connect(_plain_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def history_rows(
    connection_id: str, assets: list[str], days: float, now_ms: int, rng: random.Random
) -> list[dict[str, Any]]:
    """Snapshots every ``INTERVAL_MS`` over ``days`` up to ``now_ms``, amounts and prices
    drifting a little, in the stored shape (decimal strings)."""
    count = int(days * 86_400_000 // INTERVAL_MS)
    rows = []
    for n in range(count, 0, -1):
        drift = Decimal(1000 + rng.randint(-50, 50)) / 1000
        rows.append(
            {
                "connection_id": connection_id,
                "taken_ms": now_ms - n * INTERVAL_MS,
                "balances": {
                    a: [format(Decimal(10 + i) * drift, "f"), "0"] for i, a in enumerate(assets)
                },
                "quote": "USD",
                "prices": {
                    a: format(Decimal(1 + i * 7) * drift, "f") for i, a in enumerate(assets)
                },
            }
        )
    return rows


def trade_rows(ids: list[str], count: int, now_ms: int, rng: random.Random) -> list[dict[str, Any]]:
    """``count`` trades spread over the connections and ``SYMBOLS``, a minute apart each."""
    rows = []
    for n in range(count):
        cid = ids[n % len(ids)]
        symbol = SYMBOLS[(n // len(ids)) % len(SYMBOLS)]
        price = Decimal(rng.randint(100, 70_000_00)) / 100
        amount = Decimal(rng.randint(1, 100_000)) / 10_000
        rows.append(
            {
                "connection_id": cid,
                "symbol": symbol,
                "trade_id": f"t{n}",
                "order_id": f"o{n // 2}",
                "side": "buy" if n % 3 else "sell",
                "price": price,
                "amount": amount,
                "cost": price * amount,
                "fee": (price * amount / 1000).quantize(Decimal("0.00000001")),
                "fee_asset": symbol.split("/")[1],
                "maker": bool(n % 2),
                "time_ms": now_ms - (count - n) * 60_000,
            }
        )
    return rows


async def prepare(args: argparse.Namespace, data_dir: Path, database: str | None) -> dict[str, Any]:
    """The user, its API client and its synced connections; what the clients need."""
    running = serve_in_thread(SimConfig(seed=1, weight_per_minute=100_000_000))
    admin = httpx.AsyncClient(base_url=running.url, timeout=30)
    runtime = await build_runtime(
        Settings(
            data_dir=data_dir,
            database_url=database,
            endpoints={"sim": {"exchange": "binance", "url": running.url}},
            max_connections_per_user=max(10, args.connections),
        )
    )
    rng = random.Random(7)
    try:
        user = await runtime.container.access.create_user("bench")
        client, secret = await runtime.container.access.create_client("bench", "read")
        ids = []
        for n in range(args.connections):
            held = ASSETS[: args.assets]
            balances = {a: str(rng.randint(1, 5000)) for a in held}
            account = (await admin.post("/_sim/accounts", json={"balances": balances})).json()
            key = (
                await admin.post(
                    f"/_sim/accounts/{account['account_id']}/keys",
                    json={"permissions": {"enableReading": True}},
                )
            ).json()
            connection = await runtime.container.connections.add(
                user.id,
                exchange="binance",
                label=f"account-{n:02d}",
                endpoint="sim",
                read_key=Credentials(Secret(key["api_key"]), Secret(key["secret"])),
            )
            ids.append(connection.id)
        now = runtime.sync.now_ms()
        stored = 0
        async with runtime.database.engine.begin() as conn:
            for cid in ids:
                rows = history_rows(cid, ASSETS[: args.assets], args.history_days, now, rng)
                for start in range(0, len(rows), BATCH):
                    await conn.execute(SNAPSHOTS.insert(), rows[start : start + BATCH])
                stored += len(rows)
            trades = trade_rows(ids, args.trades, now, rng) if args.route == "trades" else []
            for start in range(0, len(trades), BATCH):
                await conn.execute(TRADES.insert(), trades[start : start + BATCH])
        for cid in ids:  # the latest snapshot of each: a real sync of the balances
            await runtime.sync.sync(cid, history=False)
        await runtime.request_log.flush()
    finally:
        await runtime.aclose()
        await admin.aclose()
        running.stop()
    return {
        "client_id": client.id,
        "client_secret": secret,
        "snapshots": stored + len(ids),
        "trades": args.trades if args.route == "trades" else 0,
        "assets_per_connection": min(args.assets, len(ASSETS)),
    }


# -- the server --------------------------------------------------------------------------------
def start_server(
    data_dir: Path, database: str | None, port: int, log: Path, args: argparse.Namespace
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRESOR_DATA_DIR": str(data_dir), "TRESOR_PROCESS_ROLE": "api"}
    if database:
        env["TRESOR_DATABASE_URL"] = database
    if args.redis_url:
        env["TRESOR_REDIS_URL"] = args.redis_url
        env["TRESOR_REDIS_PREFIX"] = f"bench{secrets.token_hex(4)}"
    command = [TRESOR, "serve", "--port", str(port), "--workers", str(args.workers)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    return wait_until_up(proc, f"http://127.0.0.1:{port}/v1/health", seconds=60, log=log)


# -- the load ----------------------------------------------------------------------------------
class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.in_window = 0  # answers received before the measurement ended
        self.errors = 0
        self.bytes = 0
        self.first_error: str | None = None

    def record(
        self, started: float, ended: float, stop_at: float, failed: bool, detail: str, size: int
    ) -> None:
        self.latencies.append(ended - started)
        self.in_window += ended <= stop_at
        if failed:
            self.errors += 1
            self.first_error = self.first_error or detail
        else:
            self.bytes += size


async def token(url: str, credentials: dict[str, str]) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        answer = await http.post(
            "/v1/auth/token", data={"grant_type": "client_credentials", **credentials}
        )
        answer.raise_for_status()
        access: str = answer.json()["access_token"]
        return access


async def one_client(
    url: str, path: str, access: str, record_from: float, stop_at: float, stats: Stats
) -> None:
    """httpx (``--client httpx``), as the earlier figures were measured."""
    auth = {"Authorization": f"Bearer {access}"}
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=60) as http:
        while (started := time.perf_counter()) < stop_at:
            size = 0
            try:
                answer = await http.get(path)
                failed = answer.status_code != 200
                detail = f"{answer.status_code} {answer.text[:200]}" if failed else ""
                size = len(answer.content)
            except httpx.HTTPError as e:
                failed, detail = True, repr(e)
            ended = time.perf_counter()
            if started >= record_from:
                stats.record(started, ended, stop_at, failed, detail, size)


async def raw_client(
    url: str, path: str, access: str, record_from: float, stop_at: float, stats: Stats
) -> None:
    """One keep-alive HTTP/1.1 connection on asyncio streams: the request written as bytes,
    the answer's head read to its blank line and its body by Content-Length."""
    host, port = url.removeprefix("http://").split(":")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {access}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        while (started := time.perf_counter()) < stop_at:
            size = 0
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = _LENGTH.search(head)
                body = await reader.readexactly(int(length.group(1)) if length else 0)
                size = len(body)
                failed = head[9:12] != b"200"
                detail = (head[:200] + body[:200]).decode(errors="replace") if failed else ""
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
                failed, detail = True, repr(e)
                writer.close()
                reader, writer = await asyncio.open_connection(host, int(port))
            ended = time.perf_counter()
            if started >= record_from:
                stats.record(started, ended, stop_at, failed, detail, size)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def load(
    url: str, credentials: dict[str, str], args: argparse.Namespace, pid: int
) -> dict[str, Any]:
    stats = Stats()
    # one token per client, asked one at a time: issued concurrently on SQLite, some fail
    # with "database is locked" (see docs/benchmarks.md)
    tokens = [await token(url, credentials) for _ in range(args.clients)]
    record_from = time.perf_counter() + args.warmup
    stop_at = record_from + args.duration
    client = raw_client if args.client == "raw" else one_client
    path = PATHS[args.route]
    clients = [client(url, path, access, record_from, stop_at, stats) for access in tokens]
    gathered = asyncio.gather(*clients)
    await asyncio.sleep(max(0.0, record_from - time.perf_counter()))
    cpu0, ours0, wall0 = tree_cpu_seconds(pid), time.process_time(), time.perf_counter()
    await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
    cpu1, ours1, wall1 = tree_cpu_seconds(pid), time.process_time(), time.perf_counter()
    await gathered
    lat = sorted(stats.latencies)
    if not lat:
        raise RuntimeError("no request completed")
    n = len(lat)

    def pct(p: float) -> float:
        return round(lat[min(n - 1, int(p * n))] * 1000, 1)

    return {
        "requests": n,
        "rps": round(stats.in_window / args.duration, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 1),
        "errors": stats.errors,
        "first_error": stats.first_error,
        "answer_bytes": stats.bytes // max(1, n - stats.errors),
        "server_cpu": round((cpu1 - cpu0) / (wall1 - wall0), 2),
        "server_cpu_ms_per_request": round((cpu1 - cpu0) * 1000 / max(1, stats.in_window), 3),
        "client_cpu": round((ours1 - ours0) / (wall1 - wall0), 2),
        "client_cpu_ms_per_request": round((ours1 - ours0) * 1000 / max(1, stats.in_window), 3),
    }


# -- the run -----------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> dict[str, Any]:
    database = await create_database(args.database_url) if args.database_url else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp)
            setup = await prepare(args, data_dir, database)
            port = free_port()
            server = start_server(data_dir, database, port, data_dir / "server.log", args)
            try:
                credentials = {
                    "client_id": setup["client_id"],
                    "client_secret": setup["client_secret"],
                }
                figures = await load(f"http://127.0.0.1:{port}", credentials, args, server.pid)
            except BaseException:
                print((data_dir / "server.log").read_text()[-6000:], file=sys.stderr)
                raise
            finally:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
    finally:
        if database is not None:
            await drop_database(args.database_url, database)
    return {
        "route": PATHS[args.route],
        "client": args.client,
        "database": "postgresql" if database else "sqlite",
        "connections": args.connections,
        "trades_stored": setup["trades"],
        "assets_per_connection": setup["assets_per_connection"],
        "snapshots_stored": setup["snapshots"],
        "clients": args.clients,
        "server_processes": args.workers,
        "redis": bool(args.redis_url),
        "duration_s": args.duration,
        "cpus": os.cpu_count(),
        **figures,
    }


def show(result: dict[str, Any]) -> None:
    r = result
    table = Table(title=f"GET {r['route']}, one run", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = {
        "database": r["database"],
        "connections (assets each)": f"{r['connections']} ({r['assets_per_connection']})",
        "balance snapshots stored": f"{r['snapshots_stored']:,}",
        "trades stored": f"{r['trades_stored']:,}",
        "concurrent clients": str(r["clients"]),
        "server processes": str(r["server_processes"]) + (" (Redis)" if r["redis"] else ""),
        "measured for": f"{r['duration_s']:g} s",
        "requests": f"{r['requests']:,}",
        "throughput": f"{r['rps']:,.1f} req/s",
        "p50": f"{r['p50_ms']} ms",
        "p90": f"{r['p90_ms']} ms",
        "p99": f"{r['p99_ms']} ms",
        "max": f"{r['max_ms']} ms",
        "errors": str(r["errors"]),
        "server CPU (of one core; all processes)": f"{r['server_cpu']:.0%}",
        "server CPU per request": f"{r['server_cpu_ms_per_request']} ms",
        "load generator CPU": f"{r['client_cpu']:.0%} ({r['client']})",
        "answer size": f"{r['answer_bytes']:,} bytes",
    }
    for name, value in rows.items():
        table.add_row(name, value)
    console = Console()
    console.print(table)
    if r["first_error"]:
        console.print(f"[red]first error:[/] {r['first_error']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--assets", type=int, default=8, help="assets held per connection")
    parser.add_argument("--history-days", type=float, default=30.0)
    parser.add_argument("--route", choices=sorted(PATHS), default="portfolio")
    parser.add_argument("--trades", type=int, default=100_000, help="with --route trades")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--database-url", help="PostgreSQL (a fresh database is made beside it)")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (tresor serve --workers)"
    )
    parser.add_argument("--redis-url", help="Redis, as several server processes need it")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = (
        "portfolio_api"
        + ("_postgresql" if args.database_url else "")
        + ("_trades" if args.route == "trades" else "")
        + (f"_{args.workers}p" if args.workers > 1 else "")
        + ".json"
    )
    (out / name).write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        show(result)


if __name__ == "__main__":
    main()
