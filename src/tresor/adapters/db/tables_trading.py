"""The trading tables: orders placed through Tresor and the Idempotency-Keys of the requests
that placed them. Times are epoch milliseconds, amounts ``Money`` (as in ``tables_sync``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from tresor.adapters.db.tables import Base
from tresor.adapters.db.types import Money


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created", "created_ms"),)

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(primary_key=True)
    fingerprint: Mapped[str]
    done: Mapped[bool]
    locked_until_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[int | None]
    body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    resource_id: Mapped[str | None]
    created_ms: Mapped[int] = mapped_column(BigInteger)


class PlacedOrderRow(Base):
    __tablename__ = "placed_orders"
    __table_args__ = (
        Index("ix_placed_orders_user_created", "user_id", "created_ms"),
        Index("ix_placed_orders_state_checked", "state", "checked_ms"),
    )

    id: Mapped[str] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    symbol: Mapped[str]
    side: Mapped[str]
    type: Mapped[str]
    amount: Mapped[Decimal] = mapped_column(Money())
    price: Mapped[Decimal | None] = mapped_column(Money())
    time_in_force: Mapped[str | None]
    client_order_id: Mapped[str | None]
    exchange_client_id: Mapped[str] = mapped_column(unique=True)
    state: Mapped[str]
    exchange_order_id: Mapped[str | None]
    filled: Mapped[Decimal] = mapped_column(Money())
    cost: Mapped[Decimal] = mapped_column(Money())
    average: Mapped[Decimal | None] = mapped_column(Money())
    attempts: Mapped[int]
    sent_ms: Mapped[int | None] = mapped_column(BigInteger)
    checked_ms: Mapped[int | None] = mapped_column(BigInteger)
    error_code: Mapped[str | None]
    error_message: Mapped[str | None]
    source: Mapped[str]
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
