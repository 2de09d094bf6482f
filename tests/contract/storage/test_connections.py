"""Contract of ConnectionRepository, on every backend."""

from __future__ import annotations

import pytest

from tests.contract.storage import data
from tests.contract.storage.conftest import Backend
from tresor.domain.connections import ConnectionStatus, KeyRole
from tresor.domain.errors import DuplicateLabel, NotFound


@pytest.fixture
async def two_users(backend: Backend) -> Backend:
    await backend.given(
        lambda uow: uow.users.add(data.user("u1", "alice")),
        lambda uow: uow.users.add(data.user("u2", "bob")),
    )
    return backend


async def test_a_connection_round_trips_with_its_keys(two_users: Backend) -> None:
    original = data.connection(
        "k1",
        keys=(
            data.key(KeyRole.READ, report=data.report(failed=True), passphrase_ct=b"\x00\xff"),
            data.key(KeyRole.TRADE, sealed=True, status=ConnectionStatus.EXPIRING),
        ),
    )
    await two_users.given(lambda uow: uow.connections.add(original))
    async with two_users.uow() as uow:
        assert await uow.connections.get("k1", "u1") == original


async def test_binary_ciphertexts_come_back_byte_for_byte(two_users: Backend) -> None:
    blob = bytes(range(256)) * 64  # 16 KiB, every byte value, NULs included
    original = data.connection(
        "k1", keys=(data.key(api_key_ct=blob, secret_ct=b"\x00", passphrase_ct=blob[::-1]),)
    )
    await two_users.given(lambda uow: uow.connections.add(original))
    async with two_users.uow() as uow:
        stored = await uow.connections.get("k1", "u1")
    assert stored is not None
    (key,) = stored.keys
    assert (key.api_key_ct, key.secret_ct, key.passphrase_ct) == (blob, b"\x00", blob[::-1])
    assert type(key.api_key_ct) is bytes


async def test_capability_reports_and_warnings_round_trip(two_users: Backend) -> None:
    working = data.key(KeyRole.READ, report=data.report())
    failed = data.key(KeyRole.TRADE, report=data.report(failed=True), warnings=())
    await two_users.given(
        lambda uow: uow.connections.add(data.connection("k1", keys=(working, failed)))
    )
    async with two_users.uow() as uow:
        stored = await uow.connections.get("k1", "u1")
    assert stored is not None
    assert stored.key(KeyRole.READ) == working
    assert stored.key(KeyRole.TRADE) == failed
    failure = stored.keys[1].report.failure if stored.keys[1].report else None
    assert failure is not None
    assert failure.checks == ("the key", "the IP 203.0.113.7")


async def test_a_connection_without_keys_report_or_endpoint_round_trips(
    two_users: Backend,
) -> None:
    bare = data.connection("k1", endpoint=None, keys=())
    unverified = data.connection("k2", keys=(data.key(report=None, warnings=(), verified_at=None),))
    await two_users.given(
        lambda uow: uow.connections.add(bare), lambda uow: uow.connections.add(unverified)
    )
    async with two_users.uow() as uow:
        assert await uow.connections.get("k1", "u1") == bare
        assert await uow.connections.get("k2", "u1") == unverified


async def test_keys_come_back_ordered_by_role(two_users: Backend) -> None:
    trade_first = data.connection("k1", keys=(data.key(KeyRole.TRADE), data.key(KeyRole.READ)))
    await two_users.given(lambda uow: uow.connections.add(trade_first))
    async with two_users.uow() as uow:
        stored = await uow.connections.get("k1", "u1")
    assert stored is not None
    assert [k.role for k in stored.keys] == [KeyRole.READ, KeyRole.TRADE]


async def test_two_keys_with_one_role_are_refused(two_users: Backend) -> None:
    twice = data.connection("k1", keys=(data.key(KeyRole.READ), data.key(KeyRole.READ)))
    async with two_users.uow() as uow:
        with pytest.raises(ValueError, match="one key per role"):
            await uow.connections.add(twice)
        assert await uow.connections.get("k1", "u1") is None


