"""Rebalancing rules (issue 5): target allocations kept by checking the portfolio on an
interval and, in ``execute`` mode, trading back toward the targets through the router.

The planning is ``domain.rebalance`` (targets, triggers, the trades and the tolerance). This
service keeps rules and runs their checks; what a rule is evaluated on is
``rules_valuation`` and how its trades are executed is ``rules_execution``. One check of a
rule (``check_due``, run by the scheduler)::

    claim the rule's lease (one process per due check) and move its next check on
      settle an execution an earlier process left unfinished: a trade it had handed to the
        router is executed again under its key (the router answers what it did, and never
        trades twice); a trade it had not handed over is never sent ("not_sent")
      evaluate on the rule's connections: their balances read again (in execute mode always,
        so a plan never sees the balances from before the rule's last execution), valued as
        the portfolio values them -> logged
      execute mode, the trigger calm, but the last check's execution incomplete (an order
        filled in part): the rebalancing goes on while an asset is further from its target
        than the tolerance
      execute mode, trades planned: each trade in turn, sells first, quoted by the router and
        executed under the key "rule:<rule>:<entry>:<index>"; each outcome logged
    release the lease

``plan`` evaluates now and logs it (it never trades). Every evaluation, and every trade of an
execution, is in the rule's log (``log``).

Errors (``domain.errors``): ``NotFound`` (a rule or connection that is not the user's),
``ValidationFailed`` (a rule that cannot work), ``TradeKeyRequired`` (no connection can trade),
and what reading balances raises (``KeyRejected``, ``ExchangeTrouble``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Protocol

from tresor.domain.errors import ExchangeTrouble, NotFound, TresorError, ValidationFailed
from tresor.domain.order_rules import plain
from tresor.domain.paging import Listing, decode_id, encode
from tresor.domain.rebalance import BoundsTrigger, RuleSpec, parse_targets, validate_rule
from tresor.services.ports import Clock, UnitOfWorkFactory
from tresor.services.ports.rules import (
    BalanceRefresher,
    EntryStatus,
    PortfolioReader,
    PriceSource,
    Rule,
    RuleExecutor,
    RuleLogEntry,
    RuleMode,
    RulesStore,
    RuleTrade,
    Source,
)
from tresor.services.rules_execution import Executions, note, trade_key
from tresor.services.rules_valuation import RuleValuation, Valued, carry_on

log = logging.getLogger(__name__)
MODES: tuple[RuleMode, ...] = ("dry_run", "execute")
MIN_INTERVAL_S = 60
MAX_INTERVAL_S = 7 * 86_400
DEFAULT_INTERVAL_S = 300
DEFAULT_LOG_LIMIT = 50
MAX_LOG_LIMIT = 500
UNFINISHED: tuple[EntryStatus, ...] = ("partial", "failed", "interrupted")


@dataclass(frozen=True, slots=True)
class RulesPolicy:
    fee: Decimal = Decimal("0.001")  # the taker fee plans assume (Binance's standard 0.1 %)
    max_balance_age_s: int = 30  # older balances are read again before an evaluation
    lease_s: int = 300  # a check's hold on its rule, renewed before every trade
    batch: int = 50  # due rules claimed per round
    parallel: int = 4  # rules checked at once
    max_rules_per_user: int = 100


@dataclass(frozen=True, slots=True)
class RuleChanges:
    """What an update changes. ``enabled``, ``mode`` and ``interval_s`` change when not None;
    ``name`` and ``connection_ids`` when named in ``given`` (so they can be set to None: no
    name, every connection with a trade key)."""

    enabled: bool | None = None
    mode: RuleMode | None = None
    interval_s: int | None = None
    name: str | None = None
    connection_ids: Sequence[str] | None = None
    given: frozenset[str] = field(default_factory=frozenset)


def new_rule_id() -> str:
    return "rul_" + secrets.token_hex(10)


class RulesService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        store: RulesStore,
        portfolio: PortfolioReader,
        prices: PriceSource,
        balances: BalanceRefresher,
        executor: RuleExecutor,
        clock: Clock,
        policy: RulesPolicy | None = None,
    ) -> None:
        self._uow = uow
        self._store = store
        self._clock = clock
        self.policy = policy or RulesPolicy()
        self._valuation = RuleValuation(
            uow=uow,
            portfolio=portfolio,
            prices=prices,
            balances=balances,
            clock=clock,
            fee=self.policy.fee,
            max_balance_age_s=self.policy.max_balance_age_s,
        )
        self._executions = Executions(
            store=store, executor=executor, clock=clock, lease_s=self.policy.lease_s
        )

    def _now(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    # -- the rules ---------------------------------------------------------------------------
    async def create(
        self,
        user_id: str,
        *,
        spec: RuleSpec,
        mode: RuleMode = "dry_run",
        interval_s: int = DEFAULT_INTERVAL_S,
        connection_ids: Sequence[str] | None = None,
        name: str | None = None,
        enabled: bool = True,
    ) -> Rule:
        """A new rule, first checked at once (when enabled).

        Raises: ValidationFailed (the rule, its interval or mode; too many rules), NotFound (a
        connection that is not the user's)."""
        spec = normalized(spec)
        _check_mode(mode)
        _check_interval(interval_s)
        ids = await self._owned_connections(user_id, connection_ids)
        if len(await self._store.rules(user_id)) >= self.policy.max_rules_per_user:
            raise ValidationFailed(
                f"You have {self.policy.max_rules_per_user} rules, the most one user may have.",
                remedy="Remove a rule you no longer use (DELETE /v1/rules/{id}).",
            )
        now = self._now()
        rule = Rule(
            id=new_rule_id(),
            user_id=user_id,
            name=name,
            spec=spec,
            mode=mode,
            enabled=enabled,
            interval_s=interval_s,
            connection_ids=ids,
            created_ms=now,
            updated_ms=now,
            next_check_ms=now,
        )
        await self._store.add_rule(rule)
        return rule

    async def rules(self, user_id: str) -> list[Rule]:
        return await self._store.rules(user_id)

    async def get(self, user_id: str, rule_id: str) -> Rule:
        """Raises: NotFound (also for another user's rule)."""
        rule = await self._store.rule(rule_id, user_id)
        if rule is None:
            raise NotFound("There is no such rule.")
        return rule

    async def update(self, user_id: str, rule_id: str, changes: RuleChanges) -> Rule:
        """Enable or disable a rule, change its mode, interval, name or connections. A rule
        enabled again is checked at once; a shorter interval applies from now.

        Raises: NotFound, ValidationFailed."""
        rule = await self.get(user_id, rule_id)
        now = self._now()
        next_check = rule.next_check_ms
        if changes.mode is not None:
            _check_mode(changes.mode)
            rule = replace(rule, mode=changes.mode)
        if changes.interval_s is not None:
            _check_interval(changes.interval_s)
            next_check = min(next_check, now + changes.interval_s * 1000)
            rule = replace(rule, interval_s=changes.interval_s)
        if changes.enabled is not None:
            if changes.enabled and not rule.enabled:
                next_check = now
            rule = replace(rule, enabled=changes.enabled)
        if "name" in changes.given:
            rule = replace(rule, name=changes.name)
        if "connection_ids" in changes.given:
            ids = await self._owned_connections(user_id, changes.connection_ids)
            rule = replace(rule, connection_ids=ids)
        rule = replace(rule, updated_ms=now, next_check_ms=next_check)
        if not await self._store.save_rule(rule):
            raise NotFound("There is no such rule.")
        return rule

    async def delete(self, user_id: str, rule_id: str) -> None:
        """Delete a rule and its log. Raises: NotFound."""
        if not await self._store.delete_rule(rule_id, user_id):
            raise NotFound("There is no such rule.")

    async def log(
        self,
        user_id: str,
        rule_id: str,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_LOG_LIMIT,
    ) -> Listing[RuleLogEntry]:
        """The rule's evaluations and executions, newest first, a page at a time.

        Raises: NotFound, ValidationFailed (a cursor this listing did not give, a limit)."""
        if not 1 <= limit <= MAX_LOG_LIMIT:
            raise ValidationFailed(
                f"'limit' must be between 1 and {MAX_LOG_LIMIT}.",
                remedy=f"Ask for at most {MAX_LOG_LIMIT} entries a page; follow 'next_cursor'.",
            )
        before = decode_id("rule_log", cursor) if cursor is not None else None
        await self.get(user_id, rule_id)
        found = await self._store.entries(rule_id, before=before, limit=limit + 1)
        items = tuple(found[:limit])
        more = len(found) > limit
        return Listing(items, encode("rule_log", items[-1].id) if more else None)

    async def _owned_connections(
        self, user_id: str, connection_ids: Sequence[str] | None
    ) -> tuple[str, ...] | None:
        if connection_ids is None:
            return None
        ids = tuple(dict.fromkeys(connection_ids))
        if not ids:
            raise ValidationFailed(
                "The rule's list of connections is empty.",
                remedy="Name at least one connection, or leave connection_ids out to use every "
                "connection with a trade key.",
            )
        async with self._uow(read_only=True) as uow:
            for connection_id in ids:
                if await uow.connections.get(connection_id, user_id) is None:
                    raise NotFound("There is no such connection.")
        return ids

    # -- evaluating --------------------------------------------------------------------------
    async def plan(self, user_id: str, rule_id: str) -> RuleLogEntry:
        """Evaluate the rule now: whether it triggers, why, and the trades a check would make
        (in execute mode, going on with a rebalancing left incomplete too). Logged; nothing is
        traded.

        Raises: NotFound, ValidationFailed (e.g. a target asset without a price),
        TradeKeyRequired, KeyRejected, ExchangeTrouble (no balances could be read)."""
        rule = await self.get(user_id, rule_id)
        try:
            valued = await self._valuation.value(rule, strict=False)
            if rule.mode == "execute" and not valued.evaluation.triggered:
                valued = await self._carry_on(rule, valued)
        except TresorError as error:
            await self._log_error(rule, "plan", error)
            raise
        return await self._store.add_entry(self._entry(rule, "plan", valued))

    def _entry(
        self, rule: Rule, source: Source, valued: Valued, status: EntryStatus | None = None
    ) -> RuleLogEntry:
        evaluation = valued.evaluation
        if status is None:
            status = "planned"
            if not evaluation.triggered:
                status = "not_triggered"
            elif not evaluation.trades:
                status = "nothing_to_trade"
        now = self._now()
        return RuleLogEntry(
            id=0,
            rule_id=rule.id,
            user_id=rule.user_id,
            at_ms=now,
            source=source,
            mode=rule.mode,
            status=status,
            evaluation=evaluation,
            balances_ms=valued.balances_ms,
            finished_ms=None if status == "executing" else now,
        )

    async def _log_error(self, rule: Rule, source: Source, error: TresorError) -> None:
        now = self._now()
        await self._store.add_entry(
            RuleLogEntry(
                id=0,
                rule_id=rule.id,
                user_id=rule.user_id,
                at_ms=now,
                source=source,
                mode=rule.mode,
                status="error",
                evaluation=None,
                error=note(error),
                finished_ms=now,
            )
        )

    # -- checking ------------------------------------------------------------------------------
    async def check_due(self) -> int:
        """Check every enabled rule whose interval has passed (run by the scheduler): evaluate,
        log, and in execute mode trade; the number of rules checked. A rule's failure is
        logged in its log and never stops the others."""
        now = self._now()
        due = await self._store.due(now_ms=now, limit=self.policy.batch)
        slots = asyncio.Semaphore(self.policy.parallel)

        async def one(rule: Rule) -> bool:
            async with slots:
                return await self._claimed(rule, now)

        checked = await asyncio.gather(*(one(rule) for rule in due))
        return sum(checked)

    async def _claimed(self, rule: Rule, now: int) -> bool:
        token = secrets.token_hex(16)
        claimed = await self._store.claim(
            rule.id,
            token=token,
            now_ms=now,
            until_ms=now + self.policy.lease_s * 1000,
            next_check_ms=now + rule.interval_s * 1000,
        )
        if not claimed:
            return False  # another process took it, or it changed meanwhile
        try:
            await self._check(rule, token)
        except Exception:  # one rule's failure never stops the others' checks
            log.exception("rule %s: the check failed", rule.id)
        finally:
            await self._store.release(rule.id, token=token)
        return True

    async def _check(self, rule: Rule, token: str) -> None:
        if not await self._executions.settle(rule, token):
            await self._log_error(
                rule,
                "check",
                ExchangeTrouble(
                    "An earlier execution of this rule is not settled yet, so it does not trade "
                    "again now.",
                    remedy="Nothing: the next check settles it first.",
                ),
            )
            return
        execute = rule.mode == "execute"
        try:
            valued = await self._valuation.value(rule, strict=execute)
            if execute and not valued.evaluation.triggered:
                valued = await self._carry_on(rule, valued)
        except TresorError as error:
            await self._log_error(rule, "check", error)
            return
        if not execute or not valued.evaluation.trades:
            await self._store.add_entry(self._entry(rule, "check", valued))
            return
        entry = await self._store.add_entry(self._entry(rule, "check", valued, "executing"))
        now = self._now()
        trades = tuple(
            RuleTrade(
                index=i,
                trade=trade,
                idempotency_key=trade_key(rule.id, entry.id, i),
                status="planned",
                updated_ms=now,
            )
            for i, trade in enumerate(valued.evaluation.trades)
        )
        await self._store.add_trades(entry.id, trades)
        await self._executions.run(rule, token, entry.id, trades, valued.connection_ids)

    async def _carry_on(self, rule: Rule, valued: Valued) -> Valued:
        """When the rule's last check left its rebalancing incomplete (an order filled only in
        part: the router's orders never trade past their quoted price), the rebalancing goes on
        while an asset is further from its target than the tolerance, though the rule's own
        trigger is calm; it ends with the first check that has nothing left to do."""
        last = await self._store.last_check(rule.id)
        if last is None or last.status not in UNFINISHED or last.evaluation is None:
            return valued
        tolerance = valued.evaluation.tolerance_pp
        spec = carry_on(rule.spec, last.evaluation, tolerance)
        if spec is None:
            return valued
        evaluation = self._valuation.evaluate(spec, valued.holdings, valued.prices)
        if not evaluation.triggered:
            return valued
        why = (
            f"The last execution did not complete ({last.status}): the rebalancing goes on "
            f"while an asset is more than {plain(tolerance)} points from its target."
        )
        return replace(valued, evaluation=replace(evaluation, reasons=(why, *evaluation.reasons)))


# -- helpers -----------------------------------------------------------------------------------
def normalized(spec: RuleSpec) -> RuleSpec:
    """The rule with its assets in capitals (as exchanges name them), validated.

    Raises: ValidationFailed (an asset given twice, in any letter case, included)."""
    targets = parse_targets(spec.targets.items())  # refuses "BTC" and "btc" before they merge
    triggers = tuple(
        replace(t, asset=t.asset.upper()) if isinstance(t, BoundsTrigger) else t
        for t in spec.triggers
    )
    spec = RuleSpec(
        targets={asset.upper(): pct for asset, pct in targets.items()},
        quote=spec.quote.upper(),
        triggers=triggers,
        min_trade=spec.min_trade,
    )
    validate_rule(spec)
    return spec


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValidationFailed(
            f"The mode must be 'dry_run' or 'execute', not {mode!r}.",
            remedy="Use dry_run to only log what the rule would do, execute to trade.",
        )


def _check_interval(interval_s: int) -> None:
    if not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
        raise ValidationFailed(
            f"The check interval must be {MIN_INTERVAL_S} to {MAX_INTERVAL_S} seconds, "
            f"not {interval_s}.",
            remedy="Give the interval in seconds, e.g. 300 for every five minutes.",
        )


class BalanceSync(Protocol):
    """What ``SyncedBalances`` needs of ``SyncService``."""

    async def sync(self, connection_id: str, *, history: bool = ...) -> object: ...


class SyncedBalances:
    """The ``BalanceRefresher`` of the rules service: a balances-only sync of the connection
    (a snapshot valued at the exchange's prices, stored like every other)."""

    def __init__(self, sync: BalanceSync) -> None:
        self._sync = sync

    async def refresh(self, connection_id: str) -> None:
        await self._sync.sync(connection_id, history=False)
