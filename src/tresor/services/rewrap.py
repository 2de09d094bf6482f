"""Re-wrapping every stored key field under the current master key (after a rotation).

Only the data keys are re-wrapped: the encrypted values themselves are untouched, so the work is
small and can run while Tresor serves requests; a field not yet re-wrapped still decrypts with
the old master key, which stays in the keyring until this has finished.
"""

from __future__ import annotations

from dataclasses import replace

from tresor.domain.accounts import totp_context
from tresor.domain.connections import StoredKey, field_context
from tresor.services.ports import UnitOfWorkFactory, Vault


class KeyRewrap:
    def __init__(self, uow: UnitOfWorkFactory, vault: Vault) -> None:
        self._uow = uow
        self._vault = vault

    async def run(self) -> int:
        """Re-wrap every connection's key fields and every two-factor secret; returns the number
        of fields done."""
        async with self._uow() as uow:
            ids = list(await uow.connections.all_ids())
        done = 0
        for connection_id, user_id in ids:
            async with self._uow() as uow:
                connection = await uow.connections.get(connection_id, user_id)
                if connection is None:  # removed meanwhile
                    continue
                keys = []
                for key in connection.keys:
                    new_key, n = self._rewrap_key(connection_id, key)
                    keys.append(new_key)
                    done += n
                await uow.connections.update(replace(connection, keys=tuple(keys)))
                await uow.commit()
        return done + await self._rewrap_two_factor()

    async def _rewrap_two_factor(self) -> int:
        async with self._uow() as uow:
            user_ids = list(await uow.two_factor.user_ids())
        done = 0
        for user_id in user_ids:
            async with self._uow() as uow:
                state = await uow.two_factor.get(user_id)
                if state is None:  # turned off meanwhile
                    continue
                rewrapped = replace(
                    state,
                    secret_ct=self._rewrap_totp(user_id, state.secret_ct),
                    pending_ct=self._rewrap_totp(user_id, state.pending_ct),
                )
                await uow.two_factor.save(rewrapped)
                await uow.commit()
                done += (state.secret_ct is not None) + (state.pending_ct is not None)
        return done

    def _rewrap_totp(self, user_id: str, blob: bytes | None) -> bytes | None:
        return None if blob is None else self._vault.rewrap(blob, context=totp_context(user_id))

    def _rewrap_key(self, connection_id: str, key: StoredKey) -> tuple[StoredKey, int]:
        def again(name: str, blob: bytes) -> bytes:
            return self._vault.rewrap(blob, context=field_context(connection_id, key.role, name))

        passphrase = again("passphrase", key.passphrase_ct) if key.passphrase_ct else None
        fields = 3 if passphrase is not None else 2
        return replace(
            key,
            api_key_ct=again("api_key", key.api_key_ct),
            secret_ct=again("secret", key.secret_ct),
            passphrase_ct=passphrase,
        ), fields
