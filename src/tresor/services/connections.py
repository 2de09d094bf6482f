"""Connections: add, list, test, rotate and remove exchange keys.

A read key is verified here, while its clear value is in hand. A trade key is sealed to the
trading worker at once and verified there (``SealedKeyVerifier``): this process can store it
but never read it back. While the worker has not answered, the key's status is ``verifying``.

Every key is judged by ``domain.connections.judge``: a key that can withdraw is refused, a trade
key that cannot trade is refused, failures are named by what the user must fix.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from tresor.domain.connections import (
    CapabilityReport,
    Connection,
    ConnectionStatus,
    Credentials,
    ExchangeTarget,
    KeyRole,
    SealedCredentials,
    StoredKey,
    Verdict,
    combine,
    field_context,
    judge,
)
from tresor.domain.errors import (
    ConnectionLimitReached,
    DuplicateLabel,
    NotFound,
    UnknownEndpoint,
    UnknownExchange,
    ValidationFailed,
)
from tresor.domain.secrets import Secret
from tresor.services.ports import (
    Clock,
    ExchangeGateway,
    SealedKeyVerifier,
    TradeKeySealer,
    UnitOfWork,
    UnitOfWorkFactory,
    Vault,
)
from tresor.services.stored_keys import (
    read_credentials,
    sealed_credentials,
    with_findings,
)

MAX_LABEL = 64


@dataclass(frozen=True)
class ConnectionRules:
    max_per_user: int = 10
    verify_wait_seconds: float = 20.0


class ConnectionService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        vault: Vault,
        sealer: TradeKeySealer,
        verifier: SealedKeyVerifier,
        gateway: ExchangeGateway,
        clock: Clock,
        endpoints: Mapping[str, ExchangeTarget],
        rules: ConnectionRules,
    ) -> None:
        self._uow = uow
        self._vault = vault
        self._sealer = sealer
        self._verifier = verifier
        self._gateway = gateway
        self._clock = clock
        self._endpoints = endpoints
        self._rules = rules

    # -- queries ---------------------------------------------------------------------------
    async def all(self, user_id: str) -> Sequence[Connection]:
        async with self._uow(read_only=True) as uow:
            return await uow.connections.for_user(user_id)

    async def get(self, user_id: str, connection_id: str) -> Connection:
        """Raises: NotFound (also when the connection belongs to someone else)."""
        async with self._uow(read_only=True) as uow:
            connection = await uow.connections.get(connection_id, user_id)
        if connection is None:
            raise NotFound("There is no such connection.")
        return connection

    def target(self, exchange: str, endpoint: str | None) -> ExchangeTarget:
        """Raises: UnknownExchange, UnknownEndpoint."""
        if endpoint is not None:
            configured = self._endpoints.get(endpoint)
            if configured is None:
                raise UnknownEndpoint(f"There is no endpoint named {endpoint!r}.")
            if configured.exchange != exchange:
                raise UnknownEndpoint(
                    f"The endpoint {endpoint!r} is for {configured.exchange}, not {exchange}.",
                    remedy=f"Use exchange {configured.exchange!r} with this endpoint.",
                )
            return configured
        if not self._gateway.supports(exchange):
            raise UnknownExchange(f"{exchange!r} is not a supported exchange id.")
        return ExchangeTarget(exchange=exchange)

    # -- commands --------------------------------------------------------------------------
    async def add(
        self,
        user_id: str,
        *,
        exchange: str,
        label: str,
        endpoint: str | None = None,
        read_key: Credentials | None = None,
        trade_key: Credentials | None = None,
    ) -> Connection:
        """Verify the key(s) and store the connection.

        Raises: ValidationFailed, UnknownExchange, UnknownEndpoint, DuplicateLabel,
        ConnectionLimitReached, and the KeyRejected/ExchangeTrouble error of a refused key.
        """
        label = _clean_label(label)
        if read_key is None and trade_key is None:
            raise ValidationFailed(
                "A connection needs a read key, a trade key, or both.",
                remedy="Give 'read_key' and/or 'trade_key'.",
            )
        target = self.target(exchange, endpoint)
        async with self._uow() as uow:
            await self._check_room(uow, user_id, label)
        connection_id = uuid.uuid4().hex
        keys: list[StoredKey] = []
        if read_key is not None:
            keys.append(await self._read_key(connection_id, target, read_key))
        if trade_key is not None:
            keys.append(await self._trade_key(connection_id, target, trade_key))
        now = self._clock.now()
        connection = Connection(
            id=connection_id,
            user_id=user_id,
            exchange=exchange,
            endpoint=endpoint,
            label=label,
            status=combine([k.status for k in keys]),
            created_at=now,
            updated_at=now,
            keys=tuple(keys),
        )
        async with self._uow() as uow:
            await self._check_room(uow, user_id, label)
            await uow.connections.add(connection)
            await uow.commit()
        return connection

    async def test(self, user_id: str, connection_id: str) -> Connection:
        """Verify every key of the connection again and store the findings.

        A key refused now (say, withdrawals were enabled on it since) keeps its place but its
        status says why, and nothing uses it until it is rotated. Raises: NotFound.
        """
        connection = await self.get(user_id, connection_id)
        target = self.target(connection.exchange, connection.endpoint)
        keys = []
        for key in connection.keys:
            report: CapabilityReport | None
            if key.role is KeyRole.READ:
                report = await self._gateway.probe(target, self._open_read(connection.id, key))
            else:
                report = await self._verify_sealed(
                    target, self._sealed(connection.id, key), connection.id
                )
            keys.append(self._judged(key, report))
        return await self._save_keys(connection, keys)

    async def rotate(
        self, user_id: str, connection_id: str, role: KeyRole, credentials: Credentials
    ) -> Connection:
        """Replace one key: the new key is verified first and replaces the old one (which is
        destroyed) only if accepted. Raises: NotFound and the error of a refused key."""
        connection = await self.get(user_id, connection_id)
        target = self.target(connection.exchange, connection.endpoint)
        if role is KeyRole.READ:
            new_key = await self._read_key(connection.id, target, credentials)
        else:
            new_key = await self._trade_key(connection.id, target, credentials)
        keys = [k for k in connection.keys if k.role is not role] + [new_key]
        return await self._save_keys(connection, keys)

    async def set_enabled(self, user_id: str, connection_id: str, enabled: bool) -> Connection:
        """Disable a connection (nothing uses it; its keys stay stored) or enable it again (its
        status comes back from its keys). Raises: NotFound."""
        connection = await self.get(user_id, connection_id)
        status = (
            combine([k.status for k in connection.keys]) if enabled else ConnectionStatus.DISABLED
        )
        updated = replace(connection, status=status, updated_at=self._clock.now())
        async with self._uow() as uow:
            await uow.connections.update(updated)
            await uow.commit()
        return updated

    async def remove(self, user_id: str, connection_id: str) -> None:
        """Disconnect: the stored credentials are destroyed. Raises: NotFound."""
        async with self._uow() as uow:
            if not await uow.connections.delete(connection_id, user_id):
                raise NotFound("There is no such connection.")
            await uow.commit()

    # -- keys ------------------------------------------------------------------------------
    async def _read_key(
        self, connection_id: str, target: ExchangeTarget, credentials: Credentials
    ) -> StoredKey:
        report = await self._gateway.probe(target, credentials)
        verdict = self._verdict(report, KeyRole.READ)
        return StoredKey(
            role=KeyRole.READ,
            hint=credentials.hint(),
            api_key_ct=self._encrypt(
                connection_id, KeyRole.READ, "api_key", credentials.api_key.reveal().encode()
            ),
            secret_ct=self._encrypt(
                connection_id, KeyRole.READ, "secret", credentials.secret.reveal().encode()
            ),
            passphrase_ct=self._encrypt(
                connection_id, KeyRole.READ, "passphrase", credentials.passphrase.reveal().encode()
            )
            if credentials.passphrase is not None
            else None,
            sealed=False,
            status=verdict.status,
            report=report,
            warnings=verdict.warnings,
            verified_at=report.checked_at,
        )

    async def _trade_key(
        self, connection_id: str, target: ExchangeTarget, credentials: Credentials
    ) -> StoredKey:
        sealed = SealedCredentials(
            api_key=self._seal(connection_id, "api_key", credentials.api_key),
            secret=self._seal(connection_id, "secret", credentials.secret),
            passphrase=self._seal(connection_id, "passphrase", credentials.passphrase)
            if credentials.passphrase is not None
            else None,
        )
        report = await self._verify_sealed(target, sealed, connection_id)
        key = StoredKey(
            role=KeyRole.TRADE,
            hint=credentials.hint(),
            api_key_ct=self._encrypt(connection_id, KeyRole.TRADE, "api_key", sealed.api_key),
            secret_ct=self._encrypt(connection_id, KeyRole.TRADE, "secret", sealed.secret),
            passphrase_ct=self._encrypt(
                connection_id, KeyRole.TRADE, "passphrase", sealed.passphrase
            )
            if sealed.passphrase is not None
            else None,
            sealed=True,
            status=ConnectionStatus.VERIFYING,
        )
        if report is None:
            return key
        verdict = self._verdict(report, KeyRole.TRADE)
        return replace(
            key,
            status=verdict.status,
            report=report,
            warnings=verdict.warnings,
            verified_at=report.checked_at,
        )

    def _verdict(self, report: CapabilityReport, role: KeyRole) -> Verdict:
        verdict = judge(report, role, self._clock.now())
        if verdict.refusal is not None:
            raise verdict.refusal
        return verdict

    def _judged(self, key: StoredKey, report: CapabilityReport | None) -> StoredKey:
        if report is None:
            return replace(key, status=ConnectionStatus.VERIFYING)
        return with_findings(key, report, self._clock.now())

    async def _verify_sealed(
        self, target: ExchangeTarget, sealed: SealedCredentials, connection_id: str
    ) -> CapabilityReport | None:
        """The worker's report, or None when it did not answer in time or verification is
        deferred to a separate worker process (status verifying)."""
        try:
            return await asyncio.wait_for(
                self._verifier.verify(target, sealed, connection_id=connection_id),
                timeout=self._rules.verify_wait_seconds,
            )
        except TimeoutError:
            return None

    async def _save_keys(self, connection: Connection, keys: list[StoredKey]) -> Connection:
        keys.sort(key=lambda k: k.role.value)
        disabled = connection.status is ConnectionStatus.DISABLED  # stays so until enabled
        updated = replace(
            connection,
            keys=tuple(keys),
            status=ConnectionStatus.DISABLED if disabled else combine([k.status for k in keys]),
            updated_at=self._clock.now(),
        )
        async with self._uow() as uow:
            if await uow.connections.get(connection.id, connection.user_id) is None:
                raise NotFound("There is no such connection.")
            await uow.connections.update(updated)
            await uow.commit()
        return updated

    async def _check_room(self, uow: UnitOfWork, user_id: str, label: str) -> None:
        connections = uow.connections
        if await connections.by_label(user_id, label) is not None:
            raise DuplicateLabel(f"You already have a connection labelled {label!r}.")
        if await connections.count_for_user(user_id) >= self._rules.max_per_user:
            raise ConnectionLimitReached(
                f"You have {self._rules.max_per_user} connections, the most allowed."
            )

    # -- the vault -------------------------------------------------------------------------
    def _encrypt(self, connection_id: str, role: KeyRole, name: str, value: bytes) -> bytes:
        return self._vault.encrypt(value, context=field_context(connection_id, role, name))

    def _seal(self, connection_id: str, name: str, value: Secret) -> bytes:
        return self._sealer.seal(value, context=field_context(connection_id, KeyRole.TRADE, name))

    def _open_read(self, connection_id: str, key: StoredKey) -> Credentials:
        return read_credentials(self._vault, connection_id, key)

    def _sealed(self, connection_id: str, key: StoredKey) -> SealedCredentials:
        return sealed_credentials(self._vault, connection_id, key)


def _clean_label(label: str) -> str:
    label = label.strip()
    if not label or len(label) > MAX_LABEL:
        raise ValidationFailed(
            f"A label must be 1 to {MAX_LABEL} characters.",
            remedy="Name the connection, e.g. 'binance-main'.",
        )
    return label
