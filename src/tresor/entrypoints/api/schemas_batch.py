"""``POST /v1/batch``: up to 50 order operations, each with its own result."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tresor.entrypoints.api.schemas_orders import OrderCreate, PlacedOrderPublic, PositiveAmount
from tresor.services.batch import (
    MAX_OPERATIONS,
    CancelOrder,
    CreateOrder,
    Operation,
    ReplaceOrder,
)

OrderId = Annotated[str, Field(min_length=1, max_length=64, examples=["ord_3f2a9c0d1b7e6a5c4d3e"])]


class CreateOrderOp(BaseModel):
    model_config = ConfigDict(extra="forbid", title="CreateOrderOperation")

    op: Literal["create_order"]
    order: OrderCreate

    def operation(self) -> Operation:
        return CreateOrder(self.order.request())


class CancelOrderOp(BaseModel):
    model_config = ConfigDict(extra="forbid", title="CancelOrderOperation")

    op: Literal["cancel_order"]
    order_id: OrderId

    def operation(self) -> Operation:
        return CancelOrder(self.order_id)


class ReplaceOrderOp(BaseModel):
    """Cancel an open order and place the same order with a new amount and/or price."""

    model_config = ConfigDict(extra="forbid", title="ReplaceOrderOperation")

    op: Literal["replace_order"]
    order_id: OrderId
    amount: PositiveAmount | None = None
    price: PositiveAmount | None = None

    def operation(self) -> Operation:
        return ReplaceOrder(
            self.order_id,
            amount=None if self.amount is None else Decimal(self.amount),
            price=None if self.price is None else Decimal(self.price),
        )


AnyOp = Annotated[CreateOrderOp | CancelOrderOp | ReplaceOrderOp, Field(discriminator="op")]


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Batch")

    operations: list[AnyOp] = Field(min_length=1, max_length=MAX_OPERATIONS)


class OperationResult(BaseModel):
    """One operation's result: ``status`` as the single request would have answered, the order
    or the problem that stopped it; for replace_order, ``replaced`` is the order cancelled
    (also when the replacement was then refused: the cancel stands)."""

    model_config = ConfigDict(title="BatchOperationResult")

    index: int
    op: Literal["create_order", "cancel_order", "replace_order"]
    status: int
    order: PlacedOrderPublic | None = None
    replaced: PlacedOrderPublic | None = None
    problem: dict[str, Any] | None = None


class BatchPublic(BaseModel):
    model_config = ConfigDict(title="BatchResult")

    results: list[OperationResult]
    succeeded: int
    failed: int
