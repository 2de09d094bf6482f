"""``/v1/logs`` (the exchange request log), ``/v1/events`` (alerts) and ``/v1/sync/gaps`` (the
history the exchanges no longer keep).

Scope ``read``; only the caller's connections and events. Another user's ``connection_id`` is
404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tresor.entrypoints.api.deps import Portfolios, Reader
from tresor.entrypoints.api.params import ConnectionFilter, Cursor, Limit, Since, Until, to_ms
from tresor.entrypoints.api.routes.portfolio import ERRORS
from tresor.entrypoints.api.schemas_portfolio import (
    CallPage,
    CallPublic,
    EventPage,
    EventPublic,
    GapList,
    GapPublic,
)
from tresor.services.portfolio import DEFAULT_LIMIT, LogFilter

router = APIRouter(prefix="/v1", tags=["activity"])


@router.get("/logs", response_model=CallPage, responses=ERRORS)
async def logs(
    who: Reader,
    service: Portfolios,
    connection_id: ConnectionFilter = None,
    status: Annotated[int | None, Query(ge=100, le=599, description="HTTP status")] = None,
    errors_only: Annotated[
        bool, Query(description="Only failures: no answer, or a status of 400 or more.")
    ] = False,
    method: Annotated[
        str | None, Query(min_length=1, max_length=10, pattern=r"^[A-Za-z]+$")
    ] = None,
    path_prefix: Annotated[
        str | None,
        Query(min_length=1, max_length=200, pattern=r"^[!-~]+$", examples=["/api/v3/myTrades"]),
    ] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> CallPage:
    """Every request Tresor made to an exchange for your connections, newest first: method,
    path, status, latency and request weight (never keys, signatures or answers)."""
    page = await service.logs(
        who.user_id,
        LogFilter(
            connection_id=connection_id,
            status=status,
            errors_only=errors_only,
            method=method,
            path_prefix=path_prefix,
            since_ms=to_ms(since, "since"),
            until_ms=to_ms(until, "until"),
        ),
        cursor=cursor,
        limit=limit,
    )
    return CallPage(items=[CallPublic.of(c) for c in page.items], next_cursor=page.next_cursor)


@router.get("/events", response_model=EventPage, responses=ERRORS)
async def events(
    who: Reader, service: Portfolios, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> EventPage:
    """Alerts and status changes of your connections (sync failing, paused, stale,
    recovered ...), newest first."""
    page = await service.events(who.user_id, cursor=cursor, limit=limit)
    return EventPage(items=[EventPublic.of(e) for e in page.items], next_cursor=page.next_cursor)


@router.get("/sync/gaps", response_model=GapList, responses=ERRORS)
async def gaps(who: Reader, service: Portfolios, connection_id: ConnectionFilter = None) -> GapList:
    """Stretches of history an exchange no longer keeps (its retention limits): known to be
    missing, rather than silently absent."""
    found = await service.gaps(who.user_id, connection_id=connection_id)
    return GapList(items=[GapPublic.of(g) for g in found])
