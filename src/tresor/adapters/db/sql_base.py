"""What the sync engine's SQL stores share: the engine, writes that take turns on SQLite, and
bulk upserts on the driver's own connection.

A page of a backfill (up to 1,000 trades or orders, and its cursor) is written by
``_bulk_write``: a transaction opened on the pooled connection's driver object (aiosqlite or
asyncpg) and one ``executemany`` per table of a plain ``INSERT ... ON CONFLICT`` written once
per store in the driver's own parameter style (``?`` for sqlite3, ``$n`` for asyncpg), on rows
that are already tuples of driver values. That is one round trip to the driver per statement.
SQLAlchemy's statement compilation, parameter processing and transaction events had cost
several times the database's own work (about 1 ms per page and 5 µs per row on SQLite, where
every driver call is a hop to aiosqlite's thread); everything else in the stores still goes
through SQLAlchemy Core.

On SQLite the sync store's pages go one step further (``own_connection``): a connection of the
store's own, outside the pool, on a thread of its own (``_Writer``), set up with the engine's
own settings (read from a pooled connection: foreign keys, WAL, ``synchronous``, secure delete,
busy timeout) and closed when the engine is disposed. A page is one hop to that thread, where
its statements, BEGIN and COMMIT all run: no pool checkout, reset and return, and no hop per
statement (about 1.5 to 4 µs per stored trade of the event loop's and aiosqlite's time).

A hop to another thread and back costs 0.2 to 0.4 ms on the benchmark's machine (waking the
thread, then the event loop), where a small SQLite read or write takes 2 to 20 µs: the trading
store's small statements run on the event loop's own thread (``_at_once``), on a second
connection of the store's that never waits for SQLite's lock (``busy_timeout`` 0) and hands
the work to the writer thread when the database is locked, and never for a commit that waits
for the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Row = tuple[Any, ...]
SQLITE_ROWS_PER_STATEMENT = 50  # 50 x 14 columns: far below SQLite's 32,766 parameters
# what the store's own SQLite connection takes over from the engine's (``uow`` sets them)
_WRITER_PRAGMAS = ("foreign_keys", "journal_mode", "synchronous", "secure_delete", "busy_timeout")
WRITER_CLOSE_SECONDS = 10.0
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Upsert:
    """Rows (tuples of driver values, in ``columns`` order) to insert into ``table``; on a
    primary-key conflict the row's other columns are replaced (``update``) or it is kept."""

    table: Table
    columns: Sequence[str]
    rows: Sequence[Row]
    update: bool


