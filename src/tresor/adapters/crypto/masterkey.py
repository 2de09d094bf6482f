"""Where the master keys come from: the settings, or a key file in the data directory.

The caller (``bootstrap``, the CLI) passes the settings in; nothing here reads the environment.

* **Configured**: one or more keys, each 32 bytes in base64 (standard or URL-safe, padding
  optional) or hex, separated by commas, the current key first: ``"NEW,OLD"`` keeps values
  wrapped by ``OLD`` readable while ``NEW`` wraps new data keys.
* **Key file** ``<data dir>/master.key``, used when no key is configured and created on first
  run with mode 0600 (see ``keyfiles``). It holds the keyring as JSON; the last key is the
  current one, the others remain for decryption::

      {"format": "tresor-master-keyring", "version": 1, "keys": [
        {"id": "mk-3f2a9c0d1e4b5a67", "key": "<base64>", "created": "2025-01-31T12:00:00+00:00"}
      ]}

A key's id is its fingerprint (``vault.master_key_id``), so a key moved from the file to the
settings keeps its id and every blob it wraps stays readable.

Rotation (``rotate_master_key``) appends a new current key and keeps the old ones; re-wrapping
the stored values (``EnvelopeVault.rewrap``) is the caller's loop. Only when no stored value
``needs_rewrap`` any more may an old key be dropped (``retire_master_key``).
"""

from __future__ import annotations

import base64
import binascii
import json
import string
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tresor.adapters.crypto import keyfiles
from tresor.adapters.crypto.errors import KeyFileCorrupt, MasterKeyInvalid
from tresor.adapters.crypto.vault import KEY_SIZE, EnvelopeVault, Keyring, MasterKey
from tresor.domain.secrets import Secret

MASTER_KEY_FILE = "master.key"
_FORMAT = "tresor-master-keyring"
_WHAT = "master key file"


def build_vault(*, data_dir: Path, master_key: str | Secret | None = None) -> EnvelopeVault:
    """The vault of this installation: under the configured master key(s) if ``master_key`` is
    given and not blank, else under the key file in ``data_dir`` (created on first run). A
    file-backed vault reloads the file when it meets a key id it does not know, so it follows a
    rotation made by another process.

    Raises:
        MasterKeyInvalid, KeyFileInsecure, KeyFileCorrupt.
    """
    if isinstance(master_key, Secret):
        master_key = master_key.reveal()
    if master_key is not None and master_key.strip():
        return EnvelopeVault(parse_master_keys(master_key))
    keyfile = data_dir / MASTER_KEY_FILE
    return EnvelopeVault(load_or_create_keyring(keyfile), reload=lambda: load_keyring(keyfile))


def parse_master_keys(value: str) -> Keyring:
    """The keyring of configured keys: comma-separated, 32 bytes each in base64 or hex, the
    current key first. The error never repeats the value.

    Raises:
        MasterKeyInvalid.
    """
    parts = [part.strip() for part in value.split(",")]
    if not any(parts):
        raise MasterKeyInvalid("The configured master key is empty.")
    keys: list[MasterKey] = []
    for number, part in enumerate(parts, start=1):
        if not part:
            continue
        raw = _decode_key(part)
        if raw is None:
            where = f" (key {number} of {len(parts)})" if len(parts) > 1 else ""
            raise MasterKeyInvalid(
                f"The configured master key{where} is not 32 bytes in base64 or hex."
            )
        keys.append(MasterKey.from_bytes(raw))
    return Keyring(keys[0], keys[1:])


def load_keyring(keyfile: Path) -> Keyring:
    """The keyring stored in ``keyfile``.

    Raises:
        KeyFileMissing, KeyFileInsecure (group/world bits set), KeyFileCorrupt.
    """
    return _decode_keyring(keyfiles.read_private(keyfile, what=_WHAT), keyfile)


def load_or_create_keyring(keyfile: Path) -> Keyring:
    """The keyring in ``keyfile``, creating the file with one new key (mode 0600) if there is
    none. Safe when several processes start at once: one creates, all use the same file.

    Raises:
        KeyFileInsecure, KeyFileCorrupt.
    """
    if not keyfile.exists():
        ring = Keyring(MasterKey.generate(created=_now()))
        if keyfiles.create_exclusive(keyfile, _encode_keyring(ring), mode=keyfiles.PRIVATE_MODE):
            return ring
    return load_keyring(keyfile)


