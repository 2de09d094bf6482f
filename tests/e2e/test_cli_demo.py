"""``tresor demo`` (what ``make demo`` runs): the printed client gets a token, and the token
shows the demo connection, connected, through the API."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tresor.sim.server import free_port


def test_the_demo_prints_a_client_whose_token_sees_the_connected_demo_account(
    tmp_path: Path,
) -> None:
    tresor = shutil.which("tresor", path=str(Path(sys.executable).parent))
    assert tresor
    sim_port, api_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            tresor,
            "demo",
            "--sim-port",
            str(sim_port),
            "--api-port",
            str(api_port),
            "--data-dir",
            str(tmp_path / "demo"),
            "--exit-after",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        text = ""
        deadline = time.monotonic() + 60
        while "Press Ctrl+C" not in text and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            text += line
        client_id = re.search(r"client_id\s+(trc_\w+)", text)
        secret = re.search(r"client_secret\s+(trs_[\w-]+)", text)
        assert client_id, text
        assert secret, text
        api = f"http://127.0.0.1:{api_port}"
        for _ in range(100):
            try:
                httpx.get(f"{api}/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        token = httpx.post(
            f"{api}/v1/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id.group(1),
                "client_secret": secret.group(1),
            },
            timeout=10,
        ).json()["access_token"]
        listed = httpx.get(
            f"{api}/v1/connections", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).json()
        assert [c["status"] for c in listed["items"]] == ["connected"]
        assert listed["items"][0]["keys"][0]["report"]["rights"]["withdraw"] == "no"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stdout is not None:
            proc.stdout.close()
