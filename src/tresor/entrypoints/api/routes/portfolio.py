"""``/v1/portfolio``: the user's holdings valued now, and their value over time.

Scope ``read``. A ``connection_id`` that is not the caller's is 404, as one that does not exist.
The portfolio's answer is written by ``render.PortfolioRenderer`` (one per application), the
same document ``PortfolioPublic`` describes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tresor.entrypoints.api.deps import Portfolios, Reader
from tresor.entrypoints.api.params import (
    ConnectionFilter,
    Interval,
    Quote,
    Since,
    Until,
    interval_ms,
    to_ms,
)
from tresor.entrypoints.api.render import PortfolioRenderer
from tresor.entrypoints.api.schemas_portfolio import HistoryPublic, PortfolioPublic

router = APIRouter(prefix="/v1/portfolio", tags=["portfolio"])
ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "missing or invalid token"},
    403: {"description": "the token lacks the 'read' scope"},
    404: {"description": "no such connection (or not yours)"},
    422: {"description": "invalid parameters (validation_failed)"},
}


def _renderer(request: Request) -> PortfolioRenderer:
    state = request.app.state
    found: PortfolioRenderer | None = getattr(state, "portfolio_renderer", None)
    if found is None:
        found = state.portfolio_renderer = PortfolioRenderer()
    return found


@router.get("", response_model=PortfolioPublic, responses=ERRORS)
async def portfolio(
    request: Request,
    who: Reader,
    service: Portfolios,
    quote: Quote = "USD",
    connection_id: ConnectionFilter = None,
) -> Response:
    """Every connection's latest balances valued in `quote` at the prices taken with them,
    with each snapshot's freshness, the totals per asset, their allocation and the total."""
    found = await service.portfolio(who.user_id, quote=quote.upper(), connection_id=connection_id)
    return Response(_renderer(request).render(found), media_type="application/json")


@router.get("/history", response_model=HistoryPublic, responses=ERRORS)
async def history(
    who: Reader,
    service: Portfolios,
    since: Since = None,
    until: Until = None,
    interval: Interval = None,
    connection_id: ConnectionFilter = None,
    quote: Quote = "USD",
) -> HistoryPublic:
    """The total value per time bucket (default: the last 7 days): in each bucket, every
    connection's latest snapshot taken before the bucket's end, valued at its own prices."""
    found = await service.history(
        who.user_id,
        since_ms=to_ms(since, "since"),
        until_ms=to_ms(until, "until"),
        interval_ms=interval_ms(interval),
        connection_id=connection_id,
        quote=quote.upper(),
    )
    return HistoryPublic.of(found)
