"""``EnvelopeVault`` beyond the port's contract: the blob format, master keys and rotation."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tresor.adapters.crypto.errors import BlobRejected, UnknownMasterKey
from tresor.adapters.crypto.vault import (
    NONCE_SIZE,
    WRAPPED_KEY_SIZE,
    EnvelopeVault,
    Keyring,
    MasterKey,
    master_key_id,
)

CONTEXT = "connection:1:trade:secret"
VALUE = b"my-exchange-secret-0123456789"
OLD = MasterKey.generate()
NEW = MasterKey.generate()
PROPERTY_VAULT = EnvelopeVault(Keyring(MasterKey.generate()))


def header_size(key: MasterKey) -> int:
    return 2 + len(key.id) + NONCE_SIZE + WRAPPED_KEY_SIZE


def test_the_blob_is_self_describing_with_version_and_key_id() -> None:
    vault = EnvelopeVault(Keyring(OLD))

    blob = vault.encrypt(VALUE, context=CONTEXT)

    assert blob[0] == 1
    assert blob[2 : 2 + blob[1]] == OLD.id.encode()
    assert len(blob) == header_size(OLD) + NONCE_SIZE + len(VALUE) + 16
    assert EnvelopeVault.key_id_of(blob) == OLD.id


def test_a_header_pasted_onto_another_blob_is_rejected() -> None:
    vault = EnvelopeVault(Keyring(OLD))
    size = header_size(OLD)
    mine = vault.encrypt(VALUE, context="connection:1:trade:secret")
    theirs = vault.encrypt(b"attacker-known", context="connection:2:trade:secret")

    with pytest.raises(BlobRejected):
        vault.decrypt(theirs[:size] + mine[size:], context="connection:1:trade:secret")
    with pytest.raises(BlobRejected):
        vault.decrypt(mine[:size] + theirs[size:], context="connection:1:trade:secret")


def test_a_blob_of_another_format_says_so() -> None:
    vault = EnvelopeVault(Keyring(OLD))
    blob = vault.encrypt(VALUE, context=CONTEXT)

    with pytest.raises(BlobRejected, match="known format") as caught:
        vault.decrypt(b"\x02" + blob[1:], context=CONTEXT)
    assert caught.value.code == "vault_blob_rejected"
    assert "restore the value" in caught.value.remedy


def test_an_empty_context_is_refused() -> None:
    vault = EnvelopeVault(Keyring(OLD))

    with pytest.raises(ValueError, match="non-empty"):
        vault.encrypt(VALUE, context="")


def test_old_blobs_decrypt_after_the_master_key_is_rotated() -> None:
    blob = EnvelopeVault(Keyring(OLD)).encrypt(VALUE, context=CONTEXT)

    rotated = EnvelopeVault(Keyring(OLD).with_current(NEW))

    assert rotated.current_key_id == NEW.id
    assert rotated.decrypt(blob, context=CONTEXT) == VALUE
    assert EnvelopeVault.key_id_of(rotated.encrypt(VALUE, context=CONTEXT)) == NEW.id


def test_rewrap_moves_the_blob_to_the_current_key_and_keeps_the_ciphertext() -> None:
    blob = EnvelopeVault(Keyring(OLD)).encrypt(VALUE, context=CONTEXT)
    rotated = EnvelopeVault(Keyring(OLD).with_current(NEW))
    assert rotated.needs_rewrap(blob)

    rewrapped = rotated.rewrap(blob, context=CONTEXT)

    assert EnvelopeVault.key_id_of(rewrapped) == NEW.id
    assert not rotated.needs_rewrap(rewrapped)
    assert rewrapped[header_size(NEW) :] == blob[header_size(OLD) :]
    new_only = EnvelopeVault(rotated.keyring.without(OLD.id))
    assert OLD.id not in new_only.keyring
    assert new_only.decrypt(rewrapped, context=CONTEXT) == VALUE


def test_a_blob_not_rewrapped_names_the_missing_master_key() -> None:
    blob = EnvelopeVault(Keyring(OLD)).encrypt(VALUE, context=CONTEXT)
    new_only = EnvelopeVault(Keyring(NEW))

    with pytest.raises(UnknownMasterKey) as caught:
        new_only.decrypt(blob, context=CONTEXT)

    assert caught.value.key_id == OLD.id
    assert OLD.id in str(caught.value)
    assert "Add that master key back" in caught.value.remedy
    with pytest.raises(UnknownMasterKey):
        new_only.rewrap(blob, context=CONTEXT)


def test_rewrap_of_a_blob_already_under_the_current_key_returns_it_unchanged() -> None:
    vault = EnvelopeVault(Keyring(NEW))
    blob = vault.encrypt(VALUE, context=CONTEXT)

    assert vault.rewrap(blob, context=CONTEXT) == blob


def test_the_vault_reloads_its_keyring_when_it_meets_an_unknown_key() -> None:
    blob = EnvelopeVault(Keyring(OLD).with_current(NEW)).encrypt(VALUE, context=CONTEXT)
    reloads: list[str] = []

    def reload() -> Keyring:
        reloads.append("reload")
        return Keyring(OLD).with_current(NEW)

    stale = EnvelopeVault(Keyring(OLD), reload=reload)

    assert stale.decrypt(blob, context=CONTEXT) == VALUE
    assert stale.decrypt(blob, context=CONTEXT) == VALUE
    assert reloads == ["reload"]
    assert stale.current_key_id == NEW.id


def test_a_reload_that_does_not_find_the_key_still_says_which_key_is_missing() -> None:
    blob = EnvelopeVault(Keyring(NEW)).encrypt(VALUE, context=CONTEXT)
    vault = EnvelopeVault(Keyring(OLD), reload=lambda: Keyring(OLD))

    with pytest.raises(UnknownMasterKey, match=NEW.id):
        vault.decrypt(blob, context=CONTEXT)


def test_the_current_key_cannot_be_removed_from_the_keyring() -> None:
    with pytest.raises(ValueError, match="current master key"):
        Keyring(OLD).with_current(NEW).without(NEW.id)


def test_key_ids_are_fingerprints_and_reprs_hide_the_keys() -> None:
    key = MasterKey.from_bytes(bytes(range(32)))

    assert key.id == master_key_id(bytes(range(32)))
    assert key.id.startswith("mk-")
    for shown in (repr(key), repr(Keyring(key)), repr(EnvelopeVault(Keyring(key)))):
        assert key.id in shown
        assert key.key.hex() not in shown
        assert repr(key.key) not in shown


def test_a_master_key_of_the_wrong_size_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError, match="32 bytes") as caught:
        MasterKey.from_bytes(b"sixteen-byte-key")

    assert "sixteen" not in str(caught.value)


@given(plaintext=st.binary(max_size=2048), context=st.text(min_size=1, max_size=200))
def test_any_value_round_trips_under_any_context(plaintext: bytes, context: str) -> None:
    blob = PROPERTY_VAULT.encrypt(plaintext, context=context)

    assert PROPERTY_VAULT.decrypt(blob, context=context) == plaintext


@given(
    context=st.text(min_size=1, max_size=50),
    other=st.text(min_size=1, max_size=50),
)
def test_any_other_context_is_rejected(context: str, other: str) -> None:
    blob = PROPERTY_VAULT.encrypt(VALUE, context=context)

    if other == context:
        assert PROPERTY_VAULT.decrypt(blob, context=other) == VALUE
    else:
        with pytest.raises(BlobRejected):
            PROPERTY_VAULT.decrypt(blob, context=other)


@given(context=st.text(alphabet=string.printable, min_size=1, max_size=20))
def test_contexts_with_lone_surrogates_are_distinct_from_their_neighbours(context: str) -> None:
    blob = PROPERTY_VAULT.encrypt(VALUE, context=context + "\ud800")

    assert PROPERTY_VAULT.decrypt(blob, context=context + "\ud800") == VALUE
    with pytest.raises(BlobRejected):
        PROPERTY_VAULT.decrypt(blob, context=context + "\udc00")
