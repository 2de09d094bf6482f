"""``POST /v1/batch`` (scope ``trade``): up to 50 order operations (create, cancel, replace),
each with its own result, the batch idempotent as a whole under its ``Idempotency-Key``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from tresor.entrypoints.api.deps import Batches, TradeScope
from tresor.entrypoints.api.problems import problem_of
from tresor.entrypoints.api.routes.orders import ERRORS
from tresor.entrypoints.api.schemas_batch import BatchCreate, BatchPublic, OperationResult
from tresor.entrypoints.api.schemas_orders import PlacedOrderPublic
from tresor.services.trading import MAX_KEY_LENGTH, ROOM_FOR_DERIVED_KEYS

router = APIRouter(prefix="/v1", tags=["trading"])

BatchKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH - ROOM_FOR_DERIVED_KEYS,
        description="A unique value per batch (a UUID, say). Sending the same key and "
        "operations again returns the same results and does nothing more.",
    ),
]


@router.post("/batch", response_model=BatchPublic, responses=ERRORS)
async def batch(
    body: BatchCreate,
    who: TradeScope,
    service: Batches,
    request: Request,
    response: Response,
    idempotency_key: BatchKey,
) -> BatchPublic:
    """Run the operations; the answer is 200 with each operation's own status, order and
    problem, in the order given. The same key and operations give the same results again
    (`Idempotent-Replayed: true`); the same key with other operations is 409."""
    ops = [item.operation() for item in body.operations]
    result = await service.run(who.user_id, ops, idempotency_key=idempotency_key)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    results = []
    for index, (item, outcome) in enumerate(zip(body.operations, result.outcomes, strict=True)):
        entry = OperationResult(index=index, op=item.op, status=200)
        if outcome.replaced is not None:  # also when its replacement was refused
            entry.replaced = PlacedOrderPublic.of(outcome.replaced)
        if outcome.error is not None:
            entry.problem = problem_of(outcome.error, f"{request.url.path}#{index}")
            entry.status = entry.problem["status"]
        else:
            assert outcome.order is not None  # noqa: S101 (an outcome has one or the other)
            entry.order = PlacedOrderPublic.of(outcome.order)
            if item.op != "cancel_order":
                entry.status = 201 if outcome.order.state.settled else 202
        results.append(entry)
    failed = sum(1 for r in results if r.problem is not None)
    return BatchPublic(results=results, succeeded=len(results) - failed, failed=failed)
