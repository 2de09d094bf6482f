"""The access service on the in-memory store: tokens, rotation, throttling, the cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tresor.adapters.db.memory import MemoryStore
from tresor.domain.access import Scope
from tresor.domain.errors import (
    ClientIpNotAllowed,
    InvalidClient,
    InvalidGrant,
    InvalidScope,
    InvalidToken,
    NotFound,
    TooManyAttempts,
)
from tresor.services.access import AccessPolicy, AccessService, digest


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 21, 12, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def access(store: MemoryStore, clock: Clock) -> AccessService:
    return AccessService(
        store.uow,
        clock,
        AccessPolicy(
            token_ttl=timedelta(hours=1),
            max_failures=3,
            failure_window=timedelta(minutes=5),
            token_cache=timedelta(seconds=10),
        ),
    )


async def client_of(
    access: AccessService, scopes: str = "read,trade", ip: tuple[str, ...] = ()
) -> tuple[str, str]:
    await access.create_user("alice")
    client, secret = await access.create_client("alice", scopes, ip_allowlist=ip)
    return client.id, secret


async def test_secrets_and_tokens_are_stored_only_as_hashes(
    access: AccessService, store: MemoryStore
) -> None:
    client_id, secret = await client_of(access)
    issued = await access.client_credentials(client_id, secret, None, "1.2.3.4")
    async with store.uow() as uow:
        client = await uow.clients.get(client_id)
        assert client is not None
        assert client.secret_hash == digest(secret) != secret
        assert await uow.tokens.get(digest(issued.access_token)) is not None
        assert await uow.tokens.get(issued.access_token) is None


async def test_a_token_gets_the_scopes_asked_for_and_never_more(access: AccessService) -> None:
    client_id, secret = await client_of(access, "read,trade")
    narrow = await access.client_credentials(client_id, secret, "read", "ip")
    assert narrow.scopes == frozenset({Scope.READ})
    everything = await access.client_credentials(client_id, secret, None, "ip")
    assert everything.scope == "read trade"
    with pytest.raises(InvalidScope):
        await access.client_credentials(client_id, secret, "admin", "ip")


async def test_failed_attempts_are_throttled_per_client_and_per_ip(
    access: AccessService, clock: Clock
) -> None:
    client_id, secret = await client_of(access)
    for _ in range(3):
        with pytest.raises(InvalidClient):
            await access.client_credentials(client_id, "wrong", None, "6.6.6.6")
    with pytest.raises(TooManyAttempts) as caught:
        await access.client_credentials(client_id, secret, None, "7.7.7.7")  # right secret
    assert caught.value.retry_after == 300
    clock.t += timedelta(minutes=6)
    assert (await access.client_credentials(client_id, secret, None, "7.7.7.7")).access_token


async def test_a_refresh_token_works_once_and_its_reuse_ends_the_family(
    access: AccessService,
) -> None:
    client_id, secret = await client_of(access)
    first = await access.client_credentials(client_id, secret, None, "ip")
    second = await access.refresh(first.refresh_token, None, "ip")
    assert second.access_token != first.access_token
    with pytest.raises(InvalidGrant):
        await access.refresh(first.refresh_token, None, "ip")  # stolen and replayed
    with pytest.raises(InvalidGrant):
        await access.refresh(second.refresh_token, None, "ip")  # the family is gone
    with pytest.raises(InvalidToken):
        await access.authenticate(second.access_token, "ip")


async def test_a_revoked_token_is_refused_at_once_despite_the_cache(access: AccessService) -> None:
    client_id, secret = await client_of(access)
    issued = await access.client_credentials(client_id, secret, None, "ip")
    assert (await access.authenticate(issued.access_token, "ip")).has(Scope.READ)
    await access.revoke(issued.access_token)
    with pytest.raises(InvalidToken):
        await access.authenticate(issued.access_token, "ip")


async def test_the_cache_never_outlives_the_token(access: AccessService, clock: Clock) -> None:
    client_id, secret = await client_of(access)
    issued = await access.client_credentials(client_id, secret, None, "ip")
    await access.authenticate(issued.access_token, "ip")
    clock.t += timedelta(hours=1)
    with pytest.raises(InvalidToken):
        await access.authenticate(issued.access_token, "ip")


async def test_a_revocation_by_another_process_is_seen_within_the_cache_time(
    access: AccessService, store: MemoryStore, clock: Clock
) -> None:
    client_id, secret = await client_of(access)
    issued = await access.client_credentials(client_id, secret, None, "ip")
    await access.authenticate(issued.access_token, "ip")
    async with store.uow() as uow:  # as another API process would
        await uow.tokens.revoke(digest(issued.access_token), clock.now())
        await uow.commit()
    await access.authenticate(issued.access_token, "ip")  # still cached
    clock.t += timedelta(seconds=11)
    with pytest.raises(InvalidToken):
        await access.authenticate(issued.access_token, "ip")


async def test_a_client_allowed_from_one_address_is_refused_from_others(
    access: AccessService,
) -> None:
    client_id, secret = await client_of(access, ip=("10.0.0.1",))
    with pytest.raises(ClientIpNotAllowed):
        await access.client_credentials(client_id, secret, None, "10.0.0.2")
    issued = await access.client_credentials(client_id, secret, None, "10.0.0.1")
    await access.authenticate(issued.access_token, "10.0.0.1")
    with pytest.raises(ClientIpNotAllowed):
        await access.authenticate(issued.access_token, "10.0.0.2")  # even when cached


async def test_tokens_of_another_kind_or_shape_are_refused(access: AccessService) -> None:
    client_id, secret = await client_of(access)
    issued = await access.client_credentials(client_id, secret, None, "ip")
    for bad in (issued.refresh_token, "tra_nope", "", "Bearer x"):
        with pytest.raises(InvalidToken):
            await access.authenticate(bad, "ip")


async def test_a_user_is_found_by_id_and_an_unknown_id_is_not_found(access: AccessService) -> None:
    made = await access.create_user("alice")
    assert (await access.user(made.id)).name == "alice"
    with pytest.raises(NotFound):
        await access.user("no-such-id")
