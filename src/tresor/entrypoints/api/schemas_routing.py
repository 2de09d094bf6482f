"""Smart order routing as the API takes and gives it: quotes, their legs and venues, and
executions. Amounts are decimal strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tresor.domain.routing import Leg
from tresor.entrypoints.api.schemas_orders import OrderStateName, PositiveAmount
from tresor.entrypoints.api.schemas_records import Amount, Ms, Symbol, amount, at, maybe
from tresor.services.routing import Execution, LegResult, Quoted, VenueView

Asset = Annotated[
    str,
    Field(
        min_length=1,
        max_length=20,
        pattern=r"^[A-Za-z0-9]+$",
        description="An asset's code, e.g. BTC (taken in capitals).",
        examples=["BTC", "USDT"],
    ),
]
Side = Literal["buy", "sell"]


class RouteQuoteCreate(BaseModel):
    """What to trade: `side` `amount` of `base` for `quote`, over all your connections or
    the ones named."""

    model_config = ConfigDict(extra="forbid", title="RouteQuoteCreate")

    side: Side
    base: Asset = Field(description="The asset to buy or sell.")
    quote: Asset = Field(description="The asset paid (buy) or received (sell).")
    amount: PositiveAmount = Field(description="In the base asset.")
    allowance: str = Field(
        default="0.002",
        pattern=r"^0(\.[0-9]{1,6})?$",
        description="How far past the worst price quoted each leg's limit may go, as a "
        "fraction (0.002 is 0.2 %, at most 0.05): a book that moved a tick before you execute "
        "still fills, at most that much worse. 0: never worse than quoted (it may then fill "
        "less).",
        examples=["0.002", "0"],
    )
    connection_ids: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="Only these connections (default: every one of yours).",
    )

    @model_validator(mode="after")
    def _distinct_and_positive(self) -> RouteQuoteCreate:
        if Decimal(self.amount) <= 0:
            raise ValueError("amount must be greater than 0")
        if self.base.upper() == self.quote.upper():
            raise ValueError("base and quote must be two different assets")
        return self

    def decimal_amount(self) -> Decimal:
        return Decimal(self.amount)


class RouteLegPublic(BaseModel):
    """One order of a plan: a limit IOC of `amount` at `limit_price` on one connection. Fees
    are the market's taker fee, valued in the quote asset."""

    model_config = ConfigDict(title="RouteLeg")

    connection_id: str
    exchange: str
    symbol: Symbol
    side: Side
    amount: Amount = Field(description="In the base asset.")
    limit_price: Amount = Field(
        description="The worst book level the leg reaches: it never fills worse than this."
    )
    average_price: Amount = Field(description="gross / amount, before fees.")
    gross: Amount = Field(description="In the quote asset, before fees.")
    fee: Amount
    net: Amount = Field(description="Paid with the fee (buy), received after it (sell).")
    reserved: Amount = Field(
        description="The free balance the leg may hold: quote (buy, with the fee) or base."
    )

    @classmethod
    def of(cls, leg: Leg) -> RouteLegPublic:
        return cls(
            connection_id=leg.connection_id,
            exchange=leg.exchange,
            symbol=leg.symbol,
            side=leg.side,
            amount=amount(leg.amount),
            limit_price=amount(leg.limit_price),
            average_price=amount(leg.average_price),
            gross=amount(leg.gross),
            fee=amount(leg.fee),
            net=amount(leg.net),
            reserved=amount(leg.reserved),
        )


class BookSeen(BaseModel):
    """The side of the order book a venue was planned on."""

    model_config = ConfigDict(title="RouteBook")

    best_price: Amount | None = Field(description="The best ask (buy) or bid (sell).")
    levels: int = Field(description="Levels read.")
    depth: Amount = Field(description="Their total amount, in the base asset.")
    fetched: datetime
    fetched_ms: Ms


class RouteVenuePublic(BaseModel):
    """One of your connections as the router saw it. `role`: `leg` (it has a leg in the plan),
    `unused` (considered, not needed) or `skipped` (`code` and `note` say why)."""

    model_config = ConfigDict(title="RouteVenue")

    connection_id: str
    label: str
    exchange: str
    endpoint: str | None
    role: Literal["leg", "unused", "skipped"]
    available: Amount | None = Field(
        description="The free balance of what the order spends: quote (buy) or base (sell)."
    )
    alone: RouteLegPublic | None = Field(description="What it could do on its own.")
    code: str | None = Field(description="Why it was skipped (an error code).")
    note: str | None = Field(description="Why it cannot take part, or what limits it.")
    book: BookSeen | None

    @classmethod
    def of(cls, v: VenueView, side: str) -> RouteVenuePublic:
        book = None
        if v.book is not None:
            levels = v.book.value.asks if side == "buy" else v.book.value.bids
            book = BookSeen(
                best_price=amount(levels[0][0]) if levels else None,
                levels=len(levels),
                depth=amount(sum((a for _, a in levels), Decimal(0))),
                fetched=at(v.book.fetched_ms),
                fetched_ms=v.book.fetched_ms,
            )
        return cls(
            connection_id=v.connection_id,
            label=v.label,
            exchange=v.exchange,
            endpoint=v.endpoint,
            role=v.role,
            available=maybe(v.available),
            alone=None if v.alone is None else RouteLegPublic.of(v.alone),
            code=v.code,
            note=v.note,
            book=book,
        )


