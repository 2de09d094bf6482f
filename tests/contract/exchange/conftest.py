"""Fixtures of the gateway's contract suite: a ``CcxtGateway`` pointed at a running simulator,
and keys made on it with the simulator's admin API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.simclient import SimAdmin
from tresor.adapters.exchange import CcxtGateway
from tresor.domain.connections import CapabilityReport, Credentials, ExchangeTarget
from tresor.domain.secrets import Secret

EGRESS_IPS = ("203.0.113.7", "2001:db8::7")
FUNDS = {"USDT": "100000", "BTC": "2"}


class UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def credentials(key: dict[str, Any]) -> Credentials:
    return Credentials(api_key=Secret(key["api_key"]), secret=Secret(key["secret"]))


def target(sim: SimAdmin) -> ExchangeTarget:
    return ExchangeTarget(exchange="binance", endpoint="sim", url=sim.url)


@pytest.fixture
async def gateway() -> AsyncIterator[CcxtGateway]:
    gw = CcxtGateway(egress_ips=EGRESS_IPS, clock=UtcClock())
    yield gw
    await gw.aclose()


Prober = Callable[..., Any]


@pytest.fixture
def probe(sim: SimAdmin, gateway: CcxtGateway) -> Prober:
    """``await probe(permissions=..., ip_whitelist=..., trading_expiration=...)``: a new key on
    a funded account, probed through the gateway; returns (report, key)."""

    async def run(**key_spec: Any) -> tuple[CapabilityReport, dict[str, Any]]:
        key = sim.key(sim.account(FUNDS), **key_spec)
        return await gateway.probe(target(sim), credentials(key)), key

    return run
