"""The dashboard bench's user (bench/web_pages.py): simulated Binance accounts with generated
history, one connection to each, synced in full, a balance history behind them, an order placed
through Tresor and a rule."""

from __future__ import annotations

import secrets
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from common import backdate_snapshots
from tresor.bootstrap import Runtime, build_runtime
from tresor.config import Settings
from tresor.domain.connections import Credentials
from tresor.domain.orders import OrderRequest
from tresor.domain.rebalance import DriftTrigger, RuleSpec
from tresor.domain.secrets import Secret

NAME = "bench"
PASSWORD = secrets.token_urlsafe(18)  # the bench user's, for this run only
WEIGHT = 100_000_000  # the simulator's limit and Tresor's budget: seeding waits for no window
TRADE_KEYS = 3  # connections with a trade key as well as a read key
READ = {"enableReading": True}
TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}


def settings(data_dir: Path, sim_url: str, connections: int) -> Settings:
    """The embedded default on ``data_dir``, the simulator as endpoint ``sim``."""
    return Settings(
        data_dir=data_dir,
        endpoints={"sim": {"exchange": "binance", "url": sim_url, "weight_per_minute": WEIGHT}},
        max_connections_per_user=max(10, connections),
    )


async def _key(sim: httpx.AsyncClient, account: int, permissions: dict[str, bool]) -> Credentials:
    answer = await sim.post(f"/_sim/accounts/{account}/keys", json={"permissions": permissions})
    answer.raise_for_status()
    made = answer.json()
    return Credentials(Secret(made["api_key"]), Secret(made["secret"]))


async def _order_and_rule(
    runtime: Runtime, sim: httpx.AsyncClient, user_id: str, connection_id: str
) -> tuple[str, str]:
    """An open limit order placed through Tresor (a tenth below the market, inside the venue's
    price band: it stays open) and a rebalancing rule in dry-run: what the trade pages show of
    them."""
    ticker = await sim.get("/api/v3/ticker/price", params={"symbol": "BTCUSDT"})
    price = (Decimal(ticker.json()["price"]) * Decimal("0.9")).quantize(Decimal(1))
    placed = await runtime.container.orders.place(
        user_id,
        OrderRequest(
            connection_id=connection_id,
            symbol="BTC/USDT",
            side="buy",
            type="limit",
            amount=Decimal("0.001"),
            price=price,
        ),
        idempotency_key="bench-open-order",
    )
    spec = RuleSpec(
        {"BTC": Decimal(40), "ETH": Decimal(30), "USDT": Decimal(30)},
        "USDT",
        (DriftTrigger(Decimal(5)),),
        Decimal(10),
    )
    rule = await runtime.container.rules.create(
        user_id, spec=spec, connection_ids=[connection_id], name="bench"
    )
    return placed.order.id, rule.id


async def seed(
    data_dir: Path,
    sim_url: str,
    *,
    connections: int,
    trades: int,
    days: int,
    snapshot_days: float,
) -> dict[str, Any]:
    """The user ``NAME`` (password ``PASSWORD``) with ``connections`` connections, ``trades``
    trades over ``days`` in all (spread evenly, with the orders, deposits, withdrawals and open
    orders the simulator's generator makes with them), each connection synced in full as the
    scheduler's first job does, and ``snapshot_days`` of balance snapshots behind them. The
    first ``TRADE_KEYS`` connections have a trade key as well; the first has an open order
    placed through Tresor and a dry-run rule."""
    runtime = await build_runtime(settings(data_dir, sim_url, connections))
    started = time.perf_counter()
    try:
        user = await runtime.container.access.create_user(NAME)
        await runtime.container.accounts.set_password(user.id, Secret(PASSWORD))
        per = [trades // connections] * connections
        per[0] += trades - sum(per)
        ids = []
        async with httpx.AsyncClient(base_url=sim_url, timeout=600) as sim:
            for n, count in enumerate(per):
                made = await sim.post("/_sim/accounts", json={"balances": {"USDT": "2500"}})
                account = made.json()["account_id"]
                history = {"days": days, "trades": count, "seed": n + 1}
                answer = await sim.post(f"/_sim/accounts/{account}/history", json=history)
                answer.raise_for_status()
                connection = await runtime.container.connections.add(
                    user.id,
                    exchange="binance",
                    label=f"Binance {n + 1:02d}",
                    endpoint="sim",
                    read_key=await _key(sim, account, READ),
                    trade_key=await _key(sim, account, TRADE) if n < TRADE_KEYS else None,
                )
                ids.append(connection.id)
            for cid in ids:
                await runtime.sync.sync(cid, backfill_days=days)
            order, rule = await _order_and_rule(runtime, sim, user.id, ids[0])
        snapshots = await backdate_snapshots(runtime, ids, days=snapshot_days)
        stored: dict[str, int] = {}
        for cid in ids:
            for dataset, n in (await runtime.store.counts(cid)).items():
                stored[dataset] = stored.get(dataset, 0) + n
        await runtime.request_log.flush()
    finally:
        await runtime.aclose()
    return {
        "user_id": user.id,
        "connection_ids": ids,
        "order_id": order,
        "rule_id": rule,
        "stored": stored,
        "snapshots": snapshots + len(ids),
        "seconds": round(time.perf_counter() - started, 1),
    }
