"""The read side's statements at interactive speed: what ``GET /v1/portfolio`` and the record
listings run on every request, on the driver's own connection.

Through SQLAlchemy a small read cost far more than the database's own work (docs/benchmarks.md,
issue 17): on SQLite a pool checkout and a hop to aiosqlite's thread per statement (0.2 to
0.4 ms each, threads contending for the GIL under load), on PostgreSQL a ping per checkout (a
round trip) and the compilation and result processing. Here:

- on SQLite a read runs on the event loop's own thread, on the store's connection that never
  waits for a lock (``SqlStoreBase._at_once``, ``writes=False``): WAL readers never wait for
  the writer, and these statements take SQLite tens of microseconds;
- on PostgreSQL it is one statement on one of ``READ_LANES`` asyncpg connections of the store's
  own (``_PgLanes``), outside SQLAlchemy's pool, set up as the engine's are (the same
  ``search_path`` and ``jit``, read from a pooled connection) and closed when the engine is
  disposed; asyncpg prepares each statement once per connection. A pooled connection cost
  0.3 ms of CPU a request more (the checkout, SQLAlchemy's connection and its reset), and
  waiting in SQLAlchemy's pool was not first come first served: with 50 requests in flight
  over its 8 connections some waited for many others (in one process p50 26 ms, p99 115 ms).
  The free lanes wait in an ``asyncio.Queue``, in order. A lane the database dropped (a
  restart) is replaced and the read tried once more on a new one (reads change nothing).

Each statement is written once per store, in the driver's own parameter style. A statement
built with SQLAlchemy Core (``listings.newest_per_symbol``) is compiled once per shape and
number of connection ids (``_compiled``) and its rows converted by the table's column types
(``_converters``) as SQLAlchemy's result processing would (exact decimal text to ``Decimal``
on SQLite, 0/1 to ``bool``).
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Callable, Hashable, Sequence
from decimal import Decimal
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # the driver has no type information
from sqlalchemy import Boolean, Table, event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tresor.adapters.db.activity_store import STATE, SqlActivityStore, _q
from tresor.adapters.db.sync_rows import VERSIONS
from tresor.adapters.db.tables import ConnectionRow
from tresor.adapters.db.tables_sync import BalanceSnapshotRow
from tresor.adapters.db.types import Money
from tresor.domain.portfolio import SnapshotRef, Standing
from tresor.domain.records import AssetBalance, BalanceSnapshot, ValuedSnapshot

_SNAPSHOTS: Table = BalanceSnapshotRow.__table__  # type: ignore[assignment]
_CONNECTIONS: Table = ConnectionRow.__table__  # type: ignore[assignment]
_C, _ST, _SN = _q(_CONNECTIONS.name), _q(STATE.name), _q(_SNAPSHOTS.name)
_V = _q(VERSIONS.name)

# each connection of a user, its sync state's outcome and its latest snapshot (the last taken;
# of two taken in one millisecond the last stored), one index descent per connection
_STANDINGS = (
    "SELECT c.id, c.label, c.exchange, c.status, s.id, s.taken_ms,"  # noqa: S608
    " st.last_success_ms, st.last_error_code"
    f" FROM {_C} AS c"
    f" LEFT JOIN {_ST} AS st ON st.connection_id = c.id"
    f" LEFT JOIN {_SN} AS s ON s.id = (SELECT l.id FROM {_SN} AS l"
    " WHERE l.connection_id = c.id ORDER BY l.taken_ms DESC, l.id DESC LIMIT 1)"
    " WHERE c.user_id = {user}"
)
_IDS = f"SELECT c.id FROM {_C} AS c WHERE c.user_id = {{user}}"  # noqa: S608
# each connection of a user and its records' version token (None: never written)
_VERSIONS = (
    f"SELECT c.id, v.version FROM {_C} AS c"  # noqa: S608
    f" LEFT JOIN {_V} AS v ON v.connection_id = c.id WHERE c.user_id = {{user}}"
)
_ONE = " AND c.id = {connection}"
_SNAPSHOT_ROWS = (
    f"SELECT id, connection_id, taken_ms, balances, quote, prices FROM {_SN}"  # noqa: S608
    " WHERE id {ids}"
)
# a chart's snapshots (``history_refs``): for each bucket of the range (k from 0) and each
# connection, its last snapshot in that bucket by one index descent, then each connection's
# latest before the range. The descents cost the same however many snapshots a bucket holds:
# reading every snapshot of a 30-day range (86,410 for 10 connections) and keeping the last of
# each bucket (a window function) took SQLite 260 ms, these 1,800 descents about 20 ms.
# Parameters: 1 the number of buckets, 2 the range's start, 3 the interval, 4 its end; {ids}
_HISTORY_REFS = (
    "WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n + 1 < {count})"  # noqa: S608
    f" SELECT s.id, s.connection_id, s.taken_ms FROM k CROSS JOIN {_C} AS c"
    f" JOIN {_SN} AS s ON s.id = (SELECT l.id FROM {_SN} AS l WHERE l.connection_id = c.id"
    " AND l.taken_ms >= {since} + k.n * {interval}"
    " AND l.taken_ms < {least}({since} + (k.n + 1) * {interval}, {until})"
    " ORDER BY l.taken_ms DESC, l.id DESC LIMIT 1)"
    " WHERE c.id {ids}"
    " UNION ALL"
    f" SELECT s.id, s.connection_id, s.taken_ms FROM {_C} AS c"
    f" JOIN {_SN} AS s ON s.id = (SELECT l.id FROM {_SN} AS l"
    " WHERE l.connection_id = c.id AND l.taken_ms < {since}"
    " ORDER BY l.taken_ms DESC, l.id DESC LIMIT 1)"
    " WHERE c.id {ids}"
)
_HISTORY_PG = {
    "count": "$1::integer",
    "since": "$2::bigint",
    "interval": "$3::bigint",
    "until": "$4::bigint",
    "least": "LEAST",
    "ids": "= ANY($5::text[])",
}
READ_LANES = 4  # the read side's own PostgreSQL connections, per store
_PG = {"user": "$1", "connection": "$2"}
_SQLITE = {"user": "?", "connection": "?"}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _valued(row: Sequence[Any]) -> ValuedSnapshot:
    _id, connection_id, taken_ms, balances, quote, prices = row
    return ValuedSnapshot(
        snapshot=BalanceSnapshot(
            connection_id,
            taken_ms,
            {
                asset: AssetBalance(Decimal(free), Decimal(locked))
                for asset, (free, locked) in _json(balances).items()
            },
        ),
        quote=quote,
        prices={asset: Decimal(price) for asset, price in _json(prices).items()},
    )


def _decimal(value: Any) -> Any:
    return value if value is None or isinstance(value, Decimal) else Decimal(value)


def _boolean(value: Any) -> Any:
    return value if value is None else bool(value)


def _converters(table: Table) -> list[Callable[[Any], Any] | None]:
    """Per column of ``table``: what turns the driver's value into SQLAlchemy's, or None."""
    out: list[Callable[[Any], Any] | None] = []
    for column in table.columns:
        if isinstance(column.type, Money):
            out.append(_decimal)
        elif isinstance(column.type, Boolean):
            out.append(_boolean)
        else:
            out.append(None)
    return out


class SqlReadStore(SqlActivityStore):
    """The read side's hot statements (module docstring); ``SqlSyncStore`` builds on it."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        # compiled statements by (shape, number of ids): SQL text, parameter names in order and
        # the statement's own constants by name
        self._compiled_sql: dict[
            tuple[Hashable, int], tuple[str, tuple[str, ...], dict[str, Any]]
        ] = {}
        self._table_converters: dict[str, list[Callable[[Any], Any] | None]] = {}
        self._lanes: _PgLanes | None = _PgLanes(engine) if self._pg else None

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        """The rows of one statement in the driver's parameter style (module docstring)."""
        if self._lanes is not None:
            return await self._lanes.fetch(sql, params)

        def read(conn: Any) -> list[Sequence[Any]]:
            rows: list[Sequence[Any]] = conn.execute(sql, params).fetchall()
            return rows

        return await self._at_once(read, writes=False)

    def _owned(self, template: str, connection_id: str | None) -> str:
        marks = _PG if self._pg else _SQLITE
        return (template + (_ONE if connection_id is not None else "")).format(**marks)

    @staticmethod
    def _params(user_id: str, connection_id: str | None) -> list[str]:
        return [user_id] if connection_id is None else [user_id, connection_id]

    async def standings(self, user_id: str, connection_id: str | None = None) -> list[Standing]:
        rows = await self._fetch(
            self._owned(_STANDINGS, connection_id), self._params(user_id, connection_id)
        )
        return [
            Standing(
                connection_id=cid,
                label=label,
                exchange=exchange,
                status=status,
                snapshot=None if snapshot_id is None else SnapshotRef(cid, snapshot_id, taken),
                last_success_ms=last_success_ms,
                last_error_code=last_error_code,
            )
            for (
                cid,
                label,
                exchange,
                status,
                snapshot_id,
                taken,
                last_success_ms,
                last_error_code,
            ) in rows
        ]

    async def connection_ids(self, user_id: str, connection_id: str | None = None) -> list[str]:
        rows = await self._fetch(
            self._owned(_IDS, connection_id), self._params(user_id, connection_id)
        )
        return [row[0] for row in rows]

    async def record_versions(
        self, user_id: str, connection_id: str | None = None
    ) -> dict[str, int | None]:
        rows = await self._fetch(
            self._owned(_VERSIONS, connection_id), self._params(user_id, connection_id)
        )
        return {row[0]: row[1] for row in rows}

    async def snapshots(self, refs: Sequence[SnapshotRef]) -> dict[SnapshotRef, ValuedSnapshot]:
        if not refs:
            return {}
        wanted = {ref.snapshot_id: ref for ref in refs}
        if self._pg:
            rows = await self._fetch(
                _SNAPSHOT_ROWS.format(ids="= ANY($1::bigint[])"), [list(wanted)]
            )
        else:
            marks = ", ".join("?" * len(wanted))
            rows = await self._fetch(_SNAPSHOT_ROWS.format(ids=f"IN ({marks})"), list(wanted))
        out: dict[SnapshotRef, ValuedSnapshot] = {}
        for row in rows:
            ref = wanted.get(row[0])
            # a ref names its connection and time too: a row that is not that snapshot is not
            # it (SQLite may give a deleted row's id to a new row)
            if ref is not None and (ref.connection_id, ref.taken_ms) == (row[1], row[2]):
                out[ref] = _valued(row)
        return out

    async def history_refs(
        self, connection_ids: Sequence[str], *, since_ms: int, until_ms: int, interval_ms: int
    ) -> tuple[dict[str, SnapshotRef], list[SnapshotRef]]:
        if not connection_ids:
            return {}, []
        ids = list(dict.fromkeys(connection_ids))
        count = -(-(until_ms - since_ms) // interval_ms)
        if self._pg:
            sql = _HISTORY_REFS.format(**_HISTORY_PG)
            params: list[Any] = [count, since_ms, interval_ms, until_ms, ids]
        else:  # numbered parameters, each used where the statement names it
            marks = ", ".join(f"?{5 + n}" for n in range(len(ids)))
            sql = _HISTORY_REFS.format(
                count="?1", since="?2", interval="?3", until="?4", least="min", ids=f"IN ({marks})"
            )
            params = [count, since_ms, interval_ms, until_ms, *ids]
        rows = await self._fetch(sql, params)
        carried: dict[str, SnapshotRef] = {}
        marked: list[SnapshotRef] = []
        for snapshot_id, cid, taken in rows:
            ref = SnapshotRef(cid, snapshot_id, taken)
            if taken < since_ms:
                carried[cid] = ref
            else:
                marked.append(ref)
        marked.sort(key=lambda r: (r.taken_ms, r.snapshot_id))
        return carried, marked

    # -- statements built with SQLAlchemy Core, run on the driver ----------------------------
    def _compiled(
        self, shape: Hashable, stmt: Any, params: dict[str, Any], expanding: str
    ) -> tuple[str, list[Any]]:
        """``stmt`` (its parameter ``expanding`` a list) as driver SQL and positional
        parameters, compiled once per ``shape`` and length of that list. The compiled
        statement's own constants (``LIMIT 1``'s, a ``coalesce`` default) are kept with it."""
        values = list(params[expanding])
        key = (shape, len(values))
        found = self._compiled_sql.get(key)
        if found is None:
            dialect = self._engine.dialect
            compiled = stmt.params(params).compile(
                dialect=dialect, compile_kwargs={"render_postcompile": True}
            )
            names = tuple(compiled.positiontup or ())
            plain = stmt.compile(dialect=dialect).params  # the constants' values
            constants = {n: v for n, v in plain.items() if n not in params}
            found = self._compiled_sql[key] = (compiled.string, names, constants)
        sql, names, constants = found
        prefix = expanding + "_"
        positional = [
            params[name]
            if name in params
            else values[int(name[len(prefix) :]) - 1]
            if name.startswith(prefix) and name[len(prefix) :].isdigit()
            else constants[name]
            for name in names
        ]
        return sql, positional

    async def _table_rows(
        self, table: Table, shape: Hashable, stmt: Any, params: dict[str, Any], expanding: str
    ) -> list[dict[str, Any]]:
        """The rows of ``stmt`` (which selects every column of ``table``, in order) as
        mappings of SQLAlchemy's values."""
        sql, positional = self._compiled(shape, stmt, params, expanding)
        rows = await self._fetch(sql, positional)
        converters = self._table_converters.get(table.name)
        if converters is None:
            converters = self._table_converters[table.name] = _converters(table)
        names = [c.name for c in table.columns]
        pairs = list(zip(names, converters, strict=True))
        return [
            {
                name: value if convert is None else convert(value)
                for (name, convert), value in zip(pairs, row, strict=True)
            }
            for row in rows
        ]


class _PgLanes:
    """The read side's own asyncpg connections (module docstring), opened on first use. A
    lane given back goes straight to the longest waiting reader: an ``asyncio.Queue`` lets a
    newcomer take it before the waiter it woke runs, and that waiter then queues again at the
    back (p99 680 ms against a p50 of 2 ms with 50 readers over 4 lanes)."""

    def __init__(self, engine: AsyncEngine, size: int = READ_LANES) -> None:
        self._engine = engine
        self._size = size
        self._free: list[Any] = []
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._open: set[Any] = set()
        self._settings: dict[str, str] | None = None
        self._opening = asyncio.Lock()
        event.listen(engine.sync_engine, "engine_disposed", self._close)

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        for attempt in (1, 2):
            conn = await self._take()
            try:
                rows: list[Sequence[Any]] = await conn.fetch(sql, *params)
            except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError):
                if not conn.is_closed() or attempt == 2:
                    self._give(conn)
                    raise
                self._open.discard(conn)  # dropped by the database: once more on a new one
                continue
            except BaseException:
                self._give(conn)
                raise
            self._give(conn)
            return rows
        raise AssertionError("unreachable")  # pragma: no cover

    async def _take(self) -> Any:
        if self._free and not self._waiting:
            return self._free.pop()
        if len(self._open) < self._size and not self._opening.locked():
            async with self._opening:
                conn = await self._connect()
                self._open.add(conn)
                return conn
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._give(waiter.result())  # handed over as this reader gave up
            else:
                self._waiting.remove(waiter)
            raise

    def _give(self, conn: Any) -> None:
        if conn.is_closed():
            self._open.discard(conn)
            return
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._free.append(conn)

    async def _connect(self) -> Any:
        if self._settings is None:
            async with self._engine.connect() as pooled:
                self._settings = {
                    name: str((await pooled.execute(text(f"SHOW {name}"))).scalar())
                    for name in ("search_path", "jit")
                }
        _args, options = self._engine.dialect.create_connect_args(self._engine.url)
        return await asyncpg.connect(**options, server_settings=self._settings)

    def _close(self, _engine: Any = None) -> None:
        """Close every lane at once (the engine is being disposed; nothing waits on them)."""
        opened, self._open, self._free = self._open, set(), []
        for conn in opened:
            conn.terminate()
