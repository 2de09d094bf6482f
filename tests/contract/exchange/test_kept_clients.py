"""The gateway keeps a connection's sync client between its syncs, under the key it was built
for: a rotated key builds a new client and the old one is closed (and its secrets forgotten by
the redactor), as are forgotten, idle and least recently used ones. An endpoint's prices are
fetched once for every sync within their time to live, and its markets once an hour."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.contract.exchange.conftest import credentials, target
from tests.support.simclient import READ_ONLY, SimAdmin
from tresor.adapters.exchange import CcxtGateway
from tresor.adapters.exchange.client import ExchangeClient
from tresor.adapters.exchange.gateway import MARKETS_TTL_MS
from tresor.adapters.ratelimit.memory import InMemoryRateBudget
from tresor.domain.records import ExchangeCall


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, ms: int) -> None:
        self.at += timedelta(milliseconds=ms)


class ListLog:
    def __init__(self) -> None:
        self.calls: list[ExchangeCall] = []

    def record(self, call: ExchangeCall) -> None:
        self.calls.append(call)

    def count(self, path: str) -> int:
        return sum(1 for c in self.calls if c.path.split("?")[0] == path)


class Built:
    """Every ``ExchangeClient`` the gateway builds, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.clients: list[ExchangeClient] = []
        opened = ExchangeClient.open

        def counting(*args: Any, **kwargs: Any) -> ExchangeClient:
            client = opened(*args, **kwargs)
            self.clients.append(client)
            return client

        monkeypatch.setattr(ExchangeClient, "open", counting)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Built:
    return Built(monkeypatch)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log() -> ListLog:
    return ListLog()


@pytest.fixture
async def gateway(clock: Clock, log: ListLog) -> AsyncIterator[CcxtGateway]:
    gw = CcxtGateway(
        egress_ips=["203.0.113.7"],
        clock=clock,
        budget=InMemoryRateBudget(),
        request_log=log,
        clients_kept=2,
        client_idle_ms=2 * MARKETS_TTL_MS,
    )
    yield gw
    await gw.aclose()


def read_key(sim: SimAdmin, usdt: str) -> dict[str, Any]:
    return sim.key(sim.account({"USDT": usdt}), READ_ONLY)


async def balances(gateway: CcxtGateway, sim: SimAdmin, key: dict[str, Any], cid: str) -> Any:
    source = await gateway.history(target(sim), credentials(key), connection_id=cid)
    try:
        return (await source.balances()).balances
    finally:
        await source.aclose()


