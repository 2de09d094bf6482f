"""Orders placed through Tresor, as the API takes and gives them. Amounts are decimal strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tresor.domain.orders import OrderRequest, PlacedOrder
from tresor.entrypoints.api.schemas_records import Amount, Ms, Symbol, amount, at, maybe

PositiveAmount = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{1,20}(\.[0-9]{1,18})?$",
        description="A positive decimal number as a string (at most 20 digits before the point "
        "and 18 after), exact.",
        examples=["0.015", "64250.5"],
    ),
]
OrderStateName = Literal["pending", "unknown", "open", "closed", "canceled", "expired", "rejected"]


class OrderCreate(BaseModel):
    """A new order. Send it with an `Idempotency-Key` header: the same key with the same body
    gives the same order again, never a second one."""

    model_config = ConfigDict(extra="forbid", title="OrderCreate")

    connection_id: str = Field(min_length=1, max_length=100)
    symbol: Symbol = Field(min_length=3, max_length=50)
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    amount: PositiveAmount = Field(description="In the base asset.")
    price: PositiveAmount | None = Field(
        default=None,
        description="The limit price; required for limit orders, not allowed for market orders.",
    )
    time_in_force: Literal["GTC", "IOC", "FOK"] | None = Field(
        default=None, description="Limit orders: GTC (default), IOC or FOK."
    )
    client_order_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:/-]+$",
        description="Your own reference for the order, kept with it.",
    )

    @model_validator(mode="after")
    def _price_matches_type(self) -> OrderCreate:
        if Decimal(self.amount) <= 0:
            raise ValueError("amount must be greater than 0")
        if self.price is not None and Decimal(self.price) <= 0:
            raise ValueError("price must be greater than 0")
        return self

    def request(self) -> OrderRequest:
        time_in_force = self.time_in_force
        if self.type == "limit" and time_in_force is None:
            time_in_force = "GTC"
        return OrderRequest(
            connection_id=self.connection_id,
            symbol=self.symbol,
            side=self.side,
            type=self.type,
            amount=Decimal(self.amount),
            price=None if self.price is None else Decimal(self.price),
            time_in_force=time_in_force,
            client_order_id=self.client_order_id,
        )


class OrderError(BaseModel):
    code: str
    message: str


class PlacedOrderPublic(BaseModel):
    """An order placed through Tresor and what is known of it.

    `state`: `pending` (being sent), `unknown` (sent, the exchange's answer was lost: Tresor
    is looking it up and will never send it twice), `open`, `closed` (completely filled),
    `canceled`, `expired`, `rejected`."""

    model_config = ConfigDict(title="PlacedOrder")

    id: str = Field(examples=["ord_3f2a9c0d1b7e6a5c4d3e"])
    connection_id: str
    symbol: Symbol
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    amount: Amount
    price: Amount | None
    time_in_force: str | None
    client_order_id: str | None = Field(description="Your own reference, as you gave it.")
    exchange_client_order_id: str = Field(
        description="The client order id the exchange knows the order by (derived by Tresor)."
    )
    exchange_order_id: str | None
    state: OrderStateName
    filled: Amount
    cost: Amount = Field(description="What the fills cost, in the quote asset.")
    average: Amount | None = Field(description="The average fill price.")
    error: OrderError | None
    source: str = Field(examples=["api", "batch", "route", "rule"])
    created: datetime
    created_ms: Ms
    updated: datetime
    updated_ms: Ms

    @classmethod
    def of(cls, o: PlacedOrder) -> PlacedOrderPublic:
        r = o.request
        return cls(
            id=o.id,
            connection_id=r.connection_id,
            symbol=r.symbol,
            side=r.side,  # type: ignore[arg-type]
            type=r.type,  # type: ignore[arg-type]
            amount=amount(r.amount),
            price=maybe(r.price),
            time_in_force=r.time_in_force,
            client_order_id=r.client_order_id,
            exchange_client_order_id=o.exchange_client_id,
            exchange_order_id=o.exchange_order_id,
            state=o.state.value,
            filled=amount(o.filled),
            cost=amount(o.cost),
            average=maybe(o.average),
            error=None
            if o.error_code is None
            else OrderError(code=o.error_code, message=o.error_message or ""),
            source=o.source,
            created=at(o.created_ms),
            created_ms=o.created_ms,
            updated=at(o.updated_ms),
            updated_ms=o.updated_ms,
        )


class PlacedOrderList(BaseModel):
    items: list[PlacedOrderPublic]
    next_cursor: str | None = None
