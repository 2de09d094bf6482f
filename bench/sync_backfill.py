"""Backfill of a 90-day Binance account (50,000 trades over 20 traded symbols, of ~500 listed)
from a simulator in its own process, at Binance's real weight limit (6,000 per minute).

Reports, from one run:
- exchange requests used, against the minimum a complete sync needs: per traded symbol
  ceil(trades / 1000) trade pages, per symbol with orders ceil(orders / 1000) order pages, the
  wallet history pages, and the fixed calls (exchangeInfo, account, prices, openOrders). The
  order-discovery reads (pairs that could hold an unfilled order, found empty) are counted
  apart: no cheaper signal reveals such orders;
- wall time, against what the weight limit allows for the weight spent (weight / 6,000 per
  minute);
- Tresor's CPU per ingested trade (process CPU time of the whole sync: HTTP, JSON, parsing,
  SQLite writes), and the parse alone: our parser against ccxt's unified ``parse_trade``.

.venv/bin/python bench/sync_backfill.py [--trades 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import ccxt
import httpx

from tresor.adapters.exchange.history_binance import parse_trades
from tresor.bootstrap import build_runtime
from tresor.config import Settings
from tresor.domain.connections import Credentials
from tresor.domain.records import CallQuery
from tresor.domain.secrets import Secret
from tresor.sim.server import free_port

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 6_000


def start_sim(port: int) -> subprocess.Popen[bytes]:
    tresor = str(Path(sys.executable).with_name("tresor"))
    child = subprocess.Popen(  # the simulator in its own process: its CPU is not ours
        [tresor, "sim", "--port", str(port), "--seed", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v3/ping", timeout=1)
        except httpx.HTTPError:
            time.sleep(0.1)
        else:
            return child
    child.kill()
    raise SystemExit("the simulator did not start")


def parse_costs(rows: list[dict], symbol: str) -> dict[str, float]:
    started = time.perf_counter()
    for _ in range(3):
        parse_trades(rows, "c", symbol)
    ours = (time.perf_counter() - started) / (3 * len(rows))
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
    started = time.perf_counter()
    for row in rows:
        exchange.parse_trade(row, market)
    theirs = (time.perf_counter() - started) / len(rows)
    return {"ours_us": round(ours * 1e6, 2), "ccxt_us": round(theirs * 1e6, 2)}


def prepare(url: str, trades: int) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """An account with 90 days of history on the simulator: its read key and its truth."""
    with httpx.Client(base_url=url, timeout=600) as http:
        account = http.post("/_sim/accounts", json={"balances": {}}).json()["account_id"]
        http.post(
            f"/_sim/accounts/{account}/history",
            json={"days": 90, "trades": trades, "seed": 1},
        ).raise_for_status()
        key = http.post(
            f"/_sim/accounts/{account}/keys", json={"permissions": {"enableReading": True}}
        ).json()
        truth = http.get(f"/_sim/accounts/{account}/truth").json()
    return key, truth


async def run(args: argparse.Namespace) -> dict[str, object]:
    port = free_port()
    sim = start_sim(port)
    url = f"http://127.0.0.1:{port}"
    try:
        key, truth = await asyncio.to_thread(prepare, url, args.trades)
        with tempfile.TemporaryDirectory() as data:
            runtime = await build_runtime(
                Settings(
                    data_dir=Path(data),
                    endpoints={"sim": {"exchange": "binance", "url": url}},
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
                async with httpx.AsyncClient(base_url=url) as http:
                    await http.delete("/_sim/limits")  # a fresh count for the sync alone
                wall0, cpu0 = time.perf_counter(), time.process_time()
                report = await runtime.sync.sync(connection.id, backfill_days=90)
                wall = time.perf_counter() - wall0
                cpu = time.process_time() - cpu0
                await runtime.request_log.flush()
                calls = [
                    c.call
                    for c in await runtime.store.calls(
                        CallQuery(connection_ids=(connection.id,), limit=1_000_000)
                    )
                ]
            finally:
                await runtime.aclose()
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    by_path = Counter(c.path.split("?")[0] for c in calls)
    weight = sum(c.weight for c in calls if not c.path.startswith("/sapi/"))
    trades_per = Counter(t["symbol"] for t in truth["trades"])
    orders_per = Counter(o["symbol"] for o in truth["orders"])
    minimum = (
        sum(math.ceil(n / 1000) for n in trades_per.values())
        + sum(math.ceil(n / 1000) for n in orders_per.values())
        + 2  # one deposit and one withdrawal page per 90-day window
        + 4  # exchangeInfo, account, ticker/price, openOrders
    )
    empty_order_reads = by_path["/api/v3/allOrders"] - sum(
        math.ceil(n / 1000) for n in orders_per.values()
    )
    rows = [t for t in truth["trades"] if t["symbol"] == "BTCUSDT"][:5000]
    statuses = Counter(c.status for c in calls)
    return {
        "trades": len(truth["trades"]),
        "traded_symbols": len(trades_per),
        "requests": len(calls),
        "requests_by_path": dict(by_path),
        "minimum_requests": minimum,
        "order_discovery_reads": empty_order_reads,
        "ratio_excluding_discovery": round((len(calls) - empty_order_reads) / minimum, 3),
        "ratio_including_discovery": round(len(calls) / minimum, 3),
        "ip_weight": weight,
        "weight_bound_seconds": round(weight / LIMIT * 60, 1),
        "wall_seconds": round(wall, 2),
        "statuses": {str(k): v for k, v in statuses.items()},
        "cpu_seconds": round(cpu, 3),
        "cpu_us_per_trade": round(cpu / len(truth["trades"]) * 1e6, 2),
        "parse_per_trade": parse_costs(rows, "BTC/USDT"),
        "records": report.records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=50_000)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sync_backfill.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