async def test_a_connection_of_an_unknown_user_is_refused(two_users: Backend) -> None:
    async with two_users.uow() as uow:
        with pytest.raises(ValueError, match="k1"):
            await uow.connections.add(data.connection("k1", "ghost"))
        assert await uow.connections.all_ids() == []


async def test_a_taken_connection_id_is_refused(two_users: Backend) -> None:
    await two_users.given(lambda uow: uow.connections.add(data.connection("k1", "u1")))
    async with two_users.uow() as uow:
        with pytest.raises(ValueError, match="k1"):
            await uow.connections.add(data.connection("k1", "u2", label="other"))


async def test_another_users_connection_cannot_be_read(two_users: Backend) -> None:
    await two_users.given(lambda uow: uow.connections.add(data.connection("k1", "u1")))
    async with two_users.uow() as uow:
        assert await uow.connections.get("k1", "u2") is None
        assert await uow.connections.by_label("u2", "label k1") is None
        assert await uow.connections.for_user("u2") == []
        assert await uow.connections.count_for_user("u2") == 0


async def test_another_users_connection_cannot_be_deleted(two_users: Backend) -> None:
    await two_users.given(lambda uow: uow.connections.add(data.connection("k1", "u1")))
    async with two_users.uow() as uow:
        assert await uow.connections.delete("k1", "u2") is False
        assert await uow.connections.delete("nothing", "u1") is False
        await uow.commit()
    async with two_users.uow() as uow:
        assert await uow.connections.get("k1", "u1") == data.connection("k1", "u1")


async def test_another_users_connection_cannot_be_updated(two_users: Backend) -> None:
    await two_users.given(lambda uow: uow.connections.add(data.connection("k1", "u1")))
    hijack = data.connection("k1", "u2", label="mine now", keys=())
    async with two_users.uow() as uow:
        with pytest.raises(NotFound):
            await uow.connections.update(hijack)
        with pytest.raises(NotFound):
            await uow.connections.update(data.connection("nothing", "u1"))
        await uow.commit()
    async with two_users.uow() as uow:
        assert await uow.connections.get("k1", "u1") == data.connection("k1", "u1")
        assert await uow.connections.get("k1", "u2") is None


async def test_labels_are_unique_per_user_not_across_users(two_users: Backend) -> None:
    await two_users.given(
        lambda uow: uow.connections.add(data.connection("k1", "u1", label="main")),
        lambda uow: uow.connections.add(data.connection("k2", "u2", label="main")),
    )
    async with two_users.uow() as uow:
        with pytest.raises(DuplicateLabel):
            await uow.connections.add(data.connection("k3", "u1", label="main"))
        assert await uow.connections.count_for_user("u1") == 1


async def test_a_duplicate_label_leaves_the_unit_of_work_usable(two_users: Backend) -> None:
    await two_users.given(
        lambda uow: uow.connections.add(data.connection("k1", "u1", label="main"))
    )
    async with two_users.uow() as uow:
        with pytest.raises(DuplicateLabel):
            await uow.connections.add(data.connection("k2", "u1", label="main"))
        await uow.connections.add(data.connection("k2", "u1", label="second"))
        await uow.commit()
    async with two_users.uow() as uow:
        assert [c.label for c in await uow.connections.for_user("u1")] == ["main", "second"]


async def test_update_to_a_label_already_used_is_a_duplicate(two_users: Backend) -> None:
    await two_users.given(
        lambda uow: uow.connections.add(data.connection("k1", label="main")),
        lambda uow: uow.connections.add(data.connection("k2", label="spare")),
    )
    async with two_users.uow() as uow:
        with pytest.raises(DuplicateLabel):
            await uow.connections.update(data.connection("k2", label="main"))
        assert await uow.connections.get("k2", "u1") == data.connection("k2", label="spare")


