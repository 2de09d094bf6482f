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
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Row = tuple[Any, ...]
SQLITE_ROWS_PER_STATEMENT = 50  # 50 x 14 columns: far below SQLite's 32,766 parameters


@dataclass(frozen=True, slots=True)
class Upsert:
    """Rows (tuples of driver values, in ``columns`` order) to insert into ``table``; on a
    primary-key conflict the row's other columns are replaced (``update``) or it is kept."""

    table: Table
    columns: Sequence[str]
    rows: list[Row]
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

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction."""
        if self._dialect != "sqlite":
            async with self._engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self._engine.begin() as conn:
            yield conn

    async def _bulk_write(self, upserts: Sequence[Upsert]) -> None:
        """Every upsert, in one transaction on the driver's own connection (see the module
        docstring). A single row is one statement, a transaction by itself (autocommit);
        more are wrapped in BEGIN ... COMMIT."""
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

    def _sqlite_steps(self, upsert: Upsert) -> list[tuple[str, list[Row]]]:
        """``upsert`` as (statement, parameter rows) for sqlite3's ``executemany``: groups of
        ``SQLITE_ROWS_PER_STATEMENT`` rows in one multi-row statement (sqlite3 binds and steps
        each statement of an ``executemany`` separately: fewer, wider statements cost a third
        less per row), the rest one by one."""
        rows, group = upsert.rows, SQLITE_ROWS_PER_STATEMENT
        whole = len(rows) - len(rows) % group
        steps: list[tuple[str, list[Row]]] = []
        if whole:
            wide = self.upsert_sql(upsert.table, upsert.columns, update=upsert.update, rows=group)
            chain = itertools.chain.from_iterable
            steps.append(
                (wide, [tuple(chain(rows[i : i + group])) for i in range(0, whole, group)])
            )
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


async def _driver(conn: AsyncConnection) -> Any:
    """The driver's own connection object under a pooled SQLAlchemy connection."""
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is None:  # pragma: no cover - only after the connection was invalidated
        raise RuntimeError("the database connection is gone")
    return driver


def like_escaped(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (use with ``escape="\\\\"``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
