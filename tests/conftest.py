from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.simclient import SimAdmin
from tresor.sim.server import SimConfig, serve_in_thread


@pytest.fixture
def sim() -> Iterator[SimAdmin]:
    """A fresh simulated Binance venue on a free port, with its admin API."""
    running = serve_in_thread(SimConfig(seed=7))
    admin = SimAdmin(running)
    yield admin
    admin.close()
    running.stop()


@pytest.fixture
def sim_factory() -> Iterator[object]:
    """Start venues with a custom ``SimConfig``: ``sim_factory(SimConfig(...))``."""
    started: list[SimAdmin] = []

    def start(config: SimConfig | None = None) -> SimAdmin:
        admin = SimAdmin(serve_in_thread(config or SimConfig(seed=7)))
        started.append(admin)
        return admin

    yield start
    for admin in started:
        admin.close()
        admin.running.stop()
