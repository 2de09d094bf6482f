"""The market data answers: the unified record (``TickerPublic``, ``OrderBookPublic``,
``CandlesPublic``, the shapes published under ``/v1/schemas``) with its freshness beside it:
the endpoint it came from, when it was read, its age and whether it is stale."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tresor.domain.market import Candles, MarketAnswer, OrderBook, Ticker
from tresor.entrypoints.api.schemas_records import (
    CandlesPublic,
    Ms,
    OrderBookPublic,
    TickerPublic,
    at,
)
from tresor.services.market_data import MarketEndpoint


class Freshness(BaseModel):
    endpoint: str = Field(description="The endpoint it was read from.", examples=["binance"])
    fetched_at: datetime = Field(description="When Tresor read it from the exchange.")
    fetched_ms: Ms
    age_ms: int = Field(ge=0, description="How old it was when answered, in milliseconds.")
    stale: bool = Field(
        description="True when it outlived its time to live because the exchange could not be "
        "asked just now (no room in the rate budget, rate limited, unreachable): the last known "
        "value, 'age_ms' old."
    )


def freshness(
    answer: MarketAnswer[Ticker] | MarketAnswer[OrderBook] | MarketAnswer[Candles],
) -> dict[str, object]:
    return {
        "endpoint": answer.endpoint,
        "fetched_at": at(answer.fetched_ms),
        "fetched_ms": answer.fetched_ms,
        "age_ms": answer.age_ms,
        "stale": answer.stale,
    }


class TickerAnswer(TickerPublic, Freshness):
    """A ticker (the ``ticker`` record) and its freshness."""

    model_config = ConfigDict(title="TickerAnswer")

    @classmethod
    def of(cls, answer: MarketAnswer[Ticker]) -> TickerAnswer:
        return cls.model_validate({**TickerPublic.fields_of(answer.value), **freshness(answer)})


class OrderBookAnswer(OrderBookPublic, Freshness):
    """An order book (the ``order_book`` record) and its freshness."""

    model_config = ConfigDict(title="OrderBookAnswer")

    @classmethod
    def of(cls, answer: MarketAnswer[OrderBook]) -> OrderBookAnswer:
        return cls.model_validate({**OrderBookPublic.fields_of(answer.value), **freshness(answer)})


class CandlesAnswer(CandlesPublic, Freshness):
    """Candles (the ``candles`` record) and their freshness; ``closed`` is as of
    ``fetched_at``."""

    model_config = ConfigDict(title="CandlesAnswer")

    @classmethod
    def of(cls, answer: MarketAnswer[Candles]) -> CandlesAnswer:
        record = CandlesPublic.fields_of(answer.value, now_ms=answer.fetched_ms)
        return cls.model_validate({**record, **freshness(answer)})


class MarketEndpointPublic(BaseModel):
    name: str = Field(description="Use it in /v1/markets/{endpoint}/...", examples=["binance"])
    exchange: str = Field(examples=["binance"])
    timeframes: list[str] = Field(description="The candle timeframes the exchange offers.")

    @classmethod
    def of(cls, e: MarketEndpoint) -> MarketEndpointPublic:
        return cls(name=e.name, exchange=e.exchange, timeframes=list(e.timeframes))


class MarketEndpointList(BaseModel):
    items: list[MarketEndpointPublic]


class SymbolList(BaseModel):
    endpoint: str
    symbols: list[str] = Field(description="Unified symbols, BASE/QUOTE, sorted.")
