"""The routing tables: quotes of the smart order router and their legs. Times are epoch
milliseconds, amounts ``Money`` (as in ``tables_trading``).

A leg names its connection without a foreign key: a quote outlives a connection removed after
it was made (executing it then refuses that leg as ``not_found``)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from tresor.adapters.db.tables import Base
from tresor.adapters.db.types import Money


class RouteQuoteRow(Base):
    __tablename__ = "route_quotes"
    __table_args__ = (
        Index("ix_route_quotes_user_created", "user_id", "created_ms"),
        Index("ix_route_quotes_expires", "expires_ms"),
    )

    id: Mapped[str] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    side: Mapped[str]
    base: Mapped[str]
    quote: Mapped[str]
    amount: Mapped[Decimal] = mapped_column(Money())
    filled: Mapped[Decimal] = mapped_column(Money())
    gross: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money())
    net: Mapped[Decimal] = mapped_column(Money())
    average_price: Mapped[Decimal | None] = mapped_column(Money())
    net_price: Mapped[Decimal | None] = mapped_column(Money())
    shortfall: Mapped[str | None]
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    executed_key: Mapped[str | None]
    executed_ms: Mapped[int | None] = mapped_column(BigInteger)


class RouteLegRow(Base):
    __tablename__ = "route_legs"

    quote_id: Mapped[str] = mapped_column(
        ForeignKey("route_quotes.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[str]
    exchange: Mapped[str]
    symbol: Mapped[str]
    side: Mapped[str]
    amount: Mapped[Decimal] = mapped_column(Money())
    average_price: Mapped[Decimal] = mapped_column(Money())
    gross: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money())
    net: Mapped[Decimal] = mapped_column(Money())
    limit_price: Mapped[Decimal] = mapped_column(Money())
    reserved: Mapped[Decimal] = mapped_column(Money())
