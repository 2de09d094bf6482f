"""Simulator throughput and latency under load, the load generator in its own process.

Starts ``tresor sim`` as a subprocess (its request-weight limit raised so the benchmark
measures the server, not its rate limiter), creates an account and a key through the admin
API, then drives it from this process with CONNECTIONS keep-alive HTTP/1.1 connections for
DURATION seconds per scenario:

- ``GET /api/v3/time`` (public, weight 1);
- ``GET /api/v3/account`` signed (HMAC-SHA256 over a fresh timestamp for every request).

Prints requests/second and latency percentiles (p50/p90/p99/max, milliseconds) from one run, and
writes them as JSON to bench/results/sim_throughput.json.

    .venv/bin/python bench/sim_throughput.py [--duration 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from common import start_sim

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0


async def connection(
    port: int, make_request: Any, stop_at: float, record_from: float, stats: Stats
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            start = time.perf_counter()
            if start >= stop_at:
                return
            writer.write(make_request())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            await reader.readexactly(length)
            end = time.perf_counter()
            if start >= record_from:
                stats.latencies.append(end - start)
                if status != 200:
                    stats.errors += 1
    finally:
        writer.close()


async def run_load(
    port: int, make_request: Any, connections: int, duration: float, warmup: float
) -> dict[str, float]:
    stats = Stats()
    begin = time.perf_counter()
    record_from = begin + warmup
    stop_at = record_from + duration
    await asyncio.gather(
        *(connection(port, make_request, stop_at, record_from, stats) for _ in range(connections))
    )
    lat = sorted(stats.latencies)
    n = len(lat)

    def pct(p: float) -> float:
        return round(lat[min(n - 1, int(p * n))] * 1000, 2)

    return {
        "requests": n,
        "rps": round(n / duration),
        "errors": stats.errors,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 2),
    }


def time_request(port: int) -> Any:
    data = (f"GET /api/v3/time HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").encode()
    return lambda: data


def account_request(port: int, api_key: str, secret: str) -> Any:
    key = secret.encode()

    def make() -> bytes:
        query = f"timestamp={int(time.time() * 1000)}&recvWindow=10000"
        sig = hmac.new(key, query.encode(), hashlib.sha256).hexdigest()
        return (
            f"GET /api/v3/account?{query}&signature={sig} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nX-MBX-APIKEY: {api_key}\r\n\r\n"
        ).encode()

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    port = free_port()
    proc = start_sim(port, "--weight-limit", "100000000")
    try:
        admin = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        account = admin.post(
            "/_sim/accounts",
            json={"balances": {"USDT": "10000", "BTC": "1", "ETH": "10", "BNB": "20", "SOL": "50"}},
        ).json()
        key = admin.post(
            f"/_sim/accounts/{account['account_id']}/keys",
            json={"permissions": {"enableReading": True}},
        ).json()
        results: dict[str, Any] = {
            "connections": args.connections,
            "duration_s": args.duration,
            "cpus": os.cpu_count(),
        }
        scenarios = {
            "GET /api/v3/time": time_request(port),
            "GET /api/v3/account (signed)": account_request(port, key["api_key"], key["secret"]),
        }
        for name, make in scenarios.items():
            results[name] = asyncio.run(
                run_load(port, make, args.connections, args.duration, args.warmup)
            )
            r = results[name]
            print(
                f"{name:32s} {r['rps']:>7} req/s  p50 {r['p50_ms']:>6} ms  "
                f"p90 {r['p90_ms']:>6} ms  p99 {r['p99_ms']:>6} ms  max {r['max_ms']:>7} ms  "
                f"errors {r['errors']}"
            )
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "sim_throughput.json").write_text(json.dumps(results, indent=2))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
