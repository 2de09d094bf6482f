"""The rules service on a real SQLite store with the real portfolio valuation, a scripted
exchange (balances and prices, read again on request) and a scripted router that trades at
the planned price and answers a replayed Idempotency-Key with its first answer: what is
planned, logged and traded, in which order and under which keys, and that a crash or a lost
answer never trades twice."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.contract.storage import data
from tests.support.clock import FakeClock
from tresor.adapters.db.rules_store import SqlRulesStore
from tresor.adapters.db.sync_store import SqlSyncStore
from tresor.adapters.db.uow import Database
from tresor.domain.connections import Connection, KeyRole
from tresor.domain.errors import (
    ExchangeUnavailable,
    NotFound,
    TresorError,
    ValidationFailed,
)
from tresor.domain.rebalance import BoundsTrigger, DriftTrigger, PlannedTrade, RuleSpec
from tresor.domain.records import AssetBalance, BalanceSnapshot, ValuedSnapshot
from tresor.domain.routing_errors import NoRoute
from tresor.services.portfolio import PortfolioService
from tresor.services.ports.rules import Filled, Rule, RuleLogEntry, TradeResult
from tresor.services.rules import RuleChanges, RulesPolicy, RulesService

D = Decimal
PRICES = {"BTC": D(60000), "ETH": D(3000), "USDT": D(1)}
SPEC = RuleSpec(
    targets={"BTC": D(40), "ETH": D(30), "USDT": D(30)},
    quote="USDT",
    triggers=(DriftTrigger(D(5)),),
    min_trade=D(10),
)
FEE = D("0.001")


class Crash(Exception):
    """The process stops here."""


class Exchange:
    """The accounts as the exchange has them; ``refresh`` stores a new balance snapshot."""

    def __init__(self, store: SqlSyncStore, clock: FakeClock) -> None:
        self.store = store
        self.clock = clock
        self.balances: dict[str, dict[str, Decimal]] = {"k1": {"USDT": D(10_000)}}
        self.prices = dict(PRICES)
        self.refreshed: list[str] = []
        self.down = False

    async def refresh(self, connection_id: str) -> None:
        if self.down:
            raise ExchangeUnavailable()
        self.refreshed.append(connection_id)
        held = {a: AssetBalance(v, D(0)) for a, v in self.balances[connection_id].items() if v}
        taken = int(self.clock.now().timestamp() * 1000)
        await self.store.add_snapshot(
            ValuedSnapshot(
                BalanceSnapshot(connection_id, taken, held),
                "USD",
                {a: self.prices[a] for a in held},
            )
        )

    async def reference_price(
        self, connection: Connection, symbol: str, side: str
    ) -> Decimal | None:
        return self.prices.get(symbol.split("/")[0])


class Router:
    """Trades a ticket on the first connection at the exchange's price, once per key."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.tickets: dict[str, tuple[PlannedTrade, list[str]]] = {}
        self.answers: dict[str, TradeResult] = {}
        self.traded: list[tuple[str, str, str, Decimal]] = []  # key, side, asset, amount
        self.refuse: dict[str, TresorError] = {}  # by asset
        self.then: Exception | None = None  # raised once, after the next trade is made
        self.fills: list[Decimal] = []  # the share of each next trade that fills (else all)

    async def prepare(
        self, user_id: str, trade: PlannedTrade, *, quote: str, connection_ids: Sequence[str]
    ) -> str:
        if trade.asset in self.refuse:
            raise self.refuse[trade.asset]
        ticket = f"rq_{len(self.tickets)}"
        self.tickets[ticket] = (trade, list(connection_ids))
        return ticket

    async def execute(self, user_id: str, ticket: str, *, idempotency_key: str) -> TradeResult:
        if idempotency_key in self.answers:
            return self.answers[idempotency_key]
        trade, ids = self.tickets[ticket]
        share = self.fills.pop(0) if self.fills else D(1)
        amount = trade.amount * share
        held = self.exchange.balances[ids[0]]
        value = amount * self.exchange.prices[trade.asset]
        sign = 1 if trade.side == "buy" else -1
        held[trade.asset] = held.get(trade.asset, D(0)) + sign * amount
        held["USDT"] = held.get("USDT", D(0)) - sign * value - value * FEE
        self.traded.append((idempotency_key, trade.side, trade.asset, amount))
        status: Filled = "filled" if share == 1 else "partial"
        answer = TradeResult(status, amount, value, (f"ord_{len(self.traded)}",))
        self.answers[idempotency_key] = answer
        if self.then is not None:
            error, self.then = self.then, None
            raise error
        return answer


