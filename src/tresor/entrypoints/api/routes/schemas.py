"""``/v1/schemas``: the JSON Schemas (draft 2020-12) of the unified records, the same for every
exchange, generated from the API's own models so they cannot drift from what it answers.

Scope ``read``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from tresor.domain.errors import NotFound
from tresor.entrypoints.api.deps import Reader
from tresor.entrypoints.api.schemas_records import (
    BalancesPublic,
    CandlesPublic,
    OrderBookPublic,
    OrderPublic,
    TickerPublic,
    TradePublic,
    TransferPublic,
)

router = APIRouter(prefix="/v1/schemas", tags=["schemas"])
DIALECT = "https://json-schema.org/draft/2020-12/schema"
MODELS: dict[str, tuple[type[BaseModel], str]] = {
    "ticker": (TickerPublic, "price feed: last price, best bid and ask of one market"),
    "order_book": (OrderBookPublic, "liquidity depth: [price, amount] levels of one market"),
    "candles": (CandlesPublic, "price history: OHLCV candles of one market and timeframe"),
    "balances": (BalancesPublic, "portfolio snapshot: one account's balances and prices"),
    "trade": (TradePublic, "one fill of one of the account's orders"),
    "order": (OrderPublic, "an order as the exchange last reported it"),
    "transfer": (TransferPublic, "a deposit or a withdrawal"),
}
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "missing or invalid token"},
    403: {"description": "the token lacks the 'read' scope"},
    404: {"description": "no schema of that name"},
}


class SchemaInfo(BaseModel):
    name: str
    title: str
    description: str
    url: str


class SchemaIndex(BaseModel):
    dialect: str
    items: list[SchemaInfo]


def schema_of(name: str) -> dict[str, Any]:
    """The JSON Schema of the record ``name``. Raises: NotFound."""
    found = MODELS.get(name)
    if found is None:
        raise NotFound(
            "There is no schema of that name.",
            remedy="GET /v1/schemas lists the names: " + ", ".join(MODELS) + ".",
        )
    model, _ = found
    return {
        "$schema": DIALECT,
        "$id": f"/v1/schemas/{name}",
        **model.model_json_schema(mode="serialization"),
    }


@router.get("", response_model=SchemaIndex, responses=_ERRORS)
async def index(who: Reader) -> SchemaIndex:
    """The unified records with a published schema."""
    return SchemaIndex(
        dialect=DIALECT,
        items=[
            SchemaInfo(
                name=name,
                title=str(model.model_config.get("title") or model.__name__),
                description=description,
                url=f"/v1/schemas/{name}",
            )
            for name, (model, description) in MODELS.items()
        ],
    )


@router.get("/{name}", responses=_ERRORS)
async def schema(
    name: Annotated[str, Path(min_length=1, max_length=64)], who: Reader
) -> dict[str, Any]:
    """One record's JSON Schema (draft 2020-12)."""
    return schema_of(name)
