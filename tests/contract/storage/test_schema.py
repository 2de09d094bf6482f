"""The SQL databases themselves: migrations build exactly the models' schema, the database
enforces what the repositories rely on, and ``Database`` / ``database_url`` behave."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import IntegrityError

from tests.contract.storage import data
from tests.contract.storage.conftest import POSTGRES_URL
from tresor.adapters.db.tables import Base, ConnectionKeyRow
from tresor.adapters.db.uow import Database, alembic_config, database_url


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def test_the_migrated_schema_matches_the_models(sql: Database) -> None:
    async with sql.engine.connect() as connection:
        assert await connection.run_sync(_diff) == []
        assert await connection.run_sync(_revision) == "0009"


async def test_migrating_again_changes_nothing(sql: Database) -> None:
    await sql.migrate()
    async with sql.engine.connect() as connection:
        assert await connection.run_sync(_diff) == []


async def test_downgrade_to_nothing_then_upgrade_again(sql: Database) -> None:
    def tables(connection: Connection) -> list[str]:
        if connection.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            query = (
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        return sorted(name for (name,) in connection.execute(text(query)))

    def down_and_up(connection: Connection) -> tuple[list[str], list[Any]]:
        command.downgrade(alembic_config(connection), "base")
        left = tables(connection)
        command.upgrade(alembic_config(connection), "head")
        return left, _diff(connection)

    # In one transaction, rolled back: both databases have transactional DDL, so the
    # database shared by the other tests is left as it was.
    async with sql.engine.connect() as connection:
        await connection.begin()
        left, diff = await connection.run_sync(down_and_up)
        await connection.rollback()
    assert left == ["alembic_version"]
    assert diff == []


async def test_the_database_itself_deletes_the_keys_of_a_deleted_connection(
    sql: Database,
) -> None:
    """ON DELETE CASCADE, which on SQLite needs foreign keys switched on per connection."""
    async with sql.uow() as uow:
        await uow.users.add(data.user("u1"))
        await uow.connections.add(data.connection("k1"))
        await uow.commit()
    async with sql.engine.begin() as connection:
        await connection.execute(text("DELETE FROM connections"))
        keys = await connection.scalar(select(func.count()).select_from(ConnectionKeyRow))
    assert keys == 0


async def test_the_database_refuses_keys_of_an_unknown_connection(sql: Database) -> None:
    with pytest.raises(IntegrityError):
        async with sql.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO connection_keys (connection_id, role, hint, api_key_ct, "
                    "secret_ct, sealed, status, warnings) VALUES ('ghost', 'read', 'h', :b, :b, "
                    "false, 'connected', '[]')"
                ),
                {"b": b"x"},
            )


async def test_sqlite_runs_with_foreign_keys_and_the_wal_journal(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'db' / 'tresor.db'}")
    try:
        async with database.engine.connect() as connection:
            assert await connection.scalar(text("PRAGMA foreign_keys")) == 1
            assert await connection.scalar(text("PRAGMA journal_mode")) == "wal"
    finally:
        await database.dispose()


async def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "tresor.db"
    database = Database(database_url(tmp_path / "data", None))
    try:
        await database.migrate()
    finally:
        await database.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_the_default_database_is_sqlite_in_the_data_directory(tmp_path: Path) -> None:
    assert database_url(tmp_path, None) == f"sqlite+aiosqlite:///{tmp_path}/tresor.db"
    assert database_url(tmp_path, "  ") == f"sqlite+aiosqlite:///{tmp_path}/tresor.db"


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("postgresql://u:p@db:5432/tresor", "postgresql+asyncpg://u:p@db:5432/tresor"),
        ("postgres://u@db/tresor", "postgresql+asyncpg://u@db/tresor"),
        ("postgresql+asyncpg://u@db/tresor", "postgresql+asyncpg://u@db/tresor"),
        ("sqlite:////srv/tresor.db", "sqlite+aiosqlite:////srv/tresor.db"),
    ],
)
def test_a_configured_url_gets_the_async_driver(configured: str, expected: str) -> None:
    assert database_url(Path("/unused"), configured) == expected


@pytest.mark.parametrize(
    "url", ["mysql+aiomysql://u@db/tresor", "postgresql+psycopg2://u@db/t", "sqlite:///x.db"]
)
def test_other_databases_and_sync_drivers_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        Database(url)


@pytest.mark.parametrize("url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"])
def test_an_in_memory_sqlite_database_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="MemoryStore"):
        Database(url)


async def test_the_password_never_shows() -> None:
    database = Database("postgresql+asyncpg://tresor:hunter2-secret@db.invalid/tresor")
    try:
        assert "hunter2" not in repr(database)
        assert "hunter2" not in database.url
    finally:
        await database.dispose()


def test_a_schema_must_be_a_plain_name() -> None:
    with pytest.raises(ValueError, match="schema"):
        Database(POSTGRES_URL, schema='x"; DROP TABLE users; --')


def test_a_schema_is_for_postgresql_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", schema="tresor")
