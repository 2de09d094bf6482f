"""Routing: the smart order router's quotes and their legs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
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
        "route_quotes",
        _text("id"),
        _text("user_id"),
        _text("side"),
        _text("base"),
        _text("quote"),
        _money("amount"),
        _money("filled"),
        _money("gross"),
        _money("fee"),
        _money("net"),
        _money("average_price", nullable=True),
        _money("net_price", nullable=True),
        _text("shortfall", nullable=True),
        _ms("created_ms"),
        _ms("expires_ms"),
        _text("executed_key", nullable=True),
        _ms("executed_ms", nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_route_quotes_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_route_quotes"),
    )
    op.create_index("ix_route_quotes_user_created", "route_quotes", ["user_id", "created_ms"])

    op.create_table(
        "route_legs",
        _text("quote_id"),
        sa.Column("position", sa.Integer(), nullable=False),
        _text("connection_id"),
        _text("exchange"),
        _text("symbol"),
        _text("side"),
        _money("amount"),
        _money("average_price"),
        _money("gross"),
        _money("fee"),
        _money("net"),
        _money("limit_price"),
        _money("reserved"),
        sa.ForeignKeyConstraint(
            ["quote_id"],
            ["route_quotes.id"],
            name="fk_route_legs_quote_id_route_quotes",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("quote_id", "position", name="pk_route_legs"),
    )


def downgrade() -> None:
    op.drop_table("route_legs")
    op.drop_table("route_quotes")
