"""What the trade pages share: the connections that can trade and their labels, the ids they
take in paths, the words for an order's state, and a form's validation failure as a domain
error shown inline (the API's own schemas check the fields; the page shows what they say)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from tresor.domain.connections import Connection, ConnectionStatus, KeyRole
from tresor.domain.errors import TresorError, ValidationFailed
from tresor.entrypoints.api.problems import status_of
from tresor.entrypoints.web.labels import Badge
from tresor.entrypoints.web.render import Renderer
from tresor.entrypoints.web.session import WebUser, container_of

_ID = r"^[A-Za-z0-9_]+$"
OrderId = Annotated[str, Path(min_length=1, max_length=64, pattern=_ID)]
QuoteId = Annotated[str, Path(min_length=1, max_length=64, pattern=_ID)]
RuleId = Annotated[str, Path(min_length=1, max_length=64, pattern=_ID)]
MaybeOrderId = Annotated[str | None, Query(min_length=1, max_length=64, pattern=_ID)]

_STATES = {
    "pending": Badge("Pending", "busy", "Being sent to the exchange."),
    "unknown": Badge(
        "Unknown", "warn", "Sent, the answer was lost: Tresor looks it up, never sends it twice."
    ),
    "open": Badge("Open", "ok", "Resting on the exchange's book."),
    "closed": Badge("Filled", "ok", "Completely filled."),
    "canceled": Badge("Cancelled", "off", "Cancelled; what filled before stays filled."),
    "expired": Badge("Expired", "off", "An IOC or FOK order that did not fill (completely)."),
    "rejected": Badge("Rejected", "bad", "The exchange refused it, or it was never placed."),
    "not_placed": Badge("Not placed", "bad", "Refused before it reached the exchange."),
}

# what a form field is, in the words of its error (the schemas' patterns are not for people)
_HINTS = {
    "amount": "must be a positive decimal number, e.g. 0.015",
    "price": "must be a positive decimal number, e.g. 64250.5",
    "allowance": "must be a fraction from 0 to 0.05, e.g. 0.002",
    "symbol": "must be a market such as BTC/USDT",
    "base": "must be an asset code such as BTC",
    "quote": "must be an asset code such as USDT",
    "targets": "must be asset codes with percentages from 0 to 100",
    "drift_pp": "must be a number of percentage points from 0 to 100, e.g. 5",
    "min_trade": "must be a decimal number of zero or more, e.g. 10",
    "floor_pct": "must be a percentage from 0 to 100",
    "ceiling_pct": "must be a percentage from 0 to 100",
    "name": "must be 1 to 100 printable characters",
}


def state_badge(state: str) -> Badge:
    return _STATES.get(state) or Badge(state.replace("_", " ").capitalize(), "warn", "")


def can_trade(connection: Connection) -> bool:
    return (
        connection.key(KeyRole.TRADE) is not None
        and connection.status is not ConnectionStatus.DISABLED
    )


async def connections_of(request: Request, who: WebUser) -> Sequence[Connection]:
    return await container_of(request).connections.all(who.user_id)


def traders_of(connections: Sequence[Connection]) -> list[Connection]:
    """The connections an order can be placed on, in their order: the ticket's choices."""
    return [c for c in connections if can_trade(c)]


def labels_of(connections: Sequence[Connection]) -> dict[str, str]:
    """Each connection's label by its id, for the rows that name a connection."""
    return {c.id: c.label for c in connections}


def form_error(error: ValidationError) -> ValidationFailed:
    """A form the API's schema refused, as the problem the page shows above the form."""
    parts = []
    for found in error.errors(include_url=False, include_input=False):
        field = next((str(p) for p in reversed(found["loc"]) if p in _HINTS), None)
        message = str(found["msg"]).removeprefix("Value error, ")
        parts.append(message if field is None else f"{field}: {_HINTS[field]}")
    return ValidationFailed(
        "The form is not valid: " + "; ".join(dict.fromkeys(parts)) + ".",
        remedy="Correct the fields named and send the form again.",
    )


def problem_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    error: TresorError | None = None,
    *,
    status: int | None = None,
) -> HTMLResponse:
    """``template`` with ``error`` shown inline, answered with the error's HTTP status (the
    API's: 422 for a refused order or a bad field, 503 when the exchange could not be used)."""
    renderer: Renderer = request.app.state.renderer
    if status is None:
        status = 200 if error is None else status_of(error)
    return renderer.page(request, template, {**context, "error": error}, status=status)
