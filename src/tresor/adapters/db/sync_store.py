"""``SqlSyncStore``: the ``SyncStore`` port on SQLite and PostgreSQL, in SQLAlchemy Core.

Bulk writes skip the ORM and SQLAlchemy's compiler: a page of a backfill (its records in flat
form, already the driver's rows) is one driver ``executemany`` per table of a plain
``INSERT ... ON CONFLICT`` (do nothing for trades, which never change; update for orders and
transfers, whose status does) plus the cursor's upsert, in one transaction (``sql_base``; on
SQLite on the store's own connection). Listing is keyset-paginated on
(time, connection, market or kind, id), newest first; trades and orders are indexed by
(connection, symbol, time), so their listings merge each symbol's newest rows
(``listings.newest_per_symbol``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from tresor.adapters.db.listings import ORDER_FILTERS, TRADE_FILTERS, newest_per_symbol
from tresor.adapters.db.read_store import SqlReadStore
from tresor.adapters.db.sql_base import Upsert, like_escaped
from tresor.adapters.db.sync_rows import (
    CURSOR_COLUMNS,
    GAP_COLUMNS,
    ORDER_COLUMNS,
    TRADE_COLUMNS,
    TRANSFER_COLUMNS,
    driver_rows,
    new_versions,
)
from tresor.adapters.db.tables import ConnectionRow
from tresor.adapters.db.tables_sync import (
    BalanceSnapshotRow,
    OrderRow,
    SyncCursorRow,
    SyncGapRow,
    TradeRow,
    TransferRow,
)
from tresor.domain.records import (
    AssetBalance,
    BalanceSnapshot,
    Cursor,
    Dataset,
    FlatRecords,
    Gap,
    OrderRecord,
    OrderStatus,
    Record,
    RecordQuery,
    Side,
    TradeRecord,
    TransferKind,
    TransferRecord,
    TransferStatus,
    ValuedSnapshot,
)

TRADES: Table = TradeRow.__table__  # type: ignore[assignment]
ORDERS: Table = OrderRow.__table__  # type: ignore[assignment]
TRANSFERS: Table = TransferRow.__table__  # type: ignore[assignment]
CURSORS: Table = SyncCursorRow.__table__  # type: ignore[assignment]
GAPS: Table = SyncGapRow.__table__  # type: ignore[assignment]
SNAPSHOTS: Table = BalanceSnapshotRow.__table__  # type: ignore[assignment]
CONNECTIONS: Table = ConnectionRow.__table__  # type: ignore[assignment]


class SqlSyncStore(SqlReadStore):
    """The ``SyncStore`` port on an ``AsyncEngine`` (``Database.engine``): the synced data
    here, the request log, sync state and events in ``SqlActivityStore``, the read side's hot
    statements in ``SqlReadStore``."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        # the listing statements, by table and the filters they have (``_per_symbol``)
        self._listings: dict[tuple[str, frozenset[str]], Any] = {}

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
        self, cursor: Cursor, records: FlatRecords, gaps: Sequence[Gap] = ()
    ) -> None:
        """The page's records (trades kept as first written, orders and transfers replaced),
        its gaps and the cursor, in one transaction, with a new version token for the
        connection's records if there are any (``record_versions``). The flat records are the
        driver's rows as they are (their columns are the records' fields, in order; money as
        exact decimal text, which is what SQLite stores and what asyncpg reads into
        NUMERIC)."""
        written = records.trades or records.orders or records.transfers
        await self._bulk_write(
            [
                Upsert(TRADES, TRADE_COLUMNS, records.trades, update=False),
                Upsert(ORDERS, ORDER_COLUMNS, records.orders, update=True),
                Upsert(TRANSFERS, TRANSFER_COLUMNS, records.transfers, update=True),
                Upsert(
                    GAPS,
                    GAP_COLUMNS,
                    [
                        (g.connection_id, g.dataset.value, g.market, g.start_ms, g.end_ms, g.reason)
                        for g in gaps
                    ],
                    update=True,
                ),
                new_versions([cursor.connection_id] if written else []),
                # last: a cursor never gets ahead of the records it stands for
                Upsert(
                    CURSORS,
                    CURSOR_COLUMNS,
                    [
                        (
                            cursor.connection_id,
                            cursor.dataset.value,
                            cursor.market,
                            cursor.position,
                            cursor.synced_until_ms,
                            cursor.since_ms,
                        )
                    ],
                    update=True,
                ),
            ],
            own_connection=True,
        )

    async def save_records(self, records: Sequence[Record]) -> None:
        """Records learnt outside a sync (an order Tresor placed, its fills): upserted as a
        page's are, no cursor moved."""
        trades, orders, transfers = driver_rows(records, money_as_text=self._money_as_text)
        await self._bulk_write(
            [
                Upsert(TRADES, TRADE_COLUMNS, trades, update=False),
                Upsert(ORDERS, ORDER_COLUMNS, orders, update=True),
                Upsert(TRANSFERS, TRANSFER_COLUMNS, transfers, update=True),
                new_versions(r.connection_id for r in records),
            ]
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
        shape, stmt, params = self._per_symbol(TRADES, query, TRADE_FILTERS)
        rows = await self._table_rows(TRADES, shape, stmt, params, "ids")
        return [TradeRecord(**{**r, "side": Side(r["side"])}) for r in rows]

    async def orders(self, query: RecordQuery) -> list[OrderRecord]:
        shape, stmt, params = self._per_symbol(ORDERS, query, ORDER_FILTERS)
        rows = await self._table_rows(ORDERS, shape, stmt, params, "ids")
        return [
            OrderRecord(**{**r, "side": Side(r["side"]), "status": OrderStatus(r["status"])})
            for r in rows
        ]

    def _per_symbol(
        self, table: Table, query: RecordQuery, filters: frozenset[str]
    ) -> tuple[tuple[str, frozenset[str]], Any, dict[str, Any]]:
        """The listing statement for ``query`` (the statement of its filters, built once:
        building it costs more than running it), its shape and its parameters; run on the
        driver (``SqlReadStore._table_rows``)."""
        params: dict[str, Any] = {
            "ids": list(query.connection_ids),
            "n": query.limit,
            "skip": query.limit - 1,
        }
        for name, value in (
            ("since", query.since_ms),
            ("until", query.until_ms),
            ("side", query.side),
            ("status", query.status),
            ("symbol", query.symbol),
        ):
            if value is not None and name in filters:
                params[name] = value
        if query.asset is not None and "asset" in filters:
            asset = like_escaped(query.asset)
            params.update(base=f"{asset}/%", quote=f"%/{asset}")
        if query.before is not None:
            params.update(zip(("at", "connection", "part", "key"), query.before, strict=True))
        shape = (table.name, frozenset(params))
        stmt = self._listings.get(shape)
        if stmt is None:
            stmt = self._listings[shape] = newest_per_symbol(table, shape[1], self._dialect)
        return shape, stmt, params

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
                    **{
                        **r._mapping,
                        "kind": TransferKind(r.kind),
                        "status": TransferStatus(r.status),
                    }
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
        # each connection's newest snapshot by a LIMIT 1 descent of (connection_id, taken_ms):
        # a GROUP BY over every snapshot ever stored grew with the history (docs/benchmarks.md)
        connections = ConnectionRow.__table__
        newest = (
            select(SNAPSHOTS.c.id)
            .where(SNAPSHOTS.c.connection_id == connections.c.id)
            .order_by(SNAPSHOTS.c.taken_ms.desc(), SNAPSHOTS.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        ids = select(newest).where(connections.c.id.in_(list(connection_ids)))
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(SNAPSHOTS).where(SNAPSHOTS.c.id.in_(ids)))
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