async def test_update_replaces_the_fields_and_all_the_keys(two_users: Backend) -> None:
    await two_users.given(lambda uow: uow.connections.add(data.connection("k1")))
    rotated = data.key(KeyRole.TRADE, hint="new1…new2", api_key_ct=b"rotated", report=None)
    changed = data.connection(
        "k1",
        label="renamed",
        endpoint=None,
        status=ConnectionStatus.VERIFYING,
        updated_at=data.at(3600),
        keys=(rotated,),  # the read key is gone
    )
    async with two_users.uow() as uow:
        await uow.connections.update(changed)
        assert await uow.connections.get("k1", "u1") == changed  # in the same unit of work
        await uow.commit()
    async with two_users.uow() as uow:
        assert await uow.connections.get("k1", "u1") == changed
        assert await uow.connections.by_label("u1", "label k1") is None


async def test_update_may_keep_the_label(two_users: Backend) -> None:
    await two_users.given(lambda uow: uow.connections.add(data.connection("k1", label="main")))
    same_label = data.connection("k1", label="main", status=ConnectionStatus.RATE_LIMITED)
    await two_users.given(lambda uow: uow.connections.update(same_label))
    async with two_users.uow() as uow:
        assert await uow.connections.get("k1", "u1") == same_label


async def test_deleting_a_connection_deletes_its_keys(two_users: Backend) -> None:
    await two_users.given(lambda uow: uow.connections.add(data.connection("k1")))
    async with two_users.uow() as uow:
        assert await uow.connections.delete("k1", "u1") is True
        assert await uow.connections.get("k1", "u1") is None
        # the same id again, in the same unit of work, starts with no keys
        await uow.connections.add(data.connection("k1", keys=()))
        assert await uow.connections.get("k1", "u1") == data.connection("k1", keys=())
        await uow.commit()
    async with two_users.uow() as uow:
        assert await uow.connections.get("k1", "u1") == data.connection("k1", keys=())


async def test_listing_counting_and_finding_by_label(two_users: Backend) -> None:
    late = data.connection("k1", "u1", label="late", created_at=data.at(100))
    early = data.connection("k2", "u1", label="early", created_at=data.at(0))
    others = data.connection("k3", "u2", label="late")
    await two_users.given(
        lambda uow: uow.connections.add(late),
        lambda uow: uow.connections.add(early),
        lambda uow: uow.connections.add(others),
    )
    async with two_users.uow() as uow:
        assert list(await uow.connections.for_user("u1")) == [early, late]
        assert await uow.connections.count_for_user("u1") == 2
        assert await uow.connections.by_label("u1", "late") == late
        assert await uow.connections.by_label("u2", "late") == others
        assert await uow.connections.by_label("u1", "missing") is None
        assert sorted(await uow.connections.all_ids()) == [
            ("k1", "u1"),
            ("k2", "u1"),
            ("k3", "u2"),
        ]
        assert await uow.connections.with_key_status(KeyRole.TRADE, ConnectionStatus.CONNECTED) == [
            ("k1", "u1"),
            ("k2", "u1"),
            ("k3", "u2"),
        ]
        assert await uow.connections.owner_of("k3") == "u2"
        assert await uow.connections.owner_of("missing") is None


async def test_connections_are_found_by_the_status_of_one_key_role(two_users: Backend) -> None:
    """The worker's pending trade keys: a trade key ``verifying`` is found; a read key
    ``verifying`` is not, nor a trade key in another state."""
    verifying = data.key(KeyRole.TRADE, status=ConnectionStatus.VERIFYING)
    await two_users.given(
        lambda uow: uow.connections.add(
            data.connection("k2", "u2", keys=(data.key(KeyRole.READ), verifying))
        ),
        lambda uow: uow.connections.add(data.connection("k1", "u1", keys=(verifying,))),
        lambda uow: uow.connections.add(
            data.connection(
                "k3", "u1", label="read", keys=(data.key(status=ConnectionStatus.VERIFYING),)
            )
        ),
        lambda uow: uow.connections.add(data.connection("k4", "u1", label="done")),
    )
    async with two_users.uow() as uow:
        found = await uow.connections.with_key_status(KeyRole.TRADE, ConnectionStatus.VERIFYING)
    assert found == [("k1", "u1"), ("k2", "u2")]
