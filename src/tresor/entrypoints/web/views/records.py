"""Trades, orders and transfers: the synced records in tables, newest first, with the filters
of their REST routes (``GET /v1/trades`` ...), a page at a time (the "Older" link carries the next
cursor and the filters), and a CSV download of every matching row (``/trades.csv`` ...).

The rows are ``PortfolioService``'s, read with the same ``RecordFilter`` as the API; the page
only formats them. An empty form field is no filter. A filter the page cannot read (a bad
date, an unknown status) shows the form again with the message, status 422; another user's
connection is the service's ``NotFound``: a 404 page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from tresor.domain.access import Scope
from tresor.domain.errors import ValidationFailed
from tresor.domain.paging import Listing
from tresor.domain.records import (
    OrderRecord,
    OrderStatus,
    TradeRecord,
    TransferKind,
    TransferRecord,
    TransferStatus,
)
from tresor.entrypoints.api.schemas_records import OrderPublic, TradePublic, TransferPublic
from tresor.entrypoints.web import csv_export, query
from tresor.entrypoints.web.render import Renderer
from tresor.entrypoints.web.session import Viewer, WebUser, container_of
from tresor.services.portfolio import MAX_LIMIT, RecordFilter

router = APIRouter(include_in_schema=False)
R = TypeVar("R")
SIDES = ("buy", "sell")
Field = Annotated[str | None, Query(max_length=64)]
Limit = Annotated[int, Query()]


@dataclass(frozen=True, slots=True)
class FormValues:
    """The filters as the form sent them (kept to fill the form again and to lead on)."""

    connection_id: str | None = None
    symbol: str | None = None
    asset: str | None = None
    side: str | None = None
    status: str | None = None
    kind: str | None = None
    since: str | None = None
    until: str | None = None

    def get(self, name: str) -> str:
        value = getattr(self, name)
        return value.strip() if isinstance(value, str) else ""


def form_values(
    connection_id: query.ConnectionField = None,
    symbol: Field = None,
    asset: Field = None,
    side: Field = None,
    status: Field = None,
    kind: Field = None,
    since: Field = None,
    until: Field = None,
) -> FormValues:
    return FormValues(connection_id, symbol, asset, side, status, kind, since, until)


Form = Annotated[FormValues, Depends(form_values)]


@dataclass(frozen=True, slots=True)
class Kind(Generic[R]):
    """One of the three listings: its filters, its service call, its public form."""

    name: str  # trades | orders | transfers
    title: str
    fields: tuple[str, ...]  # the filters it takes, in the form's order
    statuses: tuple[str, ...]
    kinds: tuple[str, ...]
    model: type[BaseModel]
    public: Callable[[R], BaseModel]
    fetch: Callable[[Any], Callable[..., Awaitable[Listing[R]]]]  # service -> its listing

    def filters(self, values: FormValues, who: WebUser) -> RecordFilter:
        """The ``RecordFilter`` of the form's values (only the fields this listing takes).

        Raises: ValidationFailed."""
        zone = query.zone_of(who.timezone)
        found: dict[str, Any] = {"connection_id": query.blank(values.connection_id)}
        for name in self.fields:
            raw = values.get(name)
            if name == "symbol":
                found["symbol"] = query.symbol(raw)
            elif name == "asset":
                found["asset"] = query.asset(raw)
            elif name == "side":
                found["side"] = query.choice(raw, "side", SIDES)
            elif name == "status":
                found["status"] = query.choice(raw, "status", self.statuses)
            elif name == "kind":
                found["kind"] = query.choice(raw, "kind", self.kinds)
        found["since_ms"] = query.moment_ms(values.since, "since", zone)
        found["until_ms"] = query.moment_ms(values.until, "until", zone, end=True)
        return RecordFilter(**found)

    def params(self, values: FormValues) -> dict[str, str | None]:
        """The form's non-empty values this listing takes, for the links that keep them."""
        names = ("connection_id", *self.fields, "since", "until")
        return {name: values.get(name) or None for name in names}


TRADES: Kind[TradeRecord] = Kind(
    "trades",
    "Trades",
    ("symbol", "asset", "side"),
    (),
    (),
    TradePublic,
    TradePublic.of,
    lambda s: s.trades,
)
ORDERS: Kind[OrderRecord] = Kind(
    "orders",
    "Orders",
    ("symbol", "side", "status"),
    tuple(s.value for s in OrderStatus),
    (),
    OrderPublic,
    OrderPublic.of,
    lambda s: s.orders,
)
TRANSFERS: Kind[TransferRecord] = Kind(
    "transfers",
    "Transfers",
    ("asset", "kind", "status"),
    tuple(s.value for s in TransferStatus),
    tuple(k.value for k in TransferKind),
    TransferPublic,
    TransferPublic.of,
    lambda s: s.transfers,
)


async def _page(
    request: Request,
    who: WebUser,
    kind: Kind[R],
    values: FormValues,
    limit: int,
    cursor: str | None,
) -> Response:
    who.require(Scope.READ)
    service = container_of(request).portfolio
    labels = await query.connection_labels(request, who)
    params = kind.params(values)
    error: ValidationFailed | None = None
    listing: Listing[R] = Listing((), None)
    try:
        listing = await kind.fetch(service)(
            who.user_id,
            kind.filters(values, who),
            cursor=query.blank(cursor),
            limit=limit,
        )
    except ValidationFailed as e:
        error = e
    path = f"/{kind.name}"
    renderer: Renderer = request.app.state.renderer
    return renderer.page(
        request,
        f"records_{kind.name}.html",
        {
            "who": who,
            "kind": kind,
            "rows": listing.items,
            "labels": labels,
            "form": values,
            "limit": limit,
            "limits": query.page_sizes(limit),
            "error": error,
            **query.pager(path, params, limit, cursor, listing.next_cursor),
            "csv_url": query.url(f"{path}.csv", params),
        },
        status=422 if error else 200,
    )


async def _export(request: Request, who: WebUser, kind: Kind[R], values: FormValues) -> Response:
    """Every matching row as CSV; the first page is read before the answer starts, so a bad
    filter is an error page rather than a broken download."""
    who.require(Scope.READ)
    fetch = kind.fetch(container_of(request).portfolio)
    filters = kind.filters(values, who)

    async def following(cursor: str) -> Listing[R]:
        return await fetch(who.user_id, filters, cursor=cursor, limit=MAX_LIMIT)

    first = await fetch(who.user_id, filters, limit=MAX_LIMIT)
    day = datetime.now(UTC).strftime("%Y%m%d")
    body = csv_export.rows(first, following, kind.model, kind.public)
    return csv_export.download(f"tresor-{kind.name}-{day}.csv", body)


def _routes(kind: Kind[Any]) -> None:
    """Registers one listing's page (``/trades`` ...) and its CSV download (``/trades.csv``)."""

    async def page(
        request: Request,
        who: Viewer,
        form: Form,
        limit: Limit = query.PAGE_SIZE,
        cursor: query.CursorField = None,
    ) -> Response:
        return await _page(request, who, kind, form, limit, cursor)

    async def export(request: Request, who: Viewer, form: Form) -> Response:
        return await _export(request, who, kind, form)

    router.get(f"/{kind.name}", name=kind.name)(page)
    router.get(f"/{kind.name}.csv", name=f"{kind.name}_csv")(export)


for _kind in (TRADES, ORDERS, TRANSFERS):
    _routes(_kind)
