"""The vault: envelope encryption of exchange secrets, sealing of trade keys.

* ``vault``: ``EnvelopeVault`` (the ``Vault`` port), its ``Keyring`` of ``MasterKey``s.
* ``masterkey``: master keys from the settings or the key file; ``build_vault``, rotation.
* ``sealing``: ``PublicKeySealer``/``PrivateKeyOpener`` (the trade-key ports), ``WorkerKeypair``.
* ``errors``: the adapter's errors, all ``ValueError``s with a ``code`` and a ``remedy``.
* ``keyfiles``: creating and reading key files with safe permissions.
"""

from tresor.adapters.crypto.errors import (
    BlobRejected,
    KeyFileCorrupt,
    KeyFileError,
    KeyFileInsecure,
    KeyFileMissing,
    MasterKeyInvalid,
    SealedForAnotherWorker,
    UnknownMasterKey,
    VaultError,
)
from tresor.adapters.crypto.masterkey import (
    MASTER_KEY_FILE,
    build_vault,
    load_keyring,
    load_or_create_keyring,
    parse_master_keys,
    retire_master_key,
    rotate_master_key,
)
from tresor.adapters.crypto.sealing import (
    PrivateKeyOpener,
    PublicKeySealer,
    WorkerKeypair,
    load_worker_public_key,
)
from tresor.adapters.crypto.vault import EnvelopeVault, Keyring, MasterKey, master_key_id

__all__ = [
    "MASTER_KEY_FILE",
    "BlobRejected",
    "EnvelopeVault",
    "KeyFileCorrupt",
    "KeyFileError",
    "KeyFileInsecure",
    "KeyFileMissing",
    "Keyring",
    "MasterKey",
    "MasterKeyInvalid",
    "PrivateKeyOpener",
    "PublicKeySealer",
    "SealedForAnotherWorker",
    "UnknownMasterKey",
    "VaultError",
    "WorkerKeypair",
    "build_vault",
    "load_keyring",
    "load_or_create_keyring",
    "load_worker_public_key",
    "master_key_id",
    "parse_master_keys",
    "retire_master_key",
    "rotate_master_key",
]
