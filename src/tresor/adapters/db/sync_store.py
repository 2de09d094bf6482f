"""``SqlSyncStore``: the ``SyncStore`` port on SQLite and PostgreSQL, in SQLAlchemy Core.

Bulk writes skip the ORM: a page of a backfill is one multi-row ``INSERT ... ON CONFLICT``
(do nothing for trades, which never change; update for orders and transfers, whose status
does) plus the cursor's upsert, in one transaction. Listing is keyset-paginated on
(time, connection, market or kind, id), newest first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tresor.adapters.db.tables_sync import (
    BalanceSnapshotRow,
    EventRow,
    ExchangeCallRow,
    OrderRow,
    SyncCursorRow,
    SyncGapRow,
    SyncStateRow,
    TradeRow,
    TransferRow,
)
from tresor.domain.records import (
    AssetBalance,
    BalanceSnapshot,
    CallQuery,
    Cursor,
    Dataset,
    ExchangeCall,
    Gap,
    OrderRecord,
    OrderStatus,
    Record,
    RecordQuery,
    Side,
    StoredCall,
    TradeRecord,
    TransferKind,
    TransferRecord,
    TransferStatus,
    ValuedSnapshot,
)
from tresor.domain.sync import Event, EventKind, Severity, SyncState

TRADES: Table = TradeRow.__table__  # type: ignore[assignment]
ORDERS: Table = OrderRow.__table__  # type: ignore[assignment]
TRANSFERS: Table = TransferRow.__table__  # type: ignore[assignment]
CURSORS: Table = SyncCursorRow.__table__  # type: ignore[assignment]
GAPS: Table = SyncGapRow.__table__  # type: ignore[assignment]
SNAPSHOTS: Table = BalanceSnapshotRow.__table__  # type: ignore[assignment]
CALLS: Table = ExchangeCallRow.__table__  # type: ignore[assignment]
STATE: Table = SyncStateRow.__table__  # type: ignore[assignment]
EVENTS: Table = EventRow.__table__  # type: ignore[assignment]


def _trade_row(r: TradeRecord) -> dict[str, Any]:
    return {
        "connection_id": r.connection_id,
        "symbol": r.symbol,
        "trade_id": r.trade_id,
        "order_id": r.order_id,
        "side": r.side.value,
        "price": r.price,
        "amount": r.amount,
        "cost": r.cost,
        "fee": r.fee,
        "fee_asset": r.fee_asset,
        "maker": r.maker,
        "time_ms": r.time_ms,
    }


def _order_row(r: OrderRecord) -> dict[str, Any]:
    return {
        "connection_id": r.connection_id,
        "symbol": r.symbol,
        "order_id": r.order_id,
        "client_order_id": r.client_order_id,
        "side": r.side.value,
        "type": r.type,
        "status": r.status.value,
        "time_in_force": r.time_in_force,
        "price": r.price,
        "amount": r.amount,
        "filled": r.filled,
        "cost": r.cost,
        "created_ms": r.created_ms,
        "updated_ms": r.updated_ms,
    }


def _transfer_row(r: TransferRecord) -> dict[str, Any]:
    return {
        "connection_id": r.connection_id,
        "kind": r.kind.value,
        "transfer_id": r.transfer_id,
        "asset": r.asset,
        "amount": r.amount,
        "fee": r.fee,
        "network": r.network,
        "status": r.status.value,
        "tx_id": r.tx_id,
        "address": r.address,
        "time_ms": r.time_ms,
    }


class SqlSyncStore:
    """The ``SyncStore`` port on an ``AsyncEngine`` (``Database.engine``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        # SQLite has one writer at a time: this process's writers take turns here instead of
        # contending in SQLite's busy handler (which gives up after its timeout)
        self._write_lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
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

    # -- the completeness ledger -------------------------------------------------------------
    async def cursors(self, connection_id: str) -> list[Cursor]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(CURSORS).where(CURSORS.c.connection_id == connection_id)
            )
            return [
                Cursor(
                    connection_id=r.connection_id,
                    dataset=Dataset(r.dataset),
                    market=r.market,
                    position=r.position,
                    synced_until_ms=r.synced_until_ms,
                    since_ms=r.since_ms,
                )
                for r in rows
            ]

    async def save_page(
        self, cursor: Cursor, records: Sequence[Record], gaps: Sequence[Gap] = ()
    ) -> None:
        trades = [_trade_row(r) for r in records if isinstance(r, TradeRecord)]
        orders = [_order_row(r) for r in records if isinstance(r, OrderRecord)]
        transfers = [_transfer_row(r) for r in records if isinstance(r, TransferRecord)]
        async with self._writing() as conn:
            if trades:
                await self._upsert(conn, TRADES, trades, update=False)
            if orders:
                await self._upsert(conn, ORDERS, orders, update=True)
            if transfers:
                await self._upsert(conn, TRANSFERS, transfers, update=True)
            if gaps:
                await self._upsert(
                    conn,
                    GAPS,
                    [
                        {
                            "connection_id": g.connection_id,
                            "dataset": g.dataset.value,
                            "market": g.market,
                            "start_ms": g.start_ms,
                            "end_ms": g.end_ms,
                            "reason": g.reason,
                        }
                        for g in gaps
                    ],
                    update=True,
                )
            await self._upsert(
                conn,
                CURSORS,
                [
                    {
                        "connection_id": cursor.connection_id,
                        "dataset": cursor.dataset.value,
                        "market": cursor.market,
                        "position": cursor.position,
                        "synced_until_ms": cursor.synced_until_ms,
                        "since_ms": cursor.since_ms,
                    }
                ],
                update=True,
            )

    async def gaps(self, connection_ids: Sequence[str]) -> list[Gap]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(GAPS)
                .where(GAPS.c.connection_id.in_(list(connection_ids)))
                .order_by(GAPS.c.connection_id, GAPS.c.dataset, GAPS.c.market, GAPS.c.start_ms)
            )
            return [
                Gap(r.connection_id, Dataset(r.dataset), r.market, r.start_ms, r.end_ms, r.reason)
                for r in rows
            ]

    async def known_assets(self, connection_id: str) -> frozenset[str]:
        async with self._engine.connect() as conn:
            symbols = await conn.scalars(
                select(TRADES.c.symbol).where(TRADES.c.connection_id == connection_id).distinct()
            )
            assets = {part for symbol in symbols for part in symbol.split("/")}
            found = await conn.scalars(
                select(TRANSFERS.c.asset)
                .where(TRANSFERS.c.connection_id == connection_id)
                .distinct()
            )
            assets.update(found)
            return frozenset(assets)

    async def counts(self, connection_id: str) -> dict[str, int]:
        async with self._engine.connect() as conn:
            out: dict[str, int] = {}
            for name, table in (("trades", TRADES), ("orders", ORDERS)):
                out[name] = int(
                    await conn.scalar(
                        select(func.count()).where(table.c.connection_id == connection_id)
                    )
                    or 0
                )
            for kind in TransferKind:
                out[kind.value + "s"] = int(
                    await conn.scalar(
                        select(func.count()).where(
                            TRANSFERS.c.connection_id == connection_id,
                            TRANSFERS.c.kind == kind.value,
                        )
                    )
                    or 0
                )
            return out

    # -- records -----------------------------------------------------------------------------
    def _filtered(
        self, table: Table, query: RecordQuery, time_col: str, part_col: str, id_col: str
    ) -> Any:
        time = table.c[time_col]
        conds: list[ColumnElement[bool]] = [table.c.connection_id.in_(query.connection_ids)]
        if query.since_ms is not None:
            conds.append(time >= query.since_ms)
        if query.until_ms is not None:
            conds.append(time < query.until_ms)
        if query.before is not None:
            conds.append(
                tuple_(time, table.c.connection_id, table.c[part_col], table.c[id_col])
                < tuple_(*query.before)
            )
        return (
            select(table)
            .where(and_(*conds))
            .order_by(
                time.desc(),
                table.c.connection_id.desc(),
                table.c[part_col].desc(),
                table.c[id_col].desc(),
            )
            .limit(query.limit)
        )

    async def trades(self, query: RecordQuery) -> list[TradeRecord]:
        stmt = self._filtered(TRADES, query, "time_ms", "symbol", "trade_id")
        if query.symbol is not None:
            stmt = stmt.where(TRADES.c.symbol == query.symbol)
        if query.asset is not None:
            stmt = stmt.where(
                or_(
                    TRADES.c.symbol.like(f"{_like(query.asset)}/%", escape="\\"),
                    TRADES.c.symbol.like(f"%/{_like(query.asset)}", escape="\\"),
                )
            )
        if query.side is not None:
            stmt = stmt.where(TRADES.c.side == query.side)
        async with self._engine.connect() as conn:
            return [
                TradeRecord(
                    r.connection_id,
                    r.symbol,
                    r.trade_id,
                    r.order_id,
                    Side(r.side),
                    r.price,
                    r.amount,
                    r.cost,
                    r.fee,
                    r.fee_asset,
                    r.maker,
                    r.time_ms,
                )
                for r in await conn.execute(stmt)
            ]

    async def orders(self, query: RecordQuery) -> list[OrderRecord]:
        stmt = self._filtered(ORDERS, query, "created_ms", "symbol", "order_id")
        if query.symbol is not None:
            stmt = stmt.where(ORDERS.c.symbol == query.symbol)
        if query.side is not None:
            stmt = stmt.where(ORDERS.c.side == query.side)
        if query.status is not None:
            stmt = stmt.where(ORDERS.c.status == query.status)
        async with self._engine.connect() as conn:
            return [
                OrderRecord(
                    r.connection_id,
                    r.symbol,
                    r.order_id,
                    r.client_order_id,
                    Side(r.side),
                    r.type,
                    OrderStatus(r.status),
                    r.time_in_force,
                    r.price,
                    r.amount,
                    r.filled,
                    r.cost,
                    r.created_ms,
                    r.updated_ms,
                )
                for r in await conn.execute(stmt)
            ]

    async def transfers(self, query: RecordQuery) -> list[TransferRecord]:
        stmt = self._filtered(TRANSFERS, query, "time_ms", "kind", "transfer_id")
        if query.asset is not None:
            stmt = stmt.where(TRANSFERS.c.asset == query.asset)
        if query.kind is not None:
            stmt = stmt.where(TRANSFERS.c.kind == query.kind)
        if query.status is not None:
            stmt = stmt.where(TRANSFERS.c.status == query.status)
        async with self._engine.connect() as conn:
            return [
                TransferRecord(
                    r.connection_id,
                    TransferKind(r.kind),
                    r.transfer_id,
                    r.asset,
                    r.amount,
                    r.fee,
                    r.network,
                    TransferStatus(r.status),
                    r.tx_id,
                    r.address,
                    r.time_ms,
                )
                for r in await conn.execute(stmt)
            ]

    # -- balances ----------------------------------------------------------------------------
    async def add_snapshot(self, valued: ValuedSnapshot) -> None:
        snap = valued.snapshot
        async with self._writing() as conn:
            await conn.execute(
                SNAPSHOTS.insert().values(
                    connection_id=snap.connection_id,
                    taken_ms=snap.taken_ms,
                    balances={
                        asset: [format(b.free, "f"), format(b.locked, "f")]
                        for asset, b in sorted(snap.balances.items())
                    },
                    quote=valued.quote,
                    prices={a: format(p, "f") for a, p in sorted(valued.prices.items())},
                )
            )

    @staticmethod
    def _valued(r: Any) -> ValuedSnapshot:
        return ValuedSnapshot(
            snapshot=BalanceSnapshot(
                r.connection_id,
                r.taken_ms,
                {
                    asset: AssetBalance(Decimal(free), Decimal(locked))
                    for asset, (free, locked) in r.balances.items()
                },
            ),
            quote=r.quote,
            prices={asset: Decimal(price) for asset, price in r.prices.items()},
        )

    async def latest_snapshots(self, connection_ids: Sequence[str]) -> dict[str, ValuedSnapshot]:
        latest = (
            select(SNAPSHOTS.c.connection_id, func.max(SNAPSHOTS.c.id).label("id"))
            .where(SNAPSHOTS.c.connection_id.in_(list(connection_ids)))
            .group_by(SNAPSHOTS.c.connection_id)
            .subquery()
        )
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(SNAPSHOTS).join(latest, SNAPSHOTS.c.id == latest.c.id))
            return {r.connection_id: self._valued(r) for r in rows}

    async def snapshot_history(
        self, connection_ids: Sequence[str], *, since_ms: int, until_ms: int
    ) -> list[ValuedSnapshot]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(SNAPSHOTS)
                .where(
                    SNAPSHOTS.c.connection_id.in_(list(connection_ids)),
                    SNAPSHOTS.c.taken_ms >= since_ms,
                    SNAPSHOTS.c.taken_ms < until_ms,
                )
                .order_by(SNAPSHOTS.c.taken_ms, SNAPSHOTS.c.id)
            )
            return [self._valued(r) for r in rows]

    async def snapshots_before(
        self, connection_ids: Sequence[str], *, before_ms: int
    ) -> dict[str, ValuedSnapshot]:
        latest = (
            select(SNAPSHOTS.c.connection_id, func.max(SNAPSHOTS.c.taken_ms).label("taken_ms"))
            .where(
                SNAPSHOTS.c.connection_id.in_(list(connection_ids)),
                SNAPSHOTS.c.taken_ms < before_ms,
            )
            .group_by(SNAPSHOTS.c.connection_id)
            .subquery()
        )
        stmt = (
            select(SNAPSHOTS)
            .join(
                latest,
                and_(
                    SNAPSHOTS.c.connection_id == latest.c.connection_id,
                    SNAPSHOTS.c.taken_ms == latest.c.taken_ms,
                ),
            )
            .order_by(SNAPSHOTS.c.id)
        )
        async with self._engine.connect() as conn:
            # two snapshots taken in the same millisecond: the later row wins
            return {r.connection_id: self._valued(r) for r in await conn.execute(stmt)}

    # -- the request log ---------------------------------------------------------------------
    async def add_calls(self, calls: Sequence[ExchangeCall]) -> None:
        if not calls:
            return
        rows = [
            {
                "at_ms": c.at_ms,
                "connection_id": c.connection_id,
                "venue": c.venue,
                "method": c.method,
                "path": c.path,
                "status": c.status,
                "latency_ms": c.latency_ms,
                "weight": c.weight,
                "error_code": c.error_code,
            }
            for c in calls
        ]
        async with self._writing() as conn:
            await conn.execute(CALLS.insert(), rows)

    async def calls(self, query: CallQuery) -> list[StoredCall]:
        conds: list[ColumnElement[bool]] = [CALLS.c.connection_id.in_(query.connection_ids)]
        if query.status is not None:
            conds.append(CALLS.c.status == query.status)
        if query.errors_only:
            conds.append(or_(CALLS.c.status.is_(None), CALLS.c.status >= 400))
        if query.method is not None:
            conds.append(CALLS.c.method == query.method.upper())
        if query.path_prefix is not None:
            conds.append(CALLS.c.path.like(f"{_like(query.path_prefix)}%", escape="\\"))
        if query.since_ms is not None:
            conds.append(CALLS.c.at_ms >= query.since_ms)
        if query.until_ms is not None:
            conds.append(CALLS.c.at_ms < query.until_ms)
        if query.before is not None:
            conds.append(CALLS.c.id < query.before)
        stmt = select(CALLS).where(and_(*conds)).order_by(CALLS.c.id.desc()).limit(query.limit)
        async with self._engine.connect() as conn:
            return [
                StoredCall(
                    r.id,
                    ExchangeCall(
                        r.at_ms,
                        r.connection_id,
                        r.venue,
                        r.method,
                        r.path,
                        r.status,
                        r.latency_ms,
                        r.weight,
                        r.error_code,
                    ),
                )
                for r in await conn.execute(stmt)
            ]

    async def purge_calls(self, before_ms: int) -> int:
        async with self._writing() as conn:
            result = await conn.execute(delete(CALLS).where(CALLS.c.at_ms < before_ms))
            return int(result.rowcount or 0)

    # -- sync state and leases ---------------------------------------------------------------
    @staticmethod
    def _state(r: Any) -> SyncState:
        return SyncState(
            connection_id=r.connection_id,
            balance_interval_s=r.balance_interval_s,
            backfill_days=r.backfill_days,
            last_attempt_ms=r.last_attempt_ms,
            last_success_ms=r.last_success_ms,
            failures=r.failures,
            last_error_code=r.last_error_code,
            last_error_message=r.last_error_message,
            paused_until_ms=r.paused_until_ms,
            stale_alerted=r.stale_alerted,
            lease_owner=r.lease_owner,
            lease_until_ms=r.lease_until_ms,
            next_balance_ms=r.next_balance_ms,
            next_history_ms=r.next_history_ms,
        )

    async def state(self, connection_id: str) -> SyncState | None:
        return (await self.states([connection_id])).get(connection_id)

    async def states(self, connection_ids: Sequence[str]) -> dict[str, SyncState]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(STATE).where(STATE.c.connection_id.in_(list(connection_ids)))
            )
            return {r.connection_id: self._state(r) for r in rows}

    async def save_state(self, state: SyncState) -> None:
        """Save everything but the lease (``claim``/``release`` own it)."""
        row = {
            "connection_id": state.connection_id,
            "balance_interval_s": state.balance_interval_s,
            "backfill_days": state.backfill_days,
            "last_attempt_ms": state.last_attempt_ms,
            "last_success_ms": state.last_success_ms,
            "failures": state.failures,
            "last_error_code": state.last_error_code,
            "last_error_message": state.last_error_message,
            "paused_until_ms": state.paused_until_ms,
            "stale_alerted": state.stale_alerted,
            "next_balance_ms": state.next_balance_ms,
            "next_history_ms": state.next_history_ms,
        }
        stmt = self._insert(STATE).values(**row, lease_owner=None, lease_until_ms=None)
        stmt = stmt.on_conflict_do_update(
            index_elements=["connection_id"],
            set_={name: stmt.excluded[name] for name in row if name != "connection_id"},
        )
        async with self._writing() as conn:
            await conn.execute(stmt)

    async def claim(self, connection_id: str, owner: str, *, now_ms: int, until_ms: int) -> bool:
        stmt = (
            update(STATE)
            .where(
                STATE.c.connection_id == connection_id,
                or_(
                    STATE.c.lease_owner.is_(None),
                    STATE.c.lease_owner == owner,
                    STATE.c.lease_until_ms < now_ms,
                ),
            )
            .values(lease_owner=owner, lease_until_ms=until_ms)
        )
        async with self._writing() as conn:
            result = await conn.execute(stmt)
            return bool(result.rowcount)

    async def release(self, connection_id: str, owner: str) -> None:
        async with self._writing() as conn:
            await conn.execute(
                update(STATE)
                .where(STATE.c.connection_id == connection_id, STATE.c.lease_owner == owner)
                .values(lease_owner=None, lease_until_ms=None)
            )

    async def due(self, now_ms: int, *, limit: int) -> list[str]:
        stmt = (
            select(STATE.c.connection_id)
            .where(
                or_(STATE.c.next_balance_ms <= now_ms, STATE.c.next_history_ms <= now_ms),
                or_(STATE.c.paused_until_ms.is_(None), STATE.c.paused_until_ms <= now_ms),
                or_(STATE.c.lease_until_ms.is_(None), STATE.c.lease_until_ms < now_ms),
            )
            .order_by(func.min(STATE.c.next_balance_ms, STATE.c.next_history_ms))
            .limit(limit)
        )
        if self._dialect == "postgresql":
            stmt = stmt.order_by(None).order_by(
                func.least(STATE.c.next_balance_ms, STATE.c.next_history_ms)
            )
        async with self._engine.connect() as conn:
            return list(await conn.scalars(stmt))

    # -- events ------------------------------------------------------------------------------
    async def add_event(self, event: Event) -> None:
        async with self._writing() as conn:
            await conn.execute(
                EVENTS.insert().values(
                    user_id=event.user_id,
                    connection_id=event.connection_id,
                    at_ms=event.at_ms,
                    kind=event.kind.value,
                    severity=event.severity.value,
                    message=event.message,
                    details=event.details,
                )
            )

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
                    user_id=r.user_id,
                    connection_id=r.connection_id,
                    at_ms=r.at_ms,
                    kind=EventKind(r.kind),
                    severity=Severity(r.severity),
                    message=r.message,
                    details=dict(r.details),
                    id=r.id,
                )
                for r in await conn.execute(stmt)
            ]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
