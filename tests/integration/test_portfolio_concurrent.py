"""``GET /v1/portfolio`` stays exact while a sync writes: every answer, read while snapshots and
sync states are being written, equals an independent valuation of the snapshots it names; and
a page of ``GET /v1/trades`` one process keeps is read again once another writes records.

Two runtimes share one database (SQLite, and PostgreSQL as in the distributed mode): the first
writes as the sync does (``SyncStore.add_snapshot``, ``save_state``), the second serves the API
and keeps what it valued (``services.valuations``, the route's rendered documents), which it
must never answer from once the database has moved on. For each answer:

- each connection's snapshot is no older than the newest one committed before the request and
  no newer than the newest being written when it was answered (the answer is of its own
  moment, not a kept older one);
- its holdings, values and totals are computed here again from that snapshot's stored row (raw
  SQL, its JSON read here, Decimal arithmetic here: none of Tresor's valuation code), and must
  equal the answer's digit for digit; the allocations add up to exactly 100 and each is within
  0.0001 of its exact share;
- the freshness shows a sync state that was written.

Once the writer stops, the answer equals the valuation of every connection's newest snapshot.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, text

from tests.support.simclient import SimAdmin
from tresor.adapters.db.uow import Database
from tresor.bootstrap import Runtime, build_runtime
from tresor.config import Settings
from tresor.domain.connections import Credentials
from tresor.domain.records import (
    AssetBalance,
    BalanceSnapshot,
    Cursor,
    Dataset,
    Side,
    TradeRecord,
    ValuedSnapshot,
    flatten,
)
from tresor.domain.secrets import Secret
from tresor.domain.sync import SyncState
from tresor.entrypoints.api.app import create_app

POSTGRES_URL = os.environ.get(
    "TRESOR_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
D = Decimal
T0 = 1_790_000_000_000
WRITES = 240
CONNECTIONS = 3
PRICED = {"BTC": (60_000, 70_000), "ETH": (2_000, 4_000), "SOL": (100, 300)}
ERRORS = (None, "exchange_unavailable", "rate_limited")


async def _postgres_schema() -> tuple[Database, str]:
    schema = f"tresor_portfolio_{secrets.token_hex(4)}"
    admin = Database(POSTGRES_URL)
    try:
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as e:  # whatever stops us from connecting
        await admin.dispose()
        where = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true; {where}: {e}", pytrace=False)
        pytest.skip(f"PostgreSQL not reachable at {where} ({type(e).__name__}: {e})")
    return admin, schema


@pytest.fixture(params=["sqlite", "postgresql"])
async def two_runtimes(
    request: pytest.FixtureRequest, tmp_path: Path, venue: SimAdmin
) -> AsyncIterator[tuple[Runtime, Runtime, list[str], str]]:
    """A writer and a reader runtime on one database, the user's connections, a read token."""
    where: dict[str, str] = {}
    admin: Database | None = None
    schema = ""
    if request.param == "postgresql":
        admin, schema = await _postgres_schema()
        where = {"database_url": POSTGRES_URL, "database_schema": schema}
    endpoints = {"sim": {"exchange": "binance", "url": venue.url}}
    writer = await build_runtime(Settings(data_dir=tmp_path / "data", endpoints=endpoints, **where))
    reader: Runtime | None = None
    try:
        user = await writer.container.access.create_user("alice")
        ids = []
        for n in range(CONNECTIONS):
            key = venue.key(venue.account({"USDT": "1"}), {"enableReading": True})
            added = await writer.container.connections.add(
                user.id,
                exchange="binance",
                label=f"account {n}",
                endpoint="sim",
                read_key=Credentials(Secret(key["api_key"]), Secret(key["secret"])),
            )
            ids.append(added.id)
        client, secret = await writer.container.access.create_client("alice", "read")
        reader = await build_runtime(
            Settings(data_dir=tmp_path / "data", endpoints=endpoints, process_role="api", **where)
        )
        yield writer, reader, ids, f"{client.id}:{secret}"
    finally:
        if reader is not None:
            await reader.aclose()
        await writer.aclose()
        if admin is not None:
            async with admin.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await admin.dispose()


