"""``SqlRoutingStore``: the router's quotes and their legs (the ``RoutingStore`` port).

A quote is marked executed by a conditional update (``executed_key IS NULL``), so of two
executions with different Idempotency-Keys exactly one goes ahead, on SQLite and PostgreSQL
alike.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.engine import RowMapping

from tresor.adapters.db.sql_base import SqlStoreBase
from tresor.adapters.db.tables_routing import RouteLegRow, RouteQuoteRow
from tresor.domain.routing import Leg, Shortfall, Side
from tresor.services.ports import RouteQuote

PURGE_BATCH = 1_000  # quotes deleted per transaction by purge_quotes
QUOTES: Table = RouteQuoteRow.__table__  # type: ignore[assignment]
LEGS: Table = RouteLegRow.__table__  # type: ignore[assignment]
_SIDES: dict[str, Side] = {"buy": "buy", "sell": "sell"}
_SHORTFALLS: dict[str, Shortfall] = {"depth": "depth", "balance": "balance", "rules": "rules"}


def _quote_values(quote: RouteQuote) -> dict[str, Any]:
    return {
        "id": quote.id,
        "user_id": quote.user_id,
        "side": quote.side,
        "base": quote.base,
        "quote": quote.quote,
        "amount": quote.amount,
        "filled": quote.filled,
        "gross": quote.gross,
        "fee": quote.fee,
        "net": quote.net,
        "average_price": quote.average_price,
        "net_price": quote.net_price,
        "shortfall": quote.shortfall,
        "created_ms": quote.created_ms,
        "expires_ms": quote.expires_ms,
        "executed_key": quote.executed_key,
        "executed_ms": quote.executed_ms,
    }


def _leg_values(quote_id: str, position: int, leg: Leg) -> dict[str, Any]:
    return {
        "quote_id": quote_id,
        "position": position,
        "connection_id": leg.connection_id,
        "exchange": leg.exchange,
        "symbol": leg.symbol,
        "side": leg.side,
        "amount": leg.amount,
        "average_price": leg.average_price,
        "gross": leg.gross,
        "fee": leg.fee,
        "net": leg.net,
        "limit_price": leg.limit_price,
        "reserved": leg.reserved,
    }


def _leg(row: RowMapping) -> Leg:
    return Leg(
        connection_id=row["connection_id"],
        exchange=row["exchange"],
        symbol=row["symbol"],
        side=_SIDES[row["side"]],
        amount=Decimal(row["amount"]),
        average_price=Decimal(row["average_price"]),
        gross=Decimal(row["gross"]),
        fee=Decimal(row["fee"]),
        net=Decimal(row["net"]),
        limit_price=Decimal(row["limit_price"]),
        reserved=Decimal(row["reserved"]),
    )


def _maybe(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _quote(row: RowMapping, legs: tuple[Leg, ...]) -> RouteQuote:
    shortfall = row["shortfall"]
    return RouteQuote(
        id=row["id"],
        user_id=row["user_id"],
        side=_SIDES[row["side"]],
        base=row["base"],
        quote=row["quote"],
        amount=Decimal(row["amount"]),
        legs=legs,
        filled=Decimal(row["filled"]),
        gross=Decimal(row["gross"]),
        fee=Decimal(row["fee"]),
        net=Decimal(row["net"]),
        average_price=_maybe(row["average_price"]),
        net_price=_maybe(row["net_price"]),
        shortfall=None if shortfall is None else _SHORTFALLS[shortfall],
        created_ms=row["created_ms"],
        expires_ms=row["expires_ms"],
        executed_key=row["executed_key"],
        executed_ms=row["executed_ms"],
    )


class SqlRoutingStore(SqlStoreBase):
    async def add_quote(self, quote: RouteQuote) -> None:
        async with self._writing() as conn:
            await conn.execute(QUOTES.insert().values(**_quote_values(quote)))
            if quote.legs:
                await conn.execute(
                    LEGS.insert(),
                    [_leg_values(quote.id, i, leg) for i, leg in enumerate(quote.legs)],
                )

    async def quote(self, quote_id: str, user_id: str) -> RouteQuote | None:
        async with self._engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(QUOTES).where(QUOTES.c.id == quote_id, QUOTES.c.user_id == user_id)
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            legs = (
                (
                    await conn.execute(
                        select(LEGS).where(LEGS.c.quote_id == quote_id).order_by(LEGS.c.position)
                    )
                )
                .mappings()
                .all()
            )
        return _quote(row, tuple(_leg(leg) for leg in legs))

    async def purge_quotes(self, *, expired_before_ms: int) -> int:
        # in batches, each its own short transaction: a first purge of a long history does
        # not hold SQLite's write lock for long
        purged = 0
        while True:
            batch = (
                select(QUOTES.c.id)
                .where(QUOTES.c.expires_ms < expired_before_ms, QUOTES.c.executed_key.is_(None))
                .limit(PURGE_BATCH)
                .scalar_subquery()
            )
            async with self._writing() as conn:
                result = await conn.execute(delete(QUOTES).where(QUOTES.c.id.in_(batch)))
            removed = int(result.rowcount or 0)
            purged += removed
            if removed < PURGE_BATCH:
                return purged

    async def mark_executed(self, quote_id: str, *, key: str, now_ms: int) -> bool:
        async with self._writing() as conn:
            result = await conn.execute(
                update(QUOTES)
                .where(QUOTES.c.id == quote_id, QUOTES.c.executed_key.is_(None))
                .values(executed_key=key, executed_ms=now_ms)
            )
        return bool(result.rowcount)
