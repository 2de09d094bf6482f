"""The CLI end to end, against the simulator and each database: ``tresor admin`` makes a user
and a client the API accepts, ``tresor connection add/list/test/rotate/remove`` manage keys,
errors print the message, the remedy and exit with 1, and ``tresor vault rotate-master-key``
re-wraps every stored key under the new master key without losing one."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.e2e.api.conftest import BASE_URL, EGRESS_IP, venue_key
from tests.support.simclient import SimAdmin
from tresor.adapters.crypto import EnvelopeVault
from tresor.bootstrap import build_runtime
from tresor.config import Settings
from tresor.entrypoints.api.app import create_app
from tresor.entrypoints.cli.main import app

READ_ONLY = {"enableReading": True}
TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}


class Tresor:
    """``tresor ...`` in this process, with the environment an operator would set."""

    def __init__(self, env: dict[str, str | None]) -> None:
        self.env = env
        self.runner = CliRunner()

    def __call__(self, *args: str, **env: str | None) -> Any:
        result = self.runner.invoke(app, list(args), env={**self.env, **env})
        result.text = " ".join(result.output.split())  # rich wraps long lines
        return result

    def ok(self, *args: str, **env: str | None) -> Any:
        result = self(*args, **env)
        assert result.exit_code == 0, (result.output, result.exception)
        return result

    def json(self, *args: str, **env: str | None) -> Any:
        return json.loads(self.ok(*args, "--json", **env).stdout)


@pytest.fixture
def tresor(tmp_path: Path, sim: SimAdmin, database_url: str | None) -> Tresor:
    return Tresor(
        {
            "TRESOR_DATA_DIR": str(tmp_path / "data"),
            "TRESOR_DATABASE_URL": database_url,
            "TRESOR_MASTER_KEY": None,
            "TRESOR_ENDPOINTS": json.dumps({"sim": {"exchange": "binance", "url": sim.url}}),
            "TRESOR_EGRESS_IPS": EGRESS_IP,
            "TRESOR_READ_SECRET": None,
            "TRESOR_TRADE_SECRET": None,
        }
    )


def stored_blobs(tresor: Tresor) -> list[bytes]:
    """Every encrypted key field in the database the CLI uses."""

    async def read() -> list[bytes]:
        runtime = await build_runtime(Settings(**_settings_of(tresor)))
        try:
            async with runtime.database.uow() as uow:
                blobs = []
                for connection_id, user_id in await uow.connections.all_ids():
                    connection = await uow.connections.get(connection_id, user_id)
                    assert connection is not None
                    for key in connection.keys:
                        blobs += [key.api_key_ct, key.secret_ct]
                return blobs
        finally:
            await runtime.aclose()

    return asyncio.run(read())


def _settings_of(tresor: Tresor) -> dict[str, Any]:
    env = tresor.env
    return {
        "data_dir": env["TRESOR_DATA_DIR"],
        "database_url": env["TRESOR_DATABASE_URL"],
        "endpoints": json.loads(env["TRESOR_ENDPOINTS"] or "{}"),
        "master_key": None,
    }


def token_status(tresor: Tresor, client: dict[str, Any]) -> int:
    """Ask the API for a token with a client the CLI made, and list connections with it."""

    async def ask() -> int:
        runtime = await build_runtime(Settings(**_settings_of(tresor)))
        transport = httpx.ASGITransport(app=create_app(runtime.container))
        try:
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
                form = {"grant_type": "client_credentials", **client}
                answer = await http.post("/v1/auth/token", data=form)
                assert answer.status_code == 200, answer.text
                token = answer.json()["access_token"]
                listed = await http.get(
                    "/v1/connections", headers={"Authorization": f"Bearer {token}"}
                )
                return listed.status_code
        finally:
            await runtime.aclose()

    return asyncio.run(ask())


def test_admin_creates_a_user_and_a_client_the_api_accepts(tresor: Tresor) -> None:
    created = tresor.ok("admin", "create-user", "alice")
    assert "alice" in created.stdout
    client = tresor.json("admin", "create-client", "--user", "alice", "--scopes", "read,admin")
    assert client["client_id"].startswith("trc_")
    assert client["client_secret"].startswith("trs_")
    assert client["scopes"] == ["admin", "read"]
    secret = {"client_id": client["client_id"], "client_secret": client["client_secret"]}
    assert token_status(tresor, secret) == 200
    again = tresor("admin", "create-user", "alice")
    assert again.exit_code == 1
    assert "already a user named 'alice'" in again.text


def test_a_connection_is_added_listed_tested_rotated_and_removed_from_the_cli(
    tresor: Tresor, sim: SimAdmin
) -> None:
    tresor.ok("admin", "create-user", "alice")
    read, trade = venue_key(sim, READ_ONLY), venue_key(sim, TRADE)
    added = tresor.json(
        "connection", "add", "--user", "alice", "--exchange", "binance", "--label", "main",
        "--endpoint", "sim", "--read-api-key", read["api_key"],
        "--trade-api-key", trade["api_key"],
        TRESOR_READ_SECRET=read["secret"], TRESOR_TRADE_SECRET=trade["secret"],
    )  # fmt: skip
    assert added["status"] == "connected"
    assert [(k["role"], k["status"]) for k in added["keys"]] == [
        ("read", "connected"),
        ("trade", "connected"),
    ]
    listed = tresor.json("connection", "list", "--user", "alice")
    assert [c["id"] for c in listed] == [added["id"]]
    tested = tresor.json("connection", "test", "--user", "alice", added["id"])
    assert tested["status"] == "connected"

    new = venue_key(sim, TRADE)
    rotated = tresor.json(
        "connection", "rotate", "--user", "alice", added["id"], "--role", "trade",
        "--api-key", new["api_key"], TRESOR_TRADE_SECRET=new["secret"],
    )  # fmt: skip
    (trade_key,) = [k for k in rotated["keys"] if k["role"] == "trade"]
    assert trade_key["hint"] == f"{new['api_key'][:4]}…{new['api_key'][-4:]}"
    assert trade_key["status"] == "connected"
    sim.revoke(trade["api_key"])  # the old key is out of use
    assert tresor.json("connection", "test", "--user", "alice", added["id"])["status"] == (
        "connected"
    )

    paused = tresor.json("connection", "disable", "--user", "alice", added["id"])
    assert paused["status"] == "disabled"
    resumed = tresor.json("connection", "enable", "--user", "alice", added["id"])
    assert resumed["status"] == "connected"

    removed = tresor.ok("connection", "remove", "--user", "alice", added["id"])
    assert added["id"] in removed.text
    assert tresor.json("connection", "list", "--user", "alice") == []
    gone = tresor("connection", "test", "--user", "alice", added["id"])
    assert gone.exit_code == 1
    assert "not_found" in gone.text


def test_a_refused_key_prints_the_message_the_remedy_and_exits_with_1(
    tresor: Tresor, sim: SimAdmin
) -> None:
    tresor.ok("admin", "create-user", "alice")
    withdraw = venue_key(sim, {**TRADE, "enableWithdrawals": True})
    result = tresor(
        "connection", "add", "--user", "alice", "--exchange", "binance", "--label", "main",
        "--endpoint", "sim", "--trade-api-key", withdraw["api_key"],
        TRESOR_TRADE_SECRET=withdraw["secret"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "Error (withdraw_permission_enabled): This key can withdraw funds." in result.text
    assert "What to do: On the exchange, edit the key and disable withdrawals" in result.text
    assert withdraw["secret"] not in result.output
    assert withdraw["api_key"] not in result.output
    assert tresor.json("connection", "list", "--user", "alice") == []


def test_an_ambiguous_refusal_prints_the_checks_with_the_egress_ip(tresor: Tresor) -> None:
    tresor.ok("admin", "create-user", "alice")
    result = tresor(
        "connection", "add", "--user", "alice", "--exchange", "binance", "--label", "main",
        "--endpoint", "sim", "--read-api-key", "A" * 64, TRESOR_READ_SECRET="B" * 64,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "Error (key_refused)" in result.text
    assert "Checks, in order:" in result.text
    assert re.search(rf"3\. .*{re.escape(EGRESS_IP)}", result.text)


def test_rotating_the_master_key_rewraps_every_stored_key_and_loses_none(
    tresor: Tresor, sim: SimAdmin
) -> None:
    tresor.ok("admin", "create-user", "alice")
    read, trade = venue_key(sim, READ_ONLY), venue_key(sim, TRADE)
    added = tresor.json(
        "connection", "add", "--user", "alice", "--exchange", "binance", "--label", "main",
        "--endpoint", "sim", "--read-api-key", read["api_key"],
        "--trade-api-key", trade["api_key"],
        TRESOR_READ_SECRET=read["secret"], TRESOR_TRADE_SECRET=trade["secret"],
    )  # fmt: skip
    before = stored_blobs(tresor)
    (old_id,) = {EnvelopeVault.key_id_of(blob) for blob in before}

    rotated = tresor.ok("vault", "rotate-master-key")
    match = re.search(r"New master key (mk-[0-9a-f]+)", rotated.text)
    assert match, rotated.text
    new_id = match.group(1)
    assert new_id != old_id
    assert "Re-wrapped 4 encrypted fields" in rotated.text

    after = stored_blobs(tresor)
    assert {EnvelopeVault.key_id_of(blob) for blob in after} == {new_id}
    # only the wrapping changed: each encrypted value is carried over byte for byte
    assert [blob[-60:] for blob in after] == [blob[-60:] for blob in before]
    tested = tresor.json("connection", "test", "--user", "alice", added["id"])
    assert tested["status"] == "connected"
    assert [k["status"] for k in tested["keys"]] == ["connected", "connected"]
