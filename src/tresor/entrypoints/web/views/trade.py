"""The dashboard's trade pages: the order ticket, the open orders (cancel, details), and,
included from their own modules, the smart route (``trade_route``) and the rebalancing rules
(``trade_rules``).

Every action goes through the services the REST routes call, with the same scopes:
``container.orders`` (``/v1/orders``: ``trade``, also for reading orders), the router and the
rules. The ticket carries an Idempotency-Key made when the page is rendered, so a form sent
twice (a double click, a reload of the answer) is one order: the service answers the same key
and body with the same order. A refusal is kept for its key, so the ticket shown again with
the refusal carries a new key (the corrected order is a new request); after a trouble that
sent nothing (the exchange unavailable, a key still being handled) it keeps the same one, so
sending it again can never become a second order.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from tresor.domain.access import Scope
from tresor.domain.connections import Connection
from tresor.domain.errors import (
    Conflict,
    ExchangeTrouble,
    IdempotencyInProgress,
    InputError,
    KeyRejected,
    OrderRefused,
    TresorError,
)
from tresor.domain.orders import OrderState, PlacedOrder
from tresor.entrypoints.api.params import Cursor
from tresor.entrypoints.api.schemas_orders import OrderCreate
from tresor.entrypoints.web.session import Actor, Viewer, WebUser, container_of
from tresor.entrypoints.web.views import trade_route, trade_rules
from tresor.entrypoints.web.views.trade_common import (
    MaybeOrderId,
    OrderId,
    can_trade,
    connections_of,
    form_error,
    labels_of,
    problem_page,
    state_badge,
    traders_of,
)
from tresor.services.portfolio import MAX_LIMIT, RecordFilter
from tresor.services.trading import MAX_KEY_LENGTH

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
# how long an order's page waits for the exchange's word on an order that is not final
ORDER_ASK_WAIT_S = 0.06
_ASKING: set[asyncio.Future[PlacedOrder]] = set()  # asks outliving their page, until done
router.include_router(trade_route.router)
router.include_router(trade_rules.router)

OPEN_STATES = (OrderState.PENDING, OrderState.UNKNOWN, OrderState.OPEN)
PAGE = 50  # open orders a page
MAX_SYMBOLS = 2000  # offered in the symbol field's list
FILL_SLACK_MS = 60_000  # fills are looked for from this long before the order was created
Field = Annotated[str, Form(max_length=100)]
Number = Annotated[str, Form(max_length=64)]


def new_key() -> str:
    return str(uuid.uuid4())


def blank_ticket(connections: Sequence[Connection]) -> dict[str, str]:
    first = next((c.id for c in connections if can_trade(c)), "")
    return {
        "connection_id": first,
        "symbol": "",
        "side": "buy",
        "type": "limit",
        "amount": "",
        "price": "",
        "idempotency_key": new_key(),
    }


async def _symbols(request: Request, connections: Sequence[Connection]) -> list[str]:
    """The markets of the endpoints the user trades on, for the symbol field's suggestions:
    the endpoint's markets are loaded once an hour, so this is usually no request at all."""
    market = container_of(request).market
    endpoints = sorted({c.endpoint for c in connections if c.endpoint and can_trade(c)})

    async def one(endpoint: str) -> tuple[str, ...]:
        try:
            return await market.symbols(endpoint)
        except TresorError:  # an endpoint not served here, or not answering: free text
            return ()

    found = await asyncio.gather(*(one(e) for e in endpoints))
    return sorted({s for symbols in found for s in symbols})[:MAX_SYMBOLS]


async def _notice(request: Request, who: WebUser, order_id: str | None, verb: str) -> str | None:
    if order_id is None:
        return None
    order = await container_of(request).orders.get(who.user_id, order_id, refresh=False)
    state = state_badge(order.state.value)
    return f"Order {order.id} {verb}: {state.text}. {state.meaning}"


async def _trade_page(
    request: Request,
    who: WebUser,
    *,
    ticket: dict[str, str] | None = None,
    error: TresorError | None = None,
    cursor: str | None = None,
    notice: str | None = None,
) -> Response:
    """The ticket (``ticket``: the fields as sent, or a new one) and a page of open orders."""
    who.require(Scope.TRADE)
    connections = await connections_of(request, who)
    page = await container_of(request).orders.list(
        who.user_id, states=OPEN_STATES, cursor=cursor, limit=PAGE
    )
    context: dict[str, Any] = {
        "who": who,
        "notice": notice,
        "ticket": ticket or blank_ticket(connections),
        "traders": traders_of(connections),
        "labels": labels_of(connections),
        "symbols": await _symbols(request, connections),
        "orders": [(o, state_badge(o.state.value)) for o in page.items],
        "next_url": None if page.next_cursor is None else f"/trade?cursor={page.next_cursor}",
    }
    return problem_page(request, "trade.html", context, error)


@router.get("/trade")
async def trade(
    request: Request,
    who: Viewer,
    cursor: Cursor = None,
    placed: MaybeOrderId = None,
    cancelled: MaybeOrderId = None,
) -> Response:
    who.require(Scope.TRADE)
    notice = await _notice(request, who, placed, "placed") or await _notice(
        request, who, cancelled, "cancelled"
    )
    return await _trade_page(request, who, cursor=cursor, notice=notice)


