"""``tresor demo`` (what ``make demo`` runs): the printed client gets a token, and the token
shows the demo connection, connected, through the API; the scheduler syncs it, so the portfolio
has value within seconds; the printed login signs in to the dashboard, whose overview shows
that value."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from decimal import Decimal
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
        total = "0"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            total = httpx.get(
                f"{api}/v1/portfolio", headers={"Authorization": f"Bearer {token}"}, timeout=10
            ).json()["total"]
            if Decimal(total) > 0:
                break
            time.sleep(0.5)
        assert Decimal(total) > 0, "the demo's scheduler synced the demo account's balances"
        login = re.search(r"login\s+demo / (\S+)", text)
        assert login, text
        overview = _dashboard(api, "demo", login.group(1))
        assert "Net worth" in overview
        assert 'id="net-worth"' in overview
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stdout is not None:
            proc.stdout.close()


def _dashboard(api: str, name: str, password: str) -> str:
    """Sign in as a browser does and return the overview's HTML. The cookies are carried by
    hand: on a loopback address they are ``Secure`` (browsers keep those over http from
    127.0.0.1), which httpx's cookie jar would not send over http."""
    form = httpx.get(f"{api}/login", timeout=10)
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
    assert nonce, form.text
    signin_cookie = form.headers["set-cookie"].split(";")[0]
    answer = httpx.post(
        f"{api}/login",
        data={"name": name, "password": password, "nonce": nonce.group(1), "next": "/"},
        headers={"Cookie": signin_cookie, "Origin": api},
        timeout=30,
    )
    assert answer.status_code == 303, answer.text
    session = next(
        c.split(";")[0]
        for c in answer.headers.get_list("set-cookie")
        if c.startswith("__Host-tresor=")
    )
    attributes = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("__Host-tresor=")
    )
    assert "Secure" in attributes
    assert "HttpOnly" in attributes
    assert "SameSite=strict" in attributes
    page = httpx.get(f"{api}/", headers={"Cookie": session}, timeout=10)
    assert page.status_code == 200, page.text
    return page.text
