"""Trade keys sealed to the trading worker: any process can seal with the worker's public key;
only the worker, which holds the private key, can open (``TradeKeySealer``/``TradeKeyOpener``).

A sealed box: each ``seal`` makes an ephemeral X25519 keypair, agrees a secret with the worker's
public key, derives a one-time AES-256 key from it with HKDF-SHA256 and encrypts the value with
AES-256-GCM, the ``context`` (table, row, field) as associated data. The ephemeral private key is
dropped at once, so not even the sealing process can open what it sealed: opening needs the
worker's private key, by construction.

Sealed value format, version 1 (sizes in bytes)::

    offset   size   field
    0        1      format version, 0x01
    1        8      recipient id: SHA-256(b"tresor worker key id\\x00" | worker public key)[:8]
    9        32     ephemeral X25519 public key
    41       12     nonce (random)
    53       m+16   ciphertext: AES-256-GCM(k, value as UTF-8), m bytes + 16-byte tag

    k = HKDF-SHA256(X25519(ephemeral private, worker public),
                    salt = ephemeral public | worker public, info = b"tresor/seal/v1", 32 bytes)
    associated data = b"tresor/seal" | version | lp(context); lp(x) = 4-byte length, then x

The worker's keypair lives in the data directory: ``worker-seal.key`` (PKCS#8 PEM, mode 0600)
and ``worker-seal.pub`` (SubjectPublicKeyInfo PEM, 0644, refused if others can write to it,
since whoever replaces it receives the trade keys sealed afterwards). Back the private key up:
values sealed to a lost worker key must be entered again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tresor.adapters.crypto import keyfiles
from tresor.adapters.crypto.errors import (
    BlobRejected,
    KeyFileCorrupt,
    KeyFileMissing,
    SealedForAnotherWorker,
)
from tresor.domain.secrets import Secret

VERSION = 1
PRIVATE_KEY_FILE = "worker-seal.key"
PUBLIC_KEY_FILE = "worker-seal.pub"
_ID_SIZE = 8
_PUBLIC_SIZE = 32
_NONCE_SIZE = 12
_TAG_SIZE = 16
_HEADER_SIZE = 1 + _ID_SIZE + _PUBLIC_SIZE + _NONCE_SIZE
_INFO = b"tresor/seal/v1"
_AAD_LABEL = b"tresor/seal"
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def worker_key_id(public_key: X25519PublicKey) -> str:
    """A short public fingerprint of a worker key, as written in sealed values (hex)."""
    return _recipient_id(_raw(public_key)).hex()


class PublicKeySealer:
    """Seals values to one worker public key. Holds nothing secret."""

    def __init__(self, public_key: X25519PublicKey) -> None:
        self._public = _raw(public_key)

    def seal(self, plaintext: Secret, *, context: str) -> bytes:
        if not isinstance(plaintext, Secret):
            raise TypeError("seal() takes a Secret")
        ephemeral = X25519PrivateKey.generate()
        ephemeral_public = _raw(ephemeral.public_key())
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(self._public))
        key = _derive(shared, ephemeral_public, self._public)
        nonce = os.urandom(_NONCE_SIZE)
        value = plaintext.reveal().encode("utf-8", "surrogatepass")
        ciphertext = AESGCM(key).encrypt(nonce, value, _aad(context))
        header = bytes([VERSION]) + _recipient_id(self._public) + ephemeral_public + nonce
        return header + ciphertext

    def __repr__(self) -> str:
        return f"PublicKeySealer(worker={_recipient_id(self._public).hex()!r})"


class PrivateKeyOpener:
    """Opens values sealed to the matching public key: only the trading worker builds one."""

    def __init__(self, private_key: X25519PrivateKey) -> None:
        self._private = private_key
        self._public = _raw(private_key.public_key())

    def open(self, sealed: bytes, *, context: str) -> Secret:
        """The sealed value.

        Raises:
            SealedForAnotherWorker: sealed to another worker key (or its header was altered).
            BlobRejected: altered, truncated, not a sealed value, or sealed for another context.
        """
        aad = _aad(context)
        if not isinstance(sealed, bytes | bytearray | memoryview):
            raise TypeError("a sealed value is bytes")
        sealed = bytes(sealed)
        if len(sealed) < _HEADER_SIZE + _TAG_SIZE or sealed[0] != VERSION:
            raise BlobRejected("The value is not a sealed trade key of a known format.")
        if sealed[1 : 1 + _ID_SIZE] != _recipient_id(self._public):
            raise SealedForAnotherWorker(
                f"The trade key was sealed to worker key {sealed[1 : 1 + _ID_SIZE].hex()!r}, "
                f"not to this worker's key {_recipient_id(self._public).hex()!r} (or altered)."
            )
        ephemeral_public = sealed[1 + _ID_SIZE : 1 + _ID_SIZE + _PUBLIC_SIZE]
        nonce = sealed[_HEADER_SIZE - _NONCE_SIZE : _HEADER_SIZE]
        try:
            shared = self._private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
            key = _derive(shared, ephemeral_public, self._public)
            value = AESGCM(key).decrypt(nonce, sealed[_HEADER_SIZE:], aad)
        except (InvalidTag, ValueError):  # ValueError: a low-order ephemeral point
            raise BlobRejected() from None
        text = _decode(value)
        if text is None:  # authentic but not UTF-8: sealed by a faulty or hostile sealer
            raise BlobRejected("The sealed value is not text.")
        return Secret(text)

    def __repr__(self) -> str:
        return f"PrivateKeyOpener(worker={_recipient_id(self._public).hex()!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a PrivateKeyOpener cannot be pickled")


class WorkerKeypair:
    """The trading worker's X25519 keypair. Its ``repr`` shows the public fingerprint only."""

    __slots__ = ("_private",)

    def __init__(self, private_key: X25519PrivateKey) -> None:
        self._private = private_key

    @classmethod
    def generate(cls) -> WorkerKeypair:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def load(cls, data_dir: Path) -> WorkerKeypair:
        """The keypair stored in ``data_dir``; rewrites a missing public key file.

        Raises:
            KeyFileMissing, KeyFileInsecure, KeyFileCorrupt (including a public key file that
            does not match the private key).
        """
        path = data_dir / PRIVATE_KEY_FILE
        data = keyfiles.read_private(path, what="worker private key file")
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            private = None
        if not isinstance(private, X25519PrivateKey):
            raise KeyFileCorrupt(f"The worker private key file {path} is not an X25519 key.")
        keypair = cls(private)
        keypair._check_public_file(data_dir)
        return keypair

    @classmethod
    def load_or_create(cls, data_dir: Path) -> WorkerKeypair:
        """The keypair in ``data_dir``, generated and stored there on first run (the private key
        file with mode 0600, the public key file 0644). Safe when several processes start at
        once: one creates, all use the same keypair.

        Raises:
            KeyFileInsecure, KeyFileCorrupt.
        """
        if not (data_dir / PRIVATE_KEY_FILE).exists():
            keypair = cls.generate()
            pem = keypair._private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            path = data_dir / PRIVATE_KEY_FILE
            if keyfiles.create_exclusive(path, pem, mode=keyfiles.PRIVATE_MODE):
                keypair._write_public_file(data_dir)
                return keypair
        return cls.load(data_dir)

    @property
    def public_key(self) -> X25519PublicKey:
        return self._private.public_key()

    @property
    def key_id(self) -> str:
        return worker_key_id(self.public_key)

    def sealer(self) -> PublicKeySealer:
        return PublicKeySealer(self.public_key)

    def opener(self) -> PrivateKeyOpener:
        return PrivateKeyOpener(self._private)

    def _public_pem(self) -> bytes:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def _write_public_file(self, data_dir: Path) -> None:
        keyfiles.replace(data_dir / PUBLIC_KEY_FILE, self._public_pem(), mode=keyfiles.PUBLIC_MODE)

    def _check_public_file(self, data_dir: Path) -> None:
        try:
            stored = load_worker_public_key(data_dir)
        except KeyFileMissing:
            self._write_public_file(data_dir)
            return
        if _raw(stored) != _raw(self.public_key):
            path = data_dir / PUBLIC_KEY_FILE
            raise KeyFileCorrupt(
                f"The worker public key file {path} does not match the worker private key: "
                "trade keys sealed with it cannot be opened by this worker.",
                remedy=(
                    f"Delete {path} and start the worker again to rewrite it from the private "
                    "key, then enter again the trade keys stored since it changed."
                ),
            )

    def __repr__(self) -> str:
        return f"WorkerKeypair(key_id={self.key_id!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a WorkerKeypair cannot be pickled")


