"""The synced records as rows for the sync store's bulk writes: tuples of driver values, in
the column order of each table's ``*_COLUMNS`` (``sql_base`` writes them with ``executemany``).

A history page's records come in flat form already (``domain.records.FlatRecords``: the same
columns, money as exact decimal text, which SQLite stores and asyncpg reads into NUMERIC), and
are written as they are. ``driver_rows`` is for records learnt outside a sync (an order Tresor
placed, its fills): one comprehension per kind and money type (SQLite's text, written inline;
PostgreSQL's Decimal, as it is), enum values looked up in dicts (an enum's ``.value`` is a
property, slower than the lookup).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

from sqlalchemy import Table

from tresor.adapters.db.sql_base import Row, Upsert
from tresor.adapters.db.tables_sync import RecordVersionRow
from tresor.domain.records import (
    OrderRecord,
    OrderStatus,
    Record,
    Side,
    TradeRecord,
    TransferKind,
    TransferRecord,
    TransferStatus,
    money_text,
)

# the columns of each bulk write, in the order of the tuples built for it: the records' fields
# in order, as their flat form (``domain.records.FlatRecords``) has them (checked below)
TRADE_COLUMNS = (
    "connection_id",
    "symbol",
    "trade_id",
    "order_id",
    "side",
    "price",
    "amount",
    "cost",
    "fee",
    "fee_asset",
    "maker",
    "time_ms",
)
ORDER_COLUMNS = (
    "connection_id",
    "symbol",
    "order_id",
    "client_order_id",
    "side",
    "type",
    "status",
    "time_in_force",
    "price",
    "amount",
    "filled",
    "cost",
    "created_ms",
    "updated_ms",
)
TRANSFER_COLUMNS = (
    "connection_id",
    "kind",
    "transfer_id",
    "asset",
    "amount",
    "fee",
    "network",
    "status",
    "tx_id",
    "address",
    "time_ms",
)
GAP_COLUMNS = ("connection_id", "dataset", "market", "start_ms", "end_ms", "reason")
CURSOR_COLUMNS = (
    "connection_id",
    "dataset",
    "market",
    "position",
    "synced_until_ms",
    "since_ms",
)

for _record, _columns in (
    (TradeRecord, TRADE_COLUMNS),
    (OrderRecord, ORDER_COLUMNS),
    (TransferRecord, TRANSFER_COLUMNS),
):
    if tuple(f.name for f in dataclasses.fields(_record)) != _columns:  # pragma: no cover
        raise TypeError(f"{_record.__name__}'s fields are not the columns {_columns}")

_SIDES = {side: side.value for side in Side}
_ORDER_STATUSES = {status: status.value for status in OrderStatus}
_TRANSFER_KINDS = {kind: kind.value for kind in TransferKind}
_TRANSFER_STATUSES = {status: status.value for status in TransferStatus}


# exact decimal text, never in exponent form (what ``Money`` writes on SQLite); the trade and
# order rows below inline it
_as_text = money_text


def _as_is(amount: Decimal) -> Decimal:
    return amount


def driver_rows(
    records: Sequence[Record], *, money_as_text: bool
) -> tuple[list[Row], list[Row], list[Row]]:
    """Trades, orders and transfers as tuples of driver values in ``*_COLUMNS`` order. Money
    is exact decimal text for SQLite (``money_as_text``: what the ``Money`` type writes there),
    the Decimal itself for PostgreSQL's NUMERIC."""
    if money_as_text:
        trades, orders = _trades_as_text(records), _orders_as_text(records)
    else:
        trades, orders = _trades(records), _orders(records)
    kind, status = _TRANSFER_KINDS, _TRANSFER_STATUSES
    money: Callable[[Decimal], object] = _as_text if money_as_text else _as_is
    transfers: list[Row] = [
        (
            r.connection_id,
            kind[r.kind],
            r.transfer_id,
            r.asset,
            money(r.amount),
            money(r.fee),
            r.network,
            status[r.status],
            r.tx_id,
            r.address,
            r.time_ms,
        )
        for r in records
        if type(r) is TransferRecord
    ]
    return trades, orders, transfers


def _trades(records: Sequence[Record]) -> list[Row]:
    side = _SIDES
    return [
        (
            r.connection_id,
            r.symbol,
            r.trade_id,
            r.order_id,
            side[r.side],
            r.price,
            r.amount,
            r.cost,
            r.fee,
            r.fee_asset,
            r.maker,
            r.time_ms,
        )
        for r in records
        if type(r) is TradeRecord
    ]


def _trades_as_text(records: Sequence[Record]) -> list[Row]:
    side = _SIDES
    return [
        (
            r.connection_id,
            r.symbol,
            r.trade_id,
            r.order_id,
            side[r.side],
            p if "E" not in (p := str(r.price)) else format(r.price, "f"),
            a if "E" not in (a := str(r.amount)) else format(r.amount, "f"),
            c if "E" not in (c := str(r.cost)) else format(r.cost, "f"),
            f if "E" not in (f := str(r.fee)) else format(r.fee, "f"),
            r.fee_asset,
            r.maker,
            r.time_ms,
        )
        for r in records
        if type(r) is TradeRecord
    ]


def _orders(records: Sequence[Record]) -> list[Row]:
    side, status = _SIDES, _ORDER_STATUSES
    return [
        (
            r.connection_id,
            r.symbol,
            r.order_id,
            r.client_order_id,
            side[r.side],
            r.type,
            status[r.status],
            r.time_in_force,
            r.price,
            r.amount,
            r.filled,
            r.cost,
            r.created_ms,
            r.updated_ms,
        )
        for r in records
        if type(r) is OrderRecord
    ]


def _orders_as_text(records: Sequence[Record]) -> list[Row]:
    side, status = _SIDES, _ORDER_STATUSES
    return [
        (
            r.connection_id,
            r.symbol,
            r.order_id,
            r.client_order_id,
            side[r.side],
            r.type,
            status[r.status],
            r.time_in_force,
            None if r.price is None else _as_text(r.price),
            a if "E" not in (a := str(r.amount)) else format(r.amount, "f"),
            f if "E" not in (f := str(r.filled)) else format(r.filled, "f"),
            c if "E" not in (c := str(r.cost)) else format(r.cost, "f"),
            r.created_ms,
            r.updated_ms,
        )
        for r in records
        if type(r) is OrderRecord
    ]


VERSIONS: Table = RecordVersionRow.__table__  # type: ignore[assignment]
VERSION_COLUMNS = ("connection_id", "version")


def new_versions(connection_ids: Iterable[str]) -> Upsert:
    """A new random version token for each of ``connection_ids``, to go in the same write as
    their records (trades, orders, transfers): the listings kept by these tokens
    (``PortfolioService``) are read again. Every write of those tables carries one."""
    rows = [(cid, secrets.randbits(63)) for cid in sorted(set(connection_ids))]
    return Upsert(VERSIONS, VERSION_COLUMNS, rows, update=True)