@dataclass
class Env:
    service: RulesService
    store: SqlRulesStore
    exchange: Exchange
    router: Router
    clock: FakeClock

    async def rule(self, mode: str = "execute", spec: RuleSpec = SPEC, **kw: Any) -> Rule:
        return await self.service.create("u1", spec=spec, mode=mode, **kw)  # type: ignore[arg-type]

    async def log(self, rule: Rule) -> list[RuleLogEntry]:
        return await self.store.entries(rule.id)

    async def later(self, seconds: int = 300) -> int:
        """The rule's interval passes; the scheduler's check runs."""
        self.clock.advance(seconds)
        return await self.service.check_due()


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules-template") / "tresor.db"

    async def migrate() -> None:
        database = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await database.migrate()
        finally:
            await database.dispose()

    asyncio.run(migrate())
    return path


@pytest.fixture
async def env(template: Path, tmp_path: Path) -> AsyncIterator[Env]:
    shutil.copy(template, tmp_path / "tresor.db")
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'tresor.db'}")
    async with database.uow() as uow:
        for user in ("u1", "u2", "u3"):
            await uow.users.add(data.user(user))
        await uow.connections.add(data.connection("k1", "u1"))
        await uow.connections.add(data.connection("k2", "u2"))
        await uow.connections.add(data.connection("k3", "u3", keys=(data.key(KeyRole.READ),)))
        await uow.commit()
    clock = FakeClock()
    sync_store = SqlSyncStore(database.engine)
    exchange = Exchange(sync_store, clock)
    router = Router(exchange)
    store = SqlRulesStore(database.engine)
    service = RulesService(
        uow=database.uow,
        store=store,
        portfolio=PortfolioService(uow=database.uow, store=sync_store, clock=clock),
        prices=exchange,
        balances=exchange,
        executor=router,
        clock=clock,
        policy=RulesPolicy(fee=FEE),
    )
    try:
        yield Env(service, store, exchange, router, clock)
    finally:
        await database.dispose()


def drifts(entry: RuleLogEntry) -> dict[str, Decimal]:
    assert entry.evaluation is not None
    return {s.asset: s.drift_pp for s in entry.evaluation.assets}


# -- the rules -------------------------------------------------------------------------------
async def test_a_rule_is_stored_with_its_assets_in_capitals_and_is_due_at_once(env: Env) -> None:
    spec = RuleSpec(
        {"btc": D(50), "usdt": D(50)}, "usdt", (BoundsTrigger("btc", D(5), None),), D(10)
    )
    rule = await env.rule(spec=spec, connection_ids=["k1", "k1"])
    assert list(rule.spec.targets) == ["BTC", "USDT"]
    assert rule.spec.quote == "USDT"
    assert rule.spec.triggers == (BoundsTrigger("BTC", D(5), None),)
    assert rule.connection_ids == ("k1",)
    assert rule.next_check_ms == int(env.clock.now().timestamp() * 1000)
    assert await env.service.get("u1", rule.id) == rule
    with pytest.raises(NotFound):
        await env.service.get("u2", rule.id)