def _snapshot(cid: str, taken_ms: int, rng: random.Random) -> ValuedSnapshot:
    """Balances of the priced assets, USDT (worth 1) and one asset without a price."""
    balances = {
        asset: AssetBalance(D(rng.randint(0, 10**8)) / 10**6, D(rng.randint(0, 10**4)) / 10**6)
        for asset in (*PRICED, "USDT", "NOPRICE")
    }
    prices = {asset: D(rng.randint(lo * 100, hi * 100)) / 100 for asset, (lo, hi) in PRICED.items()}
    return ValuedSnapshot(BalanceSnapshot(cid, taken_ms, balances), "USD", {**prices, "USDT": D(1)})


def _expected(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The portfolio of the stored rows ``{connection: row}``, computed here."""
    values: dict[str, Decimal] = {}
    amounts: dict[str, Decimal] = {}
    connections = {}
    for cid, row in rows.items():
        balances, prices = row["balances"], row["prices"]
        holdings = {}
        for asset, (free, locked) in balances.items():
            total = D(free) + D(locked)
            price = D(1) if asset == "USD" else (D(prices[asset]) if asset in prices else None)
            value = None if price is None else total * price
            holdings[asset] = (total, price, value)
            amounts[asset] = amounts.get(asset, D(0)) + total
            if value is not None:
                values[asset] = values.get(asset, D(0)) + value
        connections[cid] = holdings
    return {"connections": connections, "amounts": amounts, "values": values}


def _same(text_value: str | None, number: Decimal | None) -> bool:
    return (text_value is None and number is None) or (
        text_value is not None and number is not None and D(text_value) == number
    )


def _check(answer: dict[str, Any], expected: dict[str, Any]) -> None:
    for c in answer["connections"]:
        mine = expected["connections"].get(c["id"], {})  # none: no snapshot yet
        assert {h["asset"] for h in c["holdings"]} == set(mine)
        for h in c["holdings"]:
            total, price, value = mine[h["asset"]]
            assert D(h["total"]) == total, h
            assert _same(h["price"], price), h
            assert _same(h["value"], value), h
        assert D(c["value"]) == sum((v for _, _, v in mine.values() if v is not None), D(0))
    total = sum(expected["values"].values(), D(0))
    assert D(answer["total"]) == total
    assert {a["asset"]: D(a["total"]) for a in answer["assets"]} == expected["amounts"]
    shares = [a for a in answer["assets"] if a["allocation"] is not None]
    assert sum(D(a["allocation"]) for a in shares) == (100 if total > 0 else 0)
    for a in shares:
        exact = expected["values"][a["asset"]] * 100 / total
        assert abs(D(a["allocation"]) - exact) <= D("0.0001"), a


async def _stored(reader: Runtime, cid: str, taken_ms: int) -> dict[str, Any]:
    """The snapshot row of ``cid`` taken at ``taken_ms``, read with raw SQL."""
    async with reader.database.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT balances, prices FROM balance_snapshots"
                    " WHERE connection_id = :c AND taken_ms = :t"
                ),
                {"c": cid, "t": taken_ms},
            )
        ).one()
    balances, prices = (json.loads(v) if isinstance(v, str) else v for v in row)
    return {"balances": balances, "prices": prices}


async def test_the_portfolio_equals_an_independent_valuation_while_a_sync_writes(
    two_runtimes: tuple[Runtime, Runtime, list[str], str],
) -> None:
    writer, reader, ids, credentials = two_runtimes
    client_id, secret = credentials.split(":", 1)
    rng = random.Random(17)
    started: dict[str, int] = {}  # the newest snapshot's time per connection, once being written
    committed: dict[str, int] = {}  # and once committed
    errors_written: dict[str, set[str | None]] = {cid: {None} for cid in ids}
    done = asyncio.Event()

    async def write() -> None:
        store = writer.store
        for n in range(WRITES):
            cid = ids[n % len(ids)]
            started[cid] = T0 + n * 1000
            await store.add_snapshot(_snapshot(cid, T0 + n * 1000, rng))
            committed[cid] = T0 + n * 1000
            if n % 4 == 0:  # a sync's outcome too
                state = await store.state(cid) or SyncState(cid)
                code = rng.choice(ERRORS)
                errors_written[cid].add(code)
                await store.save_state(replace(state, last_success_ms=T0 + n, last_error_code=code))
            await asyncio.sleep(0)
        done.set()

    app = create_app(reader.container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        token = (await http.post("/v1/auth/token", data=form)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        writing = asyncio.create_task(write())
        answers = 0
        try:
            while not done.is_set():
                before = dict(committed)
                got = await http.get("/v1/portfolio", headers=auth)
                after = dict(started)
                assert got.status_code == 200, got.text
                answer = got.json()
                rows = {}
                for c in answer["connections"]:
                    taken = c["freshness"]["taken_ms"]
                    if taken is None:
                        assert c["id"] not in before
                        continue
                    assert before.get(c["id"], taken) <= taken <= after[c["id"]]
                    assert c["freshness"]["last_error_code"] in errors_written[c["id"]]
                    rows[c["id"]] = await _stored(reader, c["id"], taken)
                _check(answer, _expected(rows))
                answers += 1
                await asyncio.sleep(0)
        finally:
            if not writing.done():
                writing.cancel()
        await writing
        final = (await http.get("/v1/portfolio", headers=auth)).json()
    assert answers >= 10  # the reader did read while the writer wrote
    newest = {c["id"]: c["freshness"]["taken_ms"] for c in final["connections"]}
    assert newest == committed
    _check(final, _expected({cid: await _stored(reader, cid, t) for cid, t in newest.items()}))


def _trade(cid: str, n: int) -> TradeRecord:
    return TradeRecord(
        connection_id=cid,
        symbol="BTC/USDT",
        trade_id=str(n),
        order_id=None,
        side=Side.BUY,
        price=D("65000.5"),
        amount=D("0.001") * (n + 1),
        cost=D("65.0005") * (n + 1),
        fee=D("0"),
        fee_asset=None,
        maker=False,
        time_ms=T0 + n,
    )


async def test_a_page_of_trades_kept_by_one_process_is_read_again_after_another_writes(
    two_runtimes: tuple[Runtime, Runtime, list[str], str],
) -> None:
    """The reader keeps the page it listed (by the connections' record versions); the
    writer's page of a sync and a record learnt outside one (an order's fill) each change it."""
    writer, reader, ids, credentials = two_runtimes
    client_id, secret = credentials.split(":", 1)
    cursor = Cursor(ids[0], Dataset.TRADES, "BTC/USDT", "1", T0 + 10, T0)
    await writer.store.save_page(cursor, flatten([_trade(ids[0], n) for n in range(3)]))
    app = create_app(reader.container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        token = (await http.post("/v1/auth/token", data=form)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        async def listed() -> list[str]:
            got = await http.get("/v1/trades", headers=auth)
            assert got.status_code == 200, got.text
            return [t["trade_id"] for t in got.json()["items"]]

        assert await listed() == ["2", "1", "0"]
        assert await listed() == ["2", "1", "0"]  # kept
        await writer.store.save_page(cursor, flatten([_trade(ids[0], 3)]))
        assert await listed() == ["3", "2", "1", "0"]
        await writer.store.save_records([_trade(ids[1], 4)])
        assert await listed() == ["4", "3", "2", "1", "0"]
        await writer.store.save_page(cursor, flatten([]))  # no records: nothing changes
        assert await listed() == ["4", "3", "2", "1", "0"]


async def test_a_read_connection_the_database_dropped_is_replaced_and_the_read_answered(
    two_runtimes: tuple[Runtime, Runtime, list[str], str],
) -> None:
    """PostgreSQL's hot reads run on connections of the store's own (``read_store``): when the
    database drops them (a restart), the next read opens another and answers."""
    writer, reader, ids, _ = two_runtimes
    if reader.database.backend != "postgresql":
        pytest.skip("the store's own read connections are PostgreSQL's")
    async with reader.database.uow(read_only=True) as uow:
        owner = await uow.connections.owner_of(ids[0])
    assert owner is not None
    assert len(await reader.store.standings(owner)) == CONNECTIONS
    lanes = reader.store._lanes  # the connections this test drops
    assert lanes is not None
    pids = [conn.get_server_pid() for conn in lanes._open]
    assert pids
    async with writer.database.engine.connect() as conn:
        for pid in pids:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    await asyncio.sleep(0.2)
    assert len(await reader.store.standings(owner)) == CONNECTIONS
    assert len(await reader.store.connection_ids(owner)) == CONNECTIONS
