"""``tresor sim --scenario demo`` on a real port: it prints a working key and serves it."""

from __future__ import annotations

import hashlib
import hmac
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tresor.sim.server import free_port


def _tresor() -> str:
    found = shutil.which("tresor", path=str(Path(sys.executable).parent))
    assert found, "the tresor console script is installed with the package"
    return found


def test_demo_scenario_prints_a_key_that_reads_the_funded_account() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [_tresor(), "sim", "--scenario", "demo", "--port", str(port), "--exit-after", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl+C" in line:
                break
        text = "".join(lines)
        api_key = re.search(r"API key\s+([A-Za-z0-9]{64})", text)
        secret = re.search(r"Secret\s+([A-Za-z0-9]{64})", text)
        assert api_key, text
        assert secret, text
        assert "Demo account balances" in text
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{base}/api/v3/ping", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        query = f"timestamp={int(time.time() * 1000)}"
        sig = hmac.new(secret.group(1).encode(), query.encode(), hashlib.sha256).hexdigest()
        answer = httpx.get(
            f"{base}/api/v3/account?{query}&signature={sig}",
            headers={"X-MBX-APIKEY": api_key.group(1)},
            timeout=10,
        )
        assert answer.status_code == 200
        balances = {b["asset"]: b for b in answer.json()["balances"]}
        assert float(balances["USDT"]["free"]) > 0
        # one ping (weight 1) and one account read (weight 20) from this IP so far
        assert answer.headers["x-mbx-used-weight-1m"] == "21"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode is not None


def test_two_venues_run_side_by_side_with_close_but_different_prices() -> None:
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen(
            [_tresor(), "sim", "--port", str(p), "--seed", str(i + 1), "--exit-after", "60"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i, p in enumerate(ports)
    ]
    try:
        prices = []
        for port in ports:
            for _ in range(100):
                try:
                    r = httpx.get(
                        f"http://127.0.0.1:{port}/api/v3/ticker/price",
                        params={"symbol": "BTCUSDT"},
                        timeout=1,
                    )
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            prices.append(float(r.json()["price"]))
        assert prices[0] != prices[1]
        assert abs(prices[0] - prices[1]) / prices[0] < 0.02
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=15)
