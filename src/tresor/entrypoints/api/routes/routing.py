"""``/v1/route`` (scope ``trade``): smart order routing. ``POST /quote`` finds the best plan to
buy or sell an amount over your connections (one venue or a split) and keeps it for a short
while; ``POST /execute`` (with an ``Idempotency-Key``) places its legs, each once. Another
user's quote or connection is 404 (docs/trading.md, "Smart order routing")."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Header, Response

from tresor.entrypoints.api.deps import Routing, TradeScope
from tresor.entrypoints.api.schemas_routing import (
    RouteExecuteCreate,
    RouteExecutionPublic,
    RouteQuoteCreate,
    RouteQuotePublic,
)
from tresor.services.trading import MAX_KEY_LENGTH, ROOM_FOR_DERIVED_KEYS

router = APIRouter(prefix="/v1/route", tags=["routing"])

ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "missing or invalid token"},
    403: {"description": "the token lacks the 'trade' scope"},
    404: {"description": "no such quote or connection (or not yours)"},
    422: {"description": "validation_failed, no_route (each connection's reason in 'venues')"},
}
EXECUTE_ERRORS: dict[int | str, dict[str, str]] = {
    **ERRORS,
    202: {"description": "placed, but the outcome of a leg is not known yet (state 'unknown')"},
    409: {
        "description": "quote_expired, quote_already_executed, idempotency_key_reused, "
        "idempotency_in_progress"
    },
}
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH - ROOM_FOR_DERIVED_KEYS,
        description="A unique value per execution (a UUID, say). Sending the same key and quote "
        "again returns the same execution and places nothing more.",
    ),
]


@router.post("/quote", response_model=RouteQuotePublic, status_code=201, responses=ERRORS)
async def quote_route(
    body: RouteQuoteCreate, who: TradeScope, service: Routing
) -> RouteQuotePublic:
    """Walk the live order book of each of your connections that can trade the market, with
    its fees and free balance, and keep the best plan (one venue or a split) for 30 s.

    Connections that cannot take part are listed in `venues` with the reason."""
    quoted = await service.quote(
        who.user_id,
        side=body.side,
        base=body.base.upper(),
        quote=body.quote.upper(),
        amount=body.decimal_amount(),
        connection_ids=body.connection_ids,
        allowance=Decimal(body.allowance),
    )
    return RouteQuotePublic.of(quoted)


@router.post(
    "/execute", response_model=RouteExecutionPublic, status_code=201, responses=EXECUTE_ERRORS
)
async def execute_route(
    body: RouteExecuteCreate,
    who: TradeScope,
    service: Routing,
    response: Response,
    idempotency_key: IdempotencyKey,
) -> RouteExecutionPublic:
    """Place every leg of a quote at once, each a limit IOC at the leg's limit price (it never
    fills worse than quoted; if the book moved it fills less), each never twice.

    201: every leg's outcome is known (a refused leg carries its error; the others are placed
    all the same). 202: a leg's answer was lost; Tresor looks it up, read it with
    GET /v1/orders/{id}. The same key again gives the same execution
    (`Idempotent-Replayed: true`)."""
    execution = await service.execute(who.user_id, body.quote_id, idempotency_key=idempotency_key)
    response.status_code = 201 if execution.settled else 202
    if execution.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return RouteExecutionPublic.of(execution)
