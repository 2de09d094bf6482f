"""Trade keys sealed to the trading worker: only its private key opens them."""

from __future__ import annotations

import pickle
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from tresor.adapters.crypto import sealing
from tresor.adapters.crypto.errors import (
    BlobRejected,
    KeyFileCorrupt,
    KeyFileInsecure,
    KeyFileMissing,
    SealedForAnotherWorker,
)
from tresor.adapters.crypto.sealing import (
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    PrivateKeyOpener,
    PublicKeySealer,
    WorkerKeypair,
    load_worker_public_key,
    worker_key_id,
)
from tresor.domain.secrets import Secret
from tresor.services.ports import TradeKeyOpener, TradeKeySealer

SECRET = "trade-secret-KJH23hkjh4kj5h"
CONTEXT = "connection:3:trade:secret"
WORKER_PRIVATE = X25519PrivateKey.generate()
WORKER = WorkerKeypair(WORKER_PRIVATE)


def test_a_sealed_value_opens_with_the_matching_private_key() -> None:
    sealer: TradeKeySealer = PublicKeySealer(WORKER_PRIVATE.public_key())
    opener: TradeKeyOpener = PrivateKeyOpener(WORKER_PRIVATE)
    sealed = sealer.seal(Secret(SECRET), context=CONTEXT)

    opened = opener.open(sealed, context=CONTEXT)

    assert isinstance(opened, Secret)
    assert opened.reveal() == SECRET


def test_another_workers_key_cannot_open_it() -> None:
    sealed = WORKER.sealer().seal(Secret(SECRET), context=CONTEXT)
    other = WorkerKeypair.generate()

    with pytest.raises(SealedForAnotherWorker) as caught:
        other.opener().open(sealed, context=CONTEXT)

    assert WORKER.key_id in caught.value.message
    assert other.key_id in caught.value.message
    assert isinstance(caught.value, ValueError)


def test_another_workers_key_cannot_open_it_even_with_a_forged_recipient_id() -> None:
    sealed = WORKER.sealer().seal(Secret(SECRET), context=CONTEXT)
    other = WorkerKeypair.generate()
    forged = sealed[:1] + bytes.fromhex(other.key_id) + sealed[9:]

    with pytest.raises(BlobRejected):
        other.opener().open(forged, context=CONTEXT)


def test_a_sealed_value_moved_to_another_context_is_rejected() -> None:
    sealed = WORKER.sealer().seal(Secret(SECRET), context=CONTEXT)

    with pytest.raises(BlobRejected) as caught:
        WORKER.opener().open(sealed, context="connection:4:trade:secret")

    assert SECRET not in str(caught.value)


def test_a_low_order_ephemeral_key_is_rejected() -> None:
    sealed = WORKER.sealer().seal(Secret(SECRET), context=CONTEXT)
    zero_point = sealed[:9] + bytes(32) + sealed[41:]

    with pytest.raises(BlobRejected):
        WORKER.opener().open(zero_point, context=CONTEXT)


def test_an_authentic_value_that_is_not_text_is_rejected() -> None:
    # What a faulty or hostile sealer (anyone holding the public key) could produce.
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    worker_public = WORKER.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    key = sealing._derive(ephemeral.exchange(WORKER.public_key), ephemeral_public, worker_public)
    nonce = bytes(12)
    ciphertext = AESGCM(key).encrypt(nonce, b"\xff\xfe", sealing._aad(CONTEXT))
    sealed = b"\x01" + bytes.fromhex(WORKER.key_id) + ephemeral_public + nonce + ciphertext

    with pytest.raises(BlobRejected, match="not text"):
        WORKER.opener().open(sealed, context=CONTEXT)


