"""``EnvelopeVault``: the ``Vault`` port with envelope encryption under a keyring of master keys.

Each ``encrypt`` draws a fresh random 256-bit data key, encrypts the value with it (AES-256-GCM,
random 96-bit nonce) and wraps the data key with the current master key (AES-256-GCM, random
96-bit nonce). Both encryptions take the ``context`` (table, row and field, e.g.
``"connection:42:trade:secret"``) as associated data, so a blob decrypts only under the context
it was made for: copied to another row or field it is rejected, not silently accepted.

Blob format, version 1 (sizes in bytes; one blob is self-describing)::

    offset   size   field
    0        1      format version, 0x01
    1        1      n, the length of the master key id (1..64)
    2        n      master key id, ASCII [A-Za-z0-9._-] (see ``master_key_id``)
    2+n      12     wrap nonce
    14+n     48     wrapped data key: AES-256-GCM(master key, data key), 32 bytes + 16-byte tag
    62+n     12     data nonce
    74+n     m+16   ciphertext: AES-256-GCM(data key, value), m bytes + 16-byte tag

    associated data of the wrap:  b"tresor/vault/wrap" | version | lp(key id) | lp(context)
    associated data of the value: b"tresor/vault/data" | version | lp(context)
    lp(x) = len(x) as 4 bytes big-endian, then x; the context is encoded as UTF-8.

The value's part (data nonce and ciphertext) does not depend on the master key, so ``rewrap``
replaces only the header (key id, wrap nonce, wrapped key): rotating the master key costs one
small AES-GCM per value and never touches, or risks, the encrypted value itself. Old master keys
stay in the keyring, able to decrypt, until every blob has been re-wrapped.

Random nonces under one master key are safe for far more values than Tresor will hold (the
2**32 messages NIST SP 800-38D allows per key); the data keys are used once each.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tresor.adapters.crypto.errors import BlobRejected, UnknownMasterKey

VERSION = 1
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
WRAPPED_KEY_SIZE = KEY_SIZE + TAG_SIZE
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_WRAP_LABEL = b"tresor/vault/wrap"
_DATA_LABEL = b"tresor/vault/data"


def master_key_id(key: bytes) -> str:
    """The id of a master key: a fingerprint of the key, so the same key has the same id
    wherever it is configured (key file or settings). 64 bits of a hash of a 256-bit random key
    reveal nothing usable about it."""
    digest = hashlib.sha256(b"tresor master key id\x00" + key).hexdigest()
    return f"mk-{digest[:16]}"


@dataclass(frozen=True, eq=False)
class MasterKey:
    """One master key of the keyring. Its ``repr`` shows the id, never the key."""

    id: str
    key: bytes = field(repr=False)
    created: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, bytes) or len(self.key) != KEY_SIZE:
            raise ValueError(f"a master key is {KEY_SIZE} bytes")
        if not _KEY_ID.fullmatch(self.id):
            raise ValueError("a master key id is 1 to 64 characters among A-Z a-z 0-9 . _ -")

    @classmethod
    def from_bytes(cls, key: bytes, *, created: datetime | None = None) -> MasterKey:
        return cls(id=master_key_id(key), key=key, created=created)

    @classmethod
    def generate(cls, *, created: datetime | None = None) -> MasterKey:
        return cls.from_bytes(AESGCM.generate_key(bit_length=256), created=created)


class Keyring:
    """The master keys a vault holds: ``current`` wraps new data keys; every key, current or
    older, can unwrap. Immutable: ``with_current`` and ``without`` return new keyrings."""

    __slots__ = ("_current", "_keys")

    def __init__(self, current: MasterKey, older: Iterable[MasterKey] = ()) -> None:
        self._current = current
        self._keys: dict[str, MasterKey] = {current.id: current}
        for key in older:
            self._keys.setdefault(key.id, key)

    @property
    def current(self) -> MasterKey:
        return self._current

    @property
    def ids(self) -> tuple[str, ...]:
        """Every key id, the current one first."""
        return tuple(self._keys)

    def get(self, key_id: str) -> MasterKey | None:
        return self._keys.get(key_id)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __iter__(self) -> Iterator[MasterKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def with_current(self, key: MasterKey) -> Keyring:
        """This keyring with ``key`` as the current key; the others stay, for decryption."""
        return Keyring(key, (k for k in self._keys.values() if k.id != key.id))

    def without(self, key_id: str) -> Keyring:
        """This keyring without ``key_id``. Refuses to drop the current key."""
        if key_id == self._current.id:
            raise ValueError("the current master key cannot be removed; rotate first")
        return Keyring(self._current, (k for k in self._keys.values() if k.id != key_id))

    def __repr__(self) -> str:
        return f"Keyring(current={self._current.id!r}, ids={list(self._keys)!r})"


@dataclass(frozen=True)
class _Parsed:
    key_id: str
    wrap_nonce: bytes
    wrapped_key: bytes
    body: bytes  # data nonce and ciphertext: unchanged by rewrap


class EnvelopeVault:
    """Envelope encryption under a ``Keyring`` (see the module docstring for the blob format).

    ``reload``, if given, is called once when a blob names a master key this vault does not
    hold (another process rotated the key file): the vault then adopts the reloaded keyring,
    including its current key for new blobs.
    """

    def __init__(self, keyring: Keyring, *, reload: Callable[[], Keyring] | None = None) -> None:
        self._keyring = keyring
        self._reload = reload
        self._lock = threading.Lock()

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    @property
    def current_key_id(self) -> str:
        return self._keyring.current.id

    def encrypt(self, plaintext: bytes, *, context: str) -> bytes:
        ctx = _context_bytes(context)
        master = self._keyring.current
        data_key = AESGCM.generate_key(bit_length=256)
        data_nonce = os.urandom(NONCE_SIZE)
        ciphertext = AESGCM(data_key).encrypt(data_nonce, plaintext, _data_aad(ctx))
        return _header(master, data_key, ctx) + data_nonce + ciphertext

    def decrypt(self, blob: bytes, *, context: str) -> bytes:
        """The value ``blob`` holds.

        Raises:
            BlobRejected: altered, truncated, not a vault blob, or made for another context.
            UnknownMasterKey: wrapped by a master key that is not in the keyring.
        """
        ctx = _context_bytes(context)
        parsed = _parse(blob)
        data_key = self._unwrap(parsed, ctx)
        return _open_body(data_key, parsed.body, ctx)

    def rewrap(self, blob: bytes, *, context: str) -> bytes:
        """The same value, its data key wrapped by the current master key; the encrypted value
        is carried over byte for byte. The blob is verified first (it raises exactly when
        ``decrypt`` would), and a blob already under the current key is returned unchanged.
        """
        ctx = _context_bytes(context)
        parsed = _parse(blob)
        data_key = self._unwrap(parsed, ctx)
        _open_body(data_key, parsed.body, ctx)
        master = self._keyring.current
        if parsed.key_id == master.id:
            return bytes(blob)
        return _header(master, data_key, ctx) + parsed.body

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        """The id of the master key that wraps ``blob`` (not verified: a hint for rotation).

        Raises:
            BlobRejected: not a vault blob.
        """
        return _parse(blob).key_id

    def needs_rewrap(self, blob: bytes) -> bool:
        """Whether ``blob`` is wrapped by another master key than the current one."""
        return self.key_id_of(blob) != self.current_key_id

    def _unwrap(self, parsed: _Parsed, ctx: bytes) -> bytes:
        master = self._master(parsed.key_id)
        try:
            return AESGCM(master.key).decrypt(
                parsed.wrap_nonce, parsed.wrapped_key, _wrap_aad(master.id, ctx)
            )
        except InvalidTag:
            raise BlobRejected() from None

    def _master(self, key_id: str) -> MasterKey:
        master = self._keyring.get(key_id)
        if master is None and self._reload is not None:
            with self._lock:
                if key_id not in self._keyring:
                    self._keyring = self._reload()
            master = self._keyring.get(key_id)
        if master is None:
            raise UnknownMasterKey(key_id)
        return master

    def __repr__(self) -> str:
        return f"EnvelopeVault({self._keyring!r})"


def _context_bytes(context: str) -> bytes:
    if not isinstance(context, str) or not context:
        raise ValueError("a vault context is a non-empty string naming the table, row and field")
    return context.encode("utf-8", "surrogatepass")


def _lp(value: bytes) -> bytes:
    return len(value).to_bytes(4, "big") + value


def _wrap_aad(key_id: str, ctx: bytes) -> bytes:
    return _WRAP_LABEL + bytes([VERSION]) + _lp(key_id.encode("ascii")) + _lp(ctx)


def _data_aad(ctx: bytes) -> bytes:
    return _DATA_LABEL + bytes([VERSION]) + _lp(ctx)


def _header(master: MasterKey, data_key: bytes, ctx: bytes) -> bytes:
    key_id = master.id.encode("ascii")
    wrap_nonce = os.urandom(NONCE_SIZE)
    wrapped = AESGCM(master.key).encrypt(wrap_nonce, data_key, _wrap_aad(master.id, ctx))
    return bytes([VERSION, len(key_id)]) + key_id + wrap_nonce + wrapped


def _parse(blob: bytes) -> _Parsed:
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise TypeError("a vault blob is bytes")
    blob = bytes(blob)
    if len(blob) < 2 or blob[0] != VERSION:
        raise BlobRejected("The value is not a vault blob of a known format (version 1).")
    n = blob[1]
    start = 2 + n
    wrapped_end = start + NONCE_SIZE + WRAPPED_KEY_SIZE
    if n == 0 or len(blob) < wrapped_end + NONCE_SIZE + TAG_SIZE:
        raise BlobRejected("The encrypted value is truncated.")
    try:
        key_id = blob[2:start].decode("ascii")
    except UnicodeDecodeError:
        raise BlobRejected() from None
    if not _KEY_ID.fullmatch(key_id):
        raise BlobRejected()
    return _Parsed(
        key_id=key_id,
        wrap_nonce=blob[start : start + NONCE_SIZE],
        wrapped_key=blob[start + NONCE_SIZE : wrapped_end],
        body=blob[wrapped_end:],
    )


def _open_body(data_key: bytes, body: bytes, ctx: bytes) -> bytes:
    try:
        return AESGCM(data_key).decrypt(body[:NONCE_SIZE], body[NONCE_SIZE:], _data_aad(ctx))
    except InvalidTag:
        raise BlobRejected() from None
