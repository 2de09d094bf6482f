"""The unit of work, on every backend: commit persists, anything else is discarded, and one
unit of work never sees what another has not committed."""

from __future__ import annotations

import asyncio

import pytest

from tests.contract.storage import data
from tests.contract.storage.conftest import Backend
from tresor.domain.errors import DuplicateLabel


async def test_commit_persists(backend: Backend) -> None:
    async with backend.uow() as uow:
        await uow.users.add(data.user("u1"))
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.users.get("u1") == data.user("u1")


async def test_leaving_without_commit_discards_the_changes(backend: Backend) -> None:
    async with backend.uow() as uow:
        await uow.users.add(data.user("u1"))
        await uow.tokens.add(data.token("h1"))
        assert await uow.users.get("u1") == data.user("u1")
    async with backend.uow() as uow:
        assert await uow.users.get("u1") is None
        assert await uow.tokens.get("h1") is None


async def test_an_exception_discards_the_changes(backend: Backend) -> None:
    async def fail() -> None:
        async with backend.uow() as uow:
            await uow.users.add(data.user("u1"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail()
    async with backend.uow() as uow:
        assert await uow.users.get("u1") is None


async def test_rollback_discards_and_the_unit_of_work_goes_on(backend: Backend) -> None:
    await backend.given(
        lambda uow: uow.users.add(data.user("u1")),
        lambda uow: uow.connections.add(data.connection("k1")),
    )
    async with backend.uow() as uow:
        await uow.users.add(data.user("u2"))
        assert await uow.connections.delete("k1", "u1") is True
        await uow.tokens.add(data.token("h1"))
        await uow.attempts.record_failure("a", data.at(0))
        await uow.rollback()
        assert await uow.users.get("u2") is None
        assert await uow.connections.get("k1", "u1") == data.connection("k1")
        assert await uow.tokens.get("h1") is None
        assert await uow.attempts.failures_since("a", data.at(0)) == 0
        await uow.users.add(data.user("u3"))
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.users.get("u2") is None
        assert await uow.users.get("u3") == data.user("u3")
        assert await uow.connections.get("k1", "u1") == data.connection("k1")


async def test_work_after_a_commit_is_discarded_without_another(backend: Backend) -> None:
    async with backend.uow() as uow:
        await uow.users.add(data.user("u1"))
        await uow.commit()
        await uow.users.add(data.user("u2"))
    async with backend.uow() as uow:
        assert await uow.users.get("u1") == data.user("u1")
        assert await uow.users.get("u2") is None


async def test_a_unit_of_work_does_not_see_what_another_has_not_committed(
    backend: Backend,
) -> None:
    await backend.given(lambda uow: uow.users.add(data.user("u1")))
    async with backend.uow() as writer:
        await writer.users.add(data.user("u2"))
        await writer.connections.add(data.connection("k1"))
        await writer.attempts.record_failure("a", data.at(0))
        async with backend.uow(read_only=True) as reader:
            assert await reader.users.get("u2") is None
            assert await reader.connections.get("k1", "u1") is None
            assert await reader.connections.count_for_user("u1") == 0
            assert await reader.attempts.failures_since("a", data.at(0)) == 0
        await writer.commit()
    async with backend.uow() as reader:
        assert await reader.users.get("u2") == data.user("u2")
        assert await reader.connections.get("k1", "u1") == data.connection("k1")
        assert await reader.attempts.failures_since("a", data.at(0)) == 1


async def test_concurrent_units_of_work_writing_different_rows_both_persist(
    backend: Backend,
) -> None:
    async def add(user_id: str) -> None:
        async with backend.uow() as uow:
            await uow.users.add(data.user(user_id))
            await asyncio.sleep(0.01)
            await uow.commit()

    await asyncio.gather(add("u1"), add("u2"))
    async with backend.uow() as uow:
        assert await uow.users.get("u1") == data.user("u1")
        assert await uow.users.get("u2") == data.user("u2")


async def test_of_two_concurrent_units_of_work_taking_one_label_only_one_succeeds(
    backend: Backend,
) -> None:
    await backend.given(lambda uow: uow.users.add(data.user("u1")))

    async def add(connection_id: str) -> bool:
        try:
            async with backend.uow() as uow:
                await uow.connections.add(data.connection(connection_id, label="main"))
                await asyncio.sleep(0.01)
                await uow.commit()
        except DuplicateLabel:
            return False
        return True

    assert sorted(await asyncio.gather(add("k1"), add("k2"))) == [False, True]
    async with backend.uow() as uow:
        assert await uow.connections.count_for_user("u1") == 1


async def test_a_unit_of_work_cannot_be_entered_twice_at_once(backend: Backend) -> None:
    uow = backend.uow()
    async with uow:
        with pytest.raises(RuntimeError, match="already in use"):
            await uow.__aenter__()
