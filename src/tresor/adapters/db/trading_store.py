"""``SqlTradingStore``: placed orders and Idempotency-Keys (the ``TradingStore`` port).

A key is claimed by inserting it: the primary key (user, key) makes two concurrent claims of
one key end with exactly one owner, on SQLite and PostgreSQL alike. Taking over a key whose
handler died is a conditional update on the lock it held.

A new order costs two transactions, both on the driver itself as the sync's bulk writes are
(``sql_base``): through SQLAlchemy an order had taken six transactions and an ORM read of 1.2 to
2.3 ms each, mostly SQLAlchemy's own work and aiosqlite's thread hops, where SQLite's is 0.1 ms
(plus 0.3 to 0.6 ms for an fsync on the benchmark's disk):

- ``open_order``: ``INSERT ... ON CONFLICT DO NOTHING`` of the key (nothing inserted: the key
  is known, and nothing else is written) and the order, in one transaction that is durable when
  it returns: on SQLite it runs at ``PRAGMA synchronous = FULL`` (the commit waits for the WAL's
  fsync) whatever the connection's own level (``NORMAL`` by default), which is put back after,
  on the store's own connection in its writer thread (one hop; the fsync never holds up the
  event loop); on PostgreSQL with ``synchronous_commit = on``;
- ``settle``: the order, the synced records and the key's answer as upserts of whole rows, in
  one ``_bulk_write``, at the connection's own level; on SQLite on the event loop's thread
  (``SqlStoreBase._at_once``: SQLite's 20 µs instead of a 0.2 to 0.4 ms hop to a thread), or in
  the writer thread when another connection holds the lock. It need not be durable: lost in a
  power cut, it leaves the order pending with its send counted, which the tracker looks up like
  any unknown order, and the key held until its lock runs out (then taken over the same way).

``trade_connection``, read before every order, is a Core ``select`` compiled once and run on
the driver too (``_DriverSelect``); on SQLite on the event loop's thread as well (a WAL read
never waits for a writer).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, Table, and_, bindparam, select, tuple_, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tresor.adapters.db.sql_base import Row, SqlStoreBase, Upsert, _driver
from tresor.adapters.db.sync_rows import ORDER_COLUMNS, TRADE_COLUMNS, driver_rows, new_versions
from tresor.adapters.db.tables import ConnectionKeyRow, ConnectionRow
from tresor.adapters.db.tables_sync import OrderRow, TradeRow
from tresor.adapters.db.tables_trading import IdempotencyKeyRow, PlacedOrderRow
from tresor.domain.connections import Connection, ConnectionStatus, KeyRole, StoredKey
from tresor.domain.orders import OrderRequest, OrderState, PlacedOrder
from tresor.domain.records import Record
from tresor.services.ports import KeyClaim, KeyRecord
from tresor.services.ports.trading import KeyAnswer, NewKey

KEYS: Table = IdempotencyKeyRow.__table__  # type: ignore[assignment]
ORDERS: Table = PlacedOrderRow.__table__  # type: ignore[assignment]
CONNECTIONS: Table = ConnectionRow.__table__  # type: ignore[assignment]
CONNECTION_KEYS: Table = ConnectionKeyRow.__table__  # type: ignore[assignment]
SYNCED_TRADES: Table = TradeRow.__table__  # type: ignore[assignment]
SYNCED_ORDERS: Table = OrderRow.__table__  # type: ignore[assignment]

# the columns of the driver-level writes, in the order of the tuples built for them
KEY_COLUMNS = (
    "user_id",
    "key",
    "fingerprint",
    "done",
    "locked_until_ms",
    "status",
    "body",
    "resource_id",
    "created_ms",
)
PLACED_COLUMNS = (
    "id",
    "user_id",
    "connection_id",
    "symbol",
    "side",
    "type",
    "amount",
    "price",
    "time_in_force",
    "client_order_id",
    "exchange_client_id",
    "state",
    "exchange_order_id",
    "filled",
    "cost",
    "average",
    "attempts",
    "sent_ms",
    "checked_ms",
    "error_code",
    "error_message",
    "source",
    "created_ms",
    "updated_ms",
)
SQLITE_FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
_INSERTED_ONE = "INSERT 0 1"  # asyncpg's status of an INSERT that inserted one row


def _key_record(row: RowMapping) -> KeyRecord:
    return KeyRecord(
        user_id=row["user_id"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        done=bool(row["done"]),
        locked_until_ms=row["locked_until_ms"],
        status=row["status"],
        body=row["body"],
        resource_id=row["resource_id"],
    )


def _order_values(order: PlacedOrder) -> dict[str, Any]:
    r = order.request
    return {
        "id": order.id,
        "user_id": order.user_id,
        "connection_id": r.connection_id,
        "symbol": r.symbol,
        "side": r.side,
        "type": r.type,
        "amount": r.amount,
        "price": r.price,
        "time_in_force": r.time_in_force,
        "client_order_id": r.client_order_id,
        "exchange_client_id": order.exchange_client_id,
        "state": order.state.value,
        "exchange_order_id": order.exchange_order_id,
        "filled": order.filled,
        "cost": order.cost,
        "average": order.average,
        "attempts": order.attempts,
        "sent_ms": order.sent_ms,
        "checked_ms": order.checked_ms,
        "error_code": order.error_code,
        "error_message": order.error_message,
        "source": order.source,
        "created_ms": order.created_ms,
        "updated_ms": order.updated_ms,
    }


def _order(row: RowMapping) -> PlacedOrder:
    return PlacedOrder(
        id=row["id"],
        user_id=row["user_id"],
        request=OrderRequest(
            connection_id=row["connection_id"],
            symbol=row["symbol"],
            side=row["side"],
            type=row["type"],
            amount=Decimal(row["amount"]),
            price=None if row["price"] is None else Decimal(row["price"]),
            time_in_force=row["time_in_force"],
            client_order_id=row["client_order_id"],
        ),
        exchange_client_id=row["exchange_client_id"],
        state=OrderState(row["state"]),
        created_ms=row["created_ms"],
        updated_ms=row["updated_ms"],
        exchange_order_id=row["exchange_order_id"],
        filled=Decimal(row["filled"]),
        cost=Decimal(row["cost"]),
        average=None if row["average"] is None else Decimal(row["average"]),
        attempts=row["attempts"],
        sent_ms=row["sent_ms"],
        checked_ms=row["checked_ms"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        source=row["source"],
    )


def _key_row(
    key: NewKey, *, done: bool, status: int | None, body: Any, resource: str | None
) -> Row:
    """The key's row as driver values, in ``KEY_COLUMNS`` order (``body`` as JSON text: what
    the ``JSON`` column holds on SQLite, and what SQLAlchemy's asyncpg codec takes)."""
    return (
        key.user_id,
        key.key,
        key.fingerprint,
        done,
        key.locked_until_ms,
        status,
        None if body is None else json.dumps(body),
        resource,
        key.created_ms,
    )


