"""Several simulated venues at once, as routing across exchanges will need: separate ports,
separate accounts and keys, and prices that are close but not the same."""

from __future__ import annotations

import time
from collections.abc import Callable

import ccxt
import pytest

from tests.contract.conftest import make_trader
from tests.support.simclient import SimAdmin, binance
from tresor.sim.server import SimConfig

Factory = Callable[[SimConfig], SimAdmin]
MINUTE = 60_000


def closes(sim: SimAdmin, symbol: str, since: int) -> list[float]:
    ex = binance(sim.url)
    ex.load_markets()
    return [c[4] for c in ex.fetch_ohlcv(symbol, "1m", since=since, limit=60)]


def test_two_venues_quote_close_but_different_prices(sim_factory: Factory) -> None:
    first, second = sim_factory(SimConfig(seed=1)), sim_factory(SimConfig(seed=2))
    assert first.url != second.url
    since = (int(time.time() * 1000) // MINUTE - 120) * MINUTE  # closed candles: fixed prices
    for symbol in ("BTC/USDT", "ETH/USDT", "SOL/BTC"):
        a, b = closes(first, symbol, since), closes(second, symbol, since)
        assert len(a) == len(b) == 60
        assert all(abs(x / y - 1) < 0.01 for x, y in zip(a, b, strict=True)), symbol
        assert sum(x != y for x, y in zip(a, b, strict=True)) >= 55, symbol


def test_venues_with_the_same_seed_replay_the_same_market(sim_factory: Factory) -> None:
    first, twin = sim_factory(SimConfig(seed=4)), sim_factory(SimConfig(seed=4))
    since = (int(time.time() * 1000) // MINUTE - 120) * MINUTE
    assert closes(first, "ETH/BTC", since) == closes(twin, "ETH/BTC", since)


def test_venues_keep_separate_accounts_and_keys(sim_factory: Factory) -> None:
    first, second = sim_factory(SimConfig(seed=1)), sim_factory(SimConfig(seed=2))
    a = make_trader(first, {"USDT": "100000"})
    b = make_trader(second, {"USDT": "500"})
    a.ex.create_order("ETH/USDT", "market", "buy", 1)
    assert b.ex.fetch_balance()["total"] == {"USDT": 500}
    assert b.ex.fetch_my_trades("ETH/USDT") == []
    stranger = binance(second.url, a.key)
    stranger.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        stranger.fetch_balance()
    assert a.ex.fetch_balance()["ETH"]["total"] == pytest.approx(0.999)
