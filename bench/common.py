"""What the benchmarks share: the simulator in a process of its own (its CPU is not Tresor's)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TRESOR = str(Path(sys.executable).with_name("tresor"))


def start_sim(port: int, *options: str) -> subprocess.Popen[bytes]:
    """``tresor sim`` on ``port`` (seed 1 unless ``options`` say otherwise), once it answers."""
    child = subprocess.Popen(
        [TRESOR, "sim", "--port", str(port), "--seed", "1", *options],
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