def _answered_row(answer: KeyAnswer, resource: str | None) -> Row:
    return _key_row(
        answer.key, done=True, status=answer.status, body=answer.body, resource=resource
    )


def _as_text(amount: Decimal) -> str:
    return format(amount, "f")


def _as_is(amount: Decimal) -> Decimal:
    return amount


def _placed_row(order: PlacedOrder, money: Callable[[Decimal], object]) -> Row:
    """The order's row as driver values, in ``PLACED_COLUMNS`` order (money as ``Money``
    writes it: exact decimal text on SQLite, the Decimal itself for PostgreSQL)."""
    r = order.request
    return (
        order.id,
        order.user_id,
        r.connection_id,
        r.symbol,
        r.side,
        r.type,
        money(r.amount),
        None if r.price is None else money(r.price),
        r.time_in_force,
        r.client_order_id,
        order.exchange_client_id,
        order.state.value,
        order.exchange_order_id,
        money(order.filled),
        money(order.cost),
        None if order.average is None else money(order.average),
        order.attempts,
        order.sent_ms,
        order.checked_ms,
        order.error_code,
        order.error_message,
        order.source,
        order.created_ms,
        order.updated_ms,
    )


def _check_inserted(inserted: bool) -> None:
    """A new order's row must be written with its key (an order id taken already: 80 random
    bits, never in practice), or nothing is."""
    if not inserted:
        raise IntegrityError("INSERT INTO placed_orders", None, Exception("order id taken"))


