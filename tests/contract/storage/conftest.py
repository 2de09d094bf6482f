"""The storage backends the contract suite runs against: the in-memory fake, SQLite (a file in
the test's temporary directory) and PostgreSQL.

PostgreSQL is ``TRESOR_TEST_DATABASE_URL`` (default: the local server's ``test`` database).
The session gets its own schema (``tresor_test_<random>``, dropped at the end), so runs on one
server do not collide, and each test starts from empty tables. When the server cannot be
reached the PostgreSQL tests are skipped with the reason, except under ``CI=true``, where they
fail: CI must test both databases.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
import pytest_asyncio
from sqlalchemy import make_url, text

from tresor.adapters.db.memory import MemoryStore
from tresor.adapters.db.tables import Base
from tresor.adapters.db.uow import Database
from tresor.services.ports import UnitOfWork, UnitOfWorkFactory

POSTGRES_URL = os.environ.get(
    "TRESOR_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
CONNECT_TIMEOUT = 10.0


@dataclass
class Backend:
    """One implementation of the storage ports; ``database`` is None for the fake."""

    name: str
    uow: UnitOfWorkFactory
    database: Database | None = None

    async def given(self, *actions: Callable[[UnitOfWork], Awaitable[object]]) -> None:
        """Run ``actions`` in one unit of work and commit."""
        async with self.uow() as uow:
            for action in actions:
                await action(uow)
            await uow.commit()


def _postgres_unavailable(reason: str) -> NoReturn:
    where = make_url(POSTGRES_URL).render_as_string(hide_password=True)
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI=true; {where}: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not reachable at {where} ({reason})")


async def _execute(database: Database, statement: str) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(text(statement))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres_schema() -> AsyncIterator[str]:
    """A migrated schema of its own for this test session."""
    schema = f"tresor_test_{secrets.token_hex(4)}"
    admin = Database(POSTGRES_URL)
    try:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await _execute(admin, f'CREATE SCHEMA "{schema}"')
        except Exception as e:  # whatever stops us from connecting
            _postgres_unavailable(f"{type(e).__name__}: {e}")
        database = Database(POSTGRES_URL, schema=schema)
        try:
            await database.migrate()
        finally:
            await database.dispose()
        yield schema
        await _execute(admin, f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.dispose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating takes longer than a test)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "tresor.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await database.migrate()
    finally:
        await database.dispose()  # the last connection to close folds the WAL into the file
    return path


Opener = Callable[[Path], Awaitable[Database]]
"""Opens a migrated, empty database for a test, given the test's temporary directory."""


def _opener(request: pytest.FixtureRequest, name: str) -> Opener:
    if name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")

        async def open_sqlite(tmp_path: Path) -> Database:
            shutil.copy(template, tmp_path / "tresor.db")
            return Database(f"sqlite+aiosqlite:///{tmp_path / 'tresor.db'}")

        return open_sqlite
    schema: str = request.getfixturevalue("postgres_schema")

    async def open_postgres(tmp_path: Path) -> Database:
        database = Database(POSTGRES_URL, schema=schema)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        await _execute(database, f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        return database

    return open_postgres


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def backend_opener(request: pytest.FixtureRequest) -> tuple[str, Opener | None]:
    name: str = request.param
    return name, None if name == "memory" else _opener(request, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_opener(request: pytest.FixtureRequest) -> Opener:
    return _opener(request, request.param)


@pytest.fixture
async def backend(
    backend_opener: tuple[str, Opener | None], tmp_path: Path
) -> AsyncIterator[Backend]:
    """Each implementation of the storage ports in turn, empty."""
    name, opener = backend_opener
    if opener is None:
        yield Backend(name, MemoryStore().uow)
        return
    database = await opener(tmp_path)
    try:
        yield Backend(name, database.uow, database)
    finally:
        await database.dispose()


@pytest.fixture
async def sql(sql_opener: Opener, tmp_path: Path) -> AsyncIterator[Database]:
    """Each SQL database in turn, migrated and empty."""
    database = await sql_opener(tmp_path)
    try:
        yield database
    finally:
        await database.dispose()
