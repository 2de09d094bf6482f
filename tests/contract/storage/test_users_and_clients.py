"""Contract of UserRepository and ClientRepository, on every backend."""

from __future__ import annotations

import pytest

from tests.contract.storage import data
from tests.contract.storage.conftest import Backend
from tresor.domain.access import Scope
from tresor.domain.errors import ValidationFailed


async def test_an_added_user_is_found_by_id_and_by_name(backend: Backend) -> None:
    await backend.given(lambda uow: uow.users.add(data.user("u1", "alice")))
    async with backend.uow() as uow:
        assert await uow.users.get("u1") == data.user("u1", "alice")
        assert await uow.users.by_name("alice") == data.user("u1", "alice")


async def test_unknown_users_are_none(backend: Backend) -> None:
    await backend.given(lambda uow: uow.users.add(data.user("u1", "alice")))
    async with backend.uow() as uow:
        assert await uow.users.get("nobody") is None
        assert await uow.users.by_name("Alice") is None  # names are case-sensitive


async def test_a_taken_user_name_is_refused_and_the_transaction_goes_on(
    backend: Backend,
) -> None:
    await backend.given(lambda uow: uow.users.add(data.user("u1", "alice")))
    async with backend.uow() as uow:
        with pytest.raises(ValidationFailed, match="alice"):
            await uow.users.add(data.user("u2", "alice"))
        await uow.users.add(data.user("u3", "bob"))
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.users.get("u2") is None
        assert await uow.users.by_name("bob") == data.user("u3", "bob")


async def test_a_taken_user_id_is_a_value_error(backend: Backend) -> None:
    await backend.given(lambda uow: uow.users.add(data.user("u1", "alice")))
    async with backend.uow() as uow:
        with pytest.raises(ValueError, match="u1"):
            await uow.users.add(data.user("u1", "bob"))


async def test_a_client_round_trips_scopes_allow_list_and_flags(backend: Backend) -> None:
    original = data.client(
        "c1", scopes=frozenset(Scope), ip_allowlist=("192.0.2.1", "10.0.0.0/8"), disabled=True
    )
    await backend.given(
        lambda uow: uow.users.add(data.user("u1")), lambda uow: uow.clients.add(original)
    )
    async with backend.uow() as uow:
        assert await uow.clients.get("c1") == original
        assert await uow.clients.get("c2") is None


async def test_a_client_with_no_allow_list_and_one_scope_round_trips(backend: Backend) -> None:
    original = data.client("c1", scopes=frozenset({Scope.READ}), ip_allowlist=())
    await backend.given(
        lambda uow: uow.users.add(data.user("u1")), lambda uow: uow.clients.add(original)
    )
    async with backend.uow() as uow:
        assert await uow.clients.get("c1") == original


async def test_clients_for_a_user_are_only_theirs_oldest_first(backend: Backend) -> None:
    newer = data.client("c1", "u1", created_at=data.at(60))
    older = data.client("c2", "u1", created_at=data.at(0))
    other = data.client("c3", "u2")
    await backend.given(
        lambda uow: uow.users.add(data.user("u1")),
        lambda uow: uow.users.add(data.user("u2")),
        lambda uow: uow.clients.add(newer),
        lambda uow: uow.clients.add(older),
        lambda uow: uow.clients.add(other),
    )
    async with backend.uow() as uow:
        assert list(await uow.clients.for_user("u1")) == [older, newer]
        assert list(await uow.clients.for_user("u3")) == []


async def test_a_client_of_an_unknown_user_is_refused(backend: Backend) -> None:
    async with backend.uow() as uow:
        with pytest.raises(ValueError, match="c1"):
            await uow.clients.add(data.client("c1", "ghost"))
        assert await uow.clients.get("c1") is None
