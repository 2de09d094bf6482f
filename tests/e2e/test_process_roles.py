"""An API-only process stores trade keys it can never read; a worker process verifies them.

The API process here runs with ``TRESOR_PROCESS_ROLE=api`` and the worker's private key file
moved out of its reach: it seals the key with the public half, stores it as ``verifying``, and
has no way to open it. ``tresor worker`` (role ``worker``) then verifies it against the exchange.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.simclient import TRADE, SimAdmin
from tresor.adapters.crypto import WorkerKeypair
from tresor.bootstrap import build_runtime
from tresor.config import Settings
from tresor.domain.connections import ConnectionStatus, Credentials, KeyRole
from tresor.domain.secrets import Secret

PRIVATE = "worker-seal.key"


def settings(sim: SimAdmin, data_dir: Path, role: str) -> Settings:
    return Settings.model_validate(
        {
            "data_dir": data_dir,
            "process_role": role,
            "endpoints": {"sim": {"exchange": "binance", "url": sim.url}},
        }
    )


def credentials(key: dict[str, str]) -> Credentials:
    return Credentials(api_key=Secret(key["api_key"]), secret=Secret(key["secret"]))


@pytest.mark.parametrize(
    ("permissions", "verified"),
    [
        (TRADE, ConnectionStatus.CONNECTED),
        ({**TRADE, "enableWithdrawals": True}, ConnectionStatus.WITHDRAWAL_ENABLED),
    ],
)
async def test_an_api_only_process_stores_trade_keys_as_verifying_until_a_worker_checks_them(
    sim: SimAdmin, tmp_path: Path, permissions: dict[str, bool], verified: ConnectionStatus
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    WorkerKeypair.load_or_create(data_dir)  # the worker's first start made its key pair
    away = tmp_path / "worker-only"
    away.mkdir(mode=0o700)
    shutil.move(data_dir / PRIVATE, away / PRIVATE)

    key = sim.key(sim.account({"USDT": "100"}), permissions)
    api = await build_runtime(settings(sim, data_dir, "api"))
    try:
        assert api.pending is None
        user = await api.container.access.create_user("alice")
        added = await api.container.connections.add(
            user.id, exchange="binance", label="main", endpoint="sim", trade_key=credentials(key)
        )
        assert added.status is ConnectionStatus.VERIFYING
        stored = added.key(KeyRole.TRADE)
        assert stored is not None
        assert stored.report is None
        assert stored.sealed
        assert not (data_dir / PRIVATE).exists()  # nothing here could open it
    finally:
        await api.aclose()

    shutil.move(away / PRIVATE, data_dir / PRIVATE)
    worker = await build_runtime(settings(sim, data_dir, "worker"))
    try:
        assert worker.pending is not None
        assert await worker.pending.run_once() == 1
        assert await worker.pending.run_once() == 0  # nothing left pending
        checked = await worker.container.connections.get(user.id, added.id)
    finally:
        await worker.aclose()
    assert checked.status is verified
    trade = checked.key(KeyRole.TRADE)
    assert trade is not None
    assert trade.report is not None
    if verified is ConnectionStatus.WITHDRAWAL_ENABLED:
        assert trade.warnings[0].code == "withdraw_permission_enabled"
    else:
        assert trade.report.right("spot_trade").value == "yes"


async def test_an_api_only_process_refuses_to_start_without_the_workers_public_key(
    sim: SimAdmin, tmp_path: Path
) -> None:
    from tresor.adapters.crypto import KeyFileMissing

    with pytest.raises(KeyFileMissing) as caught:
        await build_runtime(settings(sim, tmp_path / "empty", "api"))
    assert caught.value.remedy
