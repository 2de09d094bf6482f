"""``CcxtMarket``'s own logic on a fake client: markets loaded once, refreshed hourly, kept when
a refresh fails; the order book depth asked for; ccxt's floats as exact decimals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tresor.adapters.exchange.market import CcxtMarket
from tresor.domain.errors import ExchangeUnavailable, RateBudgetExhausted


class FakeClient:
    def __init__(self, exchange: str = "binance") -> None:
        self.exchange = exchange
        self.loads: list[bool] = []
        self.markets: list[dict[str, Any] | Exception] = []

    async def load_markets(self, *, reload: bool = False) -> dict[str, Any]:
        self.loads.append(reload)
        answer = self.markets.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        return {"timestamp": None, "last": 0.1 + 0.2, "bid": 64250.12345678, "ask": None}


class Now:
    ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


def market_on(client: FakeClient, now: Now) -> CcxtMarket:
    return CcxtMarket(client, now_ms=now)  # type: ignore[arg-type]


async def test_markets_load_once_then_hourly_and_a_failed_refresh_keeps_them() -> None:
    client, now = FakeClient(), Now()
    client.markets = [{"BTC/USDT": {}}, RateBudgetExhausted("b", 0), {"ETH/USDT": {}}]
    market = market_on(client, now)
    assert await market.symbols() == {"BTC/USDT"}
    now.ms += 3_599_999
    assert await market.symbols() == {"BTC/USDT"}
    assert client.loads == [False]
    now.ms += 1
    assert await market.symbols() == {"BTC/USDT"}  # the refresh failed: the old ones stay
    assert client.loads == [False, True]
    now.ms += 3_600_000
    assert await market.symbols() == {"ETH/USDT"}
    assert client.loads == [False, True, True]


async def test_markets_that_never_loaded_raise_the_error() -> None:
    client = FakeClient()
    client.markets = [ExchangeUnavailable(), {"BTC/USDT": {}}]
    market = market_on(client, Now())
    with pytest.raises(ExchangeUnavailable):
        await market.symbols()
    assert await market.symbols() == {"BTC/USDT"}


@pytest.mark.parametrize(
    ("exchange", "depth", "limit"),
    [("binance", 1, 100), ("binance", 100, 100), ("binance", 101, 500), ("binance", 5000, 5000),
     ("kraken", 7, 7)],
)  # fmt: skip
def test_the_depth_asked_for_is_the_top_of_its_weight_step(
    exchange: str, depth: int, limit: int
) -> None:
    assert market_on(FakeClient(exchange), Now()).book_limit(depth) == limit


async def test_ccxt_floats_become_the_shortest_exact_decimals() -> None:
    ticker = await market_on(FakeClient(), Now()).ticker("BTC/USDT")
    assert ticker.last == Decimal("0.30000000000000004")  # the float ccxt gave, exactly
    assert ticker.bid == Decimal("64250.12345678")
    assert ticker.ask is None
    assert ticker.time_ms == Now.ms  # no exchange time: when it was asked
