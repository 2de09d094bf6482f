"""Sync against a running simulator: a real ``build_runtime`` (SQLite in a temporary data
directory), a user and a Binance connection to a simulated account with generated history."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.simclient import SimAdmin
from tresor.bootstrap import Runtime, build_runtime
from tresor.config import Settings
from tresor.domain.connections import Credentials
from tresor.domain.secrets import Secret
from tresor.sim.server import SimConfig, serve_in_thread

WEIGHT = 1_000_000


@pytest.fixture
def venue() -> Iterator[SimAdmin]:
    # a weight limit no test reaches: the first backfill reads every pair an order could be
    # on, which takes minutes at Binance's 6,000 per minute (bench/ measures that)
    running = serve_in_thread(SimConfig(seed=11, weight_per_minute=WEIGHT))
    admin = SimAdmin(running)
    yield admin
    admin.close()
    running.stop()


@dataclass
class Synced:
    runtime: Runtime
    sim: SimAdmin
    account_id: int
    connection_id: str
    user_id: str
    user_name: str

    def truth(self) -> dict[str, Any]:
        return self.sim.truth(self.account_id)


MakeAccount = Callable[..., Any]


@pytest.fixture
async def make_account(tmp_path: Path, venue: SimAdmin) -> AsyncIterator[Callable[..., Any]]:
    runtimes: list[Runtime] = []

    async def make(
        *, history: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> Synced:
        account = venue.account({"USDT": "1000"})
        if history is not None:
            venue.history(account, **history)
        key = venue.key(account, {"enableReading": True})
        runtime = await build_runtime(
            Settings(
                data_dir=tmp_path / f"data{len(runtimes)}",
                endpoints={
                    "sim": {"exchange": "binance", "url": venue.url, "weight_per_minute": WEIGHT}
                },
                **(settings or {}),
            )
        )
        runtimes.append(runtime)
        user = await runtime.container.access.create_user(f"user{len(runtimes)}")
        connection = await runtime.container.connections.add(
            user.id,
            exchange="binance",
            label="main",
            endpoint="sim",
            read_key=Credentials(Secret(key["api_key"]), Secret(key["secret"])),
        )
        return Synced(runtime, venue, account, connection.id, user.id, user.name)

    yield make
    for runtime in runtimes:
        await runtime.aclose()
