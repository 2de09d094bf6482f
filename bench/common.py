"""What the benchmarks share: Tresor's processes (the simulator, the API server) started in
processes of their own, so their CPU is not the benchmark's, and their CPU time read back; the
API in the benchmark's own process (``in_process_api``); latency summaries."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

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


@dataclass
class InProcessApi:
    """Tresor's API in this process on the embedded default (a fresh data directory), called
    over httpx's ASGI transport by a user ``bench`` with a bearer token of ``scopes``."""

    runtime: Runtime
    http: httpx.AsyncClient
    auth: dict[str, str]


@contextlib.asynccontextmanager
async def in_process_api(
    sim_url: str, *, scopes: str, max_connections: int
) -> AsyncIterator[InProcessApi]:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            data_dir=Path(data_dir),
            endpoints={"sim": {"exchange": "binance", "url": sim_url}},
            max_connections_per_user=max_connections,
        )
        runtime = await build_runtime(settings)
        try:
            access = runtime.container.access
            await access.create_user("bench")
            client, secret = await access.create_client("bench", scopes)
            transport = httpx.ASGITransport(app=create_app(runtime.container))
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                form = {
                    "grant_type": "client_credentials",
                    "client_id": client.id,
                    "client_secret": secret,
                }
                token = (await http.post("/v1/auth/token", data=form)).json()["access_token"]
                yield InProcessApi(runtime, http, {"Authorization": f"Bearer {token}"})
        finally:
            await runtime.aclose()
