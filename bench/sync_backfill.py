"""Backfill of a 90-day Binance account (50,000 trades over 20 traded symbols, of ~500 listed)
from a simulator in its own process, at Binance's real weight limit (6,000 per minute).

Reports, from one run (the first, when ``--repeat`` asks for more):

- exchange requests used, against the minimum a complete sync needs. The minimum is what a
  client that knows nothing but what Binance's API tells it must ask, each answer holding at
  most 1,000 rows:
  - the fixed calls: exchangeInfo, account (balances), ticker/price, openOrders;
  - deposits and withdrawals: one page per 90-day window each (Binance's longest); the 90
    days are counted back from the sync's start, so a request made any time after it needs a
    second (tiny) window;
  - orders: Binance has no account-wide order query, and an order that never filled leaves no
    trace anywhere else, so every pair an order could be on must be read at least once: a pair
    is possible when one of its assets is provably held at some point (a balance, a transfer,
    an order found: a buy shows the quote was held, a sell the base, a fill both; repeated
    until nothing new shows). Per possible pair ``max(1, ceil(orders / 1000))`` reads;
  - trades: ``ceil(trades / 1000)`` reads per pair with a filled order (every fill belongs to
    an order, so pairs without one need no trade read);
- wall time, against what the weight limit allows. Binance counts weight per fixed UTC minute,
  so weight ``W`` above one minute's 6,000 cannot all be sent before the start of minute
  ``ceil(W / 6000) - 1``; the sync starts at the top of a minute (``--no-align`` to start at
  once), so that bound is a whole number of minutes. The steady-rate figure (``W / 6000``
  minutes) is reported too;
- Tresor's CPU per ingested trade (process CPU time of the whole sync: HTTP, signing, JSON,
  parsing, SQLite writes in aiosqlite's thread, the request log), split into the event loop's
  thread (and the garbage collector's share of it) and the other threads (SQLite's work in
  aiosqlite's), and the parse alone: our parser against ccxt's unified ``parse_trade``;
- whether the stored data is complete: counts per dataset against the simulator's truth
  (the integration tests compare every field; this checks the bench's own run);
- how long the store takes for what ``GET /v1/trades`` and ``/v1/orders`` ask of it on the
  synced history (``listing_ms``: the first page, the 10th, a page of 1,000), after the sync.

The simulator's ground truth is fetched after the sync, so the benchmark holds no large data
of its own while it is measured (the garbage collector would scan it).

.venv/bin/python bench/sync_backfill.py [--trades 50000] [--no-align] [--repeat N]
    [--weight-per-minute N] [--database-url URL] [--sqlite-synchronous FULL]
    [--profile out.prof]

``--repeat N`` syncs N fresh accounts and reports each one's CPU and the median (this machine is
shared: single runs vary by a third); ``--weight-per-minute 1000000`` lifts the venue's limit and
Tresor's budget to measure CPU without waiting for weight windows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import math
import os
import secrets
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import httpx
from sqlalchemy import text

from common import start_sim
from tresor.adapters.db.uow import Database
from tresor.adapters.exchange.binance_records import trade_tuples
from tresor.bootstrap import build_runtime
from tresor.config import Settings
from tresor.domain.connections import Credentials
from tresor.domain.records import CallQuery, ExchangeCall, RecordQuery
from tresor.domain.secrets import Secret
from tresor.sim.server import free_port

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 6_000
PAGE = 1000
DAY_MS = 86_400_000
WALLET_WINDOW_MS = 90 * DAY_MS
DAYS = 90
FIXED_CALLS = 4  # exchangeInfo, account, ticker/price, openOrders


def parse_costs(rows: list[dict[str, Any]], symbol: str) -> dict[str, float]:
    started = time.process_time()
    for _ in range(3):
        trade_tuples(rows, "c", symbol)
    ours = (time.process_time() - started) / (3 * len(rows))
    exchange = ccxt.binance()
    exchange.load_markets = lambda *a, **k: None  # type: ignore[method-assign]
    base, quote = symbol.split("/")
    market = exchange.safe_market_structure(
        {
            "symbol": symbol,
            "id": base + quote,
            "base": base,
            "quote": quote,
            "spot": True,
            "option": False,
            "type": "spot",
        }
    )
    started = time.process_time()
    for row in rows:
        exchange.parse_trade(row, market)
    theirs = (time.process_time() - started) / len(rows)
    return {"ours_us": round(ours * 1e6, 2), "ccxt_us": round(theirs * 1e6, 2)}


def prepare(url: str, trades: int) -> tuple[int, dict[str, str]]:
    """An account with 90 days of history on the simulator, and its read key."""
    with httpx.Client(base_url=url, timeout=600) as http:
        account = http.post("/_sim/accounts", json={"balances": {}}).json()["account_id"]
        http.post(
            f"/_sim/accounts/{account}/history",
            json={"days": DAYS, "trades": trades, "seed": 1},
        ).raise_for_status()
        key = http.post(
            f"/_sim/accounts/{account}/keys", json={"permissions": {"enableReading": True}}
        ).json()
    return account, key


def ground_truth(url: str, account: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with httpx.Client(base_url=url, timeout=600) as http:
        truth = http.get(f"/_sim/accounts/{account}/truth").json()
        listing = http.get("/api/v3/exchangeInfo").json()["symbols"]
    return truth, listing


def minimum_requests(
    truth: dict[str, Any], listing: list[dict[str, Any]], *, since_ms: int, until_ms: int
) -> dict[str, int]:
    """The least a client knowing only the API's answers must ask (see the docstring)."""
    pairs = {s["symbol"]: (s["baseAsset"], s["quoteAsset"]) for s in listing}
    orders = [o for o in truth["orders"] if o["time"] >= since_ms]
    held = {a for a, b in truth["balances"].items() if Decimal(b["free"]) + Decimal(b["locked"])}
    held |= {t["coin"] for t in truth["deposits"] + truth["withdrawals"]}
    while True:
        possible = {s for s, (base, quote) in pairs.items() if base in held or quote in held}
        shown = set(held)
        for o in orders:
            if o["symbol"] not in possible:
                continue
            base, quote = pairs[o["symbol"]]
            if Decimal(o["executedQty"]):
                shown |= {base, quote}
            shown.add(quote if o["side"] == "BUY" else base)
        if shown == held:
            break
        held = shown
    orders_per = Counter(o["symbol"] for o in orders)
    filled = {o["symbol"] for o in orders if Decimal(o["executedQty"])}
    trades_per = Counter(t["symbol"] for t in truth["trades"] if t["time"] >= since_ms)
    windows = math.ceil((until_ms - since_ms) / WALLET_WINDOW_MS)
    order_reads = sum(max(1, math.ceil(orders_per[s] / PAGE)) for s in possible)
    trade_reads = sum(max(1, math.ceil(trades_per[s] / PAGE)) for s in filled)
    return {
        "fixed": FIXED_CALLS,
        "wallet": 2 * windows,
        "orders": order_reads,
        "order_pairs_possible": len(possible),
        "order_pairs_with_orders": len(orders_per),
        "trades": trade_reads,
        "total": FIXED_CALLS + 2 * windows + order_reads + trade_reads,
    }


