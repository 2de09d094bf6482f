"""Reading stored key fields back out of the vault (the one place that knows the layout)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

from tresor.domain.connections import (
    CapabilityReport,
    Connection,
    Credentials,
    ExchangeTarget,
    KeyRole,
    Problem,
    SealedCredentials,
    StoredKey,
    field_context,
    judge,
)
from tresor.domain.errors import ValidationFailed
from tresor.domain.secrets import Secret
from tresor.services.ports import TradeKeyOpener, Vault


def stored_target(
    endpoints: Mapping[str, ExchangeTarget], connection: Connection
) -> ExchangeTarget:
    """Where a stored connection's requests go: its operator endpoint, or the exchange itself."""
    return endpoints.get(connection.endpoint or "") or ExchangeTarget(connection.exchange)


def _assemble(
    api_key: bytes,
    secret: bytes,
    passphrase: bytes | None,
    field: Callable[[str, bytes], Secret],
) -> Credentials:
    return Credentials(
        api_key=field("api_key", api_key),
        secret=field("secret", secret),
        passphrase=field("passphrase", passphrase) if passphrase is not None else None,
    )


def read_credentials(vault: Vault, connection_id: str, key: StoredKey) -> Credentials:
    """A key that is not sealed to the worker (a read key), out of the vault."""

    def field(name: str, blob: bytes) -> Secret:
        context = field_context(connection_id, key.role, name)
        return Secret(vault.decrypt(blob, context=context).decode())

    return _assemble(key.api_key_ct, key.secret_ct, key.passphrase_ct, field)


def open_sealed(
    opener: TradeKeyOpener, connection_id: str, sealed: SealedCredentials
) -> Credentials:
    """A trade key's sealed fields opened (where the worker's private key is)."""

    def field(name: str, blob: bytes) -> Secret:
        return opener.open(blob, context=field_context(connection_id, KeyRole.TRADE, name))

    return _assemble(sealed.api_key, sealed.secret, sealed.passphrase, field)


def key_credentials(
    vault: Vault, opener: TradeKeyOpener | None, connection_id: str, key: StoredKey
) -> Credentials:
    """Any stored key in clear: a read key from the vault, a trade key through ``opener``.

    Raises: ValidationFailed (a sealed key and no opener: this process cannot read it)."""
    if not key.sealed:
        return read_credentials(vault, connection_id, key)
    if opener is None:
        raise ValidationFailed(
            "Only a trade key is stored, and this process cannot open it.",
            remedy="Add a read-only key, or run the sync in a worker.",
        )
    return open_sealed(opener, connection_id, sealed_credentials(vault, connection_id, key))


def sealed_credentials(vault: Vault, connection_id: str, key: StoredKey) -> SealedCredentials:
    """A trade key's fields with the vault's layer removed: still sealed to the worker."""

    def field(name: str, blob: bytes) -> bytes:
        return vault.decrypt(blob, context=field_context(connection_id, key.role, name))

    return SealedCredentials(
        api_key=field("api_key", key.api_key_ct),
        secret=field("secret", key.secret_ct),
        passphrase=field("passphrase", key.passphrase_ct)
        if key.passphrase_ct is not None
        else None,
    )


def with_findings(key: StoredKey, report: CapabilityReport, now: datetime) -> StoredKey:
    """``key`` with ``report`` judged: its status, the report, and the warnings (a refusal found
    on a key already stored comes first, so the user sees why it is no longer used)."""
    verdict = judge(report, key.role, now)
    warnings = verdict.warnings
    if verdict.refusal is not None:
        warnings = (Problem.of(verdict.refusal), *warnings)
    return replace(
        key, status=verdict.status, report=report, warnings=warnings, verified_at=report.checked_at
    )
