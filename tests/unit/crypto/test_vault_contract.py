"""The contract of the ``Vault`` port, run against every implementation.

A new implementation (an in-memory fake for service tests, say) joins by adding a factory to
``VAULTS``; it must then pass every test here, so it cannot drift from the real vault.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tresor.adapters.crypto.vault import EnvelopeVault, Keyring, MasterKey
from tresor.services.ports import Vault

PLAINTEXT = b"exchange-secret-Zq8LrT0pW2xY"
CONTEXT = "connection:1:read:secret"


def envelope_vault() -> Vault:
    return EnvelopeVault(Keyring(MasterKey.generate()))


VAULTS: dict[str, Callable[[], Vault]] = {"envelope": envelope_vault}


@pytest.fixture(params=sorted(VAULTS))
def vault(request: pytest.FixtureRequest) -> Vault:
    return VAULTS[request.param]()


@pytest.mark.parametrize("plaintext", [b"", b"x", PLAINTEXT, bytes(range(256)) * 20])
def test_a_value_decrypts_to_itself_under_its_context(vault: Vault, plaintext: bytes) -> None:
    blob = vault.encrypt(plaintext, context=CONTEXT)

    assert vault.decrypt(blob, context=CONTEXT) == plaintext


def test_a_value_moved_to_another_row_or_field_is_rejected(vault: Vault) -> None:
    blob = vault.encrypt(PLAINTEXT, context="connection:1:read:secret")

    for other in ("connection:2:read:secret", "connection:1:read:api_key", "connection:1"):
        with pytest.raises(ValueError, match="cannot be decrypted") as caught:
            vault.decrypt(blob, context=other)
        assert PLAINTEXT.decode() not in str(caught.value)
        assert PLAINTEXT.decode() not in repr(caught.value)


def test_two_encryptions_of_the_same_value_differ(vault: Vault) -> None:
    first = vault.encrypt(PLAINTEXT, context=CONTEXT)
    second = vault.encrypt(PLAINTEXT, context=CONTEXT)

    assert first != second
    assert vault.decrypt(first, context=CONTEXT) == vault.decrypt(second, context=CONTEXT)


def test_the_blob_never_contains_the_value(vault: Vault) -> None:
    blob = vault.encrypt(PLAINTEXT, context=CONTEXT)

    assert PLAINTEXT not in blob
    assert PLAINTEXT[4:-4] not in blob


def test_a_flipped_bit_anywhere_is_rejected(vault: Vault) -> None:
    blob = vault.encrypt(b"short", context=CONTEXT)

    for bit in range(len(blob) * 8):
        tampered = bytearray(blob)
        tampered[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(ValueError):  # noqa: PT011 - any ValueError, as the port promises
            vault.decrypt(bytes(tampered), context=CONTEXT)


def test_a_truncated_or_extended_blob_is_rejected(vault: Vault) -> None:
    blob = vault.encrypt(PLAINTEXT, context=CONTEXT)

    for length in range(len(blob)):
        with pytest.raises(ValueError):  # noqa: PT011
            vault.decrypt(blob[:length], context=CONTEXT)
    with pytest.raises(ValueError):  # noqa: PT011
        vault.decrypt(blob + b"\x00", context=CONTEXT)


def test_rewrap_keeps_the_value_and_its_context(vault: Vault) -> None:
    blob = vault.encrypt(PLAINTEXT, context=CONTEXT)

    rewrapped = vault.rewrap(blob, context=CONTEXT)

    assert vault.decrypt(rewrapped, context=CONTEXT) == PLAINTEXT
    with pytest.raises(ValueError):  # noqa: PT011
        vault.decrypt(rewrapped, context="connection:2:read:secret")


def test_rewrap_refuses_a_blob_it_could_not_decrypt(vault: Vault) -> None:
    blob = vault.encrypt(PLAINTEXT, context=CONTEXT)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])

    with pytest.raises(ValueError):  # noqa: PT011
        vault.rewrap(blob, context="connection:2:read:secret")
    with pytest.raises(ValueError):  # noqa: PT011
        vault.rewrap(tampered, context=CONTEXT)


def test_the_vault_repr_shows_no_value(vault: Vault) -> None:
    vault.encrypt(PLAINTEXT, context=CONTEXT)

    assert PLAINTEXT.decode() not in repr(vault)
