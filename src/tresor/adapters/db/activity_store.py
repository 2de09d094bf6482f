"""The request log, sync state with its leases, and events: the ``SyncStore`` port's part that
records what the sync engine did (``SqlSyncStore`` adds the synced data).

On PostgreSQL what every job and every request run here (read the state, claim, renew and
release the lease, save the state, find the due jobs, write the request log) is one statement
each, sent on asyncpg's own connection in autocommit: one round trip, where SQLAlchemy's
``BEGIN``, statement, ``COMMIT``/``ROLLBACK`` took three, plus its compilation (a job's
statements cost about half the CPU they did). A statement alone is a transaction by itself, so
nothing changes for the callers. SQLite keeps SQLAlchemy Core and its write lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import operator
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tresor.adapters.db.sql_base import SqlStoreBase, _driver, like_escaped
from tresor.adapters.db.tables_sync import EventRow, ExchangeCallRow, SyncStateRow
from tresor.domain.records import CallQuery, ExchangeCall, StoredCall
from tresor.domain.sync import Event, EventKind, Severity, SyncState

CALLS: Table = ExchangeCallRow.__table__  # type: ignore[assignment]
STATE: Table = SyncStateRow.__table__  # type: ignore[assignment]
EVENTS: Table = EventRow.__table__  # type: ignore[assignment]
_LEASE = ("lease_owner", "lease_until_ms")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# PostgreSQL statements (asyncpg's $n parameters); every name is a column of its table
_STATE_COLUMNS = tuple(f.name for f in dataclasses.fields(SyncState))  # = SyncState(*row)
_SAVED = [c for c in _STATE_COLUMNS if c not in _LEASE]
_S, _C = _q(STATE.name), _q(CALLS.name)
_PG_STATES = (
    f"SELECT {', '.join(map(_q, _STATE_COLUMNS))} FROM {_S} "  # noqa: S608
    "WHERE connection_id = ANY($1::text[])"
)
_PG_SAVE_STATE = (
    f"INSERT INTO {_S} ({', '.join(map(_q, _SAVED))}) "  # noqa: S608
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_SAVED) + 1))}) "
    "ON CONFLICT (connection_id) DO UPDATE SET "
    + ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in _SAVED if c != "connection_id")
)
_PG_CLAIM = (
    f"UPDATE {_S} SET lease_owner = $2, lease_until_ms = $3 "  # noqa: S608
    "WHERE connection_id = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until_ms < $4)"
)
_PG_STILL_DUE = (
    " AND (next_balance_ms <= $4 OR next_history_ms <= $4)"
    " AND (paused_until_ms IS NULL OR paused_until_ms <= $4)"
)
_PG_RELEASE = (
    f"UPDATE {_S} SET lease_owner = NULL, lease_until_ms = NULL "  # noqa: S608
    "WHERE connection_id = $1 AND lease_owner = $2"
)
_PG_DUE = (
    f"SELECT connection_id FROM {_S} "  # noqa: S608
    "WHERE (next_balance_ms <= $1 OR next_history_ms <= $1)"
    " AND (paused_until_ms IS NULL OR paused_until_ms <= $1)"
    " AND (lease_until_ms IS NULL OR lease_until_ms < $1)"
    " ORDER BY least(next_balance_ms, next_history_ms) LIMIT $2"
)
_CALL_COLUMNS = tuple(f.name for f in dataclasses.fields(ExchangeCall))
_PG_ADD_CALLS = (
    f"INSERT INTO {_C} ({', '.join(map(_q, _CALL_COLUMNS))}) "  # noqa: S608
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_CALL_COLUMNS) + 1))})"
)
_call_row = operator.attrgetter(*_CALL_COLUMNS)
_saved_row = operator.attrgetter(*_SAVED)


def _rowcount(status: str) -> int:
    """The row count of an asyncpg command status (``UPDATE 1``)."""
    return int(status.rsplit(" ", 1)[-1])


class SqlActivityStore(SqlStoreBase):
    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self._pg = self._dialect == "postgresql"

    @contextlib.asynccontextmanager
    async def _alone(self) -> AsyncIterator[Any]:
        """asyncpg's own connection, for statements each in autocommit (PostgreSQL only)."""
        async with self._engine.connect() as conn:
            yield await _driver(conn)

    # -- the request log ---------------------------------------------------------------------
    async def add_calls(self, calls: Sequence[ExchangeCall]) -> None:
        if not calls:
            return
        if self._pg:
            async with self._alone() as driver:
                await driver.executemany(_PG_ADD_CALLS, [_call_row(c) for c in calls])
            return
        rows = [dataclasses.asdict(c) for c in calls]
        async with self._writing() as conn:
            await conn.execute(CALLS.insert(), rows)

    async def calls(self, query: CallQuery) -> list[StoredCall]:
        c = CALLS.c
        conds: list[ColumnElement[bool]] = [c.connection_id.in_(query.connection_ids)]
        if query.status is not None:
            conds.append(c.status == query.status)
        if query.errors_only:
            conds.append(or_(c.status.is_(None), c.status >= 400))
        if query.method is not None:
            conds.append(c.method == query.method.upper())
        if query.path_prefix is not None:
            conds.append(c.path.like(f"{like_escaped(query.path_prefix)}%", escape="\\"))
        if query.since_ms is not None:
            conds.append(c.at_ms >= query.since_ms)
        if query.until_ms is not None:
            conds.append(c.at_ms < query.until_ms)
        if query.before is not None:
            conds.append(c.id < query.before)
        stmt = select(CALLS).where(and_(*conds)).order_by(c.id.desc()).limit(query.limit)
        async with self._engine.connect() as conn:
            return [
                StoredCall(r.id, ExchangeCall(**_without(r._mapping, "id")))
                for r in await conn.execute(stmt)
            ]

    async def purge_calls(self, before_ms: int) -> int:
        async with self._writing() as conn:
            result = await conn.execute(delete(CALLS).where(CALLS.c.at_ms < before_ms))
            return int(result.rowcount or 0)

    # -- sync state and leases ---------------------------------------------------------------
    async def state(self, connection_id: str) -> SyncState | None:
        return (await self.states([connection_id])).get(connection_id)

    async def states(self, connection_ids: Sequence[str]) -> dict[str, SyncState]:
        if self._pg:
            async with self._alone() as driver:
                rows = await driver.fetch(_PG_STATES, list(connection_ids))
            return {r[0]: SyncState(*r) for r in rows}
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(STATE).where(STATE.c.connection_id.in_(list(connection_ids)))
            )
            return {r.connection_id: SyncState(**r._mapping) for r in rows}

    async def save_state(self, state: SyncState) -> None:
        """Save everything but the lease (``claim``/``release`` own it)."""
        if self._pg:
            async with self._alone() as driver:
                await driver.execute(_PG_SAVE_STATE, *_saved_row(state))
            return
        row = _without(dataclasses.asdict(state), *_LEASE)
        stmt = self._insert(STATE).values(**row, lease_owner=None, lease_until_ms=None)
        stmt = stmt.on_conflict_do_update(
            index_elements=["connection_id"],
            set_={name: stmt.excluded[name] for name in row if name != "connection_id"},
        )
        async with self._writing() as conn:
            await conn.execute(stmt)

    async def claim(
        self, connection_id: str, owner: str, *, now_ms: int, until_ms: int, due: bool = False
    ) -> bool:
        if self._pg:
            sql = _PG_CLAIM + _PG_STILL_DUE if due else _PG_CLAIM
            async with self._alone() as driver:
                status = await driver.execute(sql, connection_id, owner, until_ms, now_ms)
            return _rowcount(status) > 0
        c = STATE.c
        conditions = [
            c.connection_id == connection_id,
            or_(c.lease_owner.is_(None), c.lease_owner == owner, c.lease_until_ms < now_ms),
        ]
        if due:  # still due: not synced by another process since it was found due
            conditions += [
                or_(c.next_balance_ms <= now_ms, c.next_history_ms <= now_ms),
                or_(c.paused_until_ms.is_(None), c.paused_until_ms <= now_ms),
            ]
        stmt = update(STATE).where(*conditions).values(lease_owner=owner, lease_until_ms=until_ms)
        async with self._writing() as conn:
            result = await conn.execute(stmt)
            return bool(result.rowcount)

    async def release(self, connection_id: str, owner: str) -> None:
        if self._pg:
            async with self._alone() as driver:
                await driver.execute(_PG_RELEASE, connection_id, owner)
            return
        async with self._writing() as conn:
            await conn.execute(
                update(STATE)
                .where(STATE.c.connection_id == connection_id, STATE.c.lease_owner == owner)
                .values(lease_owner=None, lease_until_ms=None)
            )

    async def due(self, now_ms: int, *, limit: int) -> list[str]:
        if self._pg:
            async with self._alone() as driver:
                return [r[0] for r in await driver.fetch(_PG_DUE, now_ms, limit)]
        c = STATE.c
        earliest = (func.least if self._dialect == "postgresql" else func.min)(
            c.next_balance_ms, c.next_history_ms
        )
        stmt = (
            select(c.connection_id)
            .where(
                or_(c.next_balance_ms <= now_ms, c.next_history_ms <= now_ms),
                or_(c.paused_until_ms.is_(None), c.paused_until_ms <= now_ms),
                or_(c.lease_until_ms.is_(None), c.lease_until_ms < now_ms),
            )
            .order_by(earliest)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return list(await conn.scalars(stmt))

    # -- events ------------------------------------------------------------------------------
    async def add_event(self, event: Event) -> None:
        async with self._writing() as conn:
            await conn.execute(EVENTS.insert().values(**_without(dataclasses.asdict(event), "id")))

    async def events(
        self, user_id: str, *, before: int | None = None, limit: int = 100
    ) -> list[Event]:
        stmt = select(EVENTS).where(EVENTS.c.user_id == user_id)
        if before is not None:
            stmt = stmt.where(EVENTS.c.id < before)
        stmt = stmt.order_by(EVENTS.c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            return [
                Event(
                    **{
                        **r._mapping,
                        "kind": EventKind(r.kind),
                        "severity": Severity(r.severity),
                        "details": dict(r.details),
                    }
                )
                for r in await conn.execute(stmt)
            ]


def _without(mapping: Any, *names: str) -> dict[str, Any]:
    return {k: v for k, v in dict(mapping).items() if k not in names}
