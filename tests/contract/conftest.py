"""Fixtures of the conformance suite: funded traders with the unmodified ccxt client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ccxt
import pytest

from tests.support.clock import SimClock
from tests.support.simclient import SimAdmin, binance
from tresor.sim.server import SimConfig

# Large enough that no test runs out of funds by accident.
RICH = {"USDT": "100000000", "BTC": "50", "ETH": "500", "BNB": "2000", "FDUSD": "1000000"}


@dataclass
class Trader:
    """An account on a venue, its trading key and a ccxt client with markets loaded."""

    sim: SimAdmin
    account: int
    key: dict[str, Any]
    ex: ccxt.binance

    def client(self, **extra: Any) -> ccxt.binance:
        """Another ccxt client for the same key (e.g. with other options)."""
        ex = binance(self.sim.url, self.key, **extra)
        ex.load_markets()
        return ex


def make_trader(sim: SimAdmin, balances: dict[str, str] | None = None, **extra: Any) -> Trader:
    account = sim.account(RICH if balances is None else balances)
    key = sim.key(account)
    ex = binance(sim.url, key, **extra)
    ex.load_markets()
    return Trader(sim=sim, account=account, key=key, ex=ex)


@pytest.fixture
def trader(sim: SimAdmin) -> Trader:
    return make_trader(sim)


@dataclass
class ClockedVenue:
    sim: SimAdmin
    clock: SimClock


@pytest.fixture
def clocked(sim_factory: Callable[[SimConfig], SimAdmin]) -> ClockedVenue:
    """A venue whose clock the test moves (ccxt clients must then sync with
    ``adjustForTimeDifference`` or ``load_time_difference()``)."""
    clock = SimClock()
    return ClockedVenue(sim=sim_factory(SimConfig(seed=7, clock=clock)), clock=clock)
