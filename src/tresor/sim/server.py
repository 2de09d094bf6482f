"""Building and serving a simulated venue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tresor.sim.app import SimApp
from tresor.sim.catalogue import pairs_for
from tresor.sim.context import Simulator
from tresor.sim.engine import Venue
from tresor.sim.limits import LimitConfig, RateLimiter
from tresor.sim.market import Market


@dataclass
class SimConfig:
    seed: int = 1
    symbols: list[str] | None = None  # None: the full default listing
    extra_symbols: int = 0  # invented small caps on top of the listing (TKN001USDT ...)
    weight_per_minute: int = 6000
    orders_per_10s: int = 100
    orders_per_day: int = 200_000
    ban_after_429s: int = 5
    trust_forwarded_for: bool = False
    clock: Callable[[], int] | None = field(default=None, repr=False)


def create_app(config: SimConfig | None = None) -> SimApp:
    """A new, empty venue as an ASGI app (``app.sim`` holds its state)."""
    cfg = config or SimConfig()
    market = Market(
        pairs_for(cfg.symbols, extra_bases=cfg.extra_symbols, seed=cfg.seed), seed=cfg.seed
    )
    limits = RateLimiter(
        LimitConfig(
            weight_per_minute=cfg.weight_per_minute,
            orders_per_10s=cfg.orders_per_10s,
            orders_per_day=cfg.orders_per_day,
            ban_after_429s=cfg.ban_after_429s,
        )
    )
    sim = Simulator(venue=Venue(market), limits=limits, clock=cfg.clock)
    return SimApp(sim, trust_forwarded_for=cfg.trust_forwarded_for)


class RunningSim:
    """A venue served by uvicorn on a background thread (tests, demos, benchmarks)."""

    def __init__(self, app: SimApp, host: str, port: int) -> None:
        import threading

        import uvicorn

        self.app = app
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            ws="none",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"sim-{port}", daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> RunningSim:
        import time

        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def serve_in_thread(
    config: SimConfig | None = None, host: str = "127.0.0.1", port: int | None = None
) -> RunningSim:
    """Start a fresh venue on a free (or the given) port and return once it answers."""
    return RunningSim(create_app(config), host, port or free_port(host)).start()
