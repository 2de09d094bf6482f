"""Master keys from the settings or the key file: creation, permissions, rotation."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tresor.adapters.crypto.errors import (
    KeyFileCorrupt,
    KeyFileInsecure,
    KeyFileMissing,
    MasterKeyInvalid,
    UnknownMasterKey,
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
from tresor.adapters.crypto.vault import EnvelopeVault, master_key_id
from tresor.domain.secrets import Secret

RAW = bytes(range(32))
OTHER_RAW = bytes(range(100, 132))
CONTEXT = "connection:7:read:secret"
VALUE = b"secret-value-for-the-vault"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def keyfile(tmp_path: Path) -> Path:
    return tmp_path / MASTER_KEY_FILE


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.mark.parametrize(
    "text",
    [
        RAW.hex(),
        RAW.hex().upper(),
        base64.b64encode(RAW).decode(),
        base64.urlsafe_b64encode(RAW).decode().rstrip("="),
        f"  {RAW.hex()}\n",
    ],
)
def test_a_configured_key_is_read_from_hex_or_base64(text: str) -> None:
    ring = parse_master_keys(text)

    assert ring.current.key == RAW
    assert ring.current.id == master_key_id(RAW)


def test_configured_keys_are_comma_separated_with_the_current_key_first() -> None:
    ring = parse_master_keys(f"{OTHER_RAW.hex()}, {base64.b64encode(RAW).decode()}")

    assert ring.current.key == OTHER_RAW
    assert ring.ids == (master_key_id(OTHER_RAW), master_key_id(RAW))


@pytest.mark.parametrize(
    "text",
    ["", " , ", "not-a-key", RAW.hex()[:-2], base64.b64encode(RAW[:16]).decode(), "zz" * 32],
)
def test_a_malformed_configured_key_is_refused_without_repeating_it(text: str) -> None:
    with pytest.raises(MasterKeyInvalid) as caught:
        parse_master_keys(text)

    assert caught.value.code == "master_key_invalid"
    assert "openssl rand -base64 32" in caught.value.remedy
    if text.strip(" ,"):
        assert text not in str(caught.value)
        assert text not in repr(caught.value)


def test_the_second_of_several_configured_keys_is_named_when_malformed() -> None:
    with pytest.raises(MasterKeyInvalid, match=r"key 2 of 2"):
        parse_master_keys(f"{RAW.hex()},oops")


def test_first_run_creates_a_private_key_file(keyfile: Path, loose_umask: None) -> None:
    vault = build_vault(data_dir=keyfile.parent)

    assert mode_of(keyfile) == 0o600
    document = json.loads(keyfile.read_text())
    assert document["format"] == "tresor-master-keyring"
    [entry] = document["keys"]
    assert entry["id"] == vault.current_key_id
    assert datetime.fromisoformat(entry["created"]).tzinfo is not None
    assert not list(keyfile.parent.glob(".*.tmp"))


def test_the_data_directory_is_created_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"

    build_vault(data_dir=data_dir)

    assert mode_of(data_dir) == 0o700
    assert mode_of(data_dir / MASTER_KEY_FILE) == 0o600


def test_a_second_start_uses_the_same_key_file(keyfile: Path) -> None:
    blob = build_vault(data_dir=keyfile.parent).encrypt(VALUE, context=CONTEXT)

    again = build_vault(data_dir=keyfile.parent)

    assert again.decrypt(blob, context=CONTEXT) == VALUE


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602])
def test_a_key_file_other_users_can_reach_is_refused(keyfile: Path, mode: int) -> None:
    load_or_create_keyring(keyfile)
    keyfile.chmod(mode)

    with pytest.raises(KeyFileInsecure) as caught:
        build_vault(data_dir=keyfile.parent)

    assert f"{mode:04o}" in caught.value.message
    assert str(keyfile) in caught.value.message
    assert f"chmod 600 {keyfile}" in caught.value.remedy
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_key_file_only_its_owner_can_reach_is_used(keyfile: Path, mode: int) -> None:
    ring = load_or_create_keyring(keyfile)
    keyfile.chmod(mode)

    assert load_keyring(keyfile).current.id == ring.current.id


def test_a_configured_key_wins_over_the_key_file(keyfile: Path) -> None:
    load_or_create_keyring(keyfile)

    vault = build_vault(data_dir=keyfile.parent, master_key=Secret(RAW.hex()))

    assert vault.current_key_id == master_key_id(RAW)


def test_a_blank_configured_key_falls_back_to_the_key_file(keyfile: Path) -> None:
    vault = build_vault(data_dir=keyfile.parent, master_key="  ")

    assert keyfile.exists()
    assert vault.current_key_id == load_keyring(keyfile).current.id


def test_a_key_moved_from_the_file_to_the_settings_keeps_decrypting(keyfile: Path) -> None:
    file_vault = build_vault(data_dir=keyfile.parent)
    blob = file_vault.encrypt(VALUE, context=CONTEXT)
    key_text = base64.b64encode(file_vault.keyring.current.key).decode()

    configured = build_vault(data_dir=keyfile.parent / "elsewhere", master_key=key_text)

    assert configured.decrypt(blob, context=CONTEXT) == VALUE


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[]",
        b'{"format": "something-else", "version": 1, "keys": []}',
        b'{"format": "tresor-master-keyring", "version": 2, "keys": []}',
        b'{"format": "tresor-master-keyring", "version": 1, "keys": []}',
        b'{"format": "tresor-master-keyring", "version": 1, "keys": [{"id": "mk-1"}]}',
        b'{"format": "tresor-master-keyring", "version": 1, "keys": [{"key": "AAAA"}]}',
    ],
)
def test_a_damaged_key_file_is_reported_as_corrupt(keyfile: Path, content: bytes) -> None:
    keyfile.write_bytes(content)
    keyfile.chmod(0o600)

    with pytest.raises(KeyFileCorrupt) as caught:
        load_keyring(keyfile)

    assert str(keyfile) in caught.value.message
    assert "backup" in caught.value.remedy


def test_a_key_that_does_not_match_its_id_is_corrupt_and_not_shown(keyfile: Path) -> None:
    load_or_create_keyring(keyfile)
    document = json.loads(keyfile.read_text())
    altered = base64.b64encode(OTHER_RAW).decode()
    document["keys"][0]["key"] = altered
    keyfile.write_text(json.dumps(document))

    with pytest.raises(KeyFileCorrupt, match="does not match its id") as caught:
        load_keyring(keyfile)

    assert altered not in str(caught.value)


def test_rotation_adds_a_current_key_and_keeps_the_old_one(keyfile: Path) -> None:
    vault = build_vault(data_dir=keyfile.parent)
    old_id = vault.current_key_id
    blob = vault.encrypt(VALUE, context=CONTEXT)

    new_id = rotate_master_key(keyfile)

    ring = load_keyring(keyfile)
    assert new_id != old_id
    assert ring.current.id == new_id
    assert ring.ids == (new_id, old_id)
    assert mode_of(keyfile) == 0o600
    assert [entry["id"] for entry in json.loads(keyfile.read_text())["keys"]] == [old_id, new_id]
    assert build_vault(data_dir=keyfile.parent).decrypt(blob, context=CONTEXT) == VALUE


def test_after_rewrap_the_old_key_can_be_retired(keyfile: Path) -> None:
    blob = build_vault(data_dir=keyfile.parent).encrypt(VALUE, context=CONTEXT)
    old_id = EnvelopeVault.key_id_of(blob)
    new_id = rotate_master_key(keyfile)
    rewrapped = build_vault(data_dir=keyfile.parent).rewrap(blob, context=CONTEXT)

    retire_master_key(keyfile, old_id)

    after = build_vault(data_dir=keyfile.parent)
    assert after.keyring.ids == (new_id,)
    assert after.decrypt(rewrapped, context=CONTEXT) == VALUE
    with pytest.raises(UnknownMasterKey, match=old_id):
        after.decrypt(blob, context=CONTEXT)


def test_the_current_key_cannot_be_retired(keyfile: Path) -> None:
    current = load_or_create_keyring(keyfile).current.id

    with pytest.raises(ValueError, match="current master key"):
        retire_master_key(keyfile, current)
    with pytest.raises(ValueError, match="no master key"):
        retire_master_key(keyfile, "mk-0000000000000000")
    assert load_keyring(keyfile).current.id == current


def test_rotation_never_creates_a_first_key_file(keyfile: Path) -> None:
    with pytest.raises(KeyFileMissing):
        rotate_master_key(keyfile)
    with pytest.raises(KeyFileMissing):
        rotate_master_key(keyfile.parent / "no-such-dir" / MASTER_KEY_FILE)

    assert not keyfile.exists()
    assert not (keyfile.parent / "no-such-dir").exists()


def test_rotation_refuses_an_insecure_key_file(keyfile: Path) -> None:
    load_or_create_keyring(keyfile)
    keyfile.chmod(0o644)

    with pytest.raises(KeyFileInsecure):
        rotate_master_key(keyfile)


def test_a_running_vault_follows_a_rotation_made_by_another_process(keyfile: Path) -> None:
    running = build_vault(data_dir=keyfile.parent)
    rotate_master_key(keyfile)
    blob = build_vault(data_dir=keyfile.parent).encrypt(VALUE, context=CONTEXT)

    assert running.decrypt(blob, context=CONTEXT) == VALUE
    assert running.current_key_id == EnvelopeVault.key_id_of(blob)


def test_concurrent_rotations_lose_no_key(keyfile: Path) -> None:
    first = load_or_create_keyring(keyfile).current.id
    new_ids: list[str] = []
    threads = [
        threading.Thread(target=lambda: new_ids.append(rotate_master_key(keyfile)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert set(load_keyring(keyfile).ids) == {first, *new_ids}
    assert len(new_ids) == 8


def test_concurrent_first_runs_agree_on_one_key(keyfile: Path) -> None:
    ids: list[str] = []
    threads = [
        threading.Thread(target=lambda: ids.append(load_or_create_keyring(keyfile).current.id))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(ids) == 8
    assert set(ids) == {load_keyring(keyfile).current.id}
