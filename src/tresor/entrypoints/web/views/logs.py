"""The request log, the alerts and the gaps in the history.

- ``GET /logs``: every request Tresor made to an exchange for the user's connections, newest
  first, with the filters of ``GET /v1/logs`` (status, errors only, method, path prefix,
  connection, dates) and paging; never a key, a signature or an answer's body (the log holds
  none).
- ``GET /alerts``: the user's events (``GET /v1/events``), newest first, a page at a time, with
  their severity; and the gaps, in short.
- ``GET /gaps``: the stretches of history the exchanges no longer keep (``GET /v1/sync/gaps``),
  each with the exchange's reason: missing for good, not by mistake. The gaps of one
  connection's dataset for one reason are one row, with the markets they are on (a retention
  limit strikes every market alike: one row per market was thousands of rows).

All through ``PortfolioService``, as the API; another user's connection is a 404 page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tresor.domain.access import Scope
from tresor.domain.errors import ValidationFailed
from tresor.domain.paging import Listing
from tresor.domain.records import Dataset, Gap, StoredCall
from tresor.domain.sync import Event
from tresor.entrypoints.web import query
from tresor.entrypoints.web.labels import Badge
from tresor.entrypoints.web.render import Renderer
from tresor.entrypoints.web.session import Viewer, WebUser, container_of
from tresor.services.portfolio import LogFilter

router = APIRouter(include_in_schema=False)
METHODS = ("GET", "POST", "PUT", "DELETE")
Text = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query()]
_STATUS = re.compile(r"^[1-5][0-9]{2}$")
_PATH = re.compile(r"^[!-~]{1,200}$")
SEVERITY = {
    "info": Badge("Info", "busy", "For your information."),
    "warning": Badge("Warning", "warn", "Worth a look: Tresor keeps trying."),
    "error": Badge("Error", "bad", "Needs you: see the message."),
}


def status_badge(status: int | None) -> Badge:
    """A request's answer at a glance: none, a success, a refusal, the exchange failing."""
    if status is None:
        return Badge("No answer", "bad", "A network error or a timeout.")
    if status < 400:
        return Badge(str(status), "ok", "Answered.")
    if status < 500:
        return Badge(str(status), "warn", "Refused by the exchange.")
    return Badge(str(status), "bad", "The exchange failed.")


def severity_badge(severity: str) -> Badge:
    return SEVERITY.get(severity, Badge(severity.capitalize(), "warn", ""))


def _log_filter(
    who: WebUser,
    connection_id: str | None,
    status: str | None,
    errors_only: bool,
    method: str | None,
    path_prefix: str | None,
    since: str | None,
    until: str | None,
) -> LogFilter:
    """Raises: ValidationFailed."""
    zone = query.zone_of(who.timezone)
    code = query.blank(status)
    if code is not None and not _STATUS.fullmatch(code):
        raise ValidationFailed(
            f"'status' is not an HTTP status: {code[:20]!r}.",
            remedy="Give a status between 100 and 599, e.g. 429, or leave it empty.",
            details={"field": "status"},
        )
    prefix = query.blank(path_prefix)
    if prefix is not None and not _PATH.fullmatch(prefix):
        raise ValidationFailed(
            "'path_prefix' must be the start of a path, without spaces.",
            remedy="Give the start of an exchange path, e.g. /api/v3/myTrades.",
            details={"field": "path_prefix"},
        )
    chosen = query.blank(method)
    return LogFilter(
        connection_id=query.blank(connection_id),
        status=None if code is None else int(code),
        errors_only=errors_only,
        method=query.choice(chosen.upper() if chosen else None, "method", METHODS),
        path_prefix=prefix,
        since_ms=query.moment_ms(since, "since", zone),
        until_ms=query.moment_ms(until, "until", zone, end=True),
    )


