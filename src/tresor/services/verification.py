"""The worker side of trade keys: open a sealed key and ask the exchange what it can do.

Only a process holding the worker's private key (a ``TradeKeyOpener``) can run this; the API
process seals trade keys and hands the sealed fields over, through ``SealedKeyVerifier``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from tresor.domain.connections import (
    CapabilityReport,
    ConnectionStatus,
    ExchangeTarget,
    KeyRole,
    SealedCredentials,
    StoredKey,
    combine,
)
from tresor.services.ports import (
    Clock,
    ExchangeGateway,
    TradeKeyOpener,
    UnitOfWorkFactory,
    Vault,
)
from tresor.services.stored_keys import (
    open_sealed,
    sealed_credentials,
    stored_target,
    with_findings,
)


class SealedKeyProbe:
    """Implements ``SealedKeyVerifier`` where the private key is."""

    def __init__(self, opener: TradeKeyOpener, gateway: ExchangeGateway) -> None:
        self._opener = opener
        self._gateway = gateway

    async def verify(
        self, target: ExchangeTarget, sealed: SealedCredentials, *, connection_id: str
    ) -> CapabilityReport:
        credentials = open_sealed(self._opener, connection_id, sealed)
        return await self._gateway.probe(target, credentials)


class DeferredVerification:
    """``SealedKeyVerifier`` for a process without the worker's private key (an API-only
    process): it cannot verify, so it answers at once with nothing, and the key is stored as
    ``verifying`` until a worker picks it up (``PendingKeyVerification``)."""

    async def verify(
        self, target: ExchangeTarget, sealed: SealedCredentials, *, connection_id: str
    ) -> CapabilityReport | None:
        return None


class PendingKeyVerification:
    """The worker's job: verify every trade key still ``verifying`` and store the findings."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        vault: Vault,
        probe: SealedKeyProbe,
        clock: Clock,
        endpoints: Mapping[str, ExchangeTarget],
    ) -> None:
        self._uow = uow
        self._vault = vault
        self._probe = probe
        self._clock = clock
        self._endpoints = endpoints

    async def run_once(self) -> int:
        """Verify what is pending; returns how many keys were verified."""
        async with self._uow(read_only=True) as uow:
            ids = list(
                await uow.connections.with_key_status(KeyRole.TRADE, ConnectionStatus.VERIFYING)
            )
        done = 0
        for connection_id, user_id in ids:
            async with self._uow() as uow:
                connection = await uow.connections.get(connection_id, user_id)
            key = connection.key(KeyRole.TRADE) if connection else None
            if connection is None or key is None or key.status is not ConnectionStatus.VERIFYING:
                continue
            target = stored_target(self._endpoints, connection)
            report = await self._probe.verify(
                target, self._sealed(connection.id, key), connection_id=connection.id
            )
            checked = with_findings(key, report, self._clock.now())
            keys = [k for k in connection.keys if k.role is not KeyRole.TRADE] + [checked]
            keys.sort(key=lambda k: k.role.value)
            async with self._uow() as uow:
                current = await uow.connections.get(connection.id, user_id)
                if current is None or current.key(KeyRole.TRADE) != key:
                    continue  # removed or rotated meanwhile: that change wins
                await uow.connections.update(
                    replace(
                        current,
                        keys=tuple(keys),
                        status=current.status
                        if current.status is ConnectionStatus.DISABLED
                        else combine([k.status for k in keys]),
                        updated_at=self._clock.now(),
                    )
                )
                await uow.commit()
            done += 1
        return done

    def _sealed(self, connection_id: str, key: StoredKey) -> SealedCredentials:
        return sealed_credentials(self._vault, connection_id, key)
