"""Rebalancing rules through ``/v1/rules`` and ``tresor rules``, against the simulator, on SQLite
and PostgreSQL: a rule's life (create, read, list, change, delete), every refusal a problem
with its reason, another user's rule 404, a plan that trades nothing, a dry run that only logs,
and the proof: a rule in execute mode on an unevenly funded account converges to its targets
within its documented tolerance, each planned trade reaching the exchange exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from tests.e2e.api.conftest import Api, Tenant, assert_problem
from tests.e2e.api.test_cli import Tresor, tresor  # noqa: F401 (the fixture)
from tests.support.simclient import SimAdmin
from tresor.sim.server import SimConfig, serve_in_thread

TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}
TARGETS = {"BTC": "40", "ETH": "30", "USDT": "30"}
D = Decimal


def whole_seconds() -> int:
    return int(time.time()) * 1000


@pytest.fixture(scope="module")
def e2e_venue() -> Iterator[SimAdmin]:
    """This module's venue: its clock moves in whole seconds, so its prices change once a
    second. The router places each trade as an IOC at the price it quoted, with no allowance
    for a market that moves in between; on a venue whose BTC price moves a tick every few
    milliseconds, a buy in a rising market would expire, round after round, and the proof
    would measure the trend rather than the rule. Within a second, the quote and its order
    see one book (signed requests stay valid: their timestamps are less than a second ahead)."""
    running = serve_in_thread(SimConfig(seed=7, weight_per_minute=1_000_000, clock=whole_seconds))
    admin = SimAdmin(running)
    yield admin
    admin.close()
    running.stop()


async def funded_connection(
    api: Api, tenant: Tenant, funds: dict[str, str]
) -> tuple[dict[str, str], str, int]:
    """Headers of ``tenant`` and a connection with a read and a trade key on a new account
    funded with ``funds``; the account's id on the simulator."""
    headers = await tenant.headers()
    account = api.sim.account(funds)
    read = api.sim.key(account, {"enableReading": True})
    trade = api.sim.key(account, TRADE)
    for key in (read, trade):
        api.secrets.update({key["api_key"], key["secret"]})
    answer = await api.add(
        headers,
        read={"api_key": read["api_key"], "secret": read["secret"]},
        trade={"api_key": trade["api_key"], "secret": trade["secret"]},
    )
    assert answer.status_code == 201, answer.text
    return headers, answer.json()["id"], account


