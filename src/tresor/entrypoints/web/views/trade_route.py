"""The smart route on the dashboard: a form (what to buy or sell, over which connections), the
quote it gives (``POST /trade/route/quote``, as ``POST /v1/route/quote``: legs per venue, the
expected average, fees, the expiry) and its execution (``POST /trade/route/{id}/execute``, as
``POST /v1/route/execute``, under an Idempotency-Key made with the quote's page: sent twice, it
is one execution, and its legs are placed once).

There is no page to read a quote or an execution again (the API has none either): both are the
answer of their POST, shown at once; sending the execution again shows the same execution.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import StringConstraints, ValidationError

from tresor.domain.access import Scope
from tresor.domain.errors import Conflict, ExchangeTrouble, InputError, KeyRejected, TresorError
from tresor.entrypoints.api.schemas_routing import (
    RouteExecutionPublic,
    RouteQuoteCreate,
    RouteQuotePublic,
)
from tresor.entrypoints.web.session import Actor, Viewer, WebUser, container_of
from tresor.entrypoints.web.views.trade_common import (
    QuoteId,
    connections_of,
    form_error,
    labels_of,
    problem_page,
    state_badge,
    traders_of,
)
from tresor.services.trading import MAX_KEY_LENGTH, ROOM_FOR_DERIVED_KEYS

router = APIRouter(include_in_schema=False)
Small = Annotated[str, Form(max_length=64)]
MAX_CONNECTIONS = 50


def percent_of(fraction: str | None) -> Decimal | None:
    """A fraction the API gives as text (a slippage) in percent, exactly."""
    return None if fraction is None else Decimal(fraction) * 100


def blank_form() -> dict[str, Any]:
    return {
        "side": "buy",
        "base": "",
        "quote": "USDT",
        "amount": "",
        "allowance": "0.002",
        "connection_ids": [],
    }


async def _route_page(
    request: Request,
    who: WebUser,
    *,
    form: dict[str, Any] | None = None,
    error: TresorError | None = None,
    quoted: RouteQuotePublic | None = None,
    execution: RouteExecutionPublic | None = None,
) -> Response:
    connections = await connections_of(request, who)
    context = {
        "who": who,
        "form": form or blank_form(),
        "traders": traders_of(connections),
        "labels": labels_of(connections),
        "quoted": quoted,
        "execute_key": str(uuid.uuid4()),
        "execution": execution,
        "leg_badges": {}
        if execution is None
        else {leg.position: state_badge(leg.state) for leg in execution.legs},
        "venues": (error.details.get("venues") or []) if error is not None else [],
        "percent_of": percent_of,
    }
    return problem_page(request, "trade_route.html", context, error)


@router.get("/trade/route")
async def route_form(request: Request, who: Viewer) -> Response:
    who.require(Scope.TRADE)
    return await _route_page(request, who)


@router.post("/trade/route/quote")
async def quote_route(
    request: Request,
    who: Actor,
    side: Annotated[str, Form(max_length=8)],
    base: Small,
    quote: Small,
    amount: Small,
    allowance: Small = "0.002",
    connection_ids: Annotated[
        list[Annotated[str, StringConstraints(max_length=100)]] | None,
        Form(max_length=MAX_CONNECTIONS),
    ] = None,
) -> Response:
    """The best plan over the connections ticked (all of them when none is)."""
    who.require(Scope.TRADE)
    form = {
        "side": side,
        "base": base.strip(),
        "quote": quote.strip(),
        "amount": amount.strip(),
        "allowance": allowance.strip() or "0.002",
        "connection_ids": connection_ids or [],
    }
    try:
        body = RouteQuoteCreate.model_validate(
            {**form, "connection_ids": form["connection_ids"] or None}
        )
    except ValidationError as e:
        return await _route_page(request, who, form=form, error=form_error(e))
    try:
        quoted = await container_of(request).routing.quote(
            who.user_id,
            side=body.side,
            base=body.base.upper(),
            quote=body.quote.upper(),
            amount=body.decimal_amount(),
            connection_ids=body.connection_ids,
            allowance=Decimal(body.allowance),
        )
    except (InputError, ExchangeTrouble, KeyRejected) as e:
        return await _route_page(request, who, form=form, error=e)
    return await _route_page(request, who, form=form, quoted=RouteQuotePublic.of(quoted))


@router.post("/trade/route/{quote_id}/execute")
async def execute_route(
    request: Request,
    quote_id: QuoteId,
    who: Actor,
    idempotency_key: Annotated[
        str, Form(min_length=1, max_length=MAX_KEY_LENGTH - ROOM_FOR_DERIVED_KEYS)
    ],
) -> Response:
    """Place every leg of the quote, each once; the same key again shows the same execution."""
    who.require(Scope.TRADE)
    try:
        execution = await container_of(request).routing.execute(
            who.user_id, quote_id, idempotency_key=idempotency_key
        )
    except (Conflict, InputError, ExchangeTrouble) as e:
        return await _route_page(request, who, error=e)
    return await _route_page(request, who, execution=RouteExecutionPublic.of(execution))
