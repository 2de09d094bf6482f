"""The end-to-end suite: the real FastAPI app, called in-process through httpx, built by
``build_runtime`` on a real database (SQLite in the test's data directory, then PostgreSQL),
with the exchange gateway talking to a running Binance simulator.

Every test that takes ``api`` runs once per database. PostgreSQL is
``TRESOR_TEST_DATABASE_URL`` (default: the local server); ``Settings`` has no schema option, so
the session creates a database of its own (``tresor_e2e_<random>``, dropped at the end) and each
test starts from empty tables. When the server cannot be reached the PostgreSQL runs are skipped
with the reason, except under ``CI=true``, where they fail: CI must test both databases.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import make_url, text

from tests.support.simclient import SimAdmin
from tresor.bootstrap import Runtime, build_runtime
from tresor.config import Settings
from tresor.entrypoints.api.app import create_app
from tresor.sim.server import SimConfig, serve_in_thread

POSTGRES_URL = os.environ.get(
    "TRESOR_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
CONNECT_TIMEOUT = 10.0
EGRESS_IP = "203.0.113.7"
FUNDS = {"USDT": "100000", "BTC": "2"}
PROBLEM = "application/problem+json"
BASE_URL = "http://tresor.test"


# -- the simulator ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def e2e_venue() -> Iterator[SimAdmin]:
    """One simulated Binance for the whole suite (every test makes its own accounts and keys),
    with a request-weight limit no test reaches by accident."""
    running = serve_in_thread(SimConfig(seed=7, weight_per_minute=1_000_000))
    admin = SimAdmin(running)
    yield admin
    admin.close()
    running.stop()


@pytest.fixture
def sim(e2e_venue: SimAdmin) -> Iterator[SimAdmin]:
    """The shared venue, its faults and rate limits cleared after each test."""
    yield e2e_venue
    e2e_venue.clear_faults()
    e2e_venue.reset_limits()


def venue_key(sim: SimAdmin, permissions: dict[str, bool] | None = None, **spec: Any) -> dict:
    """A new key on a new funded account: ``{"api_key": ..., "secret": ...}``."""
    key = sim.key(sim.account(FUNDS), permissions, **spec)
    return {"api_key": key["api_key"], "secret": key["secret"]}


# -- the databases ---------------------------------------------------------------------------
def _plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _postgres_unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI=true but {POSTGRES_URL} failed: {reason}")
    pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({reason})")


async def _postgres(dsn: str, *statements: str) -> list[Any]:
    connection = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT)
    try:
        results = []
        for statement in statements:
            results.append(await connection.fetch(statement))
        return results
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a database created for this test session (and dropped after it)."""
    name = f"tresor_e2e_{secrets.token_hex(4)}"
    try:
        asyncio.run(_postgres(_plain_dsn(POSTGRES_URL), f'CREATE DATABASE "{name}"'))
    except Exception as e:  # whatever stops us from connecting
        _postgres_unavailable(f"{type(e).__name__}: {e}")
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_postgres(_plain_dsn(POSTGRES_URL), f'DROP DATABASE "{name}" WITH (FORCE)'))