def load_worker_public_key(data_dir: Path) -> X25519PublicKey:
    """The worker's public key from ``data_dir``: all a process that stores trade keys needs.

    Raises:
        KeyFileMissing, KeyFileInsecure (others can write to it), KeyFileCorrupt.
    """
    path = data_dir / PUBLIC_KEY_FILE
    try:
        data = keyfiles.read_public(path, what="worker public key file")
    except KeyFileMissing as e:
        raise KeyFileMissing(
            e.message,
            remedy=(
                "Start the trading worker once (it creates its keypair in the data directory), "
                "or copy its public key file there."
            ),
        ) from None
    try:
        public = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        public = None
    if not isinstance(public, X25519PublicKey):
        raise KeyFileCorrupt(f"The worker public key file {path} is not an X25519 public key.")
    return public


def _raw(public_key: X25519PublicKey) -> bytes:
    return public_key.public_bytes(*_RAW)


def _recipient_id(public_raw: bytes) -> bytes:
    return hashlib.sha256(b"tresor worker key id\x00" + public_raw).digest()[:_ID_SIZE]


def _derive(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral_public + recipient_public,
        info=_INFO,
    )
    return hkdf.derive(shared)


def _decode(value: bytes) -> str | None:
    """``value`` as text, or None; no exception (holding the bytes) escapes."""
    try:
        return value.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None


def _aad(context: str) -> bytes:
    if not isinstance(context, str) or not context:
        raise ValueError("a seal context is a non-empty string naming the table, row and field")
    ctx = context.encode("utf-8", "surrogatepass")
    return _AAD_LABEL + bytes([VERSION]) + len(ctx).to_bytes(4, "big") + ctx