class SqlStoreBase:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        # SQLite has one writer at a time: this process's writers take turns here instead of
        # contending in SQLite's busy handler (which gives up after its timeout)
        self._write_lock = asyncio.Lock()
        # Money goes to the driver as exact decimal text on SQLite (what the ``Money`` type
        # writes there) and as the Decimal itself to PostgreSQL's NUMERIC
        self._money_as_text = self._dialect == "sqlite"
        self._upserts: dict[tuple[str, tuple[str, ...], bool, int], str] = {}
        self._writer: _Writer | None = None  # opened by the first write that asks for it
        self._inline: sqlite3.Connection | None = None  # opened with the writer
        self._inline_writes = False  # whether its commits need no flush (synchronous < FULL)
        self._opening = asyncio.Lock()

    async def _own(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(connection)`` on the store's own SQLite connection, in its thread (one hop
        there and back); writers hold ``_write_lock`` around it."""
        writer = self._writer or await self._open_writer()
        return await writer.run(work)

    async def _at_once(self, work: Callable[[sqlite3.Connection], T], *, writes: bool = True) -> T:
        """``work(connection)`` on the event loop's own thread, on a connection of the store's
        that never waits for a lock (``busy_timeout`` 0): a small read or write costs SQLite's
        own 2 to 20 µs there, where a hop to another thread and back costs 0.2 to 0.4 ms on the
        benchmark's machine (docs/benchmarks.md). Should the database be locked (a writer of
        another store or process: SQLite answers BUSY at once), ``work`` runs on the writer's
        thread instead, which waits its turn without holding up the loop. ``work`` must undo
        what it did when it raises (a read does nothing; a write rolls back). Only for work
        that needs no disk flush: a commit at ``synchronous = FULL`` goes through ``_own``, and
        so does every write (``writes``) when the database's connections are set to FULL or
        EXTRA (``TRESOR_SQLITE_SYNCHRONOUS``). The connection never checkpoints the WAL itself
        (``wal_autocheckpoint`` 0: the other connections do, off the loop). Writers hold
        ``_write_lock`` around it."""
        if self._inline is None:
            await self._open_writer()
        if writes and not self._inline_writes:
            return await self._own(work)
        if self._inline is not None:
            try:
                return work(self._inline)
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
        return await self._own(work)

    async def _open_writer(self) -> _Writer:
        """The store's own SQLite connection, set up as the engine's are (``uow``): the same
        pragmas, read from a pooled connection. Closed when the engine is disposed."""
        async with self._opening:
            if self._writer is not None:  # opened while this waited
                return self._writer
            return await self._open_new_writer()

    async def _open_new_writer(self) -> _Writer:
        async with self._engine.connect() as conn:
            pragmas = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in _WRITER_PRAGMAS
            }
        if not all(str(value).isalnum() for value in pragmas.values()):  # pragma: no cover
            raise RuntimeError(f"unexpected SQLite settings {pragmas}")
        path = self._engine.url.database
        if not path:  # pragma: no cover - Database refuses in-memory SQLite
            raise RuntimeError("the store's own connection needs a database file")
        if not event.contains(self._engine.sync_engine, "engine_disposed", self._close_writer):
            event.listen(self._engine.sync_engine, "engine_disposed", self._close_writer)
        setup = [f"PRAGMA {k} = {v}" for k, v in pragmas.items()]
        self._writer = _Writer(path, setup)
        self._inline = _loop_connection(path, setup)
        self._inline_writes = str(pragmas["synchronous"]) in ("0", "1")  # OFF, NORMAL
        return self._writer

    def _close_writer(self, _engine: Any = None) -> None:
        writer, self._writer = self._writer, None
        inline, self._inline = self._inline, None
        if inline is not None:
            inline.close()
        if writer is not None:
            writer.close()

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction."""
        if self._dialect != "sqlite":
            async with self._engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self._engine.begin() as conn:
            yield conn

    async def _bulk_write(
        self, upserts: Sequence[Upsert], *, own_connection: bool = False, at_once: bool = False
    ) -> None:
        """Every upsert, in one transaction on the driver's own connection (see the module
        docstring). A single row is one statement, a transaction by itself (autocommit);
        more are wrapped in BEGIN ... COMMIT. ``own_connection`` (SQLite): on the store's own
        connection and thread (``_Writer``), one hop there for the whole write; ``at_once``
        (SQLite, a few rows): on the event loop's thread unless the database is locked
        (``_at_once``)."""
        upserts = [u for u in upserts if u.rows]
        if not upserts:
            return
        alone = len(upserts) == 1 and len(upserts[0].rows) == 1
        if self._dialect != "sqlite":
            async with self._engine.connect() as conn:
                driver = await _driver(conn)  # asyncpg's: executemany sends every row at once
                if alone:
                    u = upserts[0]
                    await driver.execute(
                        self.upsert_sql(u.table, u.columns, update=u.update), *u.rows[0]
                    )
                    return
                async with driver.transaction():
                    for u in upserts:
                        sql = self.upsert_sql(u.table, u.columns, update=u.update)
                        await driver.executemany(sql, u.rows)
            return
        work = [step for u in upserts for step in self._sqlite_steps(u)]
        if own_connection or at_once:
            write = functools.partial(_write_steps, work, alone=alone)
            async with self._write_lock:
                await (self._at_once(write) if at_once else self._own(write))
            return
        async with self._write_lock, self._engine.connect() as conn:
            driver = await _driver(conn)  # aiosqlite's, in autocommit mode (uow)
            if alone:
                await driver.execute(work[0][0], work[0][1][0])
                return
            # IMMEDIATE takes the write lock at once, as a transaction that only writes should
            await driver.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in work:
                    await driver.executemany(sql, params)
            except BaseException:
                await driver.rollback()
                raise
            await driver.commit()

    def _sqlite_steps(self, upsert: Upsert) -> list[tuple[str, Sequence[Row]]]:
        """``upsert`` as (statement, parameter rows) for sqlite3's ``executemany``: groups of
        ``SQLITE_ROWS_PER_STATEMENT`` rows in one multi-row statement (sqlite3 binds and steps
        each statement of an ``executemany`` separately: fewer, wider statements cost a third
        less per row), the rest one by one. A group's parameters are a slice of every value in
        one list (a fifth of the cost of chaining each group's rows)."""
        rows, group = upsert.rows, SQLITE_ROWS_PER_STATEMENT
        whole = len(rows) - len(rows) % group
        steps: list[tuple[str, Sequence[Row]]] = []
        if whole:
            wide = self.upsert_sql(upsert.table, upsert.columns, update=upsert.update, rows=group)
            values = list(itertools.chain.from_iterable(rows[:whole]))
            step = group * len(upsert.columns)
            steps.append((wide, [tuple(values[i : i + step]) for i in range(0, len(values), step)]))
        if whole < len(rows):
            one = self.upsert_sql(upsert.table, upsert.columns, update=upsert.update)
            steps.append((one, rows[whole:]))
        return steps

    def _insert(self, table: Table) -> Any:
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    def upsert_sql(
        self, table: Table, columns: Sequence[str], *, update: bool, rows: int = 1
    ) -> str:
        """``INSERT INTO table (columns) VALUES (...)[, (...) ...] ON CONFLICT (primary key)
        DO ...`` for ``rows`` rows, in the driver's own parameter style, written once per
        (table, columns, update, rows)."""
        key = (table.name, tuple(columns), update, rows)
        sql = self._upserts.get(key)
        if sql is None:
            quote = self._engine.dialect.identifier_preparer.quote
            keys = [c.name for c in table.primary_key.columns]
            if unknown := set(columns) - set(table.columns.keys()):
                raise ValueError(f"{table.name} has no column(s) {sorted(unknown)}")
            if missing := set(keys) - set(columns):
                raise ValueError(f"an upsert into {table.name} needs {sorted(missing)}")
            width = len(columns)
            if self._dialect == "sqlite":
                marks = ", ".join(["(" + ", ".join("?" * width) + ")"] * rows)
            else:
                marks = ", ".join(
                    "("
                    + ", ".join(f"${n}" for n in range(r * width + 1, (r + 1) * width + 1))
                    + ")"
                    for r in range(rows)
                )
            changed = [c for c in columns if c not in keys]
            action = (
                "DO UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in changed)
                if update and changed
                else "DO NOTHING"
            )
            # every name is a column of ``table`` (checked above), quoted by the dialect
            into = f"{quote(table.name)} ({', '.join(quote(c) for c in columns)})"
            target = ", ".join(quote(k) for k in keys)
            sql = f"INSERT INTO {into} VALUES {marks} ON CONFLICT ({target}) {action}"  # noqa: S608
            self._upserts[key] = sql
        return sql


