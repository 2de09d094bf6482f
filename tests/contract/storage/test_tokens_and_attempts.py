"""Contract of TokenRepository and AttemptRepository, on every backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone

import pytest

from tests.contract.storage import data
from tests.contract.storage.conftest import Backend
from tresor.domain.access import TokenKind


async def test_a_token_round_trips(backend: Backend) -> None:
    original = data.token("h1", kind=TokenKind.REFRESH, revoked_at=data.at(10))
    await backend.given(lambda uow: uow.tokens.add(original))
    async with backend.uow() as uow:
        assert await uow.tokens.get("h1") == original
        assert await uow.tokens.get("h2") is None


async def test_a_token_hash_cannot_be_added_twice(backend: Backend) -> None:
    await backend.given(lambda uow: uow.tokens.add(data.token("h1")))
    async with backend.uow() as uow:
        with pytest.raises(ValueError, match="hash"):
            await uow.tokens.add(data.token("h1", family="other"))


async def test_revoke_marks_a_token_once_and_keeps_the_first_time(backend: Backend) -> None:
    await backend.given(lambda uow: uow.tokens.add(data.token("h1")))
    async with backend.uow() as uow:
        assert await uow.tokens.revoke("h1", data.at(10)) is True
        assert await uow.tokens.revoke("h1", data.at(20)) is False
        assert await uow.tokens.revoke("unknown", data.at(20)) is False
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.tokens.get("h1") == data.token("h1", revoked_at=data.at(10))


async def test_a_revocation_is_seen_at_once_in_the_same_unit_of_work(backend: Backend) -> None:
    await backend.given(lambda uow: uow.tokens.add(data.token("h1")))
    async with backend.uow() as uow:
        assert await uow.tokens.get("h1") == data.token("h1")  # loaded before the change
        await uow.tokens.revoke("h1", data.at(10))
        assert await uow.tokens.get("h1") == data.token("h1", revoked_at=data.at(10))
        await uow.tokens.revoke_family("f2", data.at(10))


async def test_revoke_family_revokes_that_familys_live_tokens_only(backend: Backend) -> None:
    await backend.given(
        lambda uow: uow.tokens.add(data.token("a1", family="fa")),
        lambda uow: uow.tokens.add(data.token("a2", family="fa", kind=TokenKind.REFRESH)),
        lambda uow: uow.tokens.add(data.token("a3", family="fa", revoked_at=data.at(1))),
        lambda uow: uow.tokens.add(data.token("b1", family="fb")),
    )
    async with backend.uow() as uow:
        assert await uow.tokens.revoke_family("fa", data.at(50)) == 2
        assert await uow.tokens.revoke_family("fa", data.at(60)) == 0
        assert await uow.tokens.revoke_family("nobody", data.at(60)) == 0
        await uow.commit()
    async with backend.uow() as uow:
        revoked = {h: (await uow.tokens.get(h)) for h in ("a1", "a2", "a3", "b1")}
    assert {h: t.revoked_at if t else "gone" for h, t in revoked.items()} == {
        "a1": data.at(50),
        "a2": data.at(50),
        "a3": data.at(1),
        "b1": None,
    }


async def test_the_empty_family_is_not_a_family(backend: Backend) -> None:
    await backend.given(lambda uow: uow.tokens.add(data.token("h1", family="")))
    async with backend.uow() as uow:
        assert await uow.tokens.revoke_family("", data.at(10)) == 0
        token = await uow.tokens.get("h1")
    assert token is not None
    assert token.revoked_at is None


async def test_purge_deletes_tokens_expired_before_the_time_only(backend: Backend) -> None:
    await backend.given(
        lambda uow: uow.tokens.add(data.token("old", expires_at=data.at(10))),
        lambda uow: uow.tokens.add(
            data.token("old-revoked", expires_at=data.at(20), revoked_at=data.at(5))
        ),
        lambda uow: uow.tokens.add(data.token("edge", expires_at=data.at(30))),
        lambda uow: uow.tokens.add(data.token("live", expires_at=data.at(40))),
    )
    async with backend.uow() as uow:
        assert await uow.tokens.purge_expired(data.at(30)) == 2
        assert await uow.tokens.get("old") is None  # seen in the same unit of work
        await uow.commit()
    async with backend.uow() as uow:
        left = [h for h in ("old", "old-revoked", "edge", "live") if await uow.tokens.get(h)]
    assert left == ["edge", "live"]


async def test_failures_are_counted_per_key_from_the_start_of_the_window(
    backend: Backend,
) -> None:
    async with backend.uow() as uow:
        for second in (0, 10, 20, 30):
            await uow.attempts.record_failure("client:c1", data.at(second))
        await uow.attempts.record_failure("ip:192.0.2.1", data.at(30))
        assert await uow.attempts.failures_since("client:c1", data.at(10)) == 3
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.attempts.failures_since("client:c1", data.at(0)) == 4
        assert await uow.attempts.failures_since("client:c1", data.at(20)) == 2  # inclusive
        assert await uow.attempts.failures_since("client:c1", data.at(31)) == 0
        assert await uow.attempts.failures_since("ip:192.0.2.1", data.at(0)) == 1
        assert await uow.attempts.failures_since("client:c2", data.at(0)) == 0


async def test_clear_forgets_the_failures_of_that_key_only(backend: Backend) -> None:
    await backend.given(
        lambda uow: uow.attempts.record_failure("a", data.at(0)),
        lambda uow: uow.attempts.record_failure("a", data.at(1)),
        lambda uow: uow.attempts.record_failure("b", data.at(1)),
    )
    async with backend.uow() as uow:
        await uow.attempts.clear("a")
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.attempts.failures_since("a", data.at(0)) == 0
        assert await uow.attempts.failures_since("b", data.at(0)) == 1


async def test_times_in_other_zones_compare_by_instant(backend: Backend) -> None:
    paris = timezone(timedelta(hours=2))
    await backend.given(
        lambda uow: uow.tokens.add(
            replace(data.token("h1"), expires_at=data.at(100).astimezone(paris))
        )
    )
    async with backend.uow() as uow:
        assert await uow.tokens.purge_expired(data.at(100)) == 0
        assert await uow.tokens.purge_expired(data.at(101).astimezone(paris)) == 1
