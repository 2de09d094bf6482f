"""Contract of ``SqlRulesStore`` on SQLite and PostgreSQL: rules and evaluations read back
exactly as stored, ownership is in the queries, a due check is claimed by exactly one caller,
a trade is handed over at most once, and the log pages newest first."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

from tests.contract.storage import data
from tresor.adapters.db.rules_store import SqlRulesStore
from tresor.adapters.db.uow import Database
from tresor.domain.rebalance import BoundsTrigger, DriftTrigger, RuleSpec, evaluate
from tresor.services.ports.rules import ErrorNote, Rule, RuleLogEntry, RuleTrade

D = Decimal
SPEC = RuleSpec(
    targets={"BTC": D("40"), "ETH": D("30.5"), "USDT": D("29.5")},
    quote="USDT",
    triggers=(DriftTrigger(D("5")), BoundsTrigger("BTC", D("5"), None)),
    min_trade=D("10.25"),
)


def rule(rule_id: str = "rul_1", user_id: str = "u1", **changes: object) -> Rule:
    default = Rule(
        id=rule_id,
        user_id=user_id,
        name="main",
        spec=SPEC,
        mode="execute",
        enabled=True,
        interval_s=300,
        connection_ids=("k1",),
        created_ms=1_000,
        updated_ms=1_000,
        next_check_ms=5_000,
    )
    return replace(default, **changes)  # type: ignore[arg-type]


def entry(rule_id: str = "rul_1", status: str = "planned", at_ms: int = 10_000) -> RuleLogEntry:
    evaluation = evaluate(
        SPEC,
        {"BTC": D("0.1"), "ETH": D("1.123456789012345678"), "USDT": D("9000")},
        {"BTC": D("60000.5"), "ETH": D("3000.25")},
        fee=D("0.001"),
        amount_steps={"BTC": D("0.00001")},
    )
    return RuleLogEntry(
        id=0,
        rule_id=rule_id,
        user_id="u1",
        at_ms=at_ms,
        source="check",
        mode="execute",
        status=status,  # type: ignore[arg-type]
        evaluation=evaluation,
        balances_ms=9_000,
    )


async def setup(sql: Database) -> SqlRulesStore:
    async with sql.uow() as uow:
        await uow.users.add(data.user("u1"))
        await uow.users.add(data.user("u2"))
        await uow.commit()
    return SqlRulesStore(sql.engine)


async def test_a_rule_reads_back_exactly_and_only_for_its_owner(sql: Database) -> None:
    store = await setup(sql)
    mine = rule()
    everywhere = rule("rul_2", connection_ids=None, name=None, mode="dry_run", created_ms=2_000)
    await store.add_rule(mine)
    await store.add_rule(everywhere)
    assert await store.rule("rul_1") == mine
    assert await store.rule("rul_1", "u1") == mine
    assert await store.rule("rul_1", "u2") is None
    assert await store.rules("u1") == [mine, everywhere]
    assert await store.rules("u2") == []
    assert list((await store.rule("rul_1") or mine).spec.targets) == ["BTC", "ETH", "USDT"]


async def test_saving_changes_the_settings_and_deleting_removes_the_log(sql: Database) -> None:
    store = await setup(sql)
    await store.add_rule(rule())
    changed = rule(enabled=False, mode="dry_run", interval_s=600, name=None, updated_ms=2_000)
    assert await store.save_rule(changed)
    assert await store.rule("rul_1") == changed
    assert not await store.save_rule(rule("rul_missing"))
    await store.add_entry(entry())
    assert not await store.delete_rule("rul_1", "u2")
    assert await store.delete_rule("rul_1", "u1")
    assert await store.rule("rul_1") is None
    assert await store.entries("rul_1") == []


async def test_only_enabled_due_rules_without_a_live_lease_are_due(sql: Database) -> None:
    store = await setup(sql)
    await store.add_rule(rule("rul_due", next_check_ms=5_000))
    await store.add_rule(rule("rul_later", next_check_ms=50_000))
    await store.add_rule(rule("rul_off", enabled=False, next_check_ms=0))
    assert [r.id for r in await store.due(now_ms=10_000, limit=10)] == ["rul_due"]
    assert await store.claim(
        "rul_due", token="t1", now_ms=10_000, until_ms=20_000, next_check_ms=10_000
    )
    assert await store.due(now_ms=15_000, limit=10) == []  # leased, though due again
    assert [r.id for r in await store.due(now_ms=20_000, limit=10)] == ["rul_due"]  # expired


async def test_of_concurrent_claims_of_a_due_rule_exactly_one_wins(sql: Database) -> None:
    store = await setup(sql)
    await store.add_rule(rule(next_check_ms=0))
    won = await asyncio.gather(
        *(
            store.claim(
                "rul_1", token=f"t{i}", now_ms=10_000, until_ms=99_000, next_check_ms=40_000
            )
            for i in range(8)
        )
    )
    assert sum(won) == 1
    assert (await store.rule("rul_1") or rule()).next_check_ms == 40_000


async def test_a_lease_is_renewed_and_released_by_its_token_only(sql: Database) -> None:
    store = await setup(sql)
    await store.add_rule(rule(next_check_ms=0))
    assert await store.claim("rul_1", token="t1", now_ms=1, until_ms=100, next_check_ms=0)
    assert not await store.renew("rul_1", token="other", until_ms=500)
    assert await store.renew("rul_1", token="t1", until_ms=500)
    await store.release("rul_1", token="other")
    assert not await store.claim("rul_1", token="t2", now_ms=200, until_ms=900, next_check_ms=0)
    await store.release("rul_1", token="t1")
    assert await store.claim("rul_1", token="t2", now_ms=200, until_ms=900, next_check_ms=0)


async def test_an_evaluation_and_its_trades_read_back_exactly(sql: Database) -> None:
    store = await setup(sql)
    await store.add_rule(rule())
    stored = await store.add_entry(entry(status="executing"))
    assert stored.id > 0
    evaluation = stored.evaluation
    assert evaluation is not None
    assert len(evaluation.trades) >= 2
    trades = [
        RuleTrade(i, t, f"rule:rul_1:{stored.id}:{i}", "planned", updated_ms=11_000)
        for i, t in enumerate(evaluation.trades)
    ]
    await store.add_trades(stored.id, trades)
    assert await store.begin_trade(stored.id, 0, ticket="rq_1", now_ms=12_000)
    assert not await store.begin_trade(stored.id, 0, ticket="rq_2", now_ms=12_001)
    done = replace(
        trades[0],
        status="partial",
        ticket="rq_1",
        filled=D("0.00012"),
        gross=D("7.2000600000000001"),
        order_ids=("ord_a", "ord_b"),
        error=ErrorNote("no_route", "None of it.", "Ask for less."),
        updated_ms=13_000,
    )
    await store.save_trade(stored.id, done)
    (unfinished,) = await store.unfinished("rul_1")
    assert unfinished == replace(stored, trades=(done, *trades[1:]))
    await store.finish_entry(stored.id, status="partial", now_ms=14_000)
    assert await store.unfinished("rul_1") == []
    (read,) = await store.entries("rul_1")
    assert read.status == "partial"
    assert read.finished_ms == 14_000
    assert read.evaluation == evaluation  # every decimal exactly as evaluated


async def test_an_error_entry_has_no_evaluation(sql: Database) -> None:
    store = await setup(sql)
    await store.add_rule(rule())
    failed = replace(
        entry(status="error"),
        evaluation=None,
        balances_ms=None,
        error=ErrorNote("exchange_unavailable", "Down.", "Wait."),
        finished_ms=10_000,
    )
    stored = await store.add_entry(failed)
    assert await store.entries("rul_1") == [replace(failed, id=stored.id)]


async def test_the_log_pages_newest_first_and_stays_with_its_rule(sql: Database) -> None:
    store = await setup(sql)
    await store.add_rule(rule())
    await store.add_rule(rule("rul_2"))
    ids = [(await store.add_entry(entry(at_ms=10_000 + i))).id for i in range(5)]
    await store.add_entry(entry("rul_2"))
    first = await store.entries("rul_1", limit=2)
    assert [e.id for e in first] == ids[::-1][:2]
    rest = await store.entries("rul_1", before=first[-1].id, limit=10)
    assert [e.id for e in rest] == ids[::-1][2:]
