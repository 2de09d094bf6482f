"""Times, on every backend: what goes in aware comes back aware, in UTC, the same instant; a
naive time is refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.contract.storage import data
from tests.contract.storage.conftest import Backend
from tresor.services.ports import UnitOfWork

TOKYO = timezone(timedelta(hours=9))
NAIVE = datetime(2026, 3, 1, 12, 0)  # noqa: DTZ001 - the point of the test


async def test_times_come_back_aware_in_utc_at_the_same_instant(backend: Backend) -> None:
    tokyo = data.T0.astimezone(TOKYO)
    key = data.key(verified_at=tokyo)
    await backend.given(
        lambda uow: uow.users.add(replace(data.user("u1"), created_at=tokyo)),
        lambda uow: uow.tokens.add(replace(data.token("h1"), issued_at=tokyo, revoked_at=tokyo)),
        lambda uow: uow.connections.add(
            data.connection("k1", created_at=tokyo, updated_at=tokyo, keys=(key,))
        ),
    )
    async with backend.uow() as uow:
        user = await uow.users.get("u1")
        token = await uow.tokens.get("h1")
        connection = await uow.connections.get("k1", "u1")
    assert user is not None
    assert token is not None
    assert connection is not None
    times = [
        user.created_at,
        token.issued_at,
        token.revoked_at,
        connection.created_at,
        connection.updated_at,
        connection.keys[0].verified_at,
    ]
    assert times == [data.T0] * 6
    assert all(t is not None and t.tzinfo is UTC for t in times)


async def test_microseconds_survive(backend: Backend) -> None:
    precise = data.T0.replace(microsecond=999_999)
    await backend.given(lambda uow: uow.users.add(replace(data.user("u1"), created_at=precise)))
    async with backend.uow() as uow:
        user = await uow.users.get("u1")
    assert user is not None
    assert user.created_at == precise


WRITES: dict[str, Callable[[UnitOfWork], Awaitable[object]]] = {
    "user": lambda uow: uow.users.add(replace(data.user("u2"), created_at=NAIVE)),
    "client": lambda uow: uow.clients.add(data.client("c1", created_at=NAIVE)),
    "token": lambda uow: uow.tokens.add(data.token("h1", expires_at=NAIVE)),
    "revoke": lambda uow: uow.tokens.revoke("h0", NAIVE),
    "purge": lambda uow: uow.tokens.purge_expired(NAIVE),
    "attempt": lambda uow: uow.attempts.record_failure("a", NAIVE),
    "window": lambda uow: uow.attempts.failures_since("a", NAIVE),
    "connection": lambda uow: uow.connections.add(data.connection("k1", updated_at=NAIVE)),
    "key": lambda uow: uow.connections.add(
        data.connection("k1", keys=(data.key(verified_at=NAIVE),))
    ),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
async def test_a_naive_time_is_refused(
    backend: Backend, write: Callable[[UnitOfWork], Awaitable[object]]
) -> None:
    await backend.given(
        lambda uow: uow.users.add(data.user("u1")), lambda uow: uow.tokens.add(data.token("h0"))
    )
    async with backend.uow() as uow:
        with pytest.raises(ValueError, match="naive"):
            await write(uow)
