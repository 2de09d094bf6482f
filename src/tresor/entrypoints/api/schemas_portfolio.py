"""The API's shapes for the portfolio, its history, the request log, alerts and gaps.
Amounts are decimal strings; times are ISO 8601 UTC with their epoch milliseconds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tresor.domain.portfolio import (
    AssetTotal,
    ConnectionHoldings,
    History,
    Holding,
    Portfolio,
)
from tresor.domain.records import Gap, StoredCall
from tresor.domain.sync import Event
from tresor.entrypoints.api.schemas_records import Amount, Ms, amount, at, maybe


class HoldingPublic(BaseModel):
    asset: str
    free: Amount
    locked: Amount
    total: Amount
    price: Amount | None = Field(description="Of one unit in the quote; null: no price found.")
    value: Amount | None = Field(description="total times price; null without a price.")

    @classmethod
    def of(cls, h: Holding) -> HoldingPublic:
        return cls(
            asset=h.asset,
            free=amount(h.free),
            locked=amount(h.locked),
            total=amount(h.total),
            price=maybe(h.price),
            value=maybe(h.value),
        )


class FreshnessPublic(BaseModel):
    taken: datetime | None = Field(description="When the balances were taken; null: never.")
    taken_ms: Ms | None
    age_seconds: int | None
    last_success: datetime | None = Field(description="The last successful sync.")
    last_success_ms: Ms | None
    last_error_code: str | None


class ConnectionHoldingsPublic(BaseModel):
    id: str
    label: str
    exchange: str
    status: str
    freshness: FreshnessPublic
    holdings: list[HoldingPublic]
    value: Amount

    @classmethod
    def of(cls, c: ConnectionHoldings) -> ConnectionHoldingsPublic:
        f = c.freshness
        return cls(
            id=c.connection_id,
            label=c.label,
            exchange=c.exchange,
            status=c.status,
            freshness=FreshnessPublic(
                taken=None if f.taken_ms is None else at(f.taken_ms),
                taken_ms=f.taken_ms,
                age_seconds=f.age_s,
                last_success=None if f.last_success_ms is None else at(f.last_success_ms),
                last_success_ms=f.last_success_ms,
                last_error_code=f.last_error_code,
            ),
            holdings=[HoldingPublic.of(h) for h in c.holdings],
            value=amount(c.value),
        )


class AssetTotalPublic(BaseModel):
    asset: str
    total: Amount
    value: Amount | None
    allocation: Amount | None = Field(
        description="Percent of the total value; the allocations add up to exactly 100."
    )

    @classmethod
    def of(cls, a: AssetTotal) -> AssetTotalPublic:
        return cls(
            asset=a.asset,
            total=amount(a.total),
            value=maybe(a.value),
            allocation=maybe(a.allocation),
        )


class PortfolioPublic(BaseModel):
    quote: str
    at: datetime
    at_ms: Ms
    total: Amount = Field(description="The value of every priced holding, in 'quote'.")
    assets: list[AssetTotalPublic] = Field(description="Largest value first; unpriced last.")
    connections: list[ConnectionHoldingsPublic]

    @classmethod
    def of(cls, p: Portfolio) -> PortfolioPublic:
        return cls(
            quote=p.quote,
            at=at(p.at_ms),
            at_ms=p.at_ms,
            total=amount(p.total),
            assets=[AssetTotalPublic.of(a) for a in p.assets],
            connections=[ConnectionHoldingsPublic.of(c) for c in p.connections],
        )


class HistoryPointPublic(BaseModel):
    start: datetime
    start_ms: Ms
    end_ms: Ms
    value: Amount | None = Field(description="At the end of the bucket; null: no data yet.")
    connections: int


class HistoryPublic(BaseModel):
    quote: str
    since: datetime
    since_ms: Ms
    until: datetime
    until_ms: Ms
    interval_seconds: float
    points: list[HistoryPointPublic]

    @classmethod
    def of(cls, h: History) -> HistoryPublic:
        return cls(
            quote=h.quote,
            since=at(h.since_ms),
            since_ms=h.since_ms,
            until=at(h.until_ms),
            until_ms=h.until_ms,
            interval_seconds=h.interval_ms / 1000,
            points=[
                HistoryPointPublic(
                    start=at(p.start_ms),
                    start_ms=p.start_ms,
                    end_ms=p.end_ms,
                    value=maybe(p.value),
                    connections=p.connections,
                )
                for p in h.points
            ],
        )


class CallPublic(BaseModel):
    """One request to an exchange; never its signature, key or answer body."""

    id: int
    at: datetime
    at_ms: Ms
    connection_id: str | None
    venue: str
    method: str
    path: str
    status: int | None = Field(description="null: no answer (network error, timeout).")
    latency_ms: float
    weight: int
    error_code: str | None = Field(description="The exchange's own error code, if it gave one.")

    @classmethod
    def of(cls, s: StoredCall) -> CallPublic:
        c = s.call
        return cls(
            id=s.id,
            at=at(c.at_ms),
            at_ms=c.at_ms,
            connection_id=c.connection_id,
            venue=c.venue,
            method=c.method,
            path=c.path,
            status=c.status,
            latency_ms=c.latency_ms,
            weight=c.weight,
            error_code=c.error_code,
        )


class CallPage(BaseModel):
    items: list[CallPublic]
    next_cursor: str | None


class EventPublic(BaseModel):
    id: int
    at: datetime
    at_ms: Ms
    connection_id: str | None
    kind: str
    severity: str
    message: str
    details: dict[str, Any]

    @classmethod
    def of(cls, e: Event) -> EventPublic:
        return cls(
            id=e.id or 0,
            at=at(e.at_ms),
            at_ms=e.at_ms,
            connection_id=e.connection_id,
            kind=e.kind.value,
            severity=e.severity.value,
            message=e.message,
            details=dict(e.details),
        )


class EventPage(BaseModel):
    items: list[EventPublic]
    next_cursor: str | None


class GapPublic(BaseModel):
    """A stretch of history the exchange no longer keeps: missing for good, not by mistake."""

    connection_id: str
    dataset: str
    market: str = Field(description="The symbol; empty for account-wide data (transfers).")
    start: datetime
    start_ms: Ms
    end: datetime
    end_ms: Ms
    reason: str

    @classmethod
    def of(cls, g: Gap) -> GapPublic:
        return cls(
            connection_id=g.connection_id,
            dataset=g.dataset.value,
            market=g.market,
            start=at(g.start_ms),
            start_ms=g.start_ms,
            end=at(g.end_ms),
            end_ms=g.end_ms,
            reason=g.reason,
        )


class GapList(BaseModel):
    items: list[GapPublic]