def test_a_flipped_bit_anywhere_is_rejected() -> None:
    sealed = WORKER.sealer().seal(Secret("short"), context=CONTEXT)
    opener = WORKER.opener()

    for bit in range(len(sealed) * 8):
        tampered = bytearray(sealed)
        tampered[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(ValueError):  # noqa: PT011 - any ValueError, as the port promises
            opener.open(bytes(tampered), context=CONTEXT)


def test_a_truncated_sealed_value_is_rejected() -> None:
    sealed = WORKER.sealer().seal(Secret(SECRET), context=CONTEXT)
    opener = WORKER.opener()

    for length in range(len(sealed)):
        with pytest.raises(ValueError):  # noqa: PT011
            opener.open(sealed[:length], context=CONTEXT)


def test_two_seals_of_the_same_value_differ_and_never_contain_it() -> None:
    sealer = WORKER.sealer()

    first = sealer.seal(Secret(SECRET), context=CONTEXT)
    second = sealer.seal(Secret(SECRET), context=CONTEXT)

    assert first != second
    assert SECRET.encode() not in first
    assert SECRET.encode() not in second


def test_the_sealer_holds_only_the_public_key_and_cannot_open() -> None:
    sealer = WORKER.sealer()

    assert not hasattr(sealer, "open")
    public = WORKER_PRIVATE.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert list(vars(sealer).values()) == [public]


def test_a_data_directory_with_only_the_public_key_can_seal_but_not_open(
    tmp_path: Path,
) -> None:
    worker_dir, api_dir = tmp_path / "worker", tmp_path / "api"
    worker = WorkerKeypair.load_or_create(worker_dir)
    api_dir.mkdir()
    (api_dir / PUBLIC_KEY_FILE).write_bytes((worker_dir / PUBLIC_KEY_FILE).read_bytes())

    sealed = PublicKeySealer(load_worker_public_key(api_dir)).seal(Secret(SECRET), context=CONTEXT)

    with pytest.raises(KeyFileMissing):
        WorkerKeypair.load(api_dir)
    assert worker.opener().open(sealed, context=CONTEXT).reveal() == SECRET


def test_the_keypair_is_stored_with_a_private_and_a_public_file(tmp_path: Path) -> None:
    created = WorkerKeypair.load_or_create(tmp_path)

    assert stat.S_IMODE((tmp_path / PRIVATE_KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / PUBLIC_KEY_FILE).stat().st_mode) == 0o644
    assert WorkerKeypair.load_or_create(tmp_path).key_id == created.key_id
    assert worker_key_id(load_worker_public_key(tmp_path)) == created.key_id


def test_a_private_key_file_other_users_can_read_is_refused(tmp_path: Path) -> None:
    WorkerKeypair.load_or_create(tmp_path)
    (tmp_path / PRIVATE_KEY_FILE).chmod(0o644)

    with pytest.raises(KeyFileInsecure, match="0644") as caught:
        WorkerKeypair.load(tmp_path)

    assert "chmod 600" in caught.value.remedy


def test_a_public_key_file_other_users_can_replace_is_refused(tmp_path: Path) -> None:
    WorkerKeypair.load_or_create(tmp_path)
    (tmp_path / PUBLIC_KEY_FILE).chmod(0o666)

    with pytest.raises(KeyFileInsecure, match="replace"):
        load_worker_public_key(tmp_path)


def test_a_replaced_public_key_file_stops_the_worker(tmp_path: Path) -> None:
    WorkerKeypair.load_or_create(tmp_path)
    intruder = tmp_path / "intruder"
    WorkerKeypair.load_or_create(intruder)
    (tmp_path / PUBLIC_KEY_FILE).write_bytes((intruder / PUBLIC_KEY_FILE).read_bytes())

    with pytest.raises(KeyFileCorrupt, match="does not match"):
        WorkerKeypair.load(tmp_path)


def test_a_missing_public_key_file_is_rewritten_by_the_worker(tmp_path: Path) -> None:
    worker = WorkerKeypair.load_or_create(tmp_path)
    (tmp_path / PUBLIC_KEY_FILE).unlink()

    WorkerKeypair.load(tmp_path)

    assert worker_key_id(load_worker_public_key(tmp_path)) == worker.key_id


def test_a_missing_public_key_tells_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(KeyFileMissing) as caught:
        load_worker_public_key(tmp_path)

    assert "Start the trading worker once" in caught.value.remedy
    assert "Start the trading worker once" in str(caught.value)


def test_a_private_key_file_that_is_not_an_x25519_key_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / PRIVATE_KEY_FILE
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n")
    path.chmod(0o600)

    with pytest.raises(KeyFileCorrupt, match="X25519"):
        WorkerKeypair.load(tmp_path)


def test_reprs_show_the_public_fingerprint_only_and_keys_cannot_be_pickled() -> None:
    for thing in (WORKER, WORKER.sealer(), WORKER.opener()):
        assert WORKER.key_id in repr(thing)
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(WORKER)
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(WORKER.opener())


@given(value=st.text(max_size=300), context=st.text(min_size=1, max_size=100))
def test_any_text_round_trips_under_any_context(value: str, context: str) -> None:
    sealed = WORKER.sealer().seal(Secret(value), context=context)

    assert WORKER.opener().open(sealed, context=context).reveal() == value


def test_a_value_with_a_lone_surrogate_round_trips() -> None:
    sealed = WORKER.sealer().seal(Secret("ab\ud800cd"), context=CONTEXT)

    assert WORKER.opener().open(sealed, context=CONTEXT).reveal() == "ab\ud800cd"
