"""``SqlTradingStore``'s two writes of a new order, on SQLite and PostgreSQL: ``open_order``
claims a key and stores its order in one transaction (of concurrent callers with one key exactly
one stores an order; a known key writes nothing), ``refuse_key`` keeps a refusal only for a new
key, ``settle`` writes the order's state, its synced records and the key's answer together, and
``trade_connection`` reads the connection with its trade key only."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.util import await_

from tests.contract.storage import data
from tresor.adapters.db.sync_store import SqlSyncStore
from tresor.adapters.db.trading_store import SqlTradingStore
from tresor.adapters.db.uow import Database
from tresor.domain.connections import ConnectionStatus, KeyRole
from tresor.domain.orders import OrderRequest, OrderState, PlacedOrder
from tresor.domain.records import OrderRecord, OrderStatus, RecordQuery, Side, TradeRecord
from tresor.services.ports.trading import KeyAnswer, NewKey

D = Decimal
NOW = 1_767_000_000_000
LOCK = 120_000


async def store_on(sql: Database) -> SqlTradingStore:
    async with sql.uow() as uow:
        await uow.users.add(data.user("u1"))
        await uow.users.add(data.user("u2"))
        await uow.connections.add(data.connection("k1", "u1"))
        await uow.connections.add(
            data.connection("k2", "u1", label="read only", keys=(data.key(KeyRole.READ),))
        )
        await uow.commit()
    return SqlTradingStore(sql.engine)


def new_key(key: str = "idem-1", user_id: str = "u1") -> NewKey:
    return NewKey(
        user_id=user_id,
        key=key,
        fingerprint="fp-" + key,
        created_ms=NOW,
        locked_until_ms=NOW + LOCK,
    )


def order(order_id: str = "ord_1", key: str = "idem-1") -> PlacedOrder:
    return PlacedOrder(
        id=order_id,
        user_id="u1",
        request=OrderRequest(
            connection_id="k1",
            symbol="BTC/USDT",
            side="buy",
            type="limit",
            amount=D("0.000000000000000001"),
            price=D("64250.123456789012345678"),
            time_in_force="IOC",
            client_order_id="ref-1",
        ),
        exchange_client_id="tr" + key,  # derived from the key, as the service does
        state=OrderState.PENDING,
        created_ms=NOW,
        updated_ms=NOW,
        attempts=1,
        sent_ms=NOW,
    )


async def test_an_opened_order_is_stored_with_its_send_counted_and_the_key_in_progress(
    sql: Database,
) -> None:
    store = await store_on(sql)
    assert await store.open_order(order(), new_key())
    assert await store.order("ord_1", "u1") == order()
    claim = await store.claim_key("u1", "idem-1", "fp-idem-1", now_ms=NOW + 1, lock_ms=LOCK)
    assert not claim.owned  # its handler holds it
    assert claim.record.done is False
    assert claim.record.resource_id == "ord_1"
    assert claim.record.locked_until_ms == NOW + LOCK


async def test_of_concurrent_callers_with_one_key_exactly_one_stores_its_order(
    sql: Database,
) -> None:
    store = await store_on(sql)
    callers = 6
    opened = await asyncio.gather(
        *(store.open_order(order(f"ord_{i}"), new_key()) for i in range(callers))
    )
    assert sorted(opened) == [False] * (callers - 1) + [True]
    winner = f"ord_{opened.index(True)}"
    stored = [await store.order(f"ord_{i}") for i in range(callers)]
    assert [o.id for o in stored if o is not None] == [winner]
    claim = await store.claim_key("u1", "idem-1", "fp-idem-1", now_ms=NOW, lock_ms=LOCK)
    assert claim.record.resource_id == winner


async def test_a_known_key_is_never_opened_again_and_nothing_is_written(sql: Database) -> None:
    store = await store_on(sql)
    claim = await store.claim_key("u1", "idem-1", "fp-idem-1", now_ms=NOW, lock_ms=LOCK)
    assert claim.owned
    assert not await store.open_order(order("ord_2"), new_key())
    assert await store.order("ord_2") is None
    # another user's key of the same name is another key
    assert await store.open_order(
        replace(order("ord_3"), user_id="u2", exchange_client_id="tr-u2"), new_key(user_id="u2")
    )


async def test_an_order_that_cannot_be_stored_leaves_its_key_unclaimed(sql: Database) -> None:
    store = await store_on(sql)
    assert await store.open_order(order("ord_1"), new_key("idem-1"))
    with pytest.raises(IntegrityError):  # the same order id again, under a new key
        await store.open_order(order("ord_1", key="idem-2"), new_key("idem-2"))
    claim = await store.claim_key("u1", "idem-2", "fp-idem-2", now_ms=NOW, lock_ms=LOCK)
    assert claim.owned  # the key was never recorded: it is new
    assert claim.record.resource_id is None


async def test_a_refusal_is_kept_for_a_new_key_only(sql: Database) -> None:
    store = await store_on(sql)
    body = {"error": {"code": "insufficient_funds", "message": "m", "remedy": "r", "details": {}}}
    assert await store.refuse_key(KeyAnswer(new_key("idem-9"), status=400, body=body))
    claim = await store.claim_key("u1", "idem-9", "fp-idem-9", now_ms=NOW, lock_ms=LOCK)
    assert not claim.owned
    assert (claim.record.done, claim.record.status, claim.record.body) == (True, 400, body)
    assert claim.record.resource_id is None
    # a key in use is not refused over
    assert await store.open_order(order(), new_key())
    assert not await store.refuse_key(KeyAnswer(new_key(), status=400, body=body))
    kept = await store.claim_key("u1", "idem-1", "fp-idem-1", now_ms=NOW, lock_ms=LOCK)
    assert (kept.record.done, kept.record.body, kept.record.resource_id) == (False, None, "ord_1")


async def test_settle_writes_the_order_its_records_and_the_keys_answer_together(
    sql: Database,
) -> None:
    store = await store_on(sql)
    await store.open_order(order(), new_key())
    settled = replace(
        order(),
        state=OrderState.CLOSED,
        exchange_order_id="9001",
        filled=D("0.000000000000000001"),
        cost=D("0.000000000000064250"),
        average=D("64250.123456789012345678"),
        checked_ms=NOW + 5,
        updated_ms=NOW + 5,
    )
    synced = OrderRecord(
        connection_id="k1",
        symbol="BTC/USDT",
        order_id="9001",
        client_order_id="tridem-1",
        side=Side.BUY,
        type="limit",
        status=OrderStatus.CLOSED,
        time_in_force="IOC",
        price=D("64250.123456789012345678"),
        amount=D("0.000000000000000001"),
        filled=D("0.000000000000000001"),
        cost=D("0.000000000000064250"),
        created_ms=NOW,
        updated_ms=NOW + 5,
    )
    fill = TradeRecord(
        connection_id="k1",
        symbol="BTC/USDT",
        trade_id="t1",
        order_id="9001",
        side=Side.BUY,
        price=D("64250.123456789012345678"),
        amount=D("0.000000000000000001"),
        cost=D("0.000000000000064250"),
        fee=D("0.000000000000000064"),
        fee_asset="USDT",
        maker=False,
        time_ms=NOW + 4,
    )
    await store.settle(settled, records=[synced, fill], answer=KeyAnswer(new_key(), status=201))
    assert await store.order("ord_1") == settled
    records = SqlSyncStore(sql.engine)
    assert await records.orders(RecordQuery(connection_ids=("k1",))) == [synced]
    assert await records.trades(RecordQuery(connection_ids=("k1",))) == [fill]
    claim = await store.claim_key("u1", "idem-1", "fp-idem-1", now_ms=NOW, lock_ms=LOCK)
    assert not claim.owned
    kept = claim.record
    assert (kept.done, kept.status, kept.body, kept.resource_id) == (True, 201, None, "ord_1")
    assert kept.fingerprint == "fp-idem-1"


async def test_settle_without_records_or_answer_only_replaces_the_order(sql: Database) -> None:
    store = await store_on(sql)
    await store.open_order(order(), new_key())
    unknown = replace(order(), state=OrderState.UNKNOWN, checked_ms=NOW + 1)
    await store.settle(unknown)
    assert await store.order("ord_1") == unknown
    claim = await store.claim_key("u1", "idem-1", "fp-idem-1", now_ms=NOW, lock_ms=LOCK)
    assert claim.record.done is False


async def test_trade_connection_reads_the_trade_key_only_and_only_for_its_owner(
    sql: Database,
) -> None:
    store = await store_on(sql)
    found = await store.trade_connection("k1", "u1")
    assert found is not None
    stored = data.connection("k1", "u1")
    assert (found.id, found.user_id, found.exchange, found.endpoint, found.label) == (
        "k1",
        "u1",
        "binance",
        "sim",
        "label k1",
    )
    assert (found.status, found.created_at, found.updated_at) == (
        ConnectionStatus.CONNECTED,
        stored.created_at,
        stored.updated_at,
    )
    assert [k.role for k in found.keys] == [KeyRole.TRADE]
    trade, expected = found.keys[0], stored.key(KeyRole.TRADE)
    assert expected is not None
    assert (trade.api_key_ct, trade.secret_ct, trade.passphrase_ct) == (
        expected.api_key_ct,
        expected.secret_ct,
        None,
    )
    assert (trade.sealed, trade.status, trade.verified_at) == (True, expected.status, data.at(6))
    read_only = await store.trade_connection("k2", "u1")
    assert read_only is not None
    assert read_only.keys == ()
    assert await store.trade_connection("k1", "u2") is None
    assert await store.trade_connection("nope", "u1") is None


async def test_trade_connection_sees_a_disabled_connection_and_a_removed_key_at_once(
    sql: Database,
) -> None:
    store = await store_on(sql)
    assert await store.trade_connection("k1", "u1") is not None  # read once before the change
    async with sql.uow() as uow:
        current = await uow.connections.get("k1", "u1")
        assert current is not None
        await uow.connections.update(
            replace(current, status=ConnectionStatus.DISABLED, keys=(data.key(KeyRole.READ),))
        )
        await uow.commit()
    changed = await store.trade_connection("k1", "u1")
    assert changed is not None
    assert (changed.status, changed.keys) == (ConnectionStatus.DISABLED, ())


async def test_on_sqlite_the_opening_write_runs_at_full_sync_on_a_normal_connection(
    tmp_path: Any,
) -> None:
    """The pre-send write must be durable even where the database's connections commit at
    ``synchronous = NORMAL`` (not flushed at each commit): it runs at FULL, and the
    connection's own level is put back after."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'normal.db'}")
    statements: list[str] = []

    def normal(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()
        # every statement SQLite runs on the connection, in order
        await_(record.driver_connection.set_trace_callback(statements.append))

    event.listen(database.engine.sync_engine, "connect", normal)
    try:
        await database.migrate()
        store = await store_on(database)
        # the order is opened on the store's own connection, in its thread (set up as the
        # pooled ones are): trace that one
        await store._own(lambda conn: conn.set_trace_callback(statements.append))
        statements.clear()
        assert await store.open_order(order(), new_key())
        opening = [s for s in statements if s.startswith(("PRAGMA", "BEGIN", "COMMIT"))]
        assert opening[:3] == ["PRAGMA synchronous", "PRAGMA synchronous = 2", "BEGIN IMMEDIATE"]
        assert opening[-2:] == ["COMMIT", "PRAGMA synchronous = 1"]
        statements.clear()
        await store.refuse_key(KeyAnswer(new_key("idem-2"), status=400, body={"error": {}}))
        assert not [s for s in statements if s.startswith("PRAGMA synchronous")]
    finally:
        await database.dispose()


async def test_on_sqlite_a_locked_database_holds_up_the_write_but_never_the_event_loop(
    tmp_path: Any,
) -> None:
    """``settle`` and ``trade_connection`` run on the event loop's thread (no hop to another
    thread) on a connection that never waits for SQLite's lock: while another connection
    holds it, the read still answers at once (WAL), and the write waits on the store's writer
    thread, the loop going on meanwhile; it lands once the lock is let go."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'locked.db'}")
    try:
        await database.migrate()
        store = await store_on(database)
        await store.open_order(order(), new_key())
        blocker = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # holds the write lock
        try:
            found = await asyncio.wait_for(store.trade_connection("k1", "u1"), timeout=1.0)
            assert found is not None
            assert found.id == "k1"
            settled = replace(order(), state=OrderState.EXPIRED, updated_ms=NOW + 1)
            writing = asyncio.create_task(store.settle(settled, answer=KeyAnswer(new_key(), 201)))
            ticks = 0
            for _ in range(20):  # the loop is not blocked: this runs while the write waits
                await asyncio.sleep(0.01)
                ticks += 1
            assert ticks == 20
            assert not writing.done()
        finally:
            blocker.execute("COMMIT")
            blocker.close()
        await asyncio.wait_for(writing, timeout=10.0)
        assert await store.order("ord_1") == settled
    finally:
        await database.dispose()


async def test_on_sqlite_at_full_sync_the_settling_write_leaves_the_event_loop(
    tmp_path: Any,
) -> None:
    """An operator who asks for an fsync at every commit (``TRESOR_SQLITE_SYNCHRONOUS=FULL``)
    gets it for the settling write too, on the writer thread, not on the event loop's; the
    connection read still runs on the loop's thread, which never checkpoints the WAL."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'full.db'}", sqlite_synchronous="FULL")
    written: list[str] = []
    try:
        await database.migrate()
        store = await store_on(database)
        await store._own(lambda conn: conn.set_trace_callback(written.append))
        await store.open_order(order(), new_key())
        written.clear()
        settled = replace(order(), state=OrderState.EXPIRED, updated_ms=NOW + 1)
        await store.settle(settled, answer=KeyAnswer(new_key(), 201))
        assert any(s.startswith("INSERT INTO placed_orders") for s in written), written
        assert await store.trade_connection("k1", "u1") is not None
        loop_side = store._inline
        assert loop_side is not None
        assert loop_side.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        assert loop_side.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert await store.order("ord_1") == settled
    finally:
        await database.dispose()
