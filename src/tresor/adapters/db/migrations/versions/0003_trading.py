"""Trading: orders placed through Tresor and the Idempotency-Keys of their requests.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _money(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(
        name, sa.Numeric(38, 18).with_variant(sa.String(), "sqlite"), nullable=nullable
    )


def _ms(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _text(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        _text("user_id"),
        _text("key"),
        _text("fingerprint"),
        sa.Column("done", sa.Boolean(), nullable=False),
        _ms("locked_until_ms"),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=True),
        _text("resource_id", nullable=True),
        _ms("created_ms"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_idempotency_keys_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_ms"])

    op.create_table(
        "placed_orders",
        _text("id"),
        _text("user_id"),
        _text("connection_id"),
        _text("symbol"),
        _text("side"),
        _text("type"),
        _money("amount"),
        _money("price", nullable=True),
        _text("time_in_force", nullable=True),
        _text("client_order_id", nullable=True),
        _text("exchange_client_id"),
        _text("state"),
        _text("exchange_order_id", nullable=True),
        _money("filled"),
        _money("cost"),
        _money("average", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ms("sent_ms", nullable=True),
        _ms("checked_ms", nullable=True),
        _text("error_code", nullable=True),
        _text("error_message", nullable=True),
        _text("source"),
        _ms("created_ms"),
        _ms("updated_ms"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_placed_orders_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name="fk_placed_orders_connection_id_connections",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_placed_orders"),
        sa.UniqueConstraint("exchange_client_id", name="uq_placed_orders_exchange_client_id"),
    )
    op.create_index("ix_placed_orders_user_created", "placed_orders", ["user_id", "created_ms"])
    op.create_index("ix_placed_orders_state_checked", "placed_orders", ["state", "checked_ms"])


def downgrade() -> None:
    op.drop_table("placed_orders")
    op.drop_table("idempotency_keys")