def _empty_tables(url: str) -> None:
    async def run() -> None:
        dsn = _plain_dsn(url)
        (tables,) = await _postgres(
            dsn,
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'",
        )
        if tables:
            names = ", ".join(f'"{row["tablename"]}"' for row in tables)
            await _postgres(dsn, f"TRUNCATE {names} RESTART IDENTITY CASCADE")

    asyncio.run(run())


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """``TRESOR_DATABASE_URL`` of the run: None (SQLite in the data directory) or PostgreSQL,
    its tables empty."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    _empty_tables(url)
    return url


@pytest.fixture
def settings(tmp_path: Path, sim: SimAdmin, database_url: str | None) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        master_key=None,
        endpoints={"sim": {"exchange": "binance", "url": sim.url}},
        egress_ips=[EGRESS_IP],
    )


# -- the API ---------------------------------------------------------------------------------
@dataclass
class Tenant:
    """A user with one API client; ``token`` asks the real token endpoint."""

    api: Api
    name: str
    client_id: str
    client_secret: str = field(repr=False)

    def basic(self) -> str:
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    async def token(self, scope: str | None = None) -> dict[str, Any]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        if scope is not None:
            form["scope"] = scope
        answer = await self.api.http.post("/v1/auth/token", data=form)
        assert answer.status_code == 200, answer.text
        tokens: dict[str, Any] = answer.json()
        self.api.secrets.update({tokens["access_token"], tokens["refresh_token"]})
        return tokens

    async def headers(self, scope: str | None = None) -> dict[str, str]:
        tokens = await self.token(scope)
        return {"Authorization": f"Bearer {tokens['access_token']}"}


@dataclass
class Api:
    """One running Tresor: its runtime, the app, an HTTP client on it, and every response and
    secret of the test (for the leak scan)."""

    runtime: Runtime
    app: FastAPI
    http: httpx.AsyncClient
    sim: SimAdmin
    responses: list[httpx.Response] = field(default_factory=list, repr=False)
    secrets: set[str] = field(default_factory=set, repr=False)
    _clients: list[httpx.AsyncClient] = field(default_factory=list, repr=False)

    def client_from(self, ip: str) -> httpx.AsyncClient:
        """Another HTTP client on the same app, calling from ``ip``."""
        client = _http(self.app, self.responses, ip)
        self._clients.append(client)
        return client

    async def tenant(
        self, name: str, scopes: str = "read,admin", ip_allowlist: tuple[str, ...] = ()
    ) -> Tenant:
        access = self.runtime.container.access
        await access.create_user(name)
        client, secret = await access.create_client(name, scopes, ip_allowlist=ip_allowlist)
        self.secrets.add(secret)
        return Tenant(self, name, client.id, secret)

    def key(self, permissions: dict[str, bool] | None = None, **spec: Any) -> dict[str, str]:
        """A new key on the simulator (its api key and secret remembered for the leak scan)."""
        key = venue_key(self.sim, permissions, **spec)
        self.secrets.update(key.values())
        return key

    async def add(
        self,
        headers: dict[str, str],
        label: str = "main",
        *,
        read: dict[str, str] | None = None,
        trade: dict[str, str] | None = None,
        exchange: str = "binance",
        endpoint: str | None = "sim",
    ) -> httpx.Response:
        body: dict[str, Any] = {"exchange": exchange, "label": label}
        if endpoint is not None:
            body["endpoint"] = endpoint
        if read is not None:
            body["read_key"] = read
        if trade is not None:
            body["trade_key"] = trade
        return await self.http.post("/v1/connections", json=body, headers=headers)

    async def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        async with self.runtime.database.engine.connect() as connection:
            result = await connection.execute(text(sql), params)
            return [dict(row._mapping) for row in result]

    async def aclose(self) -> None:
        for client in [self.http, *self._clients]:
            await client.aclose()
        await self.runtime.aclose()


def _http(app: FastAPI, responses: list[httpx.Response], ip: str) -> httpx.AsyncClient:
    async def keep(response: httpx.Response) -> None:
        await response.aread()
        responses.append(response)

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(ip, 51234)),
        base_url=BASE_URL,
        event_hooks={"response": [keep]},
    )


ApiFactory = Callable[..., Awaitable[Api]]


@pytest.fixture
async def api_factory(settings: Settings, sim: SimAdmin) -> AsyncIterator[ApiFactory]:
    """``await api_factory(**settings_overrides)``: a Tresor built from the test's settings.
    Overrides are applied without validation, so a test may use values an operator cannot
    (an access token that lives one second)."""
    started: list[Api] = []

    async def start(**overrides: Any) -> Api:
        runtime = await build_runtime(settings.model_copy(update=overrides))
        app = create_app(runtime.container)
        responses: list[httpx.Response] = []
        api = Api(runtime, app, _http(app, responses, "127.0.0.1"), sim, responses)
        started.append(api)
        return api

    yield start
    for api in started:
        await api.aclose()


@pytest.fixture
async def api(api_factory: ApiFactory) -> Api:
    return await api_factory()


@pytest.fixture
async def alice(api: Api) -> Tenant:
    """A user whose client has every scope."""
    return await api.tenant("alice", "read,trade,admin")


# -- trading ---------------------------------------------------------------------------------
async def resting_order(api: Api, connection_id: str, amount: str = "0.001") -> dict[str, Any]:
    """The body of a limit buy of BTC/USDT at 60% of the best bid: valid, and it stays open."""
    ticker = api.sim.http.get("/api/v3/ticker/bookTicker", params={"symbol": "BTCUSDT"})
    ticker.raise_for_status()
    price = (Decimal(ticker.json()["bidPrice"]) * Decimal("0.6")).quantize(Decimal(1))
    return {
        "connection_id": connection_id,
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "limit",
        "amount": amount,
        "price": str(price),
    }


# -- assertions ------------------------------------------------------------------------------
def assert_problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """``answer`` is an RFC 9457 problem with this status and code, a detail and a remedy."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM), answer.headers
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == f"/problems/{code}"
    assert body["detail"].strip(), body
    assert body["remedy"].strip(), body
    assert body["instance"] == answer.request.url.path
    return body