class RouteQuotePublic(BaseModel):
    """The best plan found: one venue or a split. Execute it with POST /v1/route/execute
    before `expires`."""

    model_config = ConfigDict(title="RouteQuote")

    id: str = Field(examples=["rq_3f2a9c0d1b7e6a5c4d3e"])
    side: Side
    base: str
    quote: str
    amount: Amount = Field(description="Asked, in the base asset.")
    filled: Amount = Field(description="Planned, never above the amount.")
    unfilled: Amount
    shortfall: Literal["depth", "balance", "rules"] | None = Field(
        description="Why part is unfilled: the books are not deep enough, the free balances do "
        "not reach, or the markets' steps and minimums leave the rest."
    )
    gross: Amount = Field(description="In the quote asset, before fees.")
    fee: Amount
    net: Amount = Field(description="Paid with fees (buy), received after them (sell).")
    average_price: Amount | None = Field(description="gross / filled.")
    net_price: Amount | None = Field(description="net / filled: the price with fees.")
    legs: list[RouteLegPublic]
    best_single: RouteLegPublic | None = Field(description="The best venue alone, to compare.")
    venues: list[RouteVenuePublic]
    created: datetime
    created_ms: Ms
    expires: datetime
    expires_ms: Ms

    @classmethod
    def of(cls, quoted: Quoted) -> RouteQuotePublic:
        q = quoted.quote
        return cls(
            id=q.id,
            side=q.side,
            base=q.base,
            quote=q.quote,
            amount=amount(q.amount),
            filled=amount(q.filled),
            unfilled=amount(q.amount - q.filled),
            shortfall=q.shortfall,
            gross=amount(q.gross),
            fee=amount(q.fee),
            net=amount(q.net),
            average_price=maybe(q.average_price),
            net_price=maybe(q.net_price),
            legs=[RouteLegPublic.of(leg) for leg in q.legs],
            best_single=None
            if quoted.best_single is None
            else RouteLegPublic.of(quoted.best_single),
            venues=[RouteVenuePublic.of(v, q.side) for v in quoted.venues],
            created=at(q.created_ms),
            created_ms=q.created_ms,
            expires=at(q.expires_ms),
            expires_ms=q.expires_ms,
        )


class RouteExecuteCreate(BaseModel):
    """The quote to execute. Send it with an `Idempotency-Key` header."""

    model_config = ConfigDict(extra="forbid", title="RouteExecuteCreate")

    quote_id: str = Field(min_length=1, max_length=100, examples=["rq_3f2a9c0d1b7e6a5c4d3e"])


class LegError(BaseModel):
    code: str
    message: str
    remedy: str


class RouteLegOutcome(BaseModel):
    """One leg as executed: its order (`state`, fills), or `not_placed` with the error."""

    model_config = ConfigDict(title="RouteLegOutcome")

    position: int
    connection_id: str
    exchange: str
    symbol: Symbol
    side: Side
    amount: Amount = Field(description="Planned, in the base asset.")
    limit_price: Amount
    state: OrderStateName | Literal["not_placed"]
    order_id: str | None = Field(description="Read it with GET /v1/orders/{id}.")
    filled: Amount
    cost: Amount = Field(description="What the fills cost or brought, in the quote asset.")
    average: Amount | None
    error: LegError | None

    @classmethod
    def of(cls, r: LegResult) -> RouteLegOutcome:
        o, leg = r.order, r.leg
        return cls(
            position=r.position,
            connection_id=leg.connection_id,
            exchange=leg.exchange,
            symbol=leg.symbol,
            side=leg.side,
            amount=amount(leg.amount),
            limit_price=amount(leg.limit_price),
            state=r.state,  # type: ignore[arg-type]
            order_id=None if o is None else o.id,
            filled=amount(Decimal(0) if o is None else o.filled),
            cost=amount(Decimal(0) if o is None else o.cost),
            average=None if o is None else maybe(o.average),
            error=None
            if r.error is None
            else LegError(code=r.error.code, message=r.error.message, remedy=r.error.remedy),
        )


class RouteExecutionPublic(BaseModel):
    """What executing a quote did: each leg, the totals, and the executed average price
    against the quoted one."""

    model_config = ConfigDict(title="RouteExecution")

    quote_id: str
    side: Side
    base: str
    quote: str
    amount: Amount = Field(description="Asked in the quote request, in the base asset.")
    planned: Amount = Field(description="What the quote planned to fill.")
    filled: Amount
    cost: Amount = Field(description="In the quote asset, before fees.")
    average_price: Amount | None = Field(description="cost / filled.")
    quoted_average_price: Amount | None
    slippage: Amount | None = Field(
        description="How much worse the executed average is than the quoted one, as a "
        "fraction of it (negative: better)."
    )
    legs: list[RouteLegOutcome]

    @classmethod
    def of(cls, e: Execution) -> RouteExecutionPublic:
        q = e.quote
        return cls(
            quote_id=q.id,
            side=q.side,
            base=q.base,
            quote=q.quote,
            amount=amount(q.amount),
            planned=amount(q.filled),
            filled=amount(e.filled),
            cost=amount(e.cost),
            average_price=maybe(e.average_price),
            quoted_average_price=maybe(q.average_price),
            slippage=maybe(e.slippage),
            legs=[RouteLegOutcome.of(r) for r in e.legs],
        )
