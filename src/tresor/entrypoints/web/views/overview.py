"""The overview: net worth in the user's quote currency with its change over the chosen range,
its value over time, the allocation, and one card per connection (status, freshness, "sync
now").

The figures are the services' own (``PortfolioService.portfolio`` and ``history``), the same
as ``GET /v1/portfolio`` and ``/v1/portfolio/history`` answer: the page formats, it does not
compute a second valuation.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from tresor.domain.access import Scope
from tresor.domain.portfolio import default_interval_ms
from tresor.entrypoints.web import charts
from tresor.entrypoints.web.labels import badge
from tresor.entrypoints.web.render import Renderer, when_short
from tresor.entrypoints.web.session import Actor, Viewer, container_of

router = APIRouter(include_in_schema=False)
HOUR_MS = 3_600_000
RANGES = {"24h": 24 * HOUR_MS, "7d": 7 * 24 * HOUR_MS, "30d": 30 * 24 * HOUR_MS}
Range = Literal["24h", "7d", "30d"]
# a range whose values fill fewer buckets than this is drawn over its known part only: a
# connection added minutes ago shows minutes of history, not one point at the end of a week
MIN_KNOWN_BUCKETS = 8
MIN_ZOOM_MS = 120_000
# the chart is 720 px wide: 200 points at most (24h by 15 minutes, 7d by the hour, 30d by
# 4 hours) draw the same line as the API's 500, at less than half the reading
CHART_POINTS = 200
ConnectionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]


def change_of(points: list[tuple[int, Decimal | None]]) -> tuple[Decimal, Decimal | None] | None:
    """The change from the range's first known value to its last, and in percent."""
    known = [v for _, v in points if v is not None]
    if len(known) < 2:
        return None
    first, last = known[0], known[-1]
    pct = (last - first) / first * 100 if first else None
    return last - first, pct


@router.get("/")
async def overview(
    request: Request,
    who: Viewer,
    range: Annotated[Range, Query()] = "7d",
) -> Response:
    who.require(Scope.READ)
    services = container_of(request)
    portfolio = await services.portfolio.portfolio(who.user_id, quote=who.quote)
    until = portfolio.at_ms
    since = until - RANGES[range]
    history = await services.portfolio.history(
        who.user_id,
        since_ms=since,
        until_ms=until,
        interval_ms=default_interval_ms(since, until, CHART_POINTS),
        quote=who.quote,
    )
    known = [p for p in history.points if p.value is not None]
    since_ms: int | None = None
    if 0 < len(known) < MIN_KNOWN_BUCKETS and until - known[0].start_ms >= MIN_ZOOM_MS:
        since_ms = known[0].start_ms
        history = await services.portfolio.history(
            who.user_id,
            since_ms=since_ms,
            until_ms=until,
            interval_ms=default_interval_ms(since_ms, until, CHART_POINTS),
            quote=who.quote,
        )
    points = [(p.end_ms, p.value) for p in history.points]
    span = (
        f"since {when_short(since_ms, who.timezone)}" if since_ms is not None else f"over {range}"
    )
    parts = charts.slices([(a.asset, a.allocation) for a in portfolio.assets])
    renderer: Renderer = request.app.state.renderer
    return renderer.page(
        request,
        "overview.html",
        {
            "who": who,
            "portfolio": portfolio,
            "range": range,
            "span": span,
            "ranges": list(RANGES),
            "change": change_of(points),
            "line": charts.line_chart(points, title=f"Net worth in {who.quote} {span}"),
            "donut": charts.donut(parts, title="Allocation by asset"),
            "slices": parts,
            "cards": [(c, badge(c.status)) for c in portfolio.connections],
        },
    )


@router.post("/connections/{connection_id}/sync")
async def sync_now(request: Request, connection_id: ConnectionId, who: Actor) -> Response:
    """Make the connection's sync due now; the scheduler runs it within a second."""
    who.require(Scope.READ)
    await container_of(request).sync.sync_soon(who.user_id, connection_id)
    back = request.headers.get("referer") or "/"
    if not back.startswith(str(request.base_url)):
        back = "/"
    return RedirectResponse(back, status_code=303)
