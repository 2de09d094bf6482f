"""The sync engine: synced trades, orders and transfers, the completeness ledger (cursors and
gaps), balance snapshots, the request log, sync state and events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _money(name: str, *, nullable: bool = False) -> sa.Column[object]:
    """``tables_sync.Money``: NUMERIC(38, 18), exact decimal text on SQLite."""
    return sa.Column(
        name, sa.Numeric(38, 18).with_variant(sa.String(), "sqlite"), nullable=nullable
    )


def _ms(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _serial() -> sa.Column[object]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def _owner(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["connection_id"],
        ["connections.id"],
        name=f"fk_{table}_connection_id_connections",
        ondelete="CASCADE",
    )


def _text(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "trades",
        _text("connection_id"),
        _text("symbol"),
        _text("trade_id"),
        _text("order_id", nullable=True),
        _text("side"),
        _money("price"),
        _money("amount"),
        _money("cost"),
        _money("fee"),
        _text("fee_asset", nullable=True),
        sa.Column("maker", sa.Boolean(), nullable=False),
        _ms("time_ms"),
        _owner("trades"),
        sa.PrimaryKeyConstraint("connection_id", "symbol", "trade_id", name="pk_trades"),
    )
    op.create_index("ix_trades_connection_time", "trades", ["connection_id", "time_ms"])

    op.create_table(
        "orders",
        _text("connection_id"),
        _text("symbol"),
        _text("order_id"),
        _text("client_order_id", nullable=True),
        _text("side"),
        _text("type"),
        _text("status"),
        _text("time_in_force", nullable=True),
        _money("price", nullable=True),
        _money("amount"),
        _money("filled"),
        _money("cost"),
        _ms("created_ms"),
        _ms("updated_ms"),
        _owner("orders"),
        sa.PrimaryKeyConstraint("connection_id", "symbol", "order_id", name="pk_orders"),
    )
    op.create_index("ix_orders_connection_time", "orders", ["connection_id", "created_ms"])

    op.create_table(
        "transfers",
        _text("connection_id"),
        _text("kind"),
        _text("transfer_id"),
        _text("asset"),
        _money("amount"),
        _money("fee"),
        _text("network", nullable=True),
        _text("status"),
        _text("tx_id", nullable=True),
        _text("address", nullable=True),
        _ms("time_ms"),
        _owner("transfers"),
        sa.PrimaryKeyConstraint("connection_id", "kind", "transfer_id", name="pk_transfers"),
    )
    op.create_index("ix_transfers_connection_time", "transfers", ["connection_id", "time_ms"])

    op.create_table(
        "sync_cursors",
        _text("connection_id"),
        _text("dataset"),
        _text("market"),
        _text("position", nullable=True),
        _ms("synced_until_ms"),
        _ms("since_ms"),
        _owner("sync_cursors"),
        sa.PrimaryKeyConstraint("connection_id", "dataset", "market", name="pk_sync_cursors"),
    )

    op.create_table(
        "sync_gaps",
        _text("connection_id"),
        _text("dataset"),
        _text("market"),
        _ms("start_ms"),
        _ms("end_ms"),
        _text("reason"),
        _owner("sync_gaps"),
        sa.PrimaryKeyConstraint(
            "connection_id", "dataset", "market", "start_ms", name="pk_sync_gaps"
        ),
    )

    op.create_table(
        "balance_snapshots",
        _serial(),
        _text("connection_id"),
        _ms("taken_ms"),
        sa.Column("balances", sa.JSON(), nullable=False),
        _text("quote"),
        sa.Column("prices", sa.JSON(), nullable=False),
        _owner("balance_snapshots"),
        sa.PrimaryKeyConstraint("id", name="pk_balance_snapshots"),
    )
    op.create_index(
        "ix_balance_snapshots_connection_taken",
        "balance_snapshots",
        ["connection_id", "taken_ms"],
    )

    op.create_table(
        "exchange_calls",
        _serial(),
        _ms("at_ms"),
        _text("connection_id", nullable=True),
        _text("venue"),
        _text("method"),
        _text("path"),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        _text("error_code", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_exchange_calls"),
    )
    op.create_index("ix_exchange_calls_connection_id", "exchange_calls", ["connection_id", "id"])
    op.create_index("ix_exchange_calls_at_ms", "exchange_calls", ["at_ms"])

    op.create_table(
        "sync_state",
        _text("connection_id"),
        sa.Column("balance_interval_s", sa.Integer(), nullable=False),
        sa.Column("backfill_days", sa.Integer(), nullable=False),
        _ms("last_attempt_ms", nullable=True),
        _ms("last_success_ms", nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        _text("last_error_code", nullable=True),
        _text("last_error_message", nullable=True),
        _ms("paused_until_ms", nullable=True),
        sa.Column("stale_alerted", sa.Boolean(), nullable=False),
        _text("lease_owner", nullable=True),
        _ms("lease_until_ms", nullable=True),
        _ms("next_balance_ms"),
        _ms("next_history_ms"),
        _owner("sync_state"),
        sa.PrimaryKeyConstraint("connection_id", name="pk_sync_state"),
    )

    op.create_table(
        "events",
        _serial(),
        _text("user_id"),
        _text("connection_id", nullable=True),
        _ms("at_ms"),
        _text("kind"),
        _text("severity"),
        _text("message"),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_events_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_user_id", "events", ["user_id", "id"])


def downgrade() -> None:
    for table in (
        "events",
        "sync_state",
        "exchange_calls",
        "balance_snapshots",
        "sync_gaps",
        "sync_cursors",
        "transfers",
        "orders",
        "trades",
    ):
        op.drop_table(table)
