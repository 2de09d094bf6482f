"""The rebalancing tables: rules (with their scheduling lease), their log of evaluations, and
the trades of each execution. Times are epoch milliseconds, amounts ``Money``; percentages and
the evaluation report are JSON with decimal strings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from tresor.adapters.db.tables import Base
from tresor.adapters.db.types import Money


class RuleRow(Base):
    __tablename__ = "rules"
    __table_args__ = (
        Index("ix_rules_user_created", "user_id", "created_ms"),
        Index("ix_rules_enabled_next", "enabled", "next_check_ms"),
    )

    id: Mapped[str] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str | None]
    quote: Mapped[str]
    targets: Mapped[list[Any]] = mapped_column(JSON)  # [[asset, percent], ...] in order
    triggers: Mapped[list[Any]] = mapped_column(JSON)
    min_trade: Mapped[Decimal] = mapped_column(Money())
    mode: Mapped[str]
    enabled: Mapped[bool]
    interval_s: Mapped[int]
    connection_ids: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    next_check_ms: Mapped[int] = mapped_column(BigInteger)
    lease_token: Mapped[str | None]
    lease_until_ms: Mapped[int | None] = mapped_column(BigInteger)


class RuleLogRow(Base):
    __tablename__ = "rule_log"
    __table_args__ = (
        Index("ix_rule_log_rule_id", "rule_id", "id"),
        Index("ix_rule_log_rule_status", "rule_id", "status"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    rule_id: Mapped[str] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"))
    user_id: Mapped[str]
    at_ms: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str]
    mode: Mapped[str]
    status: Mapped[str]
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    balances_ms: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    finished_ms: Mapped[int | None] = mapped_column(BigInteger)


class RuleTradeRow(Base):
    """The execution of the entry's planned trade ``idx`` (the trade itself is in its report)."""

    __tablename__ = "rule_trades"

    entry_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("rule_log.id", ondelete="CASCADE"),
        primary_key=True,
    )
    idx: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # in the report
    idempotency_key: Mapped[str]
    status: Mapped[str]
    ticket: Mapped[str | None]
    filled: Mapped[Decimal | None] = mapped_column(Money())
    gross: Mapped[Decimal | None] = mapped_column(Money())
    order_ids: Mapped[list[Any]] = mapped_column(JSON)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    updated_ms: Mapped[int] = mapped_column(BigInteger)
