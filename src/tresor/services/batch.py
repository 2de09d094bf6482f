"""Batches of up to 50 order operations (``POST /v1/batch``), idempotent as a whole.

Each operation has its own outcome; one that fails hides none of the others. The batch runs
under one Idempotency-Key: the same key and the same operations give the same outcomes again
(the orders as they are now); another batch under that key is refused. Inside it, the order an
operation places is placed under a key derived from the batch's (``<key>#<index>``), so a batch
whose handler died and is run again places nothing twice; a cancel of an order the batch
already cancelled is a success, not an error.

Operations:

- ``create_order``: place an order (``OrderService.place``).
- ``cancel_order``: cancel an order Tresor placed.
- ``replace_order``: cancel an open order, then place its replacement (the same order with the
  new amount and/or price). If the cancel fails (the order filled meanwhile) nothing is placed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from tresor.domain.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    NotFound,
    OrderNotOpen,
    TresorError,
    ValidationFailed,
    error_from_dict,
    error_to_dict,
)
from tresor.domain.orders import OrderRequest, OrderState, PlacedOrder, fingerprint
from tresor.services.ports import Clock, TradingStore
from tresor.services.trading import KEY_LOCK_MS, check_idempotency_key
from tresor.services.trading_remote import Orders

MAX_OPERATIONS = 50
PARALLEL = 8  # operations of one batch running at once


@dataclass(frozen=True, slots=True)
class CreateOrder:
    request: OrderRequest


@dataclass(frozen=True, slots=True)
class CancelOrder:
    order_id: str


@dataclass(frozen=True, slots=True)
class ReplaceOrder:
    order_id: str
    amount: Decimal | None = None
    price: Decimal | None = None


Operation = CreateOrder | CancelOrder | ReplaceOrder


@dataclass(frozen=True, slots=True)
class Outcome:
    """One operation's result: its order(s), or the error that stopped it."""

    order: PlacedOrder | None = None
    replaced: PlacedOrder | None = None  # replace_order: the order that was cancelled
    error: TresorError | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    outcomes: tuple[Outcome, ...]
    replayed: bool = False


def _describe(op: Operation) -> dict[str, Any]:
    if isinstance(op, CreateOrder):
        return {"op": "create_order", "order": op.request.fingerprint()}
    if isinstance(op, CancelOrder):
        return {"op": "cancel_order", "order_id": op.order_id}
    return {
        "op": "replace_order",
        "order_id": op.order_id,
        "amount": None if op.amount is None else format(op.amount.normalize(), "f"),
        "price": None if op.price is None else format(op.price.normalize(), "f"),
    }


class BatchService:
    def __init__(self, *, orders: Orders, store: TradingStore, clock: Clock) -> None:
        self._orders = orders
        self._store = store
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    async def run(
        self, user_id: str, operations: Sequence[Operation], *, idempotency_key: str
    ) -> BatchResult:
        """Run the operations (at most ``MAX_OPERATIONS``), each to its own outcome.

        Raises: ValidationFailed (no operations, too many, a bad key), IdempotencyKeyReused,
        IdempotencyInProgress."""
        check_idempotency_key(idempotency_key)
        if not 1 <= len(operations) <= MAX_OPERATIONS:
            raise ValidationFailed(
                f"A batch has 1 to {MAX_OPERATIONS} operations.",
                remedy="Split the operations into several batches.",
            )
        digest = fingerprint([_describe(op) for op in operations])
        claim = await self._store.claim_key(
            user_id, idempotency_key, digest, now_ms=self._now(), lock_ms=KEY_LOCK_MS
        )
        if not claim.owned:
            record = claim.record
            if record.fingerprint != digest:
                raise IdempotencyKeyReused(details={"idempotency_key": idempotency_key})
            if not record.done or record.body is None:
                raise IdempotencyInProgress(details={"idempotency_key": idempotency_key})
            return BatchResult(await self._replay(user_id, record.body["outcomes"]), True)
        slots = asyncio.Semaphore(PARALLEL)

        async def one(index: int, op: Operation) -> Outcome:
            async with slots:
                return await self._run_one(user_id, op, f"{idempotency_key}#{index}")

        outcomes = await asyncio.gather(*(one(i, op) for i, op in enumerate(operations)))
        await self._store.finish_key(
            user_id,
            idempotency_key,
            status=200,
            body={"outcomes": [_kept(o) for o in outcomes]},
        )
        return BatchResult(tuple(outcomes))

    async def _run_one(self, user_id: str, op: Operation, key: str) -> Outcome:
        try:
            if isinstance(op, CreateOrder):
                placed = await self._orders.place(user_id, op.request, idempotency_key=key)
                return Outcome(order=placed.order)
            if isinstance(op, CancelOrder):
                return Outcome(order=await self._cancel(user_id, op.order_id))
            cancelled = await self._cancel(user_id, op.order_id)
            request = cancelled.request
            request = replace(
                request,
                amount=op.amount if op.amount is not None else request.amount,
                price=op.price if op.price is not None else request.price,
            )
            placed = await self._orders.place(user_id, request, idempotency_key=key)
            return Outcome(order=placed.order, replaced=cancelled)
        except TresorError as error:
            return Outcome(error=error)

    async def _cancel(self, user_id: str, order_id: str) -> PlacedOrder:
        """Cancel, where an order already cancelled counts as done."""
        try:
            return await self._orders.cancel(user_id, order_id)
        except OrderNotOpen:
            order = await self._orders.get(user_id, order_id, refresh=False)
            if order.state is OrderState.CANCELED:
                return order
            raise

    async def _replay(self, user_id: str, kept: list[dict[str, Any]]) -> tuple[Outcome, ...]:
        outcomes = []
        for item in kept:
            if "error" in item:
                outcomes.append(Outcome(error=error_from_dict(item["error"])))
                continue
            try:
                order = await self._orders.get(user_id, item["order"], refresh=False)
                replaced = None
                if item.get("replaced"):
                    replaced = await self._orders.get(user_id, item["replaced"], refresh=False)
                outcomes.append(Outcome(order=order, replaced=replaced))
            except NotFound as error:
                outcomes.append(Outcome(error=error))
        return tuple(outcomes)


def _kept(outcome: Outcome) -> dict[str, Any]:
    if outcome.error is not None:
        return {"error": error_to_dict(outcome.error)}
    assert outcome.order is not None  # noqa: S101 (an outcome has an order or an error)
    kept: dict[str, Any] = {"order": outcome.order.id}
    if outcome.replaced is not None:
        kept["replaced"] = outcome.replaced.id
    return kept
