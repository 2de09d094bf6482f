"""What the sync engine's SQL stores share: the engine, writes that take turns on SQLite, and
dialect-aware upserts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class SqlStoreBase:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        # SQLite has one writer at a time: this process's writers take turns here instead of
        # contending in SQLite's busy handler (which gives up after its timeout)
        self._write_lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction."""
        if self._dialect != "sqlite":
            async with self._engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self._engine.begin() as conn:
            yield conn

    def _insert(self, table: Table) -> Any:
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    async def _upsert(
        self,
        conn: AsyncConnection,
        table: Table,
        rows: list[dict[str, Any]],
        *,
        update: bool,
    ) -> None:
        """Insert ``rows``; on a primary-key conflict replace the row (``update``) or keep it."""
        if not rows:
            return
        keys = [c.name for c in table.primary_key.columns]
        # one statement, compiled once (SQLAlchemy caches it), executed for every row by the
        # driver's executemany: a multi-row VALUES would be compiled anew for each page
        stmt = self._insert(table)
        if update:
            stmt = stmt.on_conflict_do_update(
                index_elements=keys,
                set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        await conn.execute(stmt, rows)


def like_escaped(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (use with ``escape="\\\\"``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