def rotate_master_key(keyfile: Path) -> str:
    """Add a new current master key to ``keyfile``, keeping every old key for decryption, and
    return its id. Then re-wrap the stored values with a vault that holds the new keyring.

    Raises:
        KeyFileMissing (rotation never creates a first key file: a wrong data directory would
        otherwise go unnoticed), KeyFileInsecure, KeyFileCorrupt.
    """
    with keyfiles.locked(keyfile):
        ring = load_keyring(keyfile)
        new = MasterKey.generate(created=_now())
        keyfiles.replace(
            keyfile, _encode_keyring(ring.with_current(new)), mode=keyfiles.PRIVATE_MODE
        )
    return new.id


def retire_master_key(keyfile: Path, key_id: str) -> None:
    """Remove an old master key from ``keyfile``. Values still wrapped by it become unreadable,
    so call this only once no stored value ``needs_rewrap`` and every process has picked up the
    current key (restarted, or reloaded by meeting a re-wrapped value).

    Raises:
        ValueError: ``key_id`` is the current key or not in the file.
        KeyFileMissing, KeyFileInsecure, KeyFileCorrupt.
    """
    with keyfiles.locked(keyfile):
        ring = load_keyring(keyfile)
        if key_id not in ring:
            raise ValueError(f"there is no master key {key_id!r} in {keyfile}")
        keyfiles.replace(keyfile, _encode_keyring(ring.without(key_id)), mode=keyfiles.PRIVATE_MODE)


def _decode_key(text: str) -> bytes | None:
    if len(text) == 2 * KEY_SIZE and all(c in string.hexdigits for c in text):
        return bytes.fromhex(text)
    normalized = text.replace("-", "+").replace("_", "/")
    normalized += "=" * (-len(normalized) % 4)
    try:
        raw = base64.b64decode(normalized, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == KEY_SIZE else None


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _encode_keyring(ring: Keyring) -> bytes:
    older = [key for key in ring if key.id != ring.current.id][::-1]  # oldest first
    document = {
        "format": _FORMAT,
        "version": 1,
        "keys": [
            {
                "id": key.id,
                "key": base64.b64encode(key.key).decode("ascii"),
                "created": key.created.isoformat() if key.created else None,
            }
            for key in [*older, ring.current]
        ],
    }
    return json.dumps(document, indent=2).encode("utf-8") + b"\n"


def _corrupt(keyfile: Path, why: str) -> KeyFileCorrupt:
    return KeyFileCorrupt(f"The master key file {keyfile} {why}.")


def _decode_keyring(data: bytes, keyfile: Path) -> Keyring:
    try:
        document: Any = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _corrupt(keyfile, "is not valid JSON") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise _corrupt(keyfile, "is not a Tresor master keyring")
    if document.get("version") != 1:
        raise _corrupt(keyfile, "has an unsupported version")
    entries = document.get("keys")
    if not isinstance(entries, list) or not entries:
        raise _corrupt(keyfile, "holds no keys")
    keys = [_decode_entry(entry, number, keyfile) for number, entry in enumerate(entries, 1)]
    return Keyring(keys[-1], reversed(keys[:-1]))


def _decode_entry(entry: Any, number: int, keyfile: Path) -> MasterKey:
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        raise _corrupt(keyfile, f"has a malformed entry (key {number})")
    try:
        raw = base64.b64decode(entry["key"], validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_SIZE:
        raise _corrupt(keyfile, f"has a malformed key (key {number})")
    created: datetime | None = None
    if entry.get("created") is not None:
        try:
            created = datetime.fromisoformat(str(entry["created"]))
        except ValueError:
            raise _corrupt(keyfile, f"has a malformed creation time (key {number})") from None
    key = MasterKey.from_bytes(raw, created=created)
    if entry.get("id") != key.id:
        raise _corrupt(keyfile, f"has a key that does not match its id (key {number})")
    return key