async def settled() -> None:
    """Let the clients closed in the background finish closing."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_connection_s_client_is_kept_between_its_syncs(
    sim: SimAdmin, gateway: CcxtGateway, built: Built
) -> None:
    key = read_key(sim, "10")
    for _ in range(3):
        assert (await balances(gateway, sim, key, "c1"))["USDT"].free == Decimal(10)
    assert len(built.clients) == 1
    assert not built.clients[0].closed
    assert gateway.kept_clients() == 1
    assert key["secret"] in gateway.redactor.secrets()  # registered while it is kept


async def test_a_rotated_key_builds_a_new_client_and_the_old_one_is_closed(
    sim: SimAdmin, gateway: CcxtGateway, built: Built
) -> None:
    old, new = read_key(sim, "10"), read_key(sim, "20")
    assert (await balances(gateway, sim, old, "c1"))["USDT"].free == Decimal(10)
    # the same connection, now with another key (of another account): that key is used
    assert (await balances(gateway, sim, new, "c1"))["USDT"].free == Decimal(20)
    await settled()
    assert len(built.clients) == 2
    assert built.clients[0].closed
    assert not built.clients[1].closed
    assert gateway.kept_clients() == 1
    secrets = gateway.redactor.secrets()
    assert old["secret"] not in secrets
    assert old["api_key"] not in secrets
    assert new["secret"] in secrets
    # and it stays the new key's
    assert (await balances(gateway, sim, new, "c1"))["USDT"].free == Decimal(20)
    assert len(built.clients) == 2


async def test_a_forgotten_connection_s_client_is_closed(
    sim: SimAdmin, gateway: CcxtGateway, built: Built
) -> None:
    key = read_key(sim, "10")
    await balances(gateway, sim, key, "c1")
    await gateway.forget("c1")
    assert built.clients[0].closed
    assert gateway.kept_clients() == 0
    assert key["secret"] not in gateway.redactor.secrets()
    await gateway.forget("c1")  # nothing kept: nothing to do
    await balances(gateway, sim, key, "c1")  # a later sync builds a new one
    assert len(built.clients) == 2


async def test_a_client_in_use_is_closed_when_its_sync_gives_it_back(
    sim: SimAdmin, gateway: CcxtGateway, built: Built
) -> None:
    key = read_key(sim, "10")
    source = await gateway.history(target(sim), credentials(key), connection_id="c1")
    await gateway.forget("c1")
    assert not built.clients[0].closed  # the running sync goes on
    assert (await source.balances()).balances["USDT"].free == Decimal(10)
    await source.aclose()
    assert built.clients[0].closed
    await source.aclose()  # twice is once


async def test_beyond_the_bound_the_least_recently_used_client_is_closed(
    sim: SimAdmin, gateway: CcxtGateway, built: Built
) -> None:
    keys = {cid: read_key(sim, "10") for cid in ("c1", "c2", "c3")}
    await balances(gateway, sim, keys["c1"], "c1")
    await balances(gateway, sim, keys["c2"], "c2")
    await balances(gateway, sim, keys["c1"], "c1")  # c2 is now the least recently used
    await balances(gateway, sim, keys["c3"], "c3")  # 3 > clients_kept (2): c2 goes
    await settled()
    assert [c.closed for c in built.clients] == [False, True, False]
    assert gateway.kept_clients() == 2
    assert keys["c2"]["secret"] not in gateway.redactor.secrets()


async def test_a_client_idle_too_long_is_closed_at_the_next_sync(
    sim: SimAdmin, gateway: CcxtGateway, built: Built, clock: Clock
) -> None:
    k1, k2 = read_key(sim, "10"), read_key(sim, "20")
    await balances(gateway, sim, k1, "c1")
    clock.advance(gateway.client_idle_ms + 1)
    await balances(gateway, sim, k2, "c2")
    await settled()
    assert built.clients[0].closed
    assert gateway.kept_clients() == 1
    assert k1["secret"] not in gateway.redactor.secrets()


async def test_prices_are_shared_within_their_time_to_live_then_fetched_again(
    sim: SimAdmin, gateway: CcxtGateway, clock: Clock, log: ListLog
) -> None:
    sources = [
        await gateway.history(target(sim), credentials(read_key(sim, "10")), connection_id=cid)
        for cid in ("c1", "c2")
    ]
    try:
        first = await sources[0].prices()
        assert first["BTC/USDT"] > 0
        clock.advance(gateway.prices_ttl_ms - 1)
        assert await sources[1].prices() == first
        assert log.count("/api/v3/ticker/price") == 1
        clock.advance(1)  # their time is up
        await sources[1].prices()
        assert log.count("/api/v3/ticker/price") == 2
        clock.advance(gateway.prices_ttl_ms)
        # syncs asking at once: one request, every one of them answered
        both = await asyncio.gather(sources[0].prices(), sources[1].prices())
        assert both[0] == both[1]
        assert log.count("/api/v3/ticker/price") == 3
        both[0].clear()  # each sync gets its own copy
        assert await sources[1].prices() == both[1]
    finally:
        for source in sources:
            await source.aclose()


async def test_a_kept_client_takes_the_markets_reloaded_after_the_hour(
    sim: SimAdmin, gateway: CcxtGateway, clock: Clock, log: ListLog, built: Built
) -> None:
    k1, k2 = read_key(sim, "10"), read_key(sim, "20")
    await balances(gateway, sim, k1, "c1")
    await balances(gateway, sim, k2, "c2")
    assert log.count("/api/v3/exchangeInfo") == 1
    clock.advance(MARKETS_TTL_MS)
    # kept clients hold the old markets: one reload, by one sync, for both
    sources = await asyncio.gather(
        *(
            gateway.history(target(sim), credentials(k), connection_id=cid)
            for cid, k in (("c1", k1), ("c2", k2))
        )
    )
    try:
        assert log.count("/api/v3/exchangeInfo") == 2
        assert len(built.clients) == 2
        for source in sources:
            assert source.listed("BTC/USDT")
            assert await source.prices()
    finally:
        for source in sources:
            await source.aclose()
