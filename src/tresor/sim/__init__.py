"""The Tresor exchange simulator: Binance Spot's REST API, offline.

An ASGI application (``create_app``) that speaks Binance Spot at the real paths, with its
authentication, rate limits, errors and a moving market, plus an admin API under ``/_sim/`` for
tests and demos. It imports nothing else from ``tresor`` and is reached only over HTTP, like a
real exchange.
"""

from tresor.sim.server import SimConfig, create_app

__all__ = ["SimConfig", "create_app"]
