"""``tresor portfolio`` end to end, against the simulator and each database: after ``tresor
sync --balances-only``, ``--json`` prints exactly what ``GET /v1/portfolio`` answers, the tables
show every asset, connection and the total, stale and missing balances are flagged, and an
unknown user or connection is a clear error, not a traceback."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.api.conftest import BASE_URL, EGRESS_IP, FUNDS, venue_key
from tests.e2e.api.test_cli import Tresor
from tests.support.simclient import SimAdmin
from tresor.bootstrap import build_runtime
from tresor.config import Settings
from tresor.domain.records import AssetBalance, BalanceSnapshot, ValuedSnapshot
from tresor.entrypoints.api.app import create_app
from tresor.entrypoints.cli.portfolio import money

READ_ONLY = {"enableReading": True}
HOUR_MS = 3_600_000
# the portfolio's time and each snapshot's age move between two reads; nothing else may
MOVING = ("at", "at_ms")


@pytest.fixture
def cli(tmp_path: Path, sim: SimAdmin, database_url: str | None) -> Tresor:
    return Tresor(
        {
            "TRESOR_DATA_DIR": str(tmp_path / "data"),
            "TRESOR_DATABASE_URL": database_url,
            "TRESOR_MASTER_KEY": None,
            "TRESOR_ENDPOINTS": json.dumps({"sim": {"exchange": "binance", "url": sim.url}}),
            "TRESOR_EGRESS_IPS": EGRESS_IP,
            "TRESOR_READ_SECRET": None,
            "TRESOR_TRADE_SECRET": None,
            "TRESOR_STALE_AFTER_SECONDS": None,
        }
    )


def settings_of(cli: Tresor) -> Settings:
    env = cli.env
    return Settings(
        data_dir=Path(env["TRESOR_DATA_DIR"] or ""),
        database_url=env["TRESOR_DATABASE_URL"],
        endpoints=json.loads(env["TRESOR_ENDPOINTS"] or "{}"),
        master_key=None,
    )


def add_connection(cli: Tresor, sim: SimAdmin, label: str) -> str:
    key = venue_key(sim, READ_ONLY)
    added = cli.json(
        "connection", "add", "--user", "alice", "--exchange", "binance", "--label", label,
        "--endpoint", "sim", "--read-api-key", key["api_key"], TRESOR_READ_SECRET=key["secret"],
    )  # fmt: skip
    connection_id: str = added["id"]
    return connection_id


def api_portfolio(cli: Tresor, client: dict[str, str], **params: str) -> dict[str, Any]:
    """``GET /v1/portfolio`` from the same database, with a token of a client the CLI made."""

    async def ask() -> dict[str, Any]:
        runtime = await build_runtime(settings_of(cli))
        transport = httpx.ASGITransport(app=create_app(runtime.container))
        try:
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
                form = {"grant_type": "client_credentials", **client}
                token = (await http.post("/v1/auth/token", data=form)).json()["access_token"]
                answer = await http.get(
                    "/v1/portfolio", params=params, headers={"Authorization": f"Bearer {token}"}
                )
                assert answer.status_code == 200, answer.text
                body: dict[str, Any] = answer.json()
                return body
        finally:
            await runtime.aclose()

    return asyncio.run(ask())


def steady(portfolio: dict[str, Any]) -> dict[str, Any]:
    """The portfolio without what moves with the clock between two reads."""
    out = {k: v for k, v in portfolio.items() if k not in MOVING}
    out["connections"] = [
        {**c, "freshness": {k: v for k, v in c["freshness"].items() if k != "age_seconds"}}
        for c in portfolio["connections"]
    ]
    return out


def add_old_snapshot(cli: Tresor, connection_id: str, age_ms: int) -> None:
    """A snapshot taken ``age_ms`` ago, written as the sync engine writes one."""

    async def write() -> None:
        runtime = await build_runtime(settings_of(cli))
        try:
            taken = runtime.sync.now_ms() - age_ms
            await runtime.store.add_snapshot(
                ValuedSnapshot(
                    BalanceSnapshot(
                        connection_id, taken, {"ETH": AssetBalance(Decimal("3"), Decimal(0))}
                    ),
                    "USD",
                    {"ETH": Decimal("3000")},
                )
            )
        finally:
            await runtime.aclose()

    asyncio.run(write())


def test_portfolio_json_is_the_apis_answer_and_the_tables_show_assets_connections_and_total(
    cli: Tresor, sim: SimAdmin
) -> None:
    cli.ok("admin", "create-user", "alice")
    client = cli.json("admin", "create-client", "--user", "alice", "--scopes", "read")
    secret = {"client_id": client["client_id"], "client_secret": client["client_secret"]}
    alpha = add_connection(cli, sim, "alpha")
    beta = add_connection(cli, sim, "beta")
    for label in ("alpha", "beta"):
        cli.json("sync", "--user", "alice", label, "--balances-only")

    mine = cli.json("portfolio", "--user", "alice")

    assert steady(mine) == steady(api_portfolio(cli, secret))
    assert [c["id"] for c in mine["connections"]] == [alpha, beta]
    assets = {a["asset"]: a for a in mine["assets"]}
    assert set(assets) == set(FUNDS)
    for asset, amount in FUNDS.items():  # both accounts were funded alike
        assert Decimal(assets[asset]["total"]) == 2 * Decimal(amount)
    assert Decimal(mine["total"]) > 0
    assert isinstance(mine["total"], str)  # amounts are exact decimal strings

    shown = cli.ok("portfolio", "--user", "alice")

    for word in ("Assets", "Connections", "BTC", "USDT", "alpha", "beta", "binance"):
        assert word in shown.text
    assert f"Total: {money(Decimal(mine['total']), 'USD')} USD" in shown.text
    assert "stale" not in shown.text
    assert "Traceback" not in shown.output

    one = cli.json("portfolio", "--user", "alice", "--connection", "beta")
    assert [c["label"] for c in one["connections"]] == ["beta"]
    assert steady(one) == steady(api_portfolio(cli, secret, connection_id=beta))
    in_btc = cli.json("portfolio", "--user", "alice", "--quote", "btc")
    assert in_btc["quote"] == "BTC"
    assert steady(in_btc) == steady(api_portfolio(cli, secret, quote="BTC"))


def test_stale_and_missing_balances_are_flagged_in_the_connections_table(
    cli: Tresor, sim: SimAdmin
) -> None:
    cli.ok("admin", "create-user", "alice")
    old = add_connection(cli, sim, "old")
    add_connection(cli, sim, "never")
    add_old_snapshot(cli, old, age_ms=2 * HOUR_MS)

    shown = cli.ok("portfolio", "--user", "alice")

    assert "2h 00m ago, stale" in shown.text, shown.output
    assert "never" in shown.text
    assert f"Total: {money(Decimal(9000), 'USD')} USD" in shown.text
    fresh_enough = cli.ok("portfolio", "--user", "alice", TRESOR_STALE_AFTER_SECONDS="86400")
    assert "stale" not in fresh_enough.text


def test_an_unknown_user_connection_or_quote_is_a_clear_error_without_a_traceback(
    cli: Tresor, sim: SimAdmin
) -> None:
    cli.ok("admin", "create-user", "alice")
    add_connection(cli, sim, "main")

    nobody = cli("portfolio", "--user", "bob")
    assert nobody.exit_code == 1
    assert "Error (not_found): There is no user named 'bob'." in nobody.text
    assert "What to do: Create it first: tresor admin create-user NAME." in nobody.text

    no_such = cli("portfolio", "--user", "alice", "--connection", "elsewhere")
    assert no_such.exit_code == 1
    assert "alice has no connection 'elsewhere'" in no_such.text

    bad_quote = cli("portfolio", "--user", "alice", "--quote", "U$D")
    assert bad_quote.exit_code == 1
    assert "Error (validation_failed)" in bad_quote.text

    empty = cli.ok("admin", "create-user", "carol")
    assert empty.exit_code == 0
    assert "carol has no connections yet" in cli.ok("portfolio", "--user", "carol").text
    for result in (nobody, no_such, bad_quote):
        assert "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)  # a clean exit, nothing uncaught
