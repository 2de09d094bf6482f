"""The synced records as rows for the sync store's bulk writes: tuples of driver values, in
the column order of each table's ``*_COLUMNS`` (``sql_base`` writes them with ``executemany``).

Hot: this runs once per row of a backfill (50,000 trades and 30,000 orders for a busy
90-day account), so each kind is one comprehension, and enum values are looked up
in dicts (an enum's ``.value`` is a property, slower than the lookup).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from tresor.adapters.db.sql_base import Row
from tresor.domain.records import (
    OrderRecord,
    OrderStatus,
    Record,
    Side,
    TradeRecord,
    TransferKind,
    TransferRecord,
    TransferStatus,
)

# the columns of each bulk write, in the order of the tuples built for it
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


_SIDES = {side: side.value for side in Side}
_ORDER_STATUSES = {status: status.value for status in OrderStatus}
_TRANSFER_KINDS = {kind: kind.value for kind in TransferKind}
_TRANSFER_STATUSES = {status: status.value for status in TransferStatus}


def _as_text(amount: Decimal) -> str:
    return format(amount, "f")


def _as_is(amount: Decimal) -> Decimal:
    return amount


def driver_rows(
    records: Sequence[Record], *, money_as_text: bool
) -> tuple[list[Row], list[Row], list[Row]]:
    """Trades, orders and transfers as tuples of driver values in ``*_COLUMNS`` order. Money
    is exact decimal text for SQLite (``money_as_text``: what the ``Money`` type writes there),
    the Decimal itself for PostgreSQL's NUMERIC."""
    side, order_status = _SIDES, _ORDER_STATUSES
    kind, transfer_status = _TRANSFER_KINDS, _TRANSFER_STATUSES
    money: Callable[[Decimal], object] = _as_text if money_as_text else _as_is
    trades: list[Row] = [
        (
            r.connection_id,
            r.symbol,
            r.trade_id,
            r.order_id,
            side[r.side],
            money(r.price),
            money(r.amount),
            money(r.cost),
            money(r.fee),
            r.fee_asset,
            r.maker,
            r.time_ms,
        )
        for r in records
        if type(r) is TradeRecord
    ]
    orders: list[Row] = [
        (
            r.connection_id,
            r.symbol,
            r.order_id,
            r.client_order_id,
            side[r.side],
            r.type,
            order_status[r.status],
            r.time_in_force,
            None if r.price is None else money(r.price),
            money(r.amount),
            money(r.filled),
            money(r.cost),
            r.created_ms,
            r.updated_ms,
        )
        for r in records
        if type(r) is OrderRecord
    ]
    transfers: list[Row] = [
        (
            r.connection_id,
            kind[r.kind],
            r.transfer_id,
            r.asset,
            money(r.amount),
            money(r.fee),
            r.network,
            transfer_status[r.status],
            r.tx_id,
            r.address,
            r.time_ms,
        )
        for r in records
        if type(r) is TransferRecord
    ]
    return trades, orders, transfers
