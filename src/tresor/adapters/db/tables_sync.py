"""The sync engine's tables: the synced records, the completeness ledger, balance snapshots,
the request log, sync state and events.

Times here are epoch milliseconds (``BigInteger``), as exchanges give them: records are written
in bulk and compared with exchange ids and times, never shown without formatting. Amounts are
``Money``: ``Numeric(38, 18)`` on PostgreSQL, the exact decimal text on SQLite (which has no
decimal type: its NUMERIC would round through float).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from tresor.adapters.db.tables import Base
from tresor.adapters.db.types import Money


def _connection() -> Mapped[str]:
    return mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True)


class TradeRow(Base):
    __tablename__ = "trades"
    # by symbol, then time: a page (one symbol's rows) is written into one stretch of the index;
    # listings merge the symbols' newest rows (``sync_store``)
    __table_args__ = (
        Index("ix_trades_connection_symbol_time", "connection_id", "symbol", "time_ms"),
    )

    connection_id: Mapped[str] = _connection()
    symbol: Mapped[str] = mapped_column(primary_key=True)
    trade_id: Mapped[str] = mapped_column(primary_key=True)
    order_id: Mapped[str | None]
    side: Mapped[str]
    price: Mapped[Decimal] = mapped_column(Money())
    amount: Mapped[Decimal] = mapped_column(Money())
    cost: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money())
    fee_asset: Mapped[str | None]
    maker: Mapped[bool]
    time_ms: Mapped[int] = mapped_column(BigInteger)


class OrderRow(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_connection_symbol_time", "connection_id", "symbol", "created_ms"),
    )

    connection_id: Mapped[str] = _connection()
    symbol: Mapped[str] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(primary_key=True)
    client_order_id: Mapped[str | None]
    side: Mapped[str]
    type: Mapped[str]
    status: Mapped[str]
    time_in_force: Mapped[str | None]
    price: Mapped[Decimal | None] = mapped_column(Money())
    amount: Mapped[Decimal] = mapped_column(Money())
    filled: Mapped[Decimal] = mapped_column(Money())
    cost: Mapped[Decimal] = mapped_column(Money())
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class TransferRow(Base):
    __tablename__ = "transfers"
    __table_args__ = (Index("ix_transfers_connection_time", "connection_id", "time_ms"),)

    connection_id: Mapped[str] = _connection()
    kind: Mapped[str] = mapped_column(primary_key=True)
    transfer_id: Mapped[str] = mapped_column(primary_key=True)
    asset: Mapped[str]
    amount: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money())
    network: Mapped[str | None]
    status: Mapped[str]
    tx_id: Mapped[str | None]
    address: Mapped[str | None]
    time_ms: Mapped[int] = mapped_column(BigInteger)


class SyncCursorRow(Base):
    """Where the sync of one (connection, dataset, market) stands: the completeness ledger."""

    __tablename__ = "sync_cursors"

    connection_id: Mapped[str] = _connection()
    dataset: Mapped[str] = mapped_column(primary_key=True)
    market: Mapped[str] = mapped_column(primary_key=True)
    position: Mapped[str | None]
    synced_until_ms: Mapped[int] = mapped_column(BigInteger)
    since_ms: Mapped[int] = mapped_column(BigInteger)


class RecordVersionRow(Base):
    """A token that changes with every write of a connection's records (trades, orders,
    transfers), in that write's own transaction: a listing read once is kept by the tokens of
    its connections (``PortfolioService``) and is read again when one of them changes."""

    __tablename__ = "record_versions"

    connection_id: Mapped[str] = _connection()
    version: Mapped[int] = mapped_column(BigInteger)


class SyncGapRow(Base):
    """Data the exchange no longer keeps (its retention limits), shown to the user."""

    __tablename__ = "sync_gaps"

    connection_id: Mapped[str] = _connection()
    dataset: Mapped[str] = mapped_column(primary_key=True)
    market: Mapped[str] = mapped_column(primary_key=True)
    start_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str]


class BalanceSnapshotRow(Base):
    """Balances at one instant (``{asset: [free, locked]}`` as decimal strings) and the prices
    they were valued at then (``{asset: price}`` in ``quote``)."""

    __tablename__ = "balance_snapshots"
    __table_args__ = (Index("ix_balance_snapshots_connection_taken", "connection_id", "taken_ms"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    taken_ms: Mapped[int] = mapped_column(BigInteger)
    balances: Mapped[dict[str, list[str]]] = mapped_column(JSON)
    quote: Mapped[str]
    prices: Mapped[dict[str, str]] = mapped_column(JSON)


class ExchangeCallRow(Base):
    """The request log: one row per exchange request (no signature, key or body)."""

    __tablename__ = "exchange_calls"
    __table_args__ = (
        Index("ix_exchange_calls_connection_id", "connection_id", "id"),
        Index("ix_exchange_calls_at_ms", "at_ms"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    at_ms: Mapped[int] = mapped_column(BigInteger)
    connection_id: Mapped[str | None]
    venue: Mapped[str]
    method: Mapped[str]
    path: Mapped[str]
    status: Mapped[int | None]
    latency_ms: Mapped[float] = mapped_column(Float())
    weight: Mapped[int]
    error_code: Mapped[str | None]


class SyncStateRow(Base):
    """A connection's sync settings, health and lease (which worker holds it, until when)."""

    __tablename__ = "sync_state"

    connection_id: Mapped[str] = _connection()
    balance_interval_s: Mapped[int]
    backfill_days: Mapped[int]
    last_attempt_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_success_ms: Mapped[int | None] = mapped_column(BigInteger)
    failures: Mapped[int]
    last_error_code: Mapped[str | None]
    last_error_message: Mapped[str | None]
    paused_until_ms: Mapped[int | None] = mapped_column(BigInteger)
    stale_alerted: Mapped[bool]
    lease_owner: Mapped[str | None]
    lease_until_ms: Mapped[int | None] = mapped_column(BigInteger)
    next_balance_ms: Mapped[int] = mapped_column(BigInteger)
    next_history_ms: Mapped[int] = mapped_column(BigInteger)


class EventRow(Base):
    """Something a user should know: alerts (sync failing, stale data) and status changes."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_user_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    connection_id: Mapped[str | None]
    at_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str]
    severity: Mapped[str]
    message: Mapped[str]
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
