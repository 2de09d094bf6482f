"""A real Tresor for the browser: uvicorn serving ``create_app`` on 127.0.0.1 and a free port,
built by ``build_runtime`` on SQLite in a temporary folder, with its scheduler and background
jobs running (``runtime.start_background()``, as ``tresor serve`` does), and the simulator as
the endpoint ``sim``.

The server runs on a thread of its own with its own event loop, so the tests stay plain
synchronous tests driving the synchronous Playwright API. ``LiveTresor.call(coro)`` runs a
coroutine on the server's loop (creating users, setting passwords, adding connections through
the services) and returns its result.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from tests.support.simclient import READ_ONLY, TRADE, SimAdmin
from tresor.bootstrap import Runtime, build_runtime
from tresor.config import Settings
from tresor.domain.connections import Credentials
from tresor.domain.secrets import Secret
from tresor.entrypoints.api.app import create_app
from tresor.sim.server import free_port

T = TypeVar("T")
HOST = "127.0.0.1"
FUNDS = {"USDT": "100000", "BTC": "2", "ETH": "10"}
WITHDRAW = {**TRADE, "enableWithdrawals": True}
SIM_WEIGHT = 1_000_000
START_TIMEOUT = 60.0
CALL_TIMEOUT = 60.0
SYNC_TIMEOUT = 90.0  # the scheduler's first sync of a connection, on a busy machine


@dataclass(frozen=True)
class User:
    name: str
    id: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Owner:
    """A user with data on every page (the ``owner`` fixture)."""

    user: User
    connection_id: str
    order_id: str
    rule_id: str


class LiveTresor:
    """One Tresor served over HTTP for the whole browser suite."""

    def __init__(self, data_dir: Path, sim: SimAdmin) -> None:
        self.sim = sim
        self.port = free_port(HOST)
        self.url = f"http://{HOST}:{self.port}"
        self.settings = Settings(
            data_dir=data_dir,
            master_key=None,
            # the simulator's weight limit, so the backfills of earlier tests' connections do
            # not hold up a new one's first balances behind Binance's 6,000 per minute
            endpoints={
                "sim": {"exchange": "binance", "url": sim.url, "weight_per_minute": SIM_WEIGHT}
            },
            egress_ips=[HOST],
            api_host=HOST,
            api_port=self.port,
        )
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runtime: Runtime | None = None
        self._server: uvicorn.Server | None = None
        self._failed: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tresor-browser", daemon=True)

    # -- running -----------------------------------------------------------------------------
    def start(self) -> LiveTresor:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"Tresor did not start on {self.url} within {START_TIMEOUT} s")
        if self._failed is not None:
            raise RuntimeError(f"Tresor failed to start on {self.url}") from self._failed
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:  # reported to start() or at stop()
            self._failed = e
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        runtime = await build_runtime(self.settings)
        self._runtime = runtime
        try:
            config = uvicorn.Config(
                create_app(runtime.container),
                host=HOST,
                port=self.port,
                log_level="warning",
                access_log=False,
                ws="none",
            )
            server = uvicorn.Server(config)
            self._server = server
            runtime.start_background()  # the request log writer and the sync scheduler
            serving = asyncio.create_task(server.serve())
            while not server.started:
                if serving.done():
                    serving.result()  # raises what stopped it
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
            self._ready.set()
            await serving
        finally:
            await runtime.aclose()

    def stop(self) -> None:
        self.http.close()
        if self._server is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(setattr, self._server, "should_exit", True)
        self._thread.join(timeout=30)
        if self._thread.is_alive():
            raise RuntimeError("Tresor's server thread did not stop within 30 s")
        if self._failed is not None:
            raise RuntimeError("Tresor's server thread failed") from self._failed

    @property
    def runtime(self) -> Runtime:
        assert self._runtime is not None, "the server has not started"
        return self._runtime

    def call(self, work: Callable[[], Coroutine[Any, Any, T]] | Awaitable[T]) -> T:
        """Run a coroutine on the server's event loop (where its database engine lives)."""
        assert self._loop is not None, "the server has not started"
        coroutine = work() if callable(work) else work
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        return future.result(CALL_TIMEOUT)

    # -- test data ---------------------------------------------------------------------------
    def user(self, prefix: str = "user", password: str | None = None) -> User:
        """A new user (a unique name starting with ``prefix``) with a password."""
        name = f"{prefix}-{secrets.token_hex(3)}"
        password = password or f"pw-{secrets.token_urlsafe(12)}"
        container = self.runtime.container

        async def create() -> str:
            user = await container.access.create_user(name)
            await container.accounts.set_password(user.id, Secret(password))
            return user.id

        return User(name, self.call(create()), password)

    def key(self, permissions: dict[str, bool] | None = None) -> dict[str, str]:
        """A new simulator key on a new funded account: ``{"api_key", "secret"}``."""
        account = self.sim.account(FUNDS)
        found = self.sim.key(account, TRADE if permissions is None else permissions)
        return {"api_key": found["api_key"], "secret": found["secret"]}

    def read_only_key(self) -> dict[str, str]:
        return self.key(READ_ONLY)

    def connect(
        self, user: User, label: str = "main", history: dict[str, Any] | None = None
    ) -> str:
        """A connection of ``user`` to a funded simulator account (a trade key), added through
        the service and made due for the scheduler at once; its id. ``history``: the account's
        past made first by the simulator (``days``, ``trades``, ``symbols``, ``open_orders``)."""
        account = self.sim.account(FUNDS)
        if history is not None:
            self.sim.history(account, **history)
        key = self.sim.key(account, TRADE)
        credentials = Credentials(api_key=Secret(key["api_key"]), secret=Secret(key["secret"]))
        container = self.runtime.container

        async def add() -> str:
            found = await container.connections.add(
                user.id, exchange="binance", label=label, endpoint="sim", trade_key=credentials
            )
            # due at once, rather than when the scheduler next enrols new connections
            await container.sync.sync_soon(user.id, found.id)
            return found.id

        return self.call(add())

    def token(self, user: User, scopes: str = "read,trade,admin") -> str:
        """An API access token of ``user`` from the real token endpoint."""
        container = self.runtime.container

        async def client() -> tuple[str, str]:
            made, secret = await container.access.create_client(user.name, scopes)
            return made.id, secret

        client_id, secret = self.call(client())
        answer = self.http.post(
            "/v1/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def api(self, token: str, path: str, **params: Any) -> Any:
        answer = self.http.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, token: str, path: str, body: dict[str, Any], **headers: str) -> Any:
        answer = self.http.post(
            path, json=body, headers={"Authorization": f"Bearer {token}", **headers}
        )
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def resting_price(self) -> Decimal:
        """A limit buy price for BTC/USDT at 60% of the best bid: valid, and it rests."""
        ticker = self.sim.http.get("/api/v3/ticker/bookTicker", params={"symbol": "BTCUSDT"})
        ticker.raise_for_status()
        return (Decimal(ticker.json()["bidPrice"]) * Decimal("0.6")).quantize(Decimal(1))

    def resting_order(self, token: str, connection_id: str, amount: str = "0.001") -> str:
        """A limit buy placed through ``POST /v1/orders`` that stays open; its id."""
        body = {
            "connection_id": connection_id,
            "symbol": "BTC/USDT",
            "side": "buy",
            "type": "limit",
            "amount": amount,
            "price": str(self.resting_price()),
        }
        order = self.post(token, "/v1/orders", body, **{"Idempotency-Key": secrets.token_hex(8)})
        assert order["state"] == "open", order
        order_id: str = order["id"]
        return order_id

    def dry_run_rule(self, token: str) -> str:
        """A rebalancing rule that only logs what it would trade; its id."""
        body = {"name": "half-half", "targets": {"BTC": "50", "USDT": "50"}, "drift_pp": "5"}
        rule_id: str = self.post(token, "/v1/rules", {**body, "mode": "dry_run"})["id"]
        return rule_id

    def until(self, found: Callable[[], T | None], what: str, timeout: float = SYNC_TIMEOUT) -> T:
        """``found()``'s first answer that is not None (or falsy), asked every 0.2 s."""
        deadline = time.monotonic() + timeout
        while True:
            answer = found()
            if answer:
                return answer
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout} s")
            time.sleep(0.2)

    def listed(self, token: str, path: str, **params: Any) -> list[Any]:
        """The items of a listing (``/v1/trades`` ...) once it has some (the history synced)."""
        items: list[Any] = self.until(
            lambda: self.api(token, path, **params)["items"], f"{path} has items"
        )
        return items

    def synced_portfolio(self, token: str) -> dict[str, Any]:
        """``GET /v1/portfolio`` once every connection has balances (the scheduler synced)."""

        def synced() -> dict[str, Any] | None:
            found: dict[str, Any] = self.api(token, "/v1/portfolio")
            connections = found["connections"]
            if connections and all(c["freshness"]["taken_ms"] for c in connections):
                if Decimal(found["total"]) > 0:
                    return found
            return None

        return self.until(synced, "every connection synced")