@pytest.mark.parametrize(
    ("spec", "changes", "words"),
    [
        (RuleSpec({"BTC": D(40), "USDT": D(50)}, "USDT", (DriftTrigger(D(5)),), D(10)), {}, "90%"),
        (SPEC, {"interval_s": 10}, "interval"),
        (SPEC, {"mode": "yolo"}, "mode"),
        (SPEC, {"connection_ids": []}, "empty"),
        (
            RuleSpec({"BTC": D(100)}, "USDT", (BoundsTrigger("ETH", D(5)),), D(10)),
            {},
            "no target",
        ),
    ],
)
async def test_a_rule_that_cannot_work_is_refused_with_the_reason(
    env: Env, spec: RuleSpec, changes: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValidationFailed, match=words):
        await env.rule(spec=spec, **changes)
    assert await env.service.rules("u1") == []


async def test_another_users_connection_is_not_found_for_a_rule(env: Env) -> None:
    with pytest.raises(NotFound):
        await env.rule(connection_ids=["k2"])


async def test_a_disabled_rule_is_never_checked_and_enabling_it_checks_it_at_once(
    env: Env,
) -> None:
    rule = await env.rule(enabled=False)
    assert await env.later(10_000) == 0
    assert await env.log(rule) == []
    await env.service.update("u1", rule.id, RuleChanges(enabled=True))
    assert await env.service.check_due() == 1
    assert len(await env.log(rule)) == 1


# -- plans -----------------------------------------------------------------------------------
async def test_a_plan_shows_the_trades_sells_first_logs_them_and_trades_nothing(
    env: Env,
) -> None:
    env.exchange.balances["k1"] = {"BTC": D("0.1"), "USDT": D(4000)}  # 60 / 0 / 40
    rule = await env.rule()
    entry = await env.service.plan("u1", rule.id)
    assert entry.status == "planned"
    assert entry.source == "plan"
    evaluation = entry.evaluation
    assert evaluation is not None
    assert evaluation.triggered
    assert [(t.side, t.asset) for t in evaluation.trades] == [("sell", "BTC"), ("buy", "ETH")]
    assert D("1999.99") < evaluation.trades[0].value <= D(2000)  # 20 points of 10,000
    prices = {s.asset: s.price for s in evaluation.assets}
    assert prices == {"BTC": D(60000), "ETH": D(3000), "USDT": D(1)}  # ETH: not held, asked
    assert env.router.tickets == {}
    assert env.router.traded == []
    assert await env.log(rule) == [entry]


async def test_a_plan_reads_balances_again_only_when_they_are_older_than_allowed(
    env: Env,
) -> None:
    rule = await env.rule()
    await env.service.plan("u1", rule.id)
    assert env.exchange.refreshed == ["k1"]  # none yet
    env.clock.advance(10)
    await env.service.plan("u1", rule.id)
    assert env.exchange.refreshed == ["k1"]  # 10 s old: fresh enough
    env.clock.advance(60)
    env.exchange.down = True
    stale = await env.service.plan("u1", rule.id)  # the stored balances, with their age
    assert stale.balances_ms == int(env.clock.now().timestamp() * 1000) - 70_000


async def test_a_plan_that_cannot_be_made_is_logged_and_raised(env: Env) -> None:
    env.exchange.prices.pop("ETH")
    rule = await env.rule()
    with pytest.raises(ValidationFailed, match="No price in USDT for ETH"):
        await env.service.plan("u1", rule.id)
    (entry,) = await env.log(rule)
    assert entry.status == "error"
    assert entry.error is not None
    assert entry.error.code == "validation_failed"


# -- checks ----------------------------------------------------------------------------------
async def test_a_dry_run_check_logs_what_it_would_trade_and_never_trades(env: Env) -> None:
    rule = await env.rule(mode="dry_run")
    assert await env.service.check_due() == 1
    assert await env.service.check_due() == 0  # not due again before its interval
    assert await env.later(299) == 0
    assert await env.later(1) == 1
    entries = await env.log(rule)
    assert [e.status for e in entries] == ["planned", "planned"]
    assert all(e.source == "check" and e.trades == () for e in entries)
    assert env.router.tickets == {}
    assert env.exchange.balances["k1"] == {"USDT": D(10_000)}


