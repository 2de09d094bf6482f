"""Reading stored key fields back out of the vault (the one place that knows the layout)."""

from __future__ import annotations

from tresor.domain.connections import SealedCredentials, StoredKey, field_context
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
