"""The JSON of the read side's busiest answers, written without a pydantic model per item.

``GET /v1/portfolio`` and the first page of ``GET /v1/trades`` are what a dashboard asks for
all the time (docs/benchmarks.md, issue 17): building their pydantic models (``PortfolioPublic``
with about a hundred nested models, ``TradePage`` with a hundred trades), validating and
serializing them cost more than everything else a request does. The answers are the same
documents, field for field and in the same order (``tests/unit/api/test_render.py`` compares
them with the models' own ``model_dump_json``); the models stay the routes' published schema.

- The portfolio's document is kept by the portfolio's ``basis`` (its quote and connections'
  standings: everything but the time of asking, ``PortfolioService``); a request with the same
  basis only sets ``at``, ``at_ms`` and each connection's ``age_seconds``.
- A trade's document is kept by its key (connection, symbol, exchange id): a stored trade
  never changes (the sync keeps its first write, ``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import orjson

from tresor.domain.portfolio import Portfolio
from tresor.domain.records import TradeRecord
from tresor.entrypoints.api.schemas_portfolio import PortfolioPublic
from tresor.entrypoints.api.schemas_records import amount, at
from tresor.services.valuations import Bounded

PORTFOLIOS_KEPT = 1024
TRADES_KEPT = 20_000


def iso(ms: int) -> str:
    """Epoch milliseconds as pydantic writes an aware UTC datetime (``...T22:13:20.123000Z``,
    no fraction when it is zero)."""
    text = at(ms).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class PortfolioRenderer:
    """``PortfolioPublic`` of a portfolio as JSON, its document kept by its basis."""

    def __init__(self, size: int = PORTFOLIOS_KEPT) -> None:
        self._kept: Bounded[Hashable, dict[str, Any]] = Bounded(size)

    def render(self, portfolio: Portfolio) -> bytes:
        basis = portfolio.basis
        document = self._kept.get(basis) if basis is not None else None
        if document is None:
            document = PortfolioPublic.of(portfolio).model_dump(mode="json")
            if basis is not None:
                self._kept.put(basis, document)
        connections = []
        for held, kept in zip(portfolio.connections, document["connections"], strict=True):
            freshness = {**kept["freshness"], "age_seconds": held.freshness.age_s}
            connections.append({**kept, "freshness": freshness})
        return orjson.dumps(
            {
                **document,
                "at": iso(portfolio.at_ms),
                "at_ms": portfolio.at_ms,
                "connections": connections,
            }
        )


def trade_document(r: TradeRecord) -> dict[str, Any]:
    """``TradePublic.of(r)`` as its JSON document."""
    return {
        "connection_id": r.connection_id,
        "symbol": r.symbol,
        "trade_id": r.trade_id,
        "order_id": r.order_id,
        "side": r.side.value,
        "price": amount(r.price),
        "amount": amount(r.amount),
        "cost": amount(r.cost),
        "fee": amount(r.fee),
        "fee_asset": r.fee_asset,
        "maker": r.maker,
        "time": iso(r.time_ms),
        "time_ms": r.time_ms,
    }


class TradeRenderer:
    """``TradePage`` as JSON, each trade's document kept by its key."""

    def __init__(self, size: int = TRADES_KEPT) -> None:
        self._kept: Bounded[tuple[str, str, str], dict[str, Any]] = Bounded(size)

    def render(self, items: Sequence[TradeRecord], next_cursor: str | None) -> bytes:
        documents = []
        for r in items:
            key = (r.connection_id, r.symbol, r.trade_id)
            document = self._kept.get(key)
            if document is None:
                document = trade_document(r)
                self._kept.put(key, document)
            documents.append(document)
        return orjson.dumps({"items": documents, "next_cursor": next_cursor})
