"""The sync store's page writes (driver-level bulk upserts) on SQLite and PostgreSQL: every
record stored exactly, trades kept as first written, orders and transfers replaced, the cursor
moved with them, and a page that fails leaves nothing behind."""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from tests.support.simclient import SimAdmin
from tresor.adapters.db.sql_base import SQLITE_ROWS_PER_STATEMENT
from tresor.adapters.db.sync_store import SqlSyncStore
from tresor.adapters.db.uow import Database
from tresor.bootstrap import Runtime, build_runtime
from tresor.config import Settings
from tresor.domain.connections import Credentials
from tresor.domain.records import (
    ACCOUNT_WIDE,
    Cursor,
    Dataset,
    FlatRecords,
    Gap,
    OrderRecord,
    OrderStatus,
    RecordQuery,
    Side,
    TradeRecord,
    TransferKind,
    TransferRecord,
    TransferStatus,
    flatten,
)
from tresor.domain.secrets import Secret

POSTGRES_URL = os.environ.get(
    "TRESOR_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
T0 = 1_790_000_000_000
EVERYTHING = 1_000_000
# more rows than one multi-row statement takes, and not a multiple of it
ROWS = 2 * SQLITE_ROWS_PER_STATEMENT + 23


async def _postgres_schema() -> tuple[Database, str]:
    schema = f"tresor_sync_store_{secrets.token_hex(4)}"
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
async def runtime(
    request: pytest.FixtureRequest, tmp_path: Path, venue: SimAdmin
) -> AsyncIterator[tuple[Runtime, str]]:
    """A runtime on each database, and a connection (the records' foreign key)."""
    where: dict[str, str] = {}
    admin: Database | None = None
    schema = ""
    if request.param == "postgresql":
        admin, schema = await _postgres_schema()
        where = {"database_url": POSTGRES_URL, "database_schema": schema}
    account = venue.account({"USDT": "10"})
    key = venue.key(account, {"enableReading": True})
    built = await build_runtime(
        Settings(
            data_dir=tmp_path / "data",
            endpoints={"sim": {"exchange": "binance", "url": venue.url}},
            **where,
        )
    )
    try:
        user = await built.container.access.create_user("alice")
        connection = await built.container.connections.add(
            user.id,
            exchange="binance",
            label="main",
            endpoint="sim",
            read_key=Credentials(Secret(key["api_key"]), Secret(key["secret"])),
        )
        yield built, connection.id
    finally:
        await built.aclose()
        if admin is not None:
            async with admin.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await admin.dispose()


def _trade(connection_id: str, n: int, **kw: object) -> TradeRecord:
    fields: dict[str, object] = {
        "connection_id": connection_id,
        "symbol": "BTC/USDT",
        "trade_id": str(500_000_000 + n),
        "order_id": str(1_000_000 + n // 2),
        "side": Side.BUY if n % 2 else Side.SELL,
        "price": Decimal("86871.20000000"),
        "amount": Decimal("0.00000012") * (n + 1),
        "cost": Decimal("123456789012.123456789012345678"),
        "fee": Decimal("0E-8"),
        "fee_asset": "BTC" if n % 3 else None,
        "maker": n % 2 == 0,
        "time_ms": T0 + n,
    }
    fields.update(kw)
    return TradeRecord(**fields)  # type: ignore[arg-type]


def _order(connection_id: str, n: int, **kw: object) -> OrderRecord:
    fields: dict[str, object] = {
        "connection_id": connection_id,
        "symbol": "ETH/BTC",
        "order_id": str(7_000 + n),
        "client_order_id": None if n % 4 == 0 else f"client{n}",
        "side": Side.SELL,
        "type": "limit" if n % 2 else "market",
        "status": OrderStatus.OPEN,
        "time_in_force": "GTC" if n % 2 else None,
        "price": Decimal("0.03412000") if n % 2 else None,
        "amount": Decimal("1.5000"),
        "filled": Decimal("0"),
        "cost": Decimal("0"),
        "created_ms": T0 + n,
        "updated_ms": T0 + n,
    }
    fields.update(kw)
    return OrderRecord(**fields)  # type: ignore[arg-type]


def _transfer(connection_id: str, n: int, **kw: object) -> TransferRecord:
    fields: dict[str, object] = {
        "connection_id": connection_id,
        "kind": TransferKind.DEPOSIT if n % 2 else TransferKind.WITHDRAWAL,
        "transfer_id": f"tx{n}",
        "asset": "USDT",
        "amount": Decimal("1000.5"),
        "fee": Decimal("0.1"),
        "network": "TRX",
        "status": TransferStatus.PENDING,
        "tx_id": None,
        "address": "T" + "x" * 33,
        "time_ms": T0 + n,
    }
    fields.update(kw)
    return TransferRecord(**fields)  # type: ignore[arg-type]


def _cursor(connection_id: str, dataset: Dataset, market: str, position: str | None) -> Cursor:
    return Cursor(connection_id, dataset, market, position, T0 + 10_000, T0 - 1)


async def test_a_page_of_every_kind_is_stored_exactly_and_moves_its_cursor(
    runtime: tuple[Runtime, str],
) -> None:
    rt, cid = runtime
    store = rt.store
    trades = [_trade(cid, n) for n in range(ROWS)]
    orders = [_order(cid, n) for n in range(ROWS)]
    transfers = [_transfer(cid, n) for n in range(5)]
    gap = Gap(cid, Dataset.ORDERS, "ETH/BTC", T0 - 5, T0 - 1, "too old")
    await store.save_page(_cursor(cid, Dataset.TRADES, "BTC/USDT", "7"), flatten(trades))
    await store.save_page(_cursor(cid, Dataset.ORDERS, "ETH/BTC", "8/3"), flatten(orders), [gap])
    await store.save_page(_cursor(cid, Dataset.DEPOSITS, ACCOUNT_WIDE, "9"), flatten(transfers))
    q = RecordQuery(connection_ids=(cid,), limit=EVERYTHING)
    assert sorted(await store.trades(q), key=lambda t: t.time_ms) == trades
    assert sorted(await store.orders(q), key=lambda o: o.created_ms) == orders
    assert sorted(await store.transfers(q), key=lambda t: t.time_ms) == transfers
    assert await store.gaps([cid]) == [gap]
    positions = {(c.dataset, c.market): c.position for c in await store.cursors(cid)}
    assert positions == {
        (Dataset.TRADES, "BTC/USDT"): "7",
        (Dataset.ORDERS, "ETH/BTC"): "8/3",
        (Dataset.DEPOSITS, ACCOUNT_WIDE): "9",
    }


async def test_reading_a_page_again_keeps_trades_and_replaces_orders_and_transfers(
    runtime: tuple[Runtime, str],
) -> None:
    rt, cid = runtime
    store = rt.store
    trades = [_trade(cid, n) for n in range(ROWS)]
    orders = [_order(cid, n) for n in range(ROWS)]
    transfer = _transfer(cid, 1)
    await store.save_page(_cursor(cid, Dataset.TRADES, "BTC/USDT", "1"), flatten(trades))
    await store.save_page(_cursor(cid, Dataset.ORDERS, "ETH/BTC", "1"), flatten(orders))
    await store.save_page(_cursor(cid, Dataset.DEPOSITS, ACCOUNT_WIDE, "1"), flatten([transfer]))
    # the same ids again: a trade never changes; orders and transfers take the new state
    await store.save_page(
        _cursor(cid, Dataset.TRADES, "BTC/USDT", "2"),
        flatten([replace(t, price=Decimal(1)) for t in trades]),
    )
    filled = [
        replace(o, status=OrderStatus.CLOSED, filled=o.amount, cost=Decimal("0.05118"))
        for o in orders
    ]
    await store.save_page(_cursor(cid, Dataset.ORDERS, "ETH/BTC", "2"), flatten(filled))
    done = replace(transfer, status=TransferStatus.OK, tx_id="0xabc")
    await store.save_page(_cursor(cid, Dataset.DEPOSITS, ACCOUNT_WIDE, "2"), flatten([done]))
    q = RecordQuery(connection_ids=(cid,), limit=EVERYTHING)
    assert sorted(await store.trades(q), key=lambda t: t.time_ms) == trades
    assert sorted(await store.orders(q), key=lambda o: o.created_ms) == filled
    assert await store.transfers(q) == [done]
    assert {c.position for c in await store.cursors(cid)} == {"2"}
    assert await store.counts(cid) == {
        "trades": ROWS,
        "orders": ROWS,
        "deposits": 1,
        "withdrawals": 0,
    }


async def test_a_page_that_fails_stores_none_of_its_records_and_keeps_the_cursor(
    runtime: tuple[Runtime, str],
) -> None:
    rt, cid = runtime
    store = rt.store
    await store.save_page(_cursor(cid, Dataset.TRADES, "BTC/USDT", "1"), flatten([_trade(cid, 0)]))
    stranger = _trade("no-such-connection", ROWS)  # breaks the foreign key, last in the page
    page = [_trade(cid, n) for n in range(1, ROWS)] + [stranger]
    with pytest.raises(Exception) as failed:  # noqa: PT011 (each driver has its own error)
        await store.save_page(_cursor(cid, Dataset.TRADES, "BTC/USDT", "2"), flatten(page))
    assert "foreign" in str(failed.value).lower()
    q = RecordQuery(connection_ids=(cid,), limit=EVERYTHING)
    assert [t.trade_id for t in await store.trades(q)] == [_trade(cid, 0).trade_id]
    assert [c.position for c in await store.cursors(cid)] == ["1"]
    # and the store still works afterwards
    await store.save_page(_cursor(cid, Dataset.TRADES, "BTC/USDT", "3"), flatten(page[:-1]))
    assert (await store.counts(cid))["trades"] == ROWS


async def test_a_cursor_alone_is_saved_and_moved(runtime: tuple[Runtime, str]) -> None:
    rt, cid = runtime
    store = rt.store
    await store.save_page(_cursor(cid, Dataset.ORDERS, "LTC/BTC", None), flatten([]))
    moved = replace(_cursor(cid, Dataset.ORDERS, "LTC/BTC", "42"), synced_until_ms=T0 + 99)
    await store.save_page(moved, FlatRecords())
    assert await store.cursors(cid) == [moved]


async def test_listings_are_every_symbols_rows_newest_first_page_by_page(
    runtime: tuple[Runtime, str], venue: SimAdmin
) -> None:
    """Listings merge each symbol's newest rows (the index is per symbol): page after page,
    with and without filters, they are exactly the rows a full sort gives, ties included."""
    rt, cid = runtime
    store = rt.store
    async with rt.database.uow(read_only=True) as uow:
        user_id = await uow.connections.owner_of(cid)
    assert user_id is not None
    key = venue.key(venue.account({"USDT": "1"}), {"enableReading": True})
    other = (
        await rt.container.connections.add(
            user_id,
            exchange="binance",
            label="second",
            endpoint="sim",
            read_key=Credentials(Secret(key["api_key"]), Secret(key["secret"])),
        )
    ).id
    symbols = ("BTC/USDT", "ETH/BTC", "ETH/USDT", "XRP/ETH")
    trades = [
        _trade(c, n, symbol=symbols[n % 4], time_ms=T0 + (n * 37) % 101)  # many times twice
        for c in (cid, other)
        for n in range(150)
    ]
    orders = [
        _order(c, n, symbol=symbols[n % 3], created_ms=T0 + (n * 13) % 47, status=status)
        for c in (cid, other)
        for n in range(90)
        for status in [OrderStatus.OPEN if n % 5 else OrderStatus.CLOSED]
    ]
    for s in symbols:
        for c in (cid, other):
            mine = [t for t in trades if t.connection_id == c and t.symbol == s]
            placed = [o for o in orders if o.connection_id == c and o.symbol == s]
            await store.save_page(_cursor(c, Dataset.TRADES, s, "1"), flatten(mine))
            await store.save_page(_cursor(c, Dataset.ORDERS, s, "1"), flatten(placed))

    def trade_key(t: TradeRecord) -> tuple[int, str, str, str]:
        return (t.time_ms, t.connection_id, t.symbol, t.trade_id)

    def order_key(o: OrderRecord) -> tuple[int, str, str, str]:
        return (o.created_ms, o.connection_id, o.symbol, o.order_id)

    both = (cid, other)
    trade_cases = [
        (RecordQuery(both), trades),
        (RecordQuery((cid,)), [t for t in trades if t.connection_id == cid]),
        (RecordQuery(both, side="buy"), [t for t in trades if t.side is Side.BUY]),
        (RecordQuery(both, asset="BTC"), [t for t in trades if "BTC" in t.symbol.split("/")]),
        (RecordQuery(both, symbol="XRP/ETH"), [t for t in trades if t.symbol == "XRP/ETH"]),
        (
            RecordQuery(both, since_ms=T0 + 20, until_ms=T0 + 60),
            [t for t in trades if T0 + 20 <= t.time_ms < T0 + 60],
        ),
    ]
    for query, expected in trade_cases:
        for limit in (1, 7, 1000):
            walked: list[TradeRecord] = []
            while page := await store.trades(
                replace(query, limit=limit, before=trade_key(walked[-1]) if walked else None)
            ):
                walked += page
            assert walked == sorted(expected, key=trade_key, reverse=True), (query, limit)
    order_cases = [
        (RecordQuery(both), orders),
        (RecordQuery(both, status="open"), [o for o in orders if o.status is OrderStatus.OPEN]),
        (RecordQuery(both, symbol="ETH/BTC"), [o for o in orders if o.symbol == "ETH/BTC"]),
    ]
    for query, expected_orders in order_cases:
        walked_orders: list[OrderRecord] = []
        while page_of_orders := await store.orders(
            replace(
                query,
                limit=6,
                before=order_key(walked_orders[-1]) if walked_orders else None,
            )
        ):
            walked_orders += page_of_orders
        assert walked_orders == sorted(expected_orders, key=order_key, reverse=True), query


async def test_listings_stay_exact_whether_symbols_trade_alike_or_one_trades_alone(
    runtime: tuple[Runtime, str],
) -> None:
    """The page's time bound is the later of two (``listings.newest_per_symbol``): each
    symbol's n-th newest row (tight when one symbol is busy), and the oldest of every symbol's
    ceil(n / symbols)-th newest (tight when they interleave). Either way, and when some symbol
    has fewer rows than that, the pages are what a full sort gives."""
    rt, cid = runtime
    symbols = [f"A{n:02d}/USDT" for n in range(12)]
    interleaved = [_trade(cid, n, symbol=symbols[n % 12], time_ms=T0 + n // 2) for n in range(600)]
    busy = [_trade(cid, 1000 + n, symbol="BUSY/USDT", time_ms=T0 + 10_000 + n) for n in range(300)]
    sparse = [_trade(cid, 5000 + n, symbol="ONE/USDT", time_ms=T0 + 20 * n) for n in range(2)]
    for rows in (interleaved, busy, sparse):
        by_symbol: dict[str, list[TradeRecord]] = {}
        for t in rows:
            by_symbol.setdefault(t.symbol, []).append(t)
        for symbol, mine in by_symbol.items():
            await rt.store.save_page(_cursor(cid, Dataset.TRADES, symbol, "1"), flatten(mine))

    def trade_key(t: TradeRecord) -> tuple[int, str, str, str]:
        return (t.time_ms, t.connection_id, t.symbol, t.trade_id)

    everything = sorted(interleaved + busy + sparse, key=trade_key, reverse=True)
    for query, expected in (
        (RecordQuery((cid,)), everything),
        (
            RecordQuery((cid,), until_ms=T0 + 10_000),
            [t for t in everything if t.time_ms < T0 + 10_000],
        ),
        (RecordQuery((cid,), side="buy"), [t for t in everything if t.side is Side.BUY]),
    ):
        for limit in (1, 13, 100, 1000):
            walked: list[TradeRecord] = []
            while page := await rt.store.trades(
                replace(query, limit=limit, before=trade_key(walked[-1]) if walked else None)
            ):
                walked += page
            assert walked == expected, (query, limit)


async def test_pages_go_through_a_connection_of_the_stores_own_set_up_as_the_engines(
    tmp_path: Path,
) -> None:
    """SQLite: pages are written on the store's own connection (outside the pool, on a thread
    of its own), which takes the engine's settings, closes with the engine, and opens again."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'tresor.db'}", sqlite_synchronous="FULL")
    await database.migrate()
    store = SqlSyncStore(database.engine)
    try:
        async with database.engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO users (id, name, created_at) VALUES ('u', 'u', '2026-01-01')")
            )
            await conn.execute(
                text(
                    "INSERT INTO connections (id, user_id, exchange, label, endpoint, status, "
                    "created_at, updated_at) VALUES ('c', 'u', 'binance', 'l', 'sim', "
                    "'connected', '2026-01-01', '2026-01-01')"
                )
            )
        await store.save_page(
            _cursor("c", Dataset.TRADES, "BTC/USDT", "1"), flatten([_trade("c", 0)])
        )
        writer = store._writer
        assert writer is not None
        seen: dict[str, object] = {}

        def settings(conn: sqlite3.Connection) -> None:
            for name in ("synchronous", "foreign_keys", "journal_mode", "busy_timeout"):
                seen[name] = conn.execute(f"PRAGMA {name}").fetchone()[0]
            seen["thread"] = threading.current_thread().name

        await writer.run(settings)
        assert seen == {
            "synchronous": 2,  # FULL, as the engine's connections
            "foreign_keys": 1,
            "journal_mode": "wal",
            "busy_timeout": 30_000,
            "thread": "tresor-sqlite-writer",
        }
        await database.dispose()
        assert store._writer is None
        assert "tresor-sqlite-writer" not in {t.name for t in threading.enumerate()}
        # the engine can be used after dispose: so can the store's writes
        await store.save_page(
            _cursor("c", Dataset.TRADES, "BTC/USDT", "2"), flatten([_trade("c", 1)])
        )
        assert (await store.counts("c"))["trades"] == 2
    finally:
        await database.dispose()