def _write_steps(
    work: Sequence[tuple[str, Sequence[Row]]], conn: sqlite3.Connection, *, alone: bool
) -> None:
    """``_bulk_write``'s statements on a sqlite3 connection in autocommit mode, in the writer's
    thread: a single row alone, else in one ``BEGIN IMMEDIATE ... COMMIT``."""
    if alone:
        conn.execute(work[0][0], work[0][1][0])
        return
    # IMMEDIATE takes the write lock at once, as a transaction that only writes should
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, params in work:
            conn.executemany(sql, params)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class _Writer:
    """A SQLite connection of a store's own, outside SQLAlchemy's pool, on a thread of its own:
    a write is one hop to that thread and back (the statements, BEGIN and COMMIT all run there),
    where a pooled connection costs a checkout, a reset and a return, and a hop to aiosqlite's
    thread per statement (docs/benchmarks.md). Writes run one at a time, in the order given."""

    def __init__(self, path: str, setup: Sequence[str]) -> None:
        self._jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._serve, args=(path, tuple(setup)), name="tresor-sqlite-writer", daemon=True
        )
        self._thread.start()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(connection)`` in the writer's thread: its result, or its exception raised
        here."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put((work, done))
        return await done

    def close(self) -> None:
        """Close the connection once the writes already given are done."""
        self._jobs.put(None)
        self._thread.join(timeout=WRITER_CLOSE_SECONDS)

    def _serve(self, path: str, setup: tuple[str, ...]) -> None:
        conn: sqlite3.Connection | None = None
        failed: BaseException | None = None
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            for statement in setup:
                conn.execute(statement)
        except Exception as exc:  # every write reports it
            failed = exc
            if conn is not None:
                conn.close()
                conn = None
        try:
            while (job := self._jobs.get()) is not None:
                work, done = job
                if conn is None:
                    opening = RuntimeError("the store's own database connection did not open")
                    opening.__cause__ = failed
                    _settle(done, None, opening)
                    continue
                try:
                    result = work(conn)
                except BaseException as exc:
                    _settle(done, None, exc)
                else:
                    _settle(done, result, None)
        finally:
            if conn is not None:
                conn.close()


