"""Rebalancing rules: the rules with their scheduling lease, their log of evaluations and the
trades of each execution.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
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


def _json(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.JSON(), nullable=nullable)


def _serial(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "rules",
        _text("id"),
        _text("user_id"),
        _text("name", nullable=True),
        _text("quote"),
        _json("targets"),
        _json("triggers"),
        _money("min_trade"),
        _text("mode"),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        _json("connection_ids", nullable=True),
        _ms("created_ms"),
        _ms("updated_ms"),
        _ms("next_check_ms"),
        _text("lease_token", nullable=True),
        _ms("lease_until_ms", nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_rules_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rules"),
    )
    op.create_index("ix_rules_user_created", "rules", ["user_id", "created_ms"])
    op.create_index("ix_rules_enabled_next", "rules", ["enabled", "next_check_ms"])

    op.create_table(
        "rule_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        _text("rule_id"),
        _text("user_id"),
        _ms("at_ms"),
        _text("source"),
        _text("mode"),
        _text("status"),
        _json("report", nullable=True),
        _ms("balances_ms", nullable=True),
        _json("error", nullable=True),
        _ms("finished_ms", nullable=True),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["rules.id"], name="fk_rule_log_rule_id_rules", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rule_log"),
    )
    op.create_index("ix_rule_log_rule_id", "rule_log", ["rule_id", "id"])
    op.create_index("ix_rule_log_rule_status", "rule_log", ["rule_id", "status"])

    op.create_table(
        "rule_trades",
        _serial("entry_id"),
        sa.Column("idx", sa.Integer(), nullable=False),
        _text("idempotency_key"),
        _text("status"),
        _text("ticket", nullable=True),
        _money("filled", nullable=True),
        _money("gross", nullable=True),
        _json("order_ids"),
        _json("error", nullable=True),
        _ms("updated_ms"),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["rule_log.id"],
            name="fk_rule_trades_entry_id_rule_log",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", "idx", name="pk_rule_trades"),
    )


def downgrade() -> None:
    op.drop_table("rule_trades")
    op.drop_table("rule_log")
    op.drop_table("rules")
