"""The API's hand-written JSON (``entrypoints/api/render.py``) is the document its pydantic
models give (``PortfolioPublic``, ``TradePage``), field for field and in order, whatever the
amounts, times and kept documents: the same bytes."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal

from pydantic import TypeAdapter

from tresor.domain.portfolio import (
    ConnectionHoldings,
    Freshness,
    Holding,
    Portfolio,
    asset_totals,
)
from tresor.domain.records import Side, TradeRecord
from tresor.entrypoints.api.render import PortfolioRenderer, TradeRenderer, iso
from tresor.entrypoints.api.schemas_portfolio import PortfolioPublic
from tresor.entrypoints.api.schemas_records import TradePage, TradePublic, at

D = Decimal


def _amount(rng: random.Random) -> Decimal:
    return D(rng.randint(0, 10**12)) / D(10) ** rng.randint(0, 18)


def _connection(rng: random.Random, n: int, taken_ms: int | None) -> ConnectionHoldings:
    holdings = []
    for asset in sorted(rng.sample(["BTC", "ETH", "USDT", "NOPE", "SOL", "ÄÖÜ"], 4)):
        total = _amount(rng)
        price = None if asset == "NOPE" else _amount(rng)
        holdings.append(
            Holding(asset, total, D(0), total, price, None if price is None else total * price)
        )
    return ConnectionHoldings(
        connection_id=f"c{n}",
        label=f'account "{n}" \\ ünïcode',
        exchange="binance",
        status="active",
        freshness=Freshness(
            taken_ms=taken_ms,
            age_s=None if taken_ms is None else rng.randint(0, 10**6),
            last_success_ms=rng.choice([None, 1_700_000_000_123]),
            last_error_code=rng.choice([None, "rate_limited"]),
        ),
        holdings=tuple(holdings) if taken_ms is not None else (),
        value=sum((h.value for h in holdings if h.value is not None), D(0)),
    )


def _portfolio(rng: random.Random, at_ms: int, basis: object) -> Portfolio:
    connections = tuple(
        _connection(rng, n, rng.choice([None, 1_700_000_000_000 + n])) for n in range(4)
    )
    assets, total = asset_totals(connections)
    return Portfolio("USD", at_ms, connections, assets, total, basis=basis)


def test_the_portfolio_document_is_the_models_and_a_kept_one_takes_the_new_time() -> None:
    renderer = PortfolioRenderer()
    for seed in range(30):
        rng = random.Random(seed)
        first = _portfolio(rng, 1_700_000_000_000 + seed, basis=("b", seed))
        assert renderer.render(first) == PortfolioPublic.of(first).model_dump_json().encode()
        # the same basis later: the kept document, with this moment's time and ages
        rng = random.Random(seed)
        later = _portfolio(rng, 1_700_000_999_999, basis=("b", seed))
        later = Portfolio(
            later.quote,
            later.at_ms,
            tuple(
                ConnectionHoldings(
                    **{
                        **{f: getattr(c, f) for f in c.__dataclass_fields__},
                        "freshness": Freshness(
                            c.freshness.taken_ms,
                            None if c.freshness.taken_ms is None else 42 + i,
                            c.freshness.last_success_ms,
                            c.freshness.last_error_code,
                        ),
                    }
                )
                for i, c in enumerate(later.connections)
            ),
            later.assets,
            later.total,
            basis=later.basis,
        )
        assert renderer.render(later) == PortfolioPublic.of(later).model_dump_json().encode()


def test_a_trade_page_is_the_models_document_and_kept_trades_read_the_same() -> None:
    rng = random.Random(5)
    trades = [
        TradeRecord(
            connection_id=f"c{n % 3}",
            symbol="BTC/USDT",
            trade_id=str(n),
            order_id=rng.choice([None, f"o{n}"]),
            side=rng.choice(list(Side)),
            price=_amount(rng),
            amount=_amount(rng),
            cost=_amount(rng),
            fee=rng.choice([D("0E-8"), D("0.00100000"), _amount(rng)]),
            fee_asset=rng.choice([None, "BNB"]),
            maker=rng.choice([True, False]),
            time_ms=rng.choice([0, 1_700_000_000_000, 1_700_000_000_123, rng.randint(0, 2**42)]),
        )
        for n in range(200)
    ]
    renderer = TradeRenderer()
    for _ in range(2):  # the second time from the kept documents
        for cursor in (None, "abc"):
            page = TradePage(items=[TradePublic.of(t) for t in trades], next_cursor=cursor)
            assert renderer.render(trades, cursor) == page.model_dump_json().encode()


def test_times_are_written_as_pydantic_writes_them() -> None:
    adapter = TypeAdapter(datetime)
    for ms in (0, 1, 999, 1000, 1_700_000_000_000, 1_700_000_000_100, -1, 253_402_300_799_999):
        assert f'"{iso(ms)}"'.encode() == adapter.dump_json(at(ms))