@router.get("/logs")
async def logs(
    request: Request,
    who: Viewer,
    connection_id: query.ConnectionField = None,
    status: Text = None,
    errors_only: Annotated[bool, Query()] = False,
    method: Text = None,
    path_prefix: Text = None,
    since: Text = None,
    until: Text = None,
    limit: Limit = query.PAGE_SIZE,
    cursor: query.CursorField = None,
) -> Response:
    who.require(Scope.READ)
    form = {
        "connection_id": query.blank(connection_id),
        "status": query.blank(status),
        "errors_only": "true" if errors_only else None,
        "method": query.blank(method),
        "path_prefix": query.blank(path_prefix),
        "since": query.blank(since),
        "until": query.blank(until),
    }
    labels = await query.connection_labels(request, who)
    error: ValidationFailed | None = None
    listing: Listing[StoredCall] = Listing((), None)
    try:
        filters = _log_filter(
            who, connection_id, status, errors_only, method, path_prefix, since, until
        )
        listing = await container_of(request).portfolio.logs(
            who.user_id, filters, cursor=query.blank(cursor), limit=limit
        )
    except ValidationFailed as e:
        error = e
    renderer: Renderer = request.app.state.renderer
    return renderer.page(
        request,
        "logs_requests.html",
        {
            "who": who,
            "rows": [(c, status_badge(c.call.status)) for c in listing.items],
            "labels": labels,
            "form": {k: v or "" for k, v in form.items()},
            "methods": METHODS,
            "limit": limit,
            "limits": query.page_sizes(limit),
            "error": error,
            **query.pager("/logs", form, limit, cursor, listing.next_cursor),
        },
        status=422 if error else 200,
    )


@dataclass(frozen=True, slots=True)
class GapRow:
    """The gaps of one connection's dataset for one reason: from the earliest start to the
    latest end, on ``markets``."""

    connection_id: str
    dataset: Dataset
    reason: str
    start_ms: int
    end_ms: int
    markets: tuple[str, ...]


def gap_rows(gaps: Sequence[Gap]) -> list[GapRow]:
    grouped: dict[tuple[str, Dataset, str], list[Gap]] = {}
    for gap in gaps:
        grouped.setdefault((gap.connection_id, gap.dataset, gap.reason), []).append(gap)
    return [
        GapRow(
            connection_id=cid,
            dataset=dataset,
            reason=reason,
            start_ms=min(g.start_ms for g in found),
            end_ms=max(g.end_ms for g in found),
            markets=tuple(sorted({g.market for g in found})),
        )
        for (cid, dataset, reason), found in grouped.items()
    ]


@router.get("/alerts")
async def alerts(
    request: Request, who: Viewer, limit: Limit = query.PAGE_SIZE, cursor: query.CursorField = None
) -> Response:
    who.require(Scope.READ)
    service = container_of(request).portfolio
    page: Listing[Event] = await service.events(
        who.user_id, cursor=query.blank(cursor), limit=limit
    )
    gaps = await service.gaps(who.user_id)
    renderer: Renderer = request.app.state.renderer
    return renderer.page(
        request,
        "logs_alerts.html",
        {
            "who": who,
            "rows": [(e, severity_badge(e.severity.value)) for e in page.items],
            "labels": await query.connection_labels(request, who),
            "gaps": gap_rows(gaps),
            **query.pager("/alerts", {}, limit, cursor, page.next_cursor),
        },
    )


@router.get("/gaps")
async def gaps(
    request: Request, who: Viewer, connection_id: query.ConnectionField = None
) -> Response:
    who.require(Scope.READ)
    chosen = query.blank(connection_id)
    found = await container_of(request).portfolio.gaps(who.user_id, connection_id=chosen)
    renderer: Renderer = request.app.state.renderer
    return renderer.page(
        request,
        "logs_gaps.html",
        {
            "who": who,
            "gaps": gap_rows(found),
            "labels": await query.connection_labels(request, who),
            "chosen": chosen or "",
        },
    )
