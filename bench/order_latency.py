"""Placing orders through Tresor (issue 5).

1. **Added latency.** Against one simulator, in one run, each round places the same order
   three times: once with ccxt's async ``binance`` client directly (the key's own instance,
   markets loaded), twice through Tresor's API (``POST /v1/orders``, the app in this process on
   the embedded default: SQLite, in-process worker): called straight as an ASGI application
   (``AsgiCaller``: Tresor's own time, no client around it), and over httpx's ASGI transport
   (an HTTP client's cost included, as the earlier figures were). The order is a limit IOC buy
   far below the market, so it expires at once: nothing rests, nothing fills, every round is
   alike. The rounds go round-robin over several accounts (``LATENCY_ROUNDS_PER_ACCOUNT``),
   far from any order-rate limit, each once its trade key is verified. Reported: p50 and p99 of
   each, and of the per-round difference (Tresor minus ccxt), which is Tresor's added latency
   (goal: under 2 ms at p50); and the CPU time of the event loop's thread during each
   (SQLite's threads not included).
2. **Sustained rate.** ``--accounts`` connections, each its own account with the exchange's
   order limit (``--orders-per-10s``, Binance's 100), ``--clients`` API clients placing
   orders round-robin over the connections for ``--seconds``: orders per second through the
   API, and whether the exchange ever refused one for its order rate (-1015, HTTP 429) or
   its request weight (429/418), counted from the request log.

With ``--steps``, the latency rounds are run a second time with a timer around each step of
Tresor's path (reading the connection and its trade key, each store write, the exchange call),
to show where the time goes (the timers themselves cost a little).

The simulator runs as its own process (``tresor sim``). httpx's ASGI transport tries
``import sniffio`` on every request; where that package is not installed, the failed import
(a search of ``sys.path``, about 0.07 ms) is a cost of this bench's client, not of Tresor, so
the bench marks it absent once.

    .venv/bin/python bench/order_latency.py [--rounds 300] [--accounts 20] [--seconds 20]
                                            [--steps]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import importlib.util
import json
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import httpx
from sqlalchemy import text

from common import (  # bench/ is this script's own folder
    InProcessApi,
    in_process_api,
    start_sim,
    summary,
)
from sim_throughput import free_port
from tresor.adapters.exchange.client import BINANCE_OPTIONS, rewrite_hosts
from tresor.bootstrap import Runtime

ROOT = Path(__file__).resolve().parent.parent
TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}
FUNDS = {"USDT": "10000000", "BTC": "100"}
LATENCY_ROUNDS_PER_ACCOUNT = 20  # latency rounds per account (each places 3 orders there)
# the simulator's request weight per minute and IP, told to Tresor too: far above Binance's
# 6,000 (which alone would hold one IP to ~95 orders/s), so the bound measured is each
# account's order rate
WEIGHT_PER_MINUTE = 1_000_000


async def account_with_key(admin: httpx.AsyncClient) -> dict[str, Any]:
    made = await admin.post("/_sim/accounts", json={"balances": FUNDS})
    account = made.json()["account_id"]
    key = (await admin.post(f"/_sim/accounts/{account}/keys", json={"permissions": TRADE})).json()
    return {"account": account, "api_key": key["api_key"], "secret": key["secret"]}


def direct_client(sim_url: str, key: dict[str, Any]) -> Any:
    ex = ccxt_async.binance(
        {
            "apiKey": key["api_key"],
            "secret": key["secret"],
            "enableRateLimit": False,
            "options": copy.deepcopy(BINANCE_OPTIONS),  # what Tresor gives ccxt too
        }
    )
    ex.urls["api"] = rewrite_hosts(ex.urls["api"], sim_url)
    return ex


async def low_price(admin: httpx.AsyncClient) -> str:
    book = (await admin.get("/api/v3/ticker/bookTicker", params={"symbol": "BTCUSDT"})).json()
    return str((Decimal(book["bidPrice"]) * Decimal("0.6")).quantize(Decimal(1)))


async def connect(
    http: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], label: str
) -> str:
    body = {
        "exchange": "binance",
        "endpoint": "sim",
        "label": label,
        "trade_key": {"api_key": key["api_key"], "secret": key["secret"]},
    }
    r = await http.post("/v1/connections", json=body, headers=auth)
    if r.status_code != 201:
        raise RuntimeError(r.text)
    return str(r.json()["id"])


async def keys_verified(api: InProcessApi, connections: list[str]) -> None:
    """Wait until each new connection's trade key is verified (a trade key given without a
    read key is tested by the in-process worker right after it is added): the rounds measure
    an order placed on a connected account, not one competing with that work."""
    deadline = time.monotonic() + 120
    waiting = list(connections)
    while waiting:
        states = [
            (c, (await api.http.get(f"/v1/connections/{c}", headers=api.auth)).json()["status"])
            for c in waiting
        ]
        waiting = [c for c, status in states if status == "verifying"]
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"{len(waiting)} trade keys were never verified")
        await asyncio.sleep(0.2)


async def latency(
    args: argparse.Namespace,
    api: InProcessApi,
    admin: httpx.AsyncClient,
    sim_url: str,
    label: str = "latency",
) -> dict[str, Any]:
    # the rounds go round-robin over accounts, so no account (at 3 orders a round) comes near
    # the exchange's order-rate limit nor Tresor's budget of it: the bench, not the limit, is
    # measured here
    rounds = args.warmup + args.rounds
    accounts = max(4, -(-rounds // LATENCY_ROUNDS_PER_ACCOUNT))
    keys = [await account_with_key(admin) for _ in range(accounts)]
    connections = [
        await connect(api.http, api.auth, key, f"{label}-{n}") for n, key in enumerate(keys)
    ]
    await keys_verified(api, connections)
    direct_clients = [direct_client(sim_url, key) for key in keys]
    price = await low_price(admin)
    body = {
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "limit",
        "time_in_force": "IOC",
        "amount": "0.001",
        "price": price,
    }
    took: dict[str, list[float]] = {"direct": [], "asgi": [], "httpx": []}
    cpu: dict[str, list[float]] = {"direct": [], "asgi": [], "httpx": []}  # the loop's thread

    def kept(n: int, name: str, started: float, cpu_started: float) -> None:
        if n >= args.warmup:
            took[name].append(time.perf_counter() - started)
            cpu[name].append(time.thread_time() - cpu_started)

    try:
        for ex in direct_clients:
            await ex.load_markets()
        for n in range(rounds):
            ex = direct_clients[n % accounts]
            order = {**body, "connection_id": connections[n % accounts]}
            started, cpu_started = time.perf_counter(), time.thread_time()
            await ex.create_order(
                "BTC/USDT", "limit", "buy", "0.001", price, {"timeInForce": "IOC"}
            )
            kept(n, "direct", started, cpu_started)
            headers = {**api.auth, "Idempotency-Key": uuid.uuid4().hex}
            raw = json.dumps(order).encode()
            started, cpu_started = time.perf_counter(), time.thread_time()
            status, answer = await api.asgi.post("/v1/orders", raw, headers)
            kept(n, "asgi", started, cpu_started)
            if status != 201 or json.loads(answer)["state"] != "expired":
                raise RuntimeError(answer.decode())
            headers = {**api.auth, "Idempotency-Key": uuid.uuid4().hex}
            started, cpu_started = time.perf_counter(), time.thread_time()
            r = await api.http.post("/v1/orders", json=order, headers=headers)
            kept(n, "httpx", started, cpu_started)
            if r.status_code != 201 or r.json()["state"] != "expired":
                raise RuntimeError(r.text)
    finally:
        for ex in direct_clients:
            await ex.close()
    direct = took["direct"]
    return {
        "accounts": accounts,
        "ccxt_direct": summary(direct),
        "through_tresor": summary(took["asgi"]),
        "added": summary([b - a for a, b in zip(direct, took["asgi"], strict=True)]),
        "through_tresor_with_httpx": summary(took["httpx"]),
        "added_with_httpx": summary([b - a for a, b in zip(direct, took["httpx"], strict=True)]),
        "event_loop_cpu": {
            "ccxt_direct": summary(cpu["direct"]),
            "through_tresor": summary(cpu["asgi"]),
            "through_tresor_with_httpx": summary(cpu["httpx"]),
        },
    }


# the steps of a placement, timed with --steps: (object's name in ``steps_of``, method)
STEPS = (
    ("exchange", "_open_trader"),
    ("store", "trade_connection"),
    ("store", "open_order"),
    ("store", "settle"),
    ("store", "refuse_key"),
    ("store", "claim_key"),
    ("store", "add_order"),
    ("store", "begin_send"),
    ("store", "save_order"),
    ("store", "finish_key"),
    ("records", "save_records"),
    ("gateway", "trader"),
)


def timed_steps(runtime: Runtime) -> dict[str, list[float]]:
    """Wrap each step of ``OrderService.place`` (those this version of Tresor has) in a timer;
    the durations, by step, as they come. The trader's ``place`` (the exchange call) is timed
    through the gateway that opens the traders."""
    orders = runtime.container.orders
    exchange = orders._exchange  # private: this is a probe
    objects = {
        "exchange": exchange,
        "store": orders._store,
        "records": getattr(orders, "_records", None),
        "gateway": exchange._gateway,
    }
    found: dict[str, list[float]] = {}

    def wrap(owner: Any, name: str, label: str) -> None:
        inner = getattr(owner, name, None)
        if inner is None:
            return
        spent = found.setdefault(label, [])

        async def step(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await inner(*args, **kwargs)
            finally:
                spent.append(time.perf_counter() - started)

        setattr(owner, name, step)

    for owner, name in STEPS:
        wrap(objects[owner], name, f"{owner}.{name}")
    opened = found.setdefault("exchange.place", [])
    open_trader = objects["gateway"].trader

    async def trader(*args: Any, **kwargs: Any) -> Any:
        made = await open_trader(*args, **kwargs)
        place = made.place

        async def timed_place(**order: Any) -> Any:
            started = time.perf_counter()
            try:
                return await place(**order)
            finally:
                opened.append(time.perf_counter() - started)

        made.place = timed_place
        return made

    objects["gateway"].trader = trader
    return found


async def sustained(
    args: argparse.Namespace, api: InProcessApi, admin: httpx.AsyncClient
) -> dict[str, Any]:
    http, auth, runtime = api.http, api.auth, api.runtime
    connections = []
    for n in range(args.accounts):
        connections.append(await connect(http, auth, await account_with_key(admin), f"rate-{n}"))
    await keys_verified(api, connections)
    price = await low_price(admin)
    await admin.delete("/_sim/limits")
    stop = time.perf_counter() + args.seconds
    done: list[int] = []
    refused: dict[str, int] = {}

    async def client(index: int) -> None:
        n = index
        while time.perf_counter() < stop:
            body = {
                "connection_id": connections[n % len(connections)],
                "symbol": "BTC/USDT",
                "side": "buy",
                "type": "limit",
                "time_in_force": "IOC",
                "amount": "0.001",
                "price": price,
            }
            n += args.clients
            r = await http.post(
                "/v1/orders", json=body, headers={**auth, "Idempotency-Key": uuid.uuid4().hex}
            )
            if r.status_code == 201:
                done.append(1)
            else:
                problem = r.json()
                code = problem.get("code", str(r.status_code))
                if "bucket" in problem:  # which budget: "orders_10s", "weight" ...
                    code += " (" + ":".join(problem["bucket"].split(":")[-2:]) + ")"
                refused[code] = refused.get(code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(args.clients)))
    elapsed = time.perf_counter() - started
    await runtime.request_log.flush()
    async with runtime.database.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT status, error_code, count(*) FROM exchange_calls "
                    "WHERE path LIKE '%/order%' GROUP BY status, error_code"
                )
            )
        ).all()
    statuses = {f"{status} {code or ''}".strip(): count for status, code, count in rows}
    return {
        "accounts": args.accounts,
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "orders": len(done),
        "orders_per_second": round(len(done) / elapsed, 1),
        "refused_by_tresor": refused,
        "exchange_answers": statuses,
        "limit_per_account_per_10s": args.orders_per_10s,
    }


async def run(args: argparse.Namespace, sim_url: str) -> dict[str, Any]:
    admin = httpx.AsyncClient(base_url=sim_url)
    try:
        async with in_process_api(
            sim_url,
            scopes="read,trade,admin",
            max_connections=1000,
            endpoint={"weight_per_minute": WEIGHT_PER_MINUTE},
        ) as api:
            runtime = api.runtime
            result = {"latency": await latency(args, api, admin, sim_url)}
            if args.steps:
                steps = timed_steps(runtime)
                timed = await latency(args, api, admin, sim_url, "timed")
                result["steps"] = {
                    "latency_with_timers": timed,
                    **{name: summary(d[args.warmup :]) for name, d in steps.items() if d},
                }
            if args.seconds > 0:
                result["sustained"] = await sustained(args, api, admin)
    finally:
        await admin.aclose()
    return result


def client_without_failed_imports() -> None:
    """httpx's ASGI transport asks for ``sniffio`` on every request (to tell trio from asyncio):
    without the package, remember that it is absent instead of searching for it each time."""
    if importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--orders-per-10s", type=int, default=100)
    parser.add_argument("--steps", action="store_true", help="also time each step")
    args = parser.parse_args()
    client_without_failed_imports()
    port = free_port()
    sim = start_sim(
        port,
        "--weight-limit",
        str(WEIGHT_PER_MINUTE),
        "--orders-per-10s",
        str(args.orders_per_10s),
    )
    try:
        result = asyncio.run(run(args, f"http://127.0.0.1:{port}"))
    finally:
        sim.terminate()
        sim.wait()
    out = ROOT / "bench" / "results" / "order_latency.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
