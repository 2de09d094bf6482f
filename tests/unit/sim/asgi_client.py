"""An httpx client wired straight to a simulator app: no server, no sockets."""

from __future__ import annotations

from typing import Any

import httpx

from tresor.sim.app import SimApp
from tresor.sim.server import SimConfig, create_app

NOW = 1_750_000_000_000  # a fixed server clock: 2025-06-15 15:06:40 UTC


def fixed_app(symbols: list[str] | None = None, **config: Any) -> SimApp:
    """A small venue whose clock stands still at ``NOW``."""
    chosen = symbols or ["BTCUSDT", "ETHUSDT", "ETHBTC"]
    return create_app(SimConfig(symbols=chosen, clock=lambda: NOW, **config))


def client(app: SimApp, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50_000))
    return httpx.AsyncClient(transport=transport, base_url="http://sim.test")
