"""``/v1/orders`` for trading (scope ``trade``): place an order (``POST``, with an
``Idempotency-Key``), read one (refreshed from the exchange while it is open), cancel one, and
list the orders Tresor placed that are still open. Another user's order is 404.

(``GET /v1/orders``, the synced order history of every connection, is in ``records``.)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from tresor.domain.orders import OrderState
from tresor.entrypoints.api.deps import Orders, TradeScope
from tresor.entrypoints.api.params import ConnectionFilter, Cursor, Limit
from tresor.entrypoints.api.schemas_orders import OrderCreate, PlacedOrderList, PlacedOrderPublic
from tresor.services.portfolio import DEFAULT_LIMIT
from tresor.services.trading import MAX_KEY_LENGTH

router = APIRouter(prefix="/v1/orders", tags=["trading"])

ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "missing or invalid token"},
    403: {"description": "the token lacks the 'trade' scope"},
    404: {"description": "no such order or connection (or not yours)"},
    409: {"description": "idempotency_key_reused, idempotency_in_progress, order_not_open"},
    422: {
        "description": "invalid_order (with the failing rule), insufficient_funds, "
        "market_closed, unknown_symbol, trade_key_required, validation_failed, key errors"
    },
    503: {"description": "the exchange could not be used (rate_limited, exchange_unavailable)"},
}
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description="A unique value per new order (a UUID, say). Sending the same key and body "
        "again returns the same order; the same key with another body is refused.",
    ),
]
OPEN_STATES = (OrderState.PENDING, OrderState.UNKNOWN, OrderState.OPEN)


@router.post(
    "",
    response_model=PlacedOrderPublic,
    status_code=201,
    responses={**ERRORS, 202: {"description": "sent, outcome not known yet (state 'unknown')"}},
)
async def place_order(
    body: OrderCreate,
    who: TradeScope,
    service: Orders,
    idempotency_key: IdempotencyKey,
) -> Response:
    """Check the order against the market's rules and your free balance, then send it, once.

    201: the exchange answered (the order may be open, filled, or expired). 202: the answer was
    lost; Tresor looks the order up by its client order id and never sends it twice: read it
    again with GET /v1/orders/{id}. A request repeated with the same key gets the same order
    (`Idempotent-Replayed: true`)."""
    placed = await service.place(who.user_id, body.request(), idempotency_key=idempotency_key)
    # the answer serialized here, by pydantic in one step: what FastAPI would do with the
    # returned model (validate it against ``response_model`` again, turn it into Python
    # values, encode those) costs more on every order
    return Response(
        PlacedOrderPublic.of(placed.order).model_dump_json(),
        status_code=201 if placed.order.state.settled else 202,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"} if placed.replayed else None,
    )


@router.get("/open", response_model=PlacedOrderList, responses=ERRORS)
async def open_orders(
    who: TradeScope,
    service: Orders,
    connection_id: ConnectionFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> PlacedOrderList:
    """The orders Tresor placed that are not final (pending, unknown or open), newest first,
    as last known (the tracker refreshes them every few seconds); a page at a time (``limit``,
    then ``cursor`` = the previous page's ``next_cursor``)."""
    page = await service.list(
        who.user_id, states=OPEN_STATES, connection_id=connection_id, cursor=cursor, limit=limit
    )
    return PlacedOrderList(
        items=[PlacedOrderPublic.of(o) for o in page.items], next_cursor=page.next_cursor
    )


@router.get("/{order_id}", response_model=PlacedOrderPublic, responses=ERRORS)
async def get_order(order_id: str, who: TradeScope, service: Orders) -> PlacedOrderPublic:
    """One order placed through Tresor; asked of the exchange first while it is not final."""
    return PlacedOrderPublic.of(await service.get(who.user_id, order_id))


@router.delete("/{order_id}", response_model=PlacedOrderPublic, responses=ERRORS)
async def cancel_order(order_id: str, who: TradeScope, service: Orders) -> PlacedOrderPublic:
    """Cancel an open order; the answer is the order as the exchange reported it after."""
    return PlacedOrderPublic.of(await service.cancel(who.user_id, order_id))