@router.post("/trade/orders")
async def place_order(
    request: Request,
    who: Actor,
    idempotency_key: Annotated[str, Form(min_length=1, max_length=MAX_KEY_LENGTH)],
    connection_id: Field,
    symbol: Annotated[str, Form(max_length=50)],
    side: Annotated[str, Form(max_length=8)],
    kind: Annotated[str, Form(alias="type", max_length=8)],
    amount: Number,
    price: Number = "",
) -> Response:
    """Place the ticket's order once for its Idempotency-Key (``POST /v1/orders``)."""
    who.require(Scope.TRADE)
    ticket = {
        "connection_id": connection_id,
        "symbol": symbol.strip(),
        "side": side,
        "type": kind,
        "amount": amount.strip(),
        "price": price.strip(),
        "idempotency_key": idempotency_key,
    }
    try:
        fields = {k: v for k, v in ticket.items() if k != "idempotency_key"}
        body = OrderCreate.model_validate({**fields, "price": ticket["price"] or None})
    except ValidationError as e:
        return await _trade_page(request, who, ticket=ticket, error=form_error(e))
    try:
        placed = await container_of(request).orders.place(
            who.user_id, body.request(), idempotency_key=idempotency_key, source="dashboard"
        )
    except (ExchangeTrouble, IdempotencyInProgress) as e:
        # nothing was placed, or the first request is still being handled: the same key
        # again is safe, and names the same order
        return await _trade_page(request, who, ticket=ticket, error=e)
    except (OrderRefused, InputError, KeyRejected, Conflict) as e:
        # kept as this key's answer: the corrected order is a new request with a new key
        return await _trade_page(
            request, who, ticket={**ticket, "idempotency_key": new_key()}, error=e
        )
    return RedirectResponse(f"/trade?placed={placed.order.id}", status_code=303)


@router.post("/trade/orders/{order_id}/cancel")
async def cancel_order(
    request: Request,
    order_id: OrderId,
    who: Actor,
    back: Annotated[Literal["list", "order"], Form()] = "list",
) -> Response:
    """Cancel an open order (``DELETE /v1/orders/{id}``)."""
    who.require(Scope.TRADE)
    try:
        order = await container_of(request).orders.cancel(who.user_id, order_id)
    except (Conflict, ExchangeTrouble, KeyRejected, OrderRefused) as e:
        if back == "order":
            return await _order_page(request, who, order_id, error=e)
        return await _trade_page(request, who, error=e)
    if back == "order":
        return RedirectResponse(f"/trade/orders/{order.id}", status_code=303)
    return RedirectResponse(f"/trade?cancelled={order.id}", status_code=303)


async def _fills(request: Request, who: WebUser, order: PlacedOrder, known: bool) -> list[Any]:
    """The order's fills among the connection's recorded trades (``GET /v1/trades``)."""
    if order.exchange_order_id is None or not known:
        return []
    who.require(Scope.READ)
    r = order.request
    page = await container_of(request).portfolio.trades(
        who.user_id,
        RecordFilter(
            connection_id=r.connection_id,
            symbol=r.symbol,
            since_ms=order.created_ms - FILL_SLACK_MS,
        ),
        limit=MAX_LIMIT,
    )
    return [t for t in page.items if t.order_id == order.exchange_order_id]


async def _order_page(
    request: Request, who: WebUser, order_id: str, *, error: TresorError | None = None
) -> Response:
    who.require(Scope.TRADE)
    order, asking = await _order_now(request, who, order_id)
    labels = labels_of(await connections_of(request, who))
    known = order.request.connection_id in labels
    context = {
        "who": who,
        "order": order,
        "state": state_badge(order.state.value),
        "label": labels.get(order.request.connection_id, order.request.connection_id),
        "fills": await _fills(request, who, order, known),
        "asking": asking,
    }
    return problem_page(request, "trade_order.html", context, error)


async def _order_now(request: Request, who: WebUser, order_id: str) -> tuple[PlacedOrder, bool]:
    """The order as ``GET /v1/orders/{id}`` gives it (asked of the exchange while not final),
    waiting at most ``ORDER_ASK_WAIT_S`` for the exchange: past that the page shows the order
    as stored and says it is being asked (the answer is stored when it comes, for the next
    view), so a slow exchange never holds the page. Second: whether it is still being asked."""
    orders = container_of(request).orders
    asked = asyncio.ensure_future(orders.get(who.user_id, order_id))
    try:
        return await asyncio.wait_for(asyncio.shield(asked), ORDER_ASK_WAIT_S), False
    except TimeoutError:
        _ASKING.add(asked)
        asked.add_done_callback(_asked)
        return await orders.get(who.user_id, order_id, refresh=False), True


def _asked(task: asyncio.Future[PlacedOrder]) -> None:
    _ASKING.discard(task)
    if not task.cancelled() and task.exception() is not None:  # recorded by the service
        log.info("asking the exchange for an order failed: %s", task.exception())


@router.get("/trade/orders/{order_id}")
async def order_detail(request: Request, order_id: OrderId, who: Viewer) -> Response:
    """One order (``GET /v1/orders/{id}``: asked of the exchange while not final), its fills."""
    return await _order_page(request, who, order_id)