class GcTime:
    """A ``gc.callbacks`` hook adding up the CPU time of the collector's passes (in the thread
    that runs them: the event loop's, where the sync allocates)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._started


async def top_of_minute() -> None:
    await asyncio.sleep(60 - time.time() % 60)


@dataclass
class Measured:
    """One sync of a fresh account into a fresh database."""

    account: int
    calls: list[ExchangeCall]
    stored: dict[str, int]
    records: int
    start_ms: int
    end_ms: int
    wall: float
    cpu: float
    event_loop_thread: float
    user: float
    system: float
    collector: float  # of event_loop_thread: the garbage collector's passes
    listing: dict[str, float]  # ms: listings of the synced history, once the sync is done


@contextlib.asynccontextmanager
async def database(args: argparse.Namespace) -> AsyncIterator[dict[str, str]]:
    """Settings for the database: the embedded SQLite file (default), or a new schema on the
    PostgreSQL server at ``--database-url``, dropped afterwards."""
    if args.database_url is None:
        yield {}
        return
    schema = f"tresor_bench_{secrets.token_hex(4)}"
    admin = Database(args.database_url)
    async with admin.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield {"database_url": args.database_url, "database_schema": schema}
    finally:
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


async def one_sync(url: str, args: argparse.Namespace, *, align: bool, profile: bool) -> Measured:
    account, key = await asyncio.to_thread(prepare, url, args.trades)
    with tempfile.TemporaryDirectory() as data:
        async with database(args) as where:
            return await sync_into(url, args, account, key, Path(data), where, align, profile)


async def sync_into(
    url: str,
    args: argparse.Namespace,
    account: int,
    key: dict[str, str],
    data: Path,
    where: dict[str, str],
    align: bool,
    profile: bool,
) -> Measured:
    runtime = await build_runtime(
        Settings(
            data_dir=data,
            endpoints={
                "sim": {
                    "exchange": "binance",
                    "url": url,
                    "weight_per_minute": args.weight_per_minute,
                }
            },
            **where,
            **({"sqlite_synchronous": args.sqlite_synchronous} if args.sqlite_synchronous else {}),
        )
    )
    try:
        user = await runtime.container.access.create_user("bench")
        connection = await runtime.container.connections.add(
            user.id,
            exchange="binance",
            label="bench",
            endpoint="sim",
            read_key=Credentials(Secret(key["api_key"]), Secret(key["secret"])),
        )
        await runtime.request_log.flush()
        if align:
            await top_of_minute()
        async with httpx.AsyncClient(base_url=url) as http:
            await http.delete("/_sim/limits")  # a fresh count for the sync alone
            if args.weight_per_minute != LIMIT:
                await http.post("/_sim/faults", json={"weight_limit": args.weight_per_minute})
        # CPU time of the event loop's thread (not wall time, which counts waits)
        profiler = cProfile.Profile(time.thread_time) if profile else None
        collector = GcTime()
        gc.callbacks.append(collector)
        start_ms = int(time.time() * 1000)
        times0 = os.times()
        wall0, cpu0, main0 = time.perf_counter(), time.process_time(), time.thread_time()
        if profiler is not None:
            profiler.enable()
        report = await runtime.sync.sync(connection.id, backfill_days=DAYS)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        main_thread = time.thread_time() - main0
        gc.callbacks.remove(collector)
        times = os.times()
        end_ms = int(time.time() * 1000)
        await runtime.request_log.flush()
        calls = [
            c.call
            for c in await runtime.store.calls(
                CallQuery(connection_ids=(connection.id,), limit=1_000_000)
            )
        ]
        stored = await runtime.store.counts(connection.id)
        listing = await listing_ms(runtime, connection.id)
    finally:
        await runtime.aclose()
    return Measured(
        account,
        calls,
        stored,
        report.records,
        start_ms,
        end_ms,
        wall,
        cpu,
        main_thread,
        times.user - times0.user,
        times.system - times0.system,
        collector.seconds,
        listing,
    )


async def listing_ms(runtime: Any, connection_id: str) -> dict[str, float]:
    """What ``GET /v1/trades`` and ``/v1/orders`` ask the store for, on the synced history
    (milliseconds, median of 5): the first page of 100 (the API asks for one more, to know
    whether another page follows), the 10th page (by its keyset cursor) and a page of 1,000
    (the most the API gives)."""

    async def timed(fetch: Any, query: RecordQuery) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            await fetch(query)
            times.append(time.perf_counter() - started)
        return round(statistics.median(times) * 1000, 2)

    out: dict[str, float] = {}
    for name, fetch, key in (
        (
            "trades",
            runtime.store.trades,
            lambda t: (t.time_ms, t.connection_id, t.symbol, t.trade_id),
        ),
        (
            "orders",
            runtime.store.orders,
            lambda o: (o.created_ms, o.connection_id, o.symbol, o.order_id),
        ),
    ):
        first = RecordQuery((connection_id,), limit=101)
        out[f"{name}_first_page"] = await timed(fetch, first)
        before = None
        for _ in range(9):
            before = key((await fetch(RecordQuery((connection_id,), limit=101, before=before)))[-2])
        out[f"{name}_10th_page"] = await timed(
            fetch, RecordQuery((connection_id,), limit=101, before=before)
        )
        out[f"{name}_page_of_1000"] = await timed(fetch, RecordQuery((connection_id,), limit=1001))
    return out


async def run(args: argparse.Namespace) -> dict[str, object]:
    port = free_port()
    sim = start_sim(port)
    url = f"http://127.0.0.1:{port}"
    try:
        first = await one_sync(url, args, align=args.align, profile=bool(args.profile))
        truth, listing = await asyncio.to_thread(ground_truth, url, first.account)
        # more syncs of fresh accounts, for the CPU figure only (the machine is shared)
        others = [
            await one_sync(url, args, align=False, profile=False) for _ in range(args.repeat - 1)
        ]
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    calls = first.calls
    since_ms = first.start_ms - DAYS * DAY_MS
    minimum = minimum_requests(truth, listing, since_ms=since_ms, until_ms=first.end_ms)
    by_path = Counter(c.path.split("?")[0] for c in calls)
    weight = sum(c.weight for c in calls if not c.path.startswith("/sapi/"))
    statuses = Counter(c.status for c in calls)
    errors: dict[str, int] = defaultdict(int)
    for c in calls:
        if c.status != 200:
            errors[f"{c.status} {c.error_code} {c.path.split('?')[0]}"] += 1
    limit = args.weight_per_minute
    windows_needed = math.ceil(weight / limit)
    offset = (first.start_ms % 60_000) / 1000
    weight_bound = 0.0 if windows_needed <= 1 else 60 * (windows_needed - 1) - offset
    rows = [t for t in truth["trades"] if t["symbol"] == "BTCUSDT"][:5000]
    want = {
        "trades": len(truth["trades"]),
        "orders": len(truth["orders"]),
        "deposits": len(truth["deposits"]),
        "withdrawals": len(truth["withdrawals"]),
    }
    trades = len(truth["trades"])
    per_trade = [round(m.cpu / trades * 1e6, 2) for m in (first, *others)]
    return {
        "trades": trades,
        "orders": len(truth["orders"]),
        "traded_symbols": len({t["symbol"] for t in truth["trades"]}),
        "listed_symbols": len(listing),
        "requests": len(calls),
        "requests_by_path": dict(by_path),
        "minimum_requests": minimum,
        "requests_ratio": round(len(calls) / minimum["total"], 3),
        "ip_weight": weight,
        "weight_per_minute": limit,
        "weight_windows_needed": windows_needed,
        "start_second_of_minute": round(offset, 2),
        "weight_bound_fixed_windows_s": round(weight_bound, 1),
        "weight_bound_steady_rate_s": round(weight / limit * 60, 1),
        "wall_seconds": round(first.wall, 2),
        "statuses": {str(k): v for k, v in statuses.items()},
        "not_ok": dict(errors),
        "cpu_seconds": round(first.cpu, 3),
        "cpu_seconds_event_loop_thread": round(first.event_loop_thread, 3),
        "cpu_seconds_other_threads": round(first.cpu - first.event_loop_thread, 3),
        "cpu_seconds_garbage_collector": round(first.collector, 3),
        "cpu_seconds_user_system": [round(first.user, 3), round(first.system, 3)],
        "cpu_us_per_trade": per_trade[0],
        "cpu_us_per_trade_runs": per_trade,
        "cpu_us_per_trade_median": statistics.median(per_trade),
        "parse_per_trade": parse_costs(rows, "BTC/USDT"),
        "records": first.records,
        "stored": first.stored,
        "complete": first.stored == want,
        "listing_ms": first.listing,
        "database": "postgresql" if args.database_url else "sqlite",
        "sqlite_synchronous": args.sqlite_synchronous or "NORMAL (default)",
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=50_000)
    parser.add_argument("--no-align", dest="align", action="store_false")
    parser.add_argument(
        "--weight-per-minute",
        type=int,
        default=LIMIT,
        help="the venue's REQUEST_WEIGHT limit (and Tresor's budget); raise it to measure CPU "
        "without waiting for weight windows",
    )
    parser.add_argument("--profile", help="write cProfile stats of the (first) sync here")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="sync this many fresh accounts; CPU is reported for each and as the median",
    )
    parser.add_argument(
        "--database-url",
        help="sync into PostgreSQL (a fresh schema there) instead of the embedded SQLite",
    )
    parser.add_argument(
        "--sqlite-synchronous",
        choices=["NORMAL", "FULL"],
        help="TRESOR_SQLITE_SYNCHRONOUS: SQLite's PRAGMA synchronous (default: Tresor's, NORMAL)",
    )
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sync_backfill.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
