"""Connection and token figures for the API on the embedded default (SQLite).

- Time to add a connection (``POST /v1/connections`` with a read+trade Binance key, verified
  against the simulator) and to test it (``POST /v1/connections/{id}/test``): p50 and p99.
- Token validation overhead per request: ``AccessService.authenticate`` alone, and the
  difference between ``GET /v1/me`` (a token is validated, nothing else is done) and
  ``GET /v1/health`` (no token) through the whole app.

The simulator runs as a separate process (``tresor sim``); the API runs in this process,
called through httpx's ASGI transport, so the figures are Tresor's own work plus the
simulator's answers over loopback.

    .venv/bin/python bench/api_connections.py [--connections 60] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from common import in_process_api, pct, start_sim, summary  # bench/ is this script's own folder
from sim_throughput import free_port
from tresor.bootstrap import SystemClock
from tresor.services.access import AccessPolicy, AccessService

ROOT = Path(__file__).resolve().parent.parent


async def run(args: argparse.Namespace, sim_url: str) -> dict[str, Any]:
    admin = httpx.AsyncClient(base_url=sim_url)
    try:
        async with in_process_api(
            sim_url, scopes="read,admin", max_connections=args.connections + 1
        ) as api:
            runtime, http, auth = api.runtime, api.http, api.auth
            access = runtime.container.access
            token = auth["Authorization"].removeprefix("Bearer ")
            add_times: list[float] = []
            test_times: list[float] = []
            for n in range(args.connections):
                made = await admin.post("/_sim/accounts", json={"balances": {"USDT": "1000"}})
                account = made.json()["account_id"]
                keys_url = f"/_sim/accounts/{account}/keys"
                read = (
                    await admin.post(keys_url, json={"permissions": {"enableReading": True}})
                ).json()
                trade = (
                    await admin.post(
                        keys_url,
                        json={
                            "permissions": {
                                "enableReading": True,
                                "enableSpotAndMarginTrading": True,
                            }
                        },
                    )
                ).json()
                body = {
                    "exchange": "binance",
                    "endpoint": "sim",
                    "label": f"bench-{n}",
                    "read_key": {"api_key": read["api_key"], "secret": read["secret"]},
                    "trade_key": {"api_key": trade["api_key"], "secret": trade["secret"]},
                }
                started = time.perf_counter()
                r = await http.post("/v1/connections", json=body, headers=auth)
                add_times.append(time.perf_counter() - started)
                if r.status_code != 201:
                    raise RuntimeError(r.text)
                started = time.perf_counter()
                r = await http.post(f"/v1/connections/{r.json()['id']}/test", headers=auth)
                test_times.append(time.perf_counter() - started)
                if r.status_code != 200:
                    raise RuntimeError(r.text)
                if n % 20 == 19:  # stay far below the venue's weight limit
                    await admin.delete("/_sim/limits")
            # token validation alone
            validate: list[float] = []
            for _ in range(args.requests):
                started = time.perf_counter()
                await access.authenticate(token, "127.0.0.1")
                validate.append(time.perf_counter() - started)
            # and with the validation cache off: the database is asked every time
            uncached_service = AccessService(
                runtime.database.uow, SystemClock(), AccessPolicy(token_cache=timedelta(0))
            )
            uncached: list[float] = []
            for _ in range(args.requests):
                started = time.perf_counter()
                await uncached_service.authenticate(token, "127.0.0.1")
                uncached.append(time.perf_counter() - started)
            # the same request with and without a token, through the whole app
            plain: list[float] = []
            authed: list[float] = []
            for _ in range(args.requests):
                started = time.perf_counter()
                await http.get("/v1/health")
                plain.append(time.perf_counter() - started)
                started = time.perf_counter()
                await http.get("/v1/me", headers=auth)
                authed.append(time.perf_counter() - started)
    finally:
        await admin.aclose()
    return {
        "add_connection": summary(add_times),
        "test_connection": summary(test_times),
        "authenticate_cached": summary(validate),
        "authenticate_uncached": summary(uncached),
        "unauthenticated_request": summary(plain),
        "authenticated_request": summary(authed),
        "overhead_p50_ms": round(pct(authed, 0.5) - pct(plain, 0.5), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=60)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    port = free_port()
    proc = start_sim(port, "--weight-limit", "100000000")
    try:
        result = asyncio.run(run(args, f"http://127.0.0.1:{port}"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "api_connections.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
