"""Reading stored key fields back out of the vault (the one place that knows the layout)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tresor.domain.connections import (
    CapabilityReport,
    Problem,
    SealedCredentials,
    StoredKey,
    field_context,
    judge,
)
from tresor.services.ports import Vault


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
