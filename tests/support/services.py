"""The real PostgreSQL and Redis of the distributed-mode tests.

``TRESOR_TEST_DATABASE_URL`` (default the local server's ``test`` database) and
``TRESOR_TEST_REDIS_URL`` (default the local server's database 0). Each test gets a schema and a
key prefix of its own, removed afterwards, so runs on one server do not collide. A server that
cannot be reached skips the test with the reason, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import NoReturn

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

POSTGRES_URL = os.environ.get(
    "TRESOR_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TRESOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CONNECT_TIMEOUT = 10.0


def unavailable(what: str, where: str, reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true; {where}: {reason}", pytrace=False)
    pytest.skip(f"{what} not reachable at {where} ({reason})")


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """An empty schema of its own (Tresor migrates it on start), dropped afterwards."""
    schema = f"tresor_dist_{secrets.token_hex(4)}"
    engine = create_async_engine(POSTGRES_URL)
    try:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT), engine.begin() as connection:
                await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        except Exception as e:  # whatever stops us from connecting
            unavailable("PostgreSQL", "127.0.0.1:5432", f"{type(e).__name__}: {e}")
        yield schema
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await engine.dispose()


RedisConnect = Callable[[], Awaitable[Redis]]
"""Another client on its own connection to the test's Redis: one more "process"."""


@asynccontextmanager
async def redis_clients() -> AsyncIterator[tuple[str, RedisConnect]]:
    """A key prefix of its own and a way to open clients; the prefix's keys are deleted and the
    clients closed afterwards."""
    prefix = f"tresor-test-{secrets.token_hex(6)}"
    clients: list[Redis] = []

    async def connect() -> Redis:
        client = Redis.from_url(REDIS_URL)
        clients.append(client)
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await client.ping()
        return client

    try:
        try:
            admin = await connect()
        except Exception as e:  # whatever stops us from connecting
            unavailable("Redis", REDIS_URL, f"{type(e).__name__}: {e}")
        yield prefix, connect
        async for key in admin.scan_iter(match=f"{prefix}:*"):
            await admin.delete(key)
    finally:
        for client in clients:
            await client.aclose()


@asynccontextmanager
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of its own; its keys are deleted afterwards."""
    async with redis_clients() as (prefix, _):
        yield prefix