async def test_an_execute_check_trades_sells_then_buys_under_their_keys_and_converges(
    env: Env,
) -> None:
    env.exchange.balances["k1"] = {"BTC": D("0.1"), "USDT": D(4000)}  # 60 / 0 / 40
    rule = await env.rule()
    assert await env.service.check_due() == 1
    (entry,) = await env.log(rule)
    assert entry.status == "executed"
    assert [(t.trade.side, t.trade.asset, t.status) for t in entry.trades] == [
        ("sell", "BTC", "filled"),
        ("buy", "ETH", "filled"),
    ]
    keys = [f"rule:{rule.id}:{entry.id}:0", f"rule:{rule.id}:{entry.id}:1"]
    assert [t.idempotency_key for t in entry.trades] == keys
    assert [k for k, *_ in env.router.traded] == keys  # in this order: the sale first
    assert [t.order_ids for t in entry.trades] == [("ord_1",), ("ord_2",)]
    assert await env.later() == 1
    latest = (await env.log(rule))[0]
    assert latest.status == "not_triggered"
    assert latest.evaluation is not None
    tolerance = entry.evaluation.tolerance_pp if entry.evaluation else D(0)
    assert all(abs(d) <= tolerance for d in drifts(latest).values()), drifts(latest)
    assert len(env.router.traded) == len(keys)


async def test_a_rebalancing_left_incomplete_goes_on_within_the_trigger_until_it_is_done(
    env: Env,
) -> None:
    rule = await env.rule()  # all USDT: buy BTC 4,000 and ETH 3,000
    env.router.fills = [D("0.9")]  # BTC fills 90 %: 36 % of the portfolio, 4 points short
    await env.service.check_due()
    (first,) = await env.log(rule)
    assert first.status == "partial"
    env.clock.advance(60)
    shown = await env.service.plan("u1", rule.id)  # a plan shows what the check will do
    assert shown.evaluation is not None
    assert shown.evaluation.reasons[0].startswith("The last execution did not complete")
    assert [(t.side, t.asset) for t in shown.evaluation.trades] == [("buy", "BTC")]
    assert await env.later(240) == 1
    carried = (await env.log(rule))[0]
    assert carried.evaluation is not None
    assert carried.evaluation.reasons[0].startswith("The last execution did not complete")
    assert [(t.trade.side, t.trade.asset) for t in carried.trades] == [("buy", "BTC")]
    assert carried.status == "executed"
    tolerance = carried.evaluation.tolerance_pp
    assert await env.later() == 1
    calm = (await env.log(rule))[0]
    assert calm.status == "not_triggered"  # done: the rule's own drift trigger again
    assert all(abs(d) <= tolerance for d in drifts(calm).values()), drifts(calm)
    assert len(env.router.traded) == 3


async def test_without_an_incomplete_execution_a_calm_trigger_trades_nothing(env: Env) -> None:
    env.exchange.balances["k1"] = {"BTC": D("0.06"), "ETH": D(1), "USDT": D(3400)}  # 36/30/34
    rule = await env.rule()
    await env.service.check_due()
    (entry,) = await env.log(rule)
    assert entry.status == "not_triggered"
    assert env.router.tickets == {}


