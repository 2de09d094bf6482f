"""Signing in to the dashboard: password hashes, web sessions, two-factor state and recovery
codes, preferences; tokens indexed by client (revoking a client revokes its tokens).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    """A UTC timestamp (``tables.UtcDateTime``)."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _owner(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=f"fk_{table}_user_id_users", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "user_passwords",
        _text("user_id"),
        _text("password_hash"),
        _time("updated_at"),
        _owner("user_passwords"),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_passwords"),
    )
    op.create_table(
        "web_sessions",
        _text("id"),
        _text("token_hash"),
        _text("user_id"),
        _time("created_at"),
        _time("last_seen_at"),
        _time("expires_at"),
        _text("ip"),
        _text("user_agent"),
        _time("ended_at", nullable=True),
        _owner("web_sessions"),
        sa.PrimaryKeyConstraint("id", name="pk_web_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_web_sessions_token_hash"),
    )
    op.create_index("ix_web_sessions_user_created", "web_sessions", ["user_id", "created_at"])
    op.create_index("ix_web_sessions_expires", "web_sessions", ["expires_at"])
    op.create_table(
        "two_factor",
        _text("user_id"),
        sa.Column("secret_ct", sa.LargeBinary(), nullable=True),
        sa.Column("pending_ct", sa.LargeBinary(), nullable=True),
        sa.Column("last_counter", sa.BigInteger(), nullable=True),
        _time("updated_at"),
        _owner("two_factor"),
        sa.PrimaryKeyConstraint("user_id", name="pk_two_factor"),
    )
    op.create_table(
        "recovery_codes",
        _text("user_id"),
        _text("code_hash"),
        _owner("recovery_codes"),
        sa.PrimaryKeyConstraint("user_id", "code_hash", name="pk_recovery_codes"),
    )
    op.create_table(
        "user_preferences",
        _text("user_id"),
        _text("quote"),
        _text("timezone"),
        _owner("user_preferences"),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_preferences"),
    )
    op.create_index("ix_tokens_client_id", "tokens", ["client_id"])


def downgrade() -> None:
    op.drop_index("ix_tokens_client_id", table_name="tokens")
    op.drop_table("user_preferences")
    op.drop_table("recovery_codes")
    op.drop_table("two_factor")
    op.drop_index("ix_web_sessions_expires", table_name="web_sessions")
    op.drop_index("ix_web_sessions_user_created", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("user_passwords")