class SqlTradingStore(SqlStoreBase):
    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self._money: Callable[[Decimal], object] = _as_text if self._money_as_text else _as_is
        c, k = CONNECTIONS.c, CONNECTION_KEYS.c
        self._trade_connection = _DriverSelect(
            engine,
            select(
                c.id,
                c.user_id,
                c.exchange,
                c.endpoint,
                c.label,
                c.status,
                c.created_at,
                c.updated_at,
                k.hint,
                k.api_key_ct,
                k.secret_ct,
                k.passphrase_ct,
                k.sealed,
                k.status.label("key_status"),
                k.verified_at,
            )
            .select_from(
                CONNECTIONS.outerjoin(
                    CONNECTION_KEYS,
                    and_(k.connection_id == c.id, k.role == KeyRole.TRADE.value),
                )
            )
            .where(c.id == bindparam("connection_id"), c.user_id == bindparam("user_id")),
            own=functools.partial(self._at_once, writes=False),
        )

    # -- the connection ----------------------------------------------------------------------
    async def trade_connection(self, connection_id: str, user_id: str) -> Connection | None:
        # every order reads this: on the driver (SQLAlchemy's execution cost 0.3 to 0.6 ms
        # more than the query itself), on SQLite on the store's own connection
        row = await self._trade_connection.first(connection_id=connection_id, user_id=user_id)
        if row is None:
            return None
        keys: tuple[StoredKey, ...] = ()
        if row["api_key_ct"] is not None:
            keys = (
                StoredKey(
                    role=KeyRole.TRADE,
                    hint=row["hint"],
                    api_key_ct=bytes(row["api_key_ct"]),
                    secret_ct=bytes(row["secret_ct"]),
                    passphrase_ct=None
                    if row["passphrase_ct"] is None
                    else bytes(row["passphrase_ct"]),
                    sealed=bool(row["sealed"]),
                    status=ConnectionStatus(row["key_status"]),
                    verified_at=row["verified_at"],
                ),
            )
        return Connection(
            id=row["id"],
            user_id=row["user_id"],
            exchange=row["exchange"],
            endpoint=row["endpoint"],
            label=row["label"],
            status=ConnectionStatus(row["status"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            keys=keys,
        )

    # -- the two writes of a new order -------------------------------------------------------
    async def open_order(self, order: PlacedOrder, key: NewKey) -> bool:
        claimed = _key_row(key, done=False, status=None, body=None, resource=order.id)
        return await self._insert_new_key(claimed, _placed_row(order, self._money), durable=True)

    async def refuse_key(self, answer: KeyAnswer) -> bool:
        return await self._insert_new_key(_answered_row(answer, None), None, durable=False)

    async def settle(
        self,
        order: PlacedOrder,
        *,
        records: Sequence[Record] = (),
        answer: KeyAnswer | None = None,
    ) -> None:
        if not records and answer is None:
            await self.save_order(order)
            return
        # upserts of whole rows: the order and the key exist (``open_order``), so each is an
        # update; the records are written as the sync store writes them
        trades, orders, _ = driver_rows(records, money_as_text=self._money_as_text)
        upserts = [
            Upsert(ORDERS, PLACED_COLUMNS, [_placed_row(order, self._money)], update=True),
            Upsert(SYNCED_TRADES, TRADE_COLUMNS, trades, update=False),
            Upsert(SYNCED_ORDERS, ORDER_COLUMNS, orders, update=True),
            new_versions(r.connection_id for r in records),  # the listings read them again
        ]
        if answer is not None:
            upserts.append(
                Upsert(KEYS, KEY_COLUMNS, [_answered_row(answer, order.id)], update=True)
            )
        await self._bulk_write(upserts, at_once=True)

    async def _insert_new_key(self, key: Row, order: Row | None, *, durable: bool) -> bool:
        """Insert the key's row and then, if it was new, ``order``'s, in one transaction; False
        (nothing written) when the key was there already."""
        key_sql = self.upsert_sql(KEYS, KEY_COLUMNS, update=False)  # ON CONFLICT DO NOTHING
        order_sql = self.upsert_sql(ORDERS, PLACED_COLUMNS, update=False)
        if self._dialect != "sqlite":
            async with self._engine.connect() as conn:
                driver = await _driver(conn)
                async with driver.transaction():
                    if durable:  # the commit waits for the WAL flush, whatever the server's default
                        await driver.execute("SET LOCAL synchronous_commit = on")
                    status: str = await driver.execute(key_sql, *key)
                    if status != _INSERTED_ONE:
                        return False
                    if order is not None:
                        _check_inserted(await driver.execute(order_sql, *order) == _INSERTED_ONE)
            return True
        async with self._write_lock:
            return await self._own(
                functools.partial(_insert_key_and_order, key_sql, key, order_sql, order, durable)
            )

    async def claim_key(
        self, user_id: str, key: str, fingerprint: str, *, now_ms: int, lock_ms: int
    ) -> KeyClaim:
        fresh = {
            "user_id": user_id,
            "key": key,
            "fingerprint": fingerprint,
            "done": False,
            "locked_until_ms": now_ms + lock_ms,
            "status": None,
            "body": None,
            "resource_id": None,
            "created_ms": now_ms,
        }
        try:
            async with self._writing() as conn:
                await conn.execute(KEYS.insert().values(**fresh))
        except IntegrityError:
            pass
        else:
            return KeyClaim(
                owned=True,
                record=KeyRecord(
                    user_id=user_id,
                    key=key,
                    fingerprint=fingerprint,
                    done=False,
                    locked_until_ms=now_ms + lock_ms,
                ),
            )
        record = await self._key(user_id, key)
        if record is None:  # removed in between (released): claim it again
            return await self.claim_key(user_id, key, fingerprint, now_ms=now_ms, lock_ms=lock_ms)
        if record.done or record.fingerprint != fingerprint or record.locked_until_ms > now_ms:
            return KeyClaim(owned=False, record=record)
        async with self._writing() as conn:  # its handler died: take it over
            result = await conn.execute(
                update(KEYS)
                .where(
                    KEYS.c.user_id == user_id,
                    KEYS.c.key == key,
                    KEYS.c.done.is_(False),
                    KEYS.c.locked_until_ms == record.locked_until_ms,
                )
                .values(locked_until_ms=now_ms + lock_ms)
            )
        if not result.rowcount:  # another caller took it over first
            return KeyClaim(owned=False, record=await self._key(user_id, key) or record)
        taken = KeyRecord(
            user_id=user_id,
            key=key,
            fingerprint=fingerprint,
            done=False,
            locked_until_ms=now_ms + lock_ms,
            resource_id=record.resource_id,
        )
        return KeyClaim(owned=True, record=taken)

    async def _key(self, user_id: str, key: str) -> KeyRecord | None:
        async with self._engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(KEYS).where(KEYS.c.user_id == user_id, KEYS.c.key == key)
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else _key_record(row)

    async def finish_key(
        self,
        user_id: str,
        key: str,
        *,
        status: int,
        body: dict[str, Any] | None = None,
        resource_id: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"done": True, "status": status, "body": body}
        if resource_id is not None:
            values["resource_id"] = resource_id
        async with self._writing() as conn:
            await conn.execute(
                update(KEYS).where(KEYS.c.user_id == user_id, KEYS.c.key == key).values(**values)
            )

    async def release_key(self, user_id: str, key: str) -> None:
        async with self._writing() as conn:
            await conn.execute(KEYS.delete().where(KEYS.c.user_id == user_id, KEYS.c.key == key))

    async def purge_keys(self, before_ms: int) -> int:
        """Forget the keys of requests handled before ``before_ms``."""
        async with self._writing() as conn:
            result = await conn.execute(
                KEYS.delete().where(KEYS.c.done.is_(True), KEYS.c.created_ms < before_ms)
            )
        return int(result.rowcount or 0)

    async def delete_order(self, order_id: str) -> None:
        async with self._writing() as conn:
            await conn.execute(ORDERS.delete().where(ORDERS.c.id == order_id))

    async def add_order(self, order: PlacedOrder, *, key: str | None = None) -> None:
        async with self._writing() as conn:
            await conn.execute(ORDERS.insert().values(**_order_values(order)))
            if key is not None:
                await conn.execute(
                    update(KEYS)
                    .where(KEYS.c.user_id == order.user_id, KEYS.c.key == key)
                    .values(resource_id=order.id)
                )

    async def begin_send(self, order: PlacedOrder, *, previous_attempts: int) -> bool:
        values = _order_values(order)
        async with self._writing() as conn:
            result = await conn.execute(
                update(ORDERS)
                .where(ORDERS.c.id == order.id, ORDERS.c.attempts == previous_attempts)
                .values(**values)
            )
        return bool(result.rowcount)

    async def save_order(self, order: PlacedOrder) -> None:
        values = _order_values(order)
        async with self._writing() as conn:
            await conn.execute(update(ORDERS).where(ORDERS.c.id == order.id).values(**values))

    async def order(self, order_id: str, user_id: str | None = None) -> PlacedOrder | None:
        stmt = select(ORDERS).where(ORDERS.c.id == order_id)
        if user_id is not None:
            stmt = stmt.where(ORDERS.c.user_id == user_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        return None if row is None else _order(row)

    async def orders(
        self,
        user_id: str,
        *,
        states: Sequence[OrderState] = (),
        connection_id: str | None = None,
        before: tuple[int, str] | None = None,
        limit: int = 100,
    ) -> list[PlacedOrder]:
        stmt = select(ORDERS).where(ORDERS.c.user_id == user_id)
        if before is not None:
            stmt = stmt.where(tuple_(ORDERS.c.created_ms, ORDERS.c.id) < tuple_(*before))
        if states:
            stmt = stmt.where(ORDERS.c.state.in_([s.value for s in states]))
        if connection_id is not None:
            stmt = stmt.where(ORDERS.c.connection_id == connection_id)
        stmt = stmt.order_by(ORDERS.c.created_ms.desc(), ORDERS.c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_order(row) for row in rows]

    async def to_track(self, *, checked_before_ms: int, limit: int) -> list[PlacedOrder]:
        live = [OrderState.PENDING.value, OrderState.UNKNOWN.value, OrderState.OPEN.value]
        c = ORDERS.c
        stmt = (
            select(ORDERS)
            .where(
                c.state.in_(live),
                (c.checked_ms.is_(None)) | (c.checked_ms < checked_before_ms),
            )
            .order_by(c.updated_ms)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_order(row) for row in rows]


def _insert_key_and_order(
    key_sql: str,
    key: Row,
    order_sql: str,
    order: Row | None,
    durable: bool,
    conn: sqlite3.Connection,
) -> bool:
    """``_insert_new_key`` on the store's own SQLite connection, in its thread: one
    ``BEGIN IMMEDIATE ... COMMIT``; ``durable``: at ``PRAGMA synchronous = FULL`` (the commit
    returns once the WAL is on disk) whatever the connection's own level, put back after."""
    level = int(conn.execute("PRAGMA synchronous").fetchone()[0]) if durable else SQLITE_FULL
    if level < SQLITE_FULL:
        conn.execute(f"PRAGMA synchronous = {SQLITE_FULL}")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            inserted: bool = conn.execute(key_sql, key).rowcount == 1
            if inserted and order is not None:
                _check_inserted(conn.execute(order_sql, order).rowcount == 1)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        if level < SQLITE_FULL:
            conn.execute(f"PRAGMA synchronous = {level}")
    return inserted


class _DriverSelect:
    """A Core ``select`` compiled once for the engine's dialect and run on the driver's own
    connection: the same SQL, each column's value read by its own type (``UtcDateTime``...),
    without SQLAlchemy's per-execution work (cache key, parameter and result processing)."""

    def __init__(
        self,
        engine: AsyncEngine,
        statement: Select[Any],
        own: Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]] | None = None,
    ) -> None:
        self._engine = engine
        self._own = own  # SQLite: run on the store's own connection (``_at_once``), no pool
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self._sql = str(compiled)
        self._names = list(compiled.positiontup or ())
        self._defaults = dict(compiled.params)  # the statement's own literals (a role...)
        self._columns = [str(c.key) for c in statement.selected_columns]
        self._processors = [
            c.type.dialect_impl(dialect).result_processor(dialect, None)
            for c in statement.selected_columns
        ]
        self._sqlite = dialect.name == "sqlite"

    async def first(self, **values: Any) -> dict[str, Any] | None:
        """The first row, by column name, or None."""
        params = [values.get(name, self._defaults.get(name)) for name in self._names]
        if self._sqlite and self._own is not None:
            raw = await self._own(functools.partial(_first_row, self._sql, params))
            return None if raw is None else self._by_name(raw)
        async with self._engine.connect() as conn:
            driver = await _driver(conn)
            if self._sqlite:
                rows = list(await driver.execute_fetchall(self._sql, params))
                raw = rows[0] if rows else None
            else:
                raw = await driver.fetchrow(self._sql, *params)
        return None if raw is None else self._by_name(raw)

    def _by_name(self, raw: Sequence[Any]) -> dict[str, Any]:
        return {
            name: value if process is None or value is None else process(value)
            for name, value, process in zip(self._columns, raw, self._processors, strict=True)
        }


def _first_row(sql: str, params: list[Any], conn: sqlite3.Connection) -> Any:
    row: Any = conn.execute(sql, params).fetchone()
    return row
