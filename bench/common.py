"""What the benchmarks share: Tresor's processes (the simulator, the API server) started in
processes of their own, so their CPU is not the benchmark's, and their CPU time read back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

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
