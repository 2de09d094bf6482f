"""The assets page: every asset across the user's connections (amount, value in the user's
quote, share of the whole), each with its split per connection (free, locked, total, value);
or, ``by=connection``, every connection with its holdings.

The figures are ``PortfolioService.portfolio``'s, the same as ``GET /v1/portfolio`` answers:
the page picks and groups them, it computes no value. ``q`` keeps the assets whose name
contains it (any case). ``hide_dust`` hides what is worth less than ``DUST`` units of the quote
(an asset by its total value; a holding, in the per-connection view, by its own), and unpriced
holdings of nothing; unpriced holdings of something stay, since their worth is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tresor.domain.access import Scope
from tresor.domain.portfolio import AssetTotal, ConnectionHoldings, Holding
from tresor.entrypoints.web.labels import badge
from tresor.entrypoints.web.query import blank
from tresor.entrypoints.web.render import Renderer
from tresor.entrypoints.web.session import Viewer, container_of

router = APIRouter(include_in_schema=False)
DUST = Decimal(1)  # in units of the user's quote currency


def is_dust(value: Decimal | None, amount: Decimal) -> bool:
    """Worth less than ``DUST``, or unpriced and nothing."""
    return amount == 0 if value is None else value < DUST


@dataclass(frozen=True, slots=True)
class Part:
    """One connection's holding of an asset."""

    connection: ConnectionHoldings
    holding: Holding


@dataclass(frozen=True, slots=True)
class AssetRow:
    asset: AssetTotal
    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class ConnectionRow:
    connection: ConnectionHoldings
    holdings: tuple[Holding, ...]


@router.get("/assets")
async def assets(
    request: Request,
    who: Viewer,
    q: Annotated[str | None, Query(max_length=32)] = None,
    hide_dust: Annotated[bool, Query()] = False,
    by: Annotated[Literal["asset", "connection"], Query()] = "asset",
) -> Response:
    who.require(Scope.READ)
    portfolio = await container_of(request).portfolio.portfolio(who.user_id, quote=who.quote)
    needle = (blank(q) or "").casefold()

    def shown(asset: str) -> bool:
        return needle in asset.casefold()

    rows: list[AssetRow] = []
    hidden_assets = 0
    for total in portfolio.assets:
        if not shown(total.asset):
            continue
        if hide_dust and is_dust(total.value, total.total):
            hidden_assets += 1
            continue
        parts = tuple(
            Part(c, h) for c in portfolio.connections for h in c.holdings if h.asset == total.asset
        )
        rows.append(AssetRow(total, parts))
    by_connection: list[ConnectionRow] = []
    hidden_holdings = 0
    for c in portfolio.connections:
        found = [h for h in c.holdings if shown(h.asset)]
        kept = tuple(h for h in found if not (hide_dust and is_dust(h.value, h.total)))
        hidden_holdings += len(found) - len(kept)
        by_connection.append(ConnectionRow(c, kept))
    renderer: Renderer = request.app.state.renderer
    return renderer.page(
        request,
        "assets_index.html",
        {
            "who": who,
            "portfolio": portfolio,
            "rows": rows,
            "connections": by_connection,
            "badges": {c.connection_id: badge(c.status) for c in portfolio.connections},
            "q": blank(q) or "",
            "hide_dust": hide_dust,
            "by": by,
            "dust": DUST,
            "hidden": hidden_assets if by == "asset" else hidden_holdings,
        },
    )
