"""A version token per connection's records, changed by every write of its trades, orders or
transfers in the same transaction: listings are kept by it and read again when it changes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "record_versions",
        sa.Column("connection_id", sa.String(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name="fk_record_versions_connection_id_connections",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", name="pk_record_versions"),
    )


def downgrade() -> None:
    op.drop_table("record_versions")