async def create(api: Api, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    answer = await api.http.post(
        "/v1/rules", json={"targets": TARGETS, "drift_pp": "5", **body}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    rule: dict[str, Any] = answer.json()
    return rule


async def due_now(api: Api, rule_id: str) -> None:
    """The rule's interval has passed."""
    async with api.runtime.database.engine.begin() as connection:
        await connection.execute(
            text("UPDATE rules SET next_check_ms = 0 WHERE id = :id"), {"id": rule_id}
        )


async def log_of(api: Api, headers: dict[str, str], rule_id: str) -> list[dict[str, Any]]:
    answer = await api.http.get(f"/v1/rules/{rule_id}/log", headers=headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


# -- a rule's life -----------------------------------------------------------------------------
async def test_a_rule_is_created_read_listed_changed_and_deleted(api: Api, alice: Tenant) -> None:
    headers = await alice.headers()
    rule = await create(
        api,
        headers,
        name="core",
        bounds=[{"asset": "btc", "floor_pct": "5"}],
        min_trade="25.5",
        interval_s=600,
    )
    assert rule["id"].startswith("rul_")
    assert rule["targets"] == TARGETS
    assert rule["quote"] == "USDT"
    assert rule["drift_pp"] == "5"
    assert rule["bounds"] == [{"asset": "BTC", "floor_pct": "5", "ceiling_pct": None}]
    assert rule["min_trade"] == "25.5"
    assert (rule["mode"], rule["enabled"], rule["interval_s"]) == ("dry_run", True, 600)
    assert rule["connection_ids"] is None
    read = await api.http.get(f"/v1/rules/{rule['id']}", headers=headers)
    assert read.json() == rule
    listed = await api.http.get("/v1/rules", headers=headers)
    assert listed.json()["items"] == [rule]

    changed = await api.http.patch(
        f"/v1/rules/{rule['id']}",
        json={"mode": "execute", "enabled": False, "name": None, "interval_s": 60},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["mode"], body["enabled"], body["name"], body["interval_s"]) == (
        "execute",
        False,
        None,
        60,
    )
    assert body["targets"] == TARGETS
    assert (await api.http.get(f"/v1/rules/{rule['id']}", headers=headers)).json() == body

    deleted = await api.http.delete(f"/v1/rules/{rule['id']}", headers=headers)
    assert deleted.status_code == 204
    assert_problem(await api.http.get(f"/v1/rules/{rule['id']}", headers=headers), 404, "not_found")
    assert (await api.http.get("/v1/rules", headers=headers)).json()["items"] == []


async def test_a_rule_that_cannot_work_is_a_problem_with_the_reason(
    api: Api, alice: Tenant
) -> None:
    headers = await alice.headers()
    base = {"targets": TARGETS, "drift_pp": "5"}
    cases = [
        ({**base, "targets": {"BTC": "40", "ETH": "30", "USDT": "20"}}, "90%"),
        ({"targets": TARGETS}, "no trigger"),
        ({**base, "drift_pp": "0"}, "drift"),
        ({**base, "bounds": [{"asset": "SOL", "floor_pct": "5"}]}, "no target"),
        ({**base, "bounds": [{"asset": "BTC", "floor_pct": "50"}]}, "outside its own bounds"),
        ({**base, "targets": {"BTC": "40", "btc": "60"}}, "twice"),
        ({**base, "interval_s": 5}, "interval_s"),
        ({**base, "min_trade": "-1"}, "min_trade"),
        ({**base, "targets": {"BTC": "4O", "USDT": "60"}}, "targets"),
        ({**base, "mode": "live"}, "mode"),
        ({**base, "connection_ids": []}, "connection_ids"),
        ({**base, "leverage": 10}, "leverage"),
    ]
    for body, words in cases:
        answer = await api.http.post("/v1/rules", json=body, headers=headers)
        problem = assert_problem(answer, 422, "validation_failed")
        assert words in str(problem), (body, problem)
    mine = await create(api, headers)
    for patch in ({"interval_s": 10**9}, {"mode": "live"}, {"enabled": "maybe"}):
        answer = await api.http.patch(f"/v1/rules/{mine['id']}", json=patch, headers=headers)
        assert_problem(answer, 422, "validation_failed")
    assert len((await api.http.get("/v1/rules", headers=headers)).json()["items"]) == 1


async def test_another_users_rule_and_connections_are_not_found(api: Api, alice: Tenant) -> None:
    headers, connection, _ = await funded_connection(api, alice, {"USDT": "1000"})
    rule = await create(api, headers, connection_ids=[connection])
    bob = await alice.api.tenant("bob", "read,trade,admin")
    bob_headers = await bob.headers()
    for method, path in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/plan"),
        ("GET", "/log"),
    ]:
        answer = await api.http.request(
            method,
            f"/v1/rules/{rule['id']}{path}",
            json={"enabled": False} if method == "PATCH" else None,
            headers=bob_headers,
        )
        assert_problem(answer, 404, "not_found")
    theirs = await api.http.post(
        "/v1/rules",
        json={"targets": TARGETS, "drift_pp": "5", "connection_ids": [connection]},
        headers=bob_headers,
    )
    assert_problem(theirs, 404, "not_found")
    assert (await api.http.get("/v1/rules", headers=bob_headers)).json()["items"] == []
    assert (await api.http.get(f"/v1/rules/{rule['id']}", headers=headers)).json() == rule


# -- plans and dry runs ------------------------------------------------------------------------
async def test_a_plan_shows_the_trades_on_the_accounts_balances_and_trades_nothing(
    api: Api, alice: Tenant
) -> None:
    headers, _, account = await funded_connection(api, alice, {"USDT": "50000", "ETH": "20"})
    rule = await create(api, headers, mode="execute")
    answer = await api.http.get(f"/v1/rules/{rule['id']}/plan", headers=headers)
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert (plan["source"], plan["status"], plan["execution"]) == ("plan", "planned", [])
    assert plan["balances_taken_ms"] is not None
    evaluation = plan["evaluation"]
    assert evaluation["triggered"] is True
    assert evaluation["scope"] == "full"
    amounts = {a["asset"]: a["amount"] for a in evaluation["assets"]}
    assert amounts == {"BTC": "0", "ETH": "20", "USDT": "50000"}
    assert [(t["side"], t["symbol"]) for t in evaluation["trades"]] == [
        ("sell", "ETH/USDT"),
        ("buy", "BTC/USDT"),
    ]
    value = D(evaluation["value"])
    assert abs(D(evaluation["trades"][1]["value"]) - value * D("0.4")) < value * D("0.001")
    assert any(
        r.startswith("BTC is 0% of the portfolio, 40 points below") for r in evaluation["reasons"]
    ), evaluation["reasons"]
    assert api.sim.truth(account)["orders"] == []
    assert [e["id"] for e in await log_of(api, headers, rule["id"])] == [plan["id"]]


async def test_a_plan_that_cannot_be_made_is_a_problem_and_is_logged(
    api: Api, alice: Tenant
) -> None:
    headers, _, _ = await funded_connection(api, alice, {"USDT": "1000"})
    rule = await create(api, headers, targets={"NOPE": "50", "USDT": "50"})
    answer = await api.http.get(f"/v1/rules/{rule['id']}/plan", headers=headers)
    problem = assert_problem(answer, 422, "validation_failed")
    assert "No price in USDT for NOPE" in problem["detail"]
    (entry,) = await log_of(api, headers, rule["id"])
    assert entry["status"] == "error"
    assert entry["evaluation"] is None
    assert entry["error"]["code"] == "validation_failed"


async def test_a_dry_run_rule_logs_its_checks_and_never_trades(api: Api, alice: Tenant) -> None:
    headers, _, account = await funded_connection(api, alice, {"USDT": "10000"})
    rule = await create(api, headers)
    rules = api.runtime.container.rules
    assert await rules.check_due() == 1
    assert await rules.check_due() == 0  # its interval has not passed
    await due_now(api, rule["id"])
    assert await rules.check_due() == 1
    entries = await log_of(api, headers, rule["id"])
    assert [(e["source"], e["mode"], e["status"]) for e in entries] == [
        ("check", "dry_run", "planned"),
        ("check", "dry_run", "planned"),
    ]
    assert all(len(e["evaluation"]["trades"]) == 2 and e["execution"] == [] for e in entries)
    truth = api.sim.truth(account)
    assert truth["orders"] == []
    assert truth["balances"]["USDT"]["free"] in ("10000", "10000.00000000")


# -- the proof ---------------------------------------------------------------------------------
def allocation(portfolio: dict[str, Any]) -> dict[str, Decimal]:
    return {a["asset"]: D(a["allocation"]) for a in portfolio["assets"]}


async def test_a_rule_in_execute_mode_converges_to_its_targets_trading_each_trade_once(
    api: Api, alice: Tenant
) -> None:
    """An account holding 20 ETH and 50,000 USDT (about 57 / 43 %, no BTC) and the rule
    BTC 40 / ETH 30 / USDT 30 with a 5-point drift: the scheduler's checks (and the order
    tracking) trade until the balances read again from the exchange are within the tolerance
    the rule's evaluation documents; no check trades again once they are."""
    headers, connection, account = await funded_connection(
        api, alice, {"USDT": "50000", "ETH": "20"}
    )
    rule = await create(api, headers, mode="execute", interval_s=60)
    container = api.runtime.container
    tracker = next(c for c in api.runtime.chores if c.name == "track_orders")
    # checks minutes apart each quote on a fresh order book; these follow each other within a
    # second, so the book cache (1 s) is turned off for them to do the same
    container.market.policy = replace(container.market.policy, book_ttl_s=0.0)
    drift: dict[str, Decimal] = {}
    tolerance = D(0)
    rounds = 0
    while rounds < 8:
        rounds += 1
        await due_now(api, rule["id"])
        assert await container.rules.check_due() == 1
        await tracker.round()
        latest = (await log_of(api, headers, rule["id"]))[0]
        assert latest["status"] != "error", latest["error"]
        if latest["evaluation"]["trades"]:
            tolerance = D(latest["evaluation"]["tolerance_pp"])
        await container.sync.sync(connection, history=False)  # the exchange's balances
        answer = await api.http.get("/v1/portfolio?quote=USDT", headers=headers)
        now = allocation(answer.json())
        drift = {asset: now.get(asset, D(0)) - D(pct) for asset, pct in TARGETS.items()}
        if tolerance and all(abs(d) <= tolerance for d in drift.values()):
            break
    assert D(0) < tolerance < D(1), tolerance
    assert all(abs(d) <= tolerance for d in drift.values()), (rounds, drift, tolerance)

    await due_now(api, rule["id"])
    assert await container.rules.check_due() == 1
    entries = await log_of(api, headers, rule["id"])
    assert entries[0]["status"] == "not_triggered", entries[0]
    executions = [e for e in entries if e["execution"]]
    assert executions, entries
    assert {e["status"] for e in executions} <= {"executed", "partial", "failed"}

    # the exchange's own record: one order per leg of each planned trade, never a second
    planned: list[tuple[str, str, str]] = []  # (client order id, side, symbol)
    for entry in executions:
        for trade in entry["execution"]:
            # an order the market moved away from fills less (an IOC at the quoted price)
            assert trade["status"] in ("filled", "partial", "unfilled"), trade
            assert trade["error"] is None, trade
            assert trade["idempotency_key"] == f"rule:{rule['id']}:{entry['id']}:{trade['index']}"
            for order_id in trade["order_ids"]:
                order = (await api.http.get(f"/v1/orders/{order_id}", headers=headers)).json()
                assert order["source"] == "rule"
                planned.append((order["exchange_client_order_id"], trade["side"], trade["symbol"]))
    on_exchange = api.sim.truth(account)["orders"]
    assert sorted(o["clientOrderId"] for o in on_exchange) == sorted(c for c, _, _ in planned)
    assert len({c for c, _, _ in planned}) == len(planned)
    sides = {o["clientOrderId"]: (o["side"].lower(), o["symbol"]) for o in on_exchange}
    for client_id, side, symbol in planned:
        assert sides[client_id] == (side, symbol.replace("/", ""))


# -- the command line --------------------------------------------------------------------------
def test_the_rules_commands_add_show_plan_log_switch_and_remove_a_rule(
    tresor: Tresor,  # noqa: F811
    sim: SimAdmin,
) -> None:
    account = sim.account({"USDT": "10000"})
    trade = sim.key(account, TRADE)
    tresor.ok("admin", "create-user", "alice")
    tresor.ok(
        "connection", "add", "--user", "alice", "--exchange", "binance", "--label", "main",
        "--endpoint", "sim", "--trade-api-key", trade["api_key"],
        TRESOR_TRADE_SECRET=trade["secret"],
    )  # fmt: skip
    added = tresor.json(
        "rules", "add", "--user", "alice", "--target", "BTC=40", "--target", "ETH=30",
        "--target", "USDT=30", "--drift", "5", "--min-trade", "10", "--interval", "300",
        "--connection", "main",
    )  # fmt: skip
    (rule,) = added
    assert (rule["targets"], rule["drift_pp"], rule["mode"]) == (TARGETS, "5", "dry_run")
    listed = tresor.ok("rules", "list", "--user", "alice")
    assert rule["id"] in listed.text
    assert "dry run" in listed.text

    plan = tresor.json("rules", "plan", "--user", "alice", rule["id"])
    assert [t["symbol"] for t in plan["evaluation"]["trades"]] == ["BTC/USDT", "ETH/USDT"]
    shown = tresor.ok("rules", "plan", "--user", "alice", rule["id"])
    assert "planned" in shown.text
    assert "BTC/USDT" in shown.text
    logged = tresor.json("rules", "log", "--user", "alice", rule["id"])
    assert len(logged) == 2
    assert "planned" in tresor.ok("rules", "log", "--user", "alice", rule["id"]).text

    (off,) = tresor.json("rules", "disable", "--user", "alice", rule["id"])
    assert off["enabled"] is False
    (on,) = tresor.json("rules", "enable", "--user", "alice", rule["id"])
    assert on["enabled"] is True
    (live,) = tresor.json("rules", "mode", "--user", "alice", rule["id"], "execute")
    assert live["mode"] == "execute"
    assert sim.truth(account)["orders"] == []
    tresor.ok("rules", "remove", "--user", "alice", rule["id"])
    assert tresor.json("rules", "list", "--user", "alice") == []

    for args, code in [
        (("add", "--user", "alice", "--target", "BTC=40", "--drift", "5"), "100"),
        (("add", "--user", "alice", "--target", "BTC", "--drift", "5"), "ASSET=PERCENT"),
        (("plan", "--user", "alice", "rul_nope"), "not_found"),
    ]:
        result = tresor("rules", *args)
        assert result.exit_code == 1, result.output
        assert code in result.text, (args, result.text)
        assert "Traceback" not in result.output
