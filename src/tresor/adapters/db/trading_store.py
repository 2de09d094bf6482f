"""``SqlTradingStore``: placed orders and Idempotency-Keys (the ``TradingStore`` port).

A key is claimed by inserting it: the primary key (user, key) makes two concurrent claims of
one key end with exactly one owner, on SQLite and PostgreSQL alike. Taking over a key whose
handler died is a conditional update on the lock it held.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from tresor.adapters.db.sql_base import SqlStoreBase
from tresor.adapters.db.tables_trading import IdempotencyKeyRow, PlacedOrderRow
from tresor.domain.orders import OrderRequest, OrderState, PlacedOrder
from tresor.services.ports import KeyClaim, KeyRecord

KEYS: Table = IdempotencyKeyRow.__table__  # type: ignore[assignment]
ORDERS: Table = PlacedOrderRow.__table__  # type: ignore[assignment]


def _key_record(row: RowMapping) -> KeyRecord:
    return KeyRecord(
        user_id=row["user_id"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        done=bool(row["done"]),
        locked_until_ms=row["locked_until_ms"],
        status=row["status"],
        body=row["body"],
        resource_id=row["resource_id"],
    )


def _order_values(order: PlacedOrder) -> dict[str, Any]:
    r = order.request
    return {
        "id": order.id,
        "user_id": order.user_id,
        "connection_id": r.connection_id,
        "symbol": r.symbol,
        "side": r.side,
        "type": r.type,
        "amount": r.amount,
        "price": r.price,
        "time_in_force": r.time_in_force,
        "client_order_id": r.client_order_id,
        "exchange_client_id": order.exchange_client_id,
        "state": order.state.value,
        "exchange_order_id": order.exchange_order_id,
        "filled": order.filled,
        "cost": order.cost,
        "average": order.average,
        "attempts": order.attempts,
        "sent_ms": order.sent_ms,
        "checked_ms": order.checked_ms,
        "error_code": order.error_code,
        "error_message": order.error_message,
        "source": order.source,
        "created_ms": order.created_ms,
        "updated_ms": order.updated_ms,
    }


def _order(row: RowMapping) -> PlacedOrder:
    return PlacedOrder(
        id=row["id"],
        user_id=row["user_id"],
        request=OrderRequest(
            connection_id=row["connection_id"],
            symbol=row["symbol"],
            side=row["side"],
            type=row["type"],
            amount=Decimal(row["amount"]),
            price=None if row["price"] is None else Decimal(row["price"]),
            time_in_force=row["time_in_force"],
            client_order_id=row["client_order_id"],
        ),
        exchange_client_id=row["exchange_client_id"],
        state=OrderState(row["state"]),
        created_ms=row["created_ms"],
        updated_ms=row["updated_ms"],
        exchange_order_id=row["exchange_order_id"],
        filled=Decimal(row["filled"]),
        cost=Decimal(row["cost"]),
        average=None if row["average"] is None else Decimal(row["average"]),
        attempts=row["attempts"],
        sent_ms=row["sent_ms"],
        checked_ms=row["checked_ms"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        source=row["source"],
    )


class SqlTradingStore(SqlStoreBase):
    async def claim_key(
        self, user_id: str, key: str, fingerprint: str, *, now_ms: int, lock_ms: int
    ) -> KeyClaim:
        fresh = {
            "user_id": user_id,
            "key": key,
            "fingerprint": fingerprint,
            "done": False,
            "locked_until_ms": now_ms + lock_ms,
            "status": None,
            "body": None,
            "resource_id": None,
            "created_ms": now_ms,
        }
        try:
            async with self._writing() as conn:
                await conn.execute(KEYS.insert().values(**fresh))
        except IntegrityError:
            pass
        else:
            return KeyClaim(
                owned=True,
                record=KeyRecord(
                    user_id=user_id,
                    key=key,
                    fingerprint=fingerprint,
                    done=False,
                    locked_until_ms=now_ms + lock_ms,
                ),
            )
        record = await self._key(user_id, key)
        if record is None:  # removed in between (released): claim it again
            return await self.claim_key(user_id, key, fingerprint, now_ms=now_ms, lock_ms=lock_ms)
        if record.done or record.fingerprint != fingerprint or record.locked_until_ms > now_ms:
            return KeyClaim(owned=False, record=record)
        async with self._writing() as conn:  # its handler died: take it over
            result = await conn.execute(
                update(KEYS)
                .where(
                    KEYS.c.user_id == user_id,
                    KEYS.c.key == key,
                    KEYS.c.done.is_(False),
                    KEYS.c.locked_until_ms == record.locked_until_ms,
                )
                .values(locked_until_ms=now_ms + lock_ms)
            )
        if not result.rowcount:  # another caller took it over first
            return KeyClaim(owned=False, record=await self._key(user_id, key) or record)
        taken = KeyRecord(
            user_id=user_id,
            key=key,
            fingerprint=fingerprint,
            done=False,
            locked_until_ms=now_ms + lock_ms,
            resource_id=record.resource_id,
        )
        return KeyClaim(owned=True, record=taken)

    async def _key(self, user_id: str, key: str) -> KeyRecord | None:
        async with self._engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(KEYS).where(KEYS.c.user_id == user_id, KEYS.c.key == key)
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else _key_record(row)

    async def finish_key(
        self,
        user_id: str,
        key: str,
        *,
        status: int,
        body: dict[str, Any] | None = None,
        resource_id: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"done": True, "status": status, "body": body}
        if resource_id is not None:
            values["resource_id"] = resource_id
        async with self._writing() as conn:
            await conn.execute(
                update(KEYS).where(KEYS.c.user_id == user_id, KEYS.c.key == key).values(**values)
            )

    async def release_key(self, user_id: str, key: str) -> None:
        async with self._writing() as conn:
            await conn.execute(KEYS.delete().where(KEYS.c.user_id == user_id, KEYS.c.key == key))

    async def purge_keys(self, before_ms: int) -> int:
        """Forget the keys of requests handled before ``before_ms``."""
        async with self._writing() as conn:
            result = await conn.execute(
                KEYS.delete().where(KEYS.c.done.is_(True), KEYS.c.created_ms < before_ms)
            )
        return int(result.rowcount or 0)

    async def delete_order(self, order_id: str) -> None:
        async with self._writing() as conn:
            await conn.execute(ORDERS.delete().where(ORDERS.c.id == order_id))

    async def add_order(self, order: PlacedOrder, *, key: str | None = None) -> None:
        async with self._writing() as conn:
            await conn.execute(ORDERS.insert().values(**_order_values(order)))
            if key is not None:
                await conn.execute(
                    update(KEYS)
                    .where(KEYS.c.user_id == order.user_id, KEYS.c.key == key)
                    .values(resource_id=order.id)
                )

    async def begin_send(self, order: PlacedOrder, *, previous_attempts: int) -> bool:
        values = _order_values(order)
        async with self._writing() as conn:
            result = await conn.execute(
                update(ORDERS)
                .where(ORDERS.c.id == order.id, ORDERS.c.attempts == previous_attempts)
                .values(**values)
            )
        return bool(result.rowcount)

    async def save_order(self, order: PlacedOrder) -> None:
        values = _order_values(order)
        async with self._writing() as conn:
            await conn.execute(update(ORDERS).where(ORDERS.c.id == order.id).values(**values))

    async def order(self, order_id: str, user_id: str | None = None) -> PlacedOrder | None:
        stmt = select(ORDERS).where(ORDERS.c.id == order_id)
        if user_id is not None:
            stmt = stmt.where(ORDERS.c.user_id == user_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        return None if row is None else _order(row)

    async def orders(
        self,
        user_id: str,
        *,
        states: Sequence[OrderState] = (),
        connection_id: str | None = None,
        limit: int = 100,
    ) -> list[PlacedOrder]:
        stmt = select(ORDERS).where(ORDERS.c.user_id == user_id)
        if states:
            stmt = stmt.where(ORDERS.c.state.in_([s.value for s in states]))
        if connection_id is not None:
            stmt = stmt.where(ORDERS.c.connection_id == connection_id)
        stmt = stmt.order_by(ORDERS.c.created_ms.desc(), ORDERS.c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_order(row) for row in rows]

    async def to_track(self, *, checked_before_ms: int, limit: int) -> list[PlacedOrder]:
        live = [OrderState.PENDING.value, OrderState.UNKNOWN.value, OrderState.OPEN.value]
        c = ORDERS.c
        stmt = (
            select(ORDERS)
            .where(
                c.state.in_(live),
                (c.checked_ms.is_(None)) | (c.checked_ms < checked_before_ms),
            )
            .order_by(c.updated_ms)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_order(row) for row in rows]
