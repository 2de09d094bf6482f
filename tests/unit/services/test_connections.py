"""The connection service with the real vault and sealing, the in-memory store and a scripted
gateway: what is stored, what is refused, and the worker side of trade keys."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tresor.adapters.crypto import EnvelopeVault, Keyring, MasterKey, WorkerKeypair
from tresor.adapters.db.memory import MemoryStore
from tresor.domain.access import User
from tresor.domain.connections import (
    RIGHTS,
    Ability,
    CapabilityReport,
    ConnectionStatus,
    Credentials,
    ExchangeTarget,
    KeyRole,
    SealedCredentials,
    field_context,
)
from tresor.domain.errors import (
    ConnectionLimitReached,
    DuplicateLabel,
    NotFound,
    UnknownEndpoint,
    WithdrawPermissionEnabled,
)
from tresor.domain.secrets import Secret
from tresor.services.connections import ConnectionRules, ConnectionService
from tresor.services.verification import SealedKeyProbe

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return NOW


class ScriptedGateway:
    """Reports per API key; remembers the clear credentials it was given."""

    def __init__(self) -> None:
        self.rights: dict[str, dict[str, Ability]] = {}
        self.seen: list[str] = []

    def supports(self, exchange: str) -> bool:
        return exchange in {"binance", "kraken"}

    async def probe(self, target: ExchangeTarget, credentials: Credentials) -> CapabilityReport:
        key = credentials.api_key.reveal()
        self.seen.append(key)
        rights = dict.fromkeys(RIGHTS, Ability.NO) | self.rights.get(key, {})
        return CapabilityReport(checked_at=NOW, authenticates=Ability.YES, rights=rights)


class SlowVerifier:
    async def verify(
        self, target: ExchangeTarget, sealed: SealedCredentials, *, connection_id: str
    ) -> CapabilityReport:
        await asyncio.sleep(10)
        raise AssertionError("never reached")


def creds(key: str) -> Credentials:
    return Credentials(api_key=Secret(key), secret=Secret("s3cr3t-" + key))


@pytest.fixture
async def parts() -> tuple[MemoryStore, EnvelopeVault, WorkerKeypair, ScriptedGateway]:
    vault = EnvelopeVault(Keyring(MasterKey.generate()))
    store = MemoryStore()
    async with store.uow() as uow:  # connections belong to existing users
        for user_id in ("u1", "u2"):
            await uow.users.add(User(id=user_id, name=user_id, created_at=NOW))
        await uow.commit()
    return store, vault, WorkerKeypair.generate(), ScriptedGateway()


def service(
    parts: tuple[MemoryStore, EnvelopeVault, WorkerKeypair, ScriptedGateway],
    *,
    verifier: object | None = None,
    max_per_user: int = 10,
    wait: float = 5.0,
) -> ConnectionService:
    store, vault, worker, gateway = parts
    return ConnectionService(
        uow=store.uow,
        vault=vault,
        sealer=worker.sealer(),
        verifier=verifier or SealedKeyProbe(worker.opener(), gateway),  # type: ignore[arg-type]
        gateway=gateway,
        clock=Clock(),
        endpoints={"sim": ExchangeTarget("binance", "sim", "http://127.0.0.1:1")},
        rules=ConnectionRules(max_per_user=max_per_user, verify_wait_seconds=wait),
    )


async def test_a_trade_key_is_stored_sealed_so_the_vault_alone_cannot_read_it(parts) -> None:  # type: ignore[no-untyped-def]
    _, vault, worker, gateway = parts
    gateway.rights["TRADEKEY1"] = {"read": Ability.YES, "spot_trade": Ability.YES}
    connection = await service(parts).add(
        "u1", exchange="binance", label="main", trade_key=creds("TRADEKEY1")
    )
    assert connection.status is ConnectionStatus.CONNECTED
    key = connection.key(KeyRole.TRADE)
    assert key is not None
    assert key.sealed
    inner = vault.decrypt(
        key.secret_ct, context=field_context(connection.id, KeyRole.TRADE, "secret")
    )
    assert b"s3cr3t" not in inner  # still sealed to the worker
    opened = worker.opener().open(
        inner, context=field_context(connection.id, KeyRole.TRADE, "secret")
    )
    assert opened.reveal() == "s3cr3t-TRADEKEY1"
    assert gateway.seen == ["TRADEKEY1"]  # probed on the worker side, once


async def test_a_key_that_can_withdraw_is_refused_and_nothing_is_stored(parts) -> None:  # type: ignore[no-untyped-def]
    store, _, _, gateway = parts
    gateway.rights["BADKEY01"] = {"read": Ability.YES, "withdraw": Ability.YES}
    with pytest.raises(WithdrawPermissionEnabled):
        await service(parts).add("u1", exchange="binance", label="main", read_key=creds("BADKEY01"))
    async with store.uow() as uow:
        assert await uow.connections.count_for_user("u1") == 0


async def test_a_worker_that_does_not_answer_in_time_leaves_the_key_verifying(parts) -> None:  # type: ignore[no-untyped-def]
    connection = await service(parts, verifier=SlowVerifier(), wait=0.05).add(
        "u1", exchange="binance", label="main", trade_key=creds("TRADEKEY2")
    )
    assert connection.status is ConnectionStatus.VERIFYING
    key = connection.key(KeyRole.TRADE)
    assert key is not None
    assert key.report is None


async def test_rotation_keeps_the_old_key_when_the_new_one_is_refused(parts) -> None:  # type: ignore[no-untyped-def]
    _, _, _, gateway = parts
    svc = service(parts)
    gateway.rights["READKEY01"] = {"read": Ability.YES}
    gateway.rights["READKEY02"] = {"read": Ability.YES, "withdraw": Ability.YES}
    gateway.rights["READKEY03"] = {"read": Ability.YES}
    connection = await svc.add("u1", exchange="binance", label="main", read_key=creds("READKEY01"))
    with pytest.raises(WithdrawPermissionEnabled):
        await svc.rotate("u1", connection.id, KeyRole.READ, creds("READKEY02"))
    kept = await svc.get("u1", connection.id)
    assert kept.keys[0].hint == Secret("READKEY01").hint()
    rotated = await svc.rotate("u1", connection.id, KeyRole.READ, creds("READKEY03"))
    assert rotated.keys[0].hint == Secret("READKEY03").hint()
    tested = await svc.test("u1", connection.id)
    assert gateway.seen[-1] == "READKEY03"  # the stored key decrypts to the new one
    assert tested.status is ConnectionStatus.CONNECTED


async def test_labels_limits_endpoints_and_ownership_are_enforced(parts) -> None:  # type: ignore[no-untyped-def]
    _, _, _, gateway = parts
    svc = service(parts, max_per_user=2)
    gateway.rights["READKEYAA"] = {"read": Ability.YES}
    first = await svc.add(
        "u1", exchange="binance", label="a", endpoint="sim", read_key=creds("READKEYAA")
    )
    assert first.endpoint == "sim"
    with pytest.raises(DuplicateLabel):
        await svc.add("u1", exchange="binance", label="a", read_key=creds("READKEYAA"))
    await svc.add("u1", exchange="binance", label="b", read_key=creds("READKEYAA"))
    with pytest.raises(ConnectionLimitReached):
        await svc.add("u1", exchange="binance", label="c", read_key=creds("READKEYAA"))
    with pytest.raises(UnknownEndpoint):
        await svc.add(
            "u2", exchange="kraken", label="x", endpoint="sim", read_key=creds("READKEYAA")
        )
    for attempt in (
        svc.get("u2", first.id),
        svc.test("u2", first.id),
        svc.rotate("u2", first.id, KeyRole.READ, creds("READKEYAA")),
        svc.remove("u2", first.id),
    ):
        with pytest.raises(NotFound):
            await attempt
    await svc.remove("u1", first.id)
    with pytest.raises(NotFound):
        await svc.get("u1", first.id)


async def test_a_disabled_connection_stays_disabled_through_tests_until_enabled(parts) -> None:  # type: ignore[no-untyped-def]
    _, _, _, gateway = parts
    svc = service(parts)
    gateway.rights["READKEYDD"] = {"read": Ability.YES}
    connection = await svc.add("u1", exchange="binance", label="main", read_key=creds("READKEYDD"))
    disabled = await svc.set_enabled("u1", connection.id, enabled=False)
    assert disabled.status is ConnectionStatus.DISABLED
    assert (await svc.test("u1", connection.id)).status is ConnectionStatus.DISABLED
    assert (await svc.get("u1", connection.id)).status is ConnectionStatus.DISABLED
    enabled = await svc.set_enabled("u1", connection.id, enabled=True)
    assert enabled.status is ConnectionStatus.CONNECTED
    with pytest.raises(NotFound):
        await svc.set_enabled("u2", connection.id, enabled=False)
