"""SQLite's durability setting: ``PRAGMA synchronous`` NORMAL by default (WAL: a crash of the
process loses no commit), FULL when the operator asks for an fsync per commit."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from tresor.adapters.db.uow import Database
from tresor.config import Settings

NORMAL, FULL = 1, 2  # what PRAGMA synchronous reads back


async def _synchronous(database: Database) -> int:
    try:
        await database.migrate()
        async with database.engine.connect() as connection:
            # a second pooled connection is set up the same way
            async with database.engine.connect() as other:
                assert await other.scalar(text("PRAGMA journal_mode")) == "wal"
                second = await other.scalar(text("PRAGMA synchronous"))
            first = await connection.scalar(text("PRAGMA synchronous"))
            assert first == second
            return int(first)
    finally:
        await database.dispose()


async def test_normal_by_default_and_full_when_asked(tmp_path: Path) -> None:
    assert await _synchronous(Database(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")) == NORMAL
    full = Database(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", sqlite_synchronous="FULL")
    assert await _synchronous(full) == FULL


def test_the_setting_is_read_from_the_environment_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings(data_dir=tmp_path).sqlite_synchronous == "NORMAL"
    monkeypatch.setenv("TRESOR_SQLITE_SYNCHRONOUS", "FULL")
    assert Settings(data_dir=tmp_path).sqlite_synchronous == "FULL"
    monkeypatch.setenv("TRESOR_SQLITE_SYNCHRONOUS", "OFF")
    with pytest.raises(ValueError, match="sqlite_synchronous"):
        Settings(data_dir=tmp_path)
    with pytest.raises(ValueError, match="sqlite_synchronous"):
        Database(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", sqlite_synchronous="OFF; --")
