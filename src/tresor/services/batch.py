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
- ``replace_order``: cancel an open order, then place its replacement: the same order with the
  new price and/or amount; without a new amount, what was left of it (its amount less what had
  filled). If the cancel fails (the order filled meanwhile) nothing is placed; if the cancel
  worked but the replacement was refused, the outcome has both: the cancelled order and the
  refusal.

The batch's key is held while it runs for as long as its operations may take (they run
``PARALLEL`` at a time, each up to ``KEY_LOCK_MS``). A request that takes the batch over from a
handler that died finds the operations that handler had finished answered again; if one of them
is still being handled (its first handler is slow, not dead), the batch is not finished: it
answers ``idempotency_in_progress``, to be asked again later.
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
from tresor.services.trading import KEY_LOCK_MS, ROOM_FOR_DERIVED_KEYS, check_idempotency_key
from tresor.services.trading_remote import Orders

MAX_OPERATIONS = 50
PARALLEL = 8  # operations of one batch running at once
SOURCE = "batch"  # what its orders say placed them


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
    error: TresorError | None = None  # with ``replaced``: the cancel worked, the new order not


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
        check_idempotency_key(idempotency_key, room=ROOM_FOR_DERIVED_KEYS)
        if not 1 <= len(operations) <= MAX_OPERATIONS:
            raise ValidationFailed(
                f"A batch has 1 to {MAX_OPERATIONS} operations.",
                remedy="Split the operations into several batches.",
            )
        digest = fingerprint([_describe(op) for op in operations])
        waves = -(-len(operations) // PARALLEL)
        claim = await self._store.claim_key(
            user_id, idempotency_key, digest, now_ms=self._now(), lock_ms=KEY_LOCK_MS * waves
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
        if any(isinstance(o.error, IdempotencyInProgress) for o in outcomes):
            # taken over from a handler that is slow, not dead: its answer is not known yet
            raise IdempotencyInProgress(details={"idempotency_key": idempotency_key})
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
                placed = await self._orders.place(
                    user_id, op.request, idempotency_key=key, source=SOURCE
                )
                return Outcome(order=placed.order)
            if isinstance(op, CancelOrder):
                return Outcome(order=await self._cancel(user_id, op.order_id))
            cancelled = await self._cancel(user_id, op.order_id)
        except TresorError as error:
            return Outcome(error=error)
        request = cancelled.request
        request = replace(
            request,
            amount=op.amount if op.amount is not None else request.amount - cancelled.filled,
            price=op.price if op.price is not None else request.price,
        )
        try:
            placed = await self._orders.place(user_id, request, idempotency_key=key, source=SOURCE)
        except TresorError as error:  # the cancel stands: say so with the refusal
            return Outcome(replaced=cancelled, error=error)
        return Outcome(order=placed.order, replaced=cancelled)

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
            try:
                replaced = None
                if item.get("replaced"):
                    replaced = await self._orders.get(user_id, item["replaced"], refresh=False)
                if "error" in item:
                    outcomes.append(
                        Outcome(replaced=replaced, error=error_from_dict(item["error"]))
                    )
                    continue
                order = await self._orders.get(user_id, item["order"], refresh=False)
                outcomes.append(Outcome(order=order, replaced=replaced))
            except NotFound as error:
                outcomes.append(Outcome(error=error))
        return tuple(outcomes)


def _kept(outcome: Outcome) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    if outcome.error is not None:
        kept["error"] = error_to_dict(outcome.error)
    else:
        assert outcome.order is not None  # noqa: S101 (an outcome has an order or an error)
        kept["order"] = outcome.order.id
    if outcome.replaced is not None:
        kept["replaced"] = outcome.replaced.id
    return kept
