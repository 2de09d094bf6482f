"""Errors of the crypto adapter. Each is a ``ValueError`` (the ``Vault`` port promises one for a
value that cannot be decrypted) with a stable ``code``, a plain ``message`` saying what is wrong
and a ``remedy`` saying what to do. None of them ever carries key material or a decrypted value.
The tree::

    VaultError (ValueError)
    ├── BlobRejected                vault_blob_rejected: tampered, truncated, unknown format, or
    │   │                           moved to another context (the cases cannot be told apart)
    │   └── SealedForAnotherWorker  sealed_for_another_worker: sealed to a different worker key
    ├── UnknownMasterKey            unknown_master_key: wrapped by a master key not in the keyring
    ├── MasterKeyInvalid            master_key_invalid: a configured master key is not 32 bytes
    └── KeyFileError                a key file cannot be used
        ├── KeyFileMissing          key_file_missing
        ├── KeyFileInsecure         key_file_insecure: other users may read or replace it
        └── KeyFileCorrupt          key_file_corrupt: unreadable, or not what it claims to hold
"""

from __future__ import annotations

from typing import ClassVar


class VaultError(ValueError):
    """Base of the crypto adapter's errors. ``str(error)`` is the message and the remedy."""

    code: ClassVar[str] = "vault_error"
    default_message: ClassVar[str] = "The vault could not complete the operation."
    default_remedy: ClassVar[str] = "Check the vault configuration and try again."

    def __init__(self, message: str | None = None, *, remedy: str | None = None) -> None:
        self.message = message or self.default_message
        self.remedy = remedy or self.default_remedy
        super().__init__(f"{self.message} {self.remedy}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class BlobRejected(VaultError):
    code = "vault_blob_rejected"
    default_message = (
        "The encrypted value cannot be decrypted: it was altered, truncated, or stored under "
        "another row or field than the one it was encrypted for."
    )
    default_remedy = (
        "Do not copy encrypted values between rows; restore the value from a backup or enter "
        "the key again."
    )


class SealedForAnotherWorker(BlobRejected):
    code = "sealed_for_another_worker"
    default_message = "The trade key was sealed to a different worker key than this one."
    default_remedy = (
        "Restore the worker key files the value was sealed with, or enter the trade key again "
        "so that it is sealed to the current worker key."
    )


class UnknownMasterKey(VaultError):
    code = "unknown_master_key"
    default_remedy = (
        "Add that master key back to the keyring (restore the key file from a backup, or list it "
        "after the current key in the configured master keys, comma-separated); keep every old "
        "key until all values have been re-wrapped with 'tresor vault rotate-master-key'."
    )

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(
            f"The value was encrypted under master key {key_id!r}, which is not in the keyring."
        )


class MasterKeyInvalid(VaultError):
    code = "master_key_invalid"
    default_message = "The configured master key is not 32 bytes in base64 or hex."
    default_remedy = (
        "Set it to 32 random bytes in base64 or hex, for example the output of "
        "'openssl rand -base64 32'; to use several keys, separate them with commas, the "
        "current key first."
    )


class KeyFileError(VaultError):
    code = "key_file_error"


class KeyFileMissing(KeyFileError):
    code = "key_file_missing"
    default_remedy = "Check the data directory setting, or restore the key file from a backup."


class KeyFileInsecure(KeyFileError):
    code = "key_file_insecure"
    default_remedy = (
        "Make it private with 'chmod 600' and check its owner; if other users could read it, "
        "consider rotating the key."
    )


class KeyFileCorrupt(KeyFileError):
    code = "key_file_corrupt"
    default_remedy = (
        "Restore the file from a backup; do not edit key files by hand. Values encrypted with a "
        "lost key cannot be recovered and must be entered again."
    )
