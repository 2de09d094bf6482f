"""Synced trades and orders are indexed by (connection, symbol, time) instead of (connection,
time): a page of a backfill (one symbol's rows, in time order) then lands in one stretch of the
index instead of one leaf page per row among the other symbols' rows, which had cost about
2 µs of SQLite's work per stored trade or order (docs/benchmarks.md). Listings take the newest
rows of each symbol from it and merge them (``SqlSyncStore.trades`` and ``orders``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_trades_connection_time", table_name="trades")
    op.create_index(
        "ix_trades_connection_symbol_time", "trades", ["connection_id", "symbol", "time_ms"]
    )
    op.drop_index("ix_orders_connection_time", table_name="orders")
    op.create_index(
        "ix_orders_connection_symbol_time", "orders", ["connection_id", "symbol", "created_ms"]
    )


def downgrade() -> None:
    op.drop_index("ix_orders_connection_symbol_time", table_name="orders")
    op.create_index("ix_orders_connection_time", "orders", ["connection_id", "created_ms"])
    op.drop_index("ix_trades_connection_symbol_time", table_name="trades")
    op.create_index("ix_trades_connection_time", "trades", ["connection_id", "time_ms"])