async def test_a_check_that_died_after_a_trade_settles_it_by_its_key_and_never_trades_twice(
    env: Env,
) -> None:
    rule = await env.rule()  # all USDT: buy BTC, then buy ETH
    env.router.then = Crash("the process stops right after the exchange filled the trade")
    await env.service.check_due()
    (died,) = await env.log(rule)
    assert died.status == "executing"
    assert [t.status for t in died.trades] == ["sending", "planned"]
    bought_once = list(env.router.traded)

    assert await env.later() == 1
    settled, first = await env.log(rule)
    assert first.id == died.id
    assert first.status == "interrupted"
    assert [t.status for t in first.trades] == ["filled", "not_sent"]
    assert first.trades[0].order_ids == ("ord_1",)  # the first answer, read again by its key
    # the stale plan's buy of ETH was never sent; a fresh plan on fresh balances made it
    assert env.router.traded[: len(bought_once)] == bought_once
    assert [(side, asset) for _, side, asset, _ in env.router.traded[1:]] == [("buy", "ETH")]
    assert settled.status == "executed"
    keys = [key for key, *_ in env.router.traded]
    assert len(keys) == len(set(keys))


async def test_an_unknown_outcome_is_read_again_under_the_same_key_by_the_next_check(
    env: Env,
) -> None:
    rule = await env.rule()
    env.router.then = ExchangeUnavailable("The answer was lost.")
    await env.service.check_due()
    (entry,) = await env.log(rule)
    assert entry.status == "executing"
    assert entry.trades[0].status == "sending"
    assert entry.trades[0].error is not None
    assert entry.trades[1].status == "filled"
    assert await env.later() == 1
    entries = await env.log(rule)
    assert entries[-1].status == "executed"
    assert entries[-1].trades[0].status == "filled"
    assert len(env.router.traded) == len({k for k, *_ in env.router.traded}) == 2
    assert entries[0].status == "not_triggered"


async def test_an_execute_check_never_trades_on_balances_it_could_not_read_again(
    env: Env,
) -> None:
    rule = await env.rule(mode="dry_run")
    await env.service.check_due()  # balances taken now
    await env.service.update("u1", rule.id, RuleChanges(mode="execute"))
    env.exchange.down = True
    assert await env.later() == 1
    latest = (await env.log(rule))[0]
    assert latest.status == "error"
    assert latest.error is not None
    assert latest.error.code == "exchange_unavailable"
    assert env.router.tickets == {}


async def test_a_trade_the_router_refuses_is_logged_with_its_code_and_the_others_go_on(
    env: Env,
) -> None:
    env.router.refuse["BTC"] = NoRoute()
    rule = await env.rule()
    await env.service.check_due()
    (entry,) = await env.log(rule)
    assert entry.status == "partial"
    btc, eth = entry.trades
    assert btc.status == "failed"
    assert btc.error is not None
    assert btc.error.code == "no_route"
    assert eth.status == "filled"


async def test_concurrent_checks_claim_a_due_rule_once(env: Env) -> None:
    rule = await env.rule()
    counts = await asyncio.gather(*(env.service.check_due() for _ in range(4)))
    assert sum(counts) == 1
    assert len(await env.log(rule)) == 1
    assert len(env.router.traded) == 2


async def test_a_rule_without_a_connection_that_trades_logs_why(env: Env) -> None:
    rule = await env.service.create("u3", spec=SPEC, mode="execute")  # a read key only
    await env.service.check_due()
    (entry,) = await env.log(rule)
    assert entry.status == "error"
    assert entry.error is not None
    assert entry.error.code == "trade_key_required"


async def test_the_log_pages_newest_first_and_refuses_a_made_up_cursor(env: Env) -> None:
    rule = await env.rule(mode="dry_run")
    for _ in range(5):
        await env.service.plan("u1", rule.id)
    first = await env.service.log("u1", rule.id, limit=3)
    assert first.next_cursor is not None
    rest = await env.service.log("u1", rule.id, cursor=first.next_cursor, limit=3)
    assert rest.next_cursor is None
    ids = [e.id for e in (*first.items, *rest.items)]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 5
    with pytest.raises(ValidationFailed):
        await env.service.log("u1", rule.id, cursor="bm90IGEgY3Vyc29y")
    with pytest.raises(NotFound):
        await env.service.log("u2", rule.id)