_Job = tuple[Callable[[sqlite3.Connection], T], "asyncio.Future[T]"]


def _settle(done: asyncio.Future[T], result: T, error: BaseException | None) -> None:
    """Hand a job's outcome to its event loop (from the writer's thread)."""

    def settle() -> None:
        if done.done():  # the waiting task was cancelled
            return
        if error is None:
            done.set_result(result)
        else:
            done.set_exception(error)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        done.get_loop().call_soon_threadsafe(settle)


def _loop_connection(path: str, setup: Sequence[str]) -> sqlite3.Connection | None:
    """The connection ``_at_once`` uses on the event loop's thread: set up as ``setup`` says,
    except that it never waits for a lock (``timeout`` 0, from its opening on) and never
    checkpoints the WAL. None if it cannot be set up now (the writer thread does the work)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    try:
        for statement in setup:
            if not statement.startswith("PRAGMA busy_timeout"):
                conn.execute(statement)
        conn.execute("PRAGMA wal_autocheckpoint = 0")
    except sqlite3.Error:
        conn.close()
        return None
    return conn


def _busy(error: sqlite3.OperationalError) -> bool:
    """SQLite answered BUSY or LOCKED (another connection holds the lock)."""
    code = getattr(error, "sqlite_errorcode", None)  # maybe an extended code: its low byte
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


async def _driver(conn: AsyncConnection) -> Any:
    """The driver's own connection object under a pooled SQLAlchemy connection, with no
    transaction open on it: what runs on it in autocommit, or in a transaction of its own,
    is committed by itself. (One left open by SQLAlchemy's adapter would make those
    statements part of it, and the rollback as the connection goes back to the pool would
    undo them: ``uow._ping_if_idle`` once did that.)"""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:  # pragma: no cover - only after the connection was invalidated
        raise RuntimeError("the database connection is gone")
    in_transaction = getattr(driver, "is_in_transaction", None)  # asyncpg's
    if in_transaction is not None and in_transaction():
        raise RuntimeError(
            "a pooled connection came with a transaction open: statements on the driver's "
            "own connection would be rolled back with it"
        )
    return driver


def like_escaped(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (use with ``escape="\\\\"``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
