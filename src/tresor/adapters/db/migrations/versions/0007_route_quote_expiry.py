"""Route quotes are indexed by expiry: quotes never executed are purged a day after they
expire (``RoutingService.purge_quotes``), found by that index instead of a scan of them all.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_route_quotes_expires", "route_quotes", ["expires_ms"])


def downgrade() -> None:
    op.drop_index("ix_route_quotes_expires", table_name="route_quotes")
