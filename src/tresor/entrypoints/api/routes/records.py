"""``/v1/trades``, ``/v1/orders``, ``/v1/transfers``: the synced records, newest first, a page
at a time (``limit``, then ``cursor`` = the previous page's ``next_cursor``).

Scope ``read``. Without ``connection_id``, every connection of the caller; another user's
``connection_id`` is 404. The trades' answer is written by ``render.TradeRenderer`` (one per
application), the same document ``TradePage`` describes.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response

from tresor.entrypoints.api.deps import Portfolios, Reader
from tresor.entrypoints.api.params import (
    AssetFilter,
    ConnectionFilter,
    Cursor,
    Limit,
    Since,
    SymbolFilter,
    Until,
    to_ms,
)
from tresor.entrypoints.api.render import TradeRenderer
from tresor.entrypoints.api.routes.portfolio import ERRORS
from tresor.entrypoints.api.schemas_records import (
    OrderPage,
    OrderPublic,
    TradePage,
    TransferPage,
    TransferPublic,
)
from tresor.services.portfolio import DEFAULT_LIMIT, RecordFilter

router = APIRouter(prefix="/v1", tags=["records"])
Side = Literal["buy", "sell"]


def _renderer(request: Request) -> TradeRenderer:
    state = request.app.state
    found: TradeRenderer | None = getattr(state, "trade_renderer", None)
    if found is None:
        found = state.trade_renderer = TradeRenderer()
    return found


@router.get("/trades", response_model=TradePage, responses=ERRORS)
async def trades(
    request: Request,
    who: Reader,
    service: Portfolios,
    connection_id: ConnectionFilter = None,
    symbol: SymbolFilter = None,
    asset: AssetFilter = None,
    side: Side | None = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Fills of the account's orders; `asset` matches either side of the symbol."""
    page = await service.trades(
        who.user_id,
        RecordFilter(
            connection_id=connection_id,
            symbol=symbol,
            asset=asset,
            side=side,
            since_ms=to_ms(since, "since"),
            until_ms=to_ms(until, "until"),
        ),
        cursor=cursor,
        limit=limit,
    )
    body = _renderer(request).render(page.items, page.next_cursor)
    return Response(body, media_type="application/json")


@router.get("/orders", response_model=OrderPage, responses=ERRORS)
async def orders(
    who: Reader,
    service: Portfolios,
    connection_id: ConnectionFilter = None,
    symbol: SymbolFilter = None,
    side: Side | None = None,
    status: Literal["open", "closed", "canceled", "expired", "rejected"] | None = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> OrderPage:
    """Orders as last reported, newest created first (`since`/`until` apply to creation)."""
    page = await service.orders(
        who.user_id,
        RecordFilter(
            connection_id=connection_id,
            symbol=symbol,
            side=side,
            status=status,
            since_ms=to_ms(since, "since"),
            until_ms=to_ms(until, "until"),
        ),
        cursor=cursor,
        limit=limit,
    )
    return OrderPage(items=[OrderPublic.of(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/transfers", response_model=TransferPage, responses=ERRORS)
async def transfers(
    who: Reader,
    service: Portfolios,
    connection_id: ConnectionFilter = None,
    asset: AssetFilter = None,
    kind: Literal["deposit", "withdrawal"] | None = None,
    status: Literal["pending", "ok", "failed", "canceled"] | None = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> TransferPage:
    """Deposits and withdrawals read from the exchanges' history."""
    page = await service.transfers(
        who.user_id,
        RecordFilter(
            connection_id=connection_id,
            asset=asset,
            kind=kind,
            status=status,
            since_ms=to_ms(since, "since"),
            until_ms=to_ms(until, "until"),
        ),
        cursor=cursor,
        limit=limit,
    )
    return TransferPage(
        items=[TransferPublic.of(r) for r in page.items], next_cursor=page.next_cursor
    )
