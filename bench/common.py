"""What the benchmarks share: Tresor's processes (the simulator, the API server) started in
processes of their own, so their CPU is not the benchmark's, and their CPU time read back; the
API in the benchmark's own process (``in_process_api``); latency summaries; a balance history
written in bulk behind the latest synced snapshots (``backdate_snapshots``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from tresor.adapters.db.sync_store import SNAPSHOTS
from tresor.bootstrap import Runtime, build_runtime
from tresor.config import Settings
from tresor.entrypoints.api.app import create_app

ROOT = Path(__file__).resolve().parent.parent
TRESOR = str(Path(sys.executable).with_name("tresor"))


def wait_until_up(
    proc: subprocess.Popen[bytes], url: str, *, seconds: float = 30, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """Return ``proc`` once ``url`` answers; kill it and stop if it dies or takes too long."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.get(url, timeout=1)
        except httpx.HTTPError:
            time.sleep(0.1)
        else:
            return proc
    proc.kill()
    tail = log.read_text(errors="replace")[-3000:] if log is not None else ""
    raise SystemExit(f"{url} did not come up\n{tail}")


def start_sim(port: int, *options: str) -> subprocess.Popen[bytes]:
    """``tresor sim`` on ``port`` (seed 1 unless ``options`` say otherwise), once it answers."""
    child = subprocess.Popen(
        [TRESOR, "sim", "--port", str(port), "--seed", "1", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return wait_until_up(child, f"http://127.0.0.1:{port}/api/v3/ping")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """``cpu_seconds`` of a process and of its running children (``tresor serve --workers``)."""
    total = cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += cpu_seconds(int(child))
    return total


def pct(values: list[float], p: float) -> float:
    """The ``p`` quantile of ``values`` (seconds), in milliseconds."""
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 3)


def summary(values: list[float]) -> dict[str, float]:
    """Count, p50, p99 and mean of latencies in seconds, in milliseconds."""
    return {
        "n": len(values),
        "p50_ms": pct(values, 0.5),
        "p99_ms": pct(values, 0.99),
        "mean_ms": round(statistics.fmean(values) * 1000, 3),
    }


async def backdate_snapshots(
    runtime: Runtime,
    connection_ids: list[str],
    *,
    days: float,
    interval_ms: int = 300_000,
    seed: int = 7,
    batch: int = 5_000,
) -> int:
    """A balance history behind each connection's latest stored snapshot (a real sync's), as
    the balance sync would have left it every ``interval_ms`` (the default interval) over
    ``days``: the same holdings, each asset's price a random walk (0.2 % a step) ending at the
    latest price, so a chart of it moves like a market. Written straight into the snapshot
    table, ``batch`` rows a statement; returns how many were written."""
    rng = random.Random(seed)
    latest = await runtime.store.latest_snapshots(connection_ids)
    steps = int(days * 86_400_000 // interval_ms)
    written = 0
    async with runtime.database.engine.begin() as conn:
        for cid in connection_ids:
            snap = latest[cid]
            balances = {
                a: [format(b.free, "f"), format(b.locked, "f")]
                for a, b in sorted(snap.snapshot.balances.items())
            }
            factor = dict.fromkeys(snap.prices, 1.0)
            rows = []
            for n in range(1, steps + 1):  # newest first, walking back from the latest price
                for asset in factor:
                    factor[asset] *= 1 + rng.gauss(0, 0.002)
                rows.append(
                    {
                        "connection_id": cid,
                        "taken_ms": snap.snapshot.taken_ms - n * interval_ms,
                        "balances": balances,
                        "quote": snap.quote,
                        "prices": {
                            a: format(round(p * Decimal(f"{factor[a]:.6f}"), 8), "f")
                            for a, p in sorted(snap.prices.items())
                        },
                    }
                )
            rows.reverse()
            for start in range(0, len(rows), batch):
                await conn.execute(SNAPSHOTS.insert(), rows[start : start + batch])
            written += len(rows)
    return written


class AsgiCaller:
    """Calls the API's ASGI application as a server would, with nothing of a client around it:
    one request's ASGI scope, its body, the answer's status and body. What it measures is the
    application's own time (middleware, routing, validation, the route, serialization); an
    HTTP client's (httpx builds URLs, headers and cookies: 0.3 to 0.5 ms a request here) is not
    Tresor's."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """A JSON ``body`` POSTed to ``path``."""
        raw_headers = [(b"content-type", b"application/json")] + [
            (k.lower().encode(), v.encode()) for k, v in headers.items()
        ]
        raw_headers.append((b"content-length", str(len(body)).encode()))
        return await self._call("POST", path, b"", body, raw_headers)

    async def get(
        self, path: str, query: str = "", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """``GET path?query``."""
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        return await self._call("GET", path, query.encode(), b"", raw_headers)

    async def _call(
        self,
        method: str,
        path: str,
        query: bytes,
        body: bytes,
        raw_headers: list[tuple[bytes, bytes]],
    ) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": raw_headers,
            "client": ("127.0.0.1", 50000),
            "server": ("api", 80),
        }
        answered = asyncio.Event()
        given = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            await answered.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    answered.set()

        await self._app(scope, receive, send)
        return status, b"".join(chunks)


@dataclass
class InProcessApi:
    """Tresor's API in this process on the embedded default (a fresh data directory), called
    over httpx's ASGI transport (``http``) or straight (``asgi``) by a user ``bench`` with a
    bearer token of ``scopes``."""

    runtime: Runtime
    http: httpx.AsyncClient
    auth: dict[str, str]
    asgi: AsgiCaller


@contextlib.asynccontextmanager
async def in_process_api(
    sim_url: str, *, scopes: str, max_connections: int, endpoint: dict[str, Any] | None = None
) -> AsyncIterator[InProcessApi]:
    """``endpoint``: more of the simulator's endpoint settings (``weight_per_minute`` ...)."""
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            data_dir=Path(data_dir),
            endpoints={"sim": {"exchange": "binance", "url": sim_url, **(endpoint or {})}},
            max_connections_per_user=max_connections,
        )
        runtime = await build_runtime(settings)
        try:
            access = runtime.container.access
            await access.create_user("bench")
            client, secret = await access.create_client("bench", scopes)
            app = create_app(runtime.container)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                form = {
                    "grant_type": "client_credentials",
                    "client_id": client.id,
                    "client_secret": secret,
                }
                token = (await http.post("/v1/auth/token", data=form)).json()["access_token"]
                auth = {"Authorization": f"Bearer {token}"}
                yield InProcessApi(runtime, http, auth, AsgiCaller(app))
        finally:
            await runtime.aclose()
