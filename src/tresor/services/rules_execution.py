"""How a rebalancing rule's trades are executed, never twice, and how they reach the router.

An execution, trade by trade in the plan's order (sells first: the buys spend what they
bring)::

    planned --prepare (the router's quote) --> its ticket kept, the trade "sending" (at most
        once: a conditional update), then executed under its Idempotency-Key
        "rule:<rule>:<entry>:<index>" --> filled | partial | unfilled (the router's orders
        are IOC at the quoted price: they fill less when the market moved), or failed
    outcome unknown (no answer, the key still in progress) --> stays "sending"

An execution a stopped process left unfinished is settled by the rule's next check
(``settle``): a "sending" trade is executed again with its ticket and key, so the router
answers what it did and never trades twice; a trade still "planned" was never handed over and
is never sent ("not_sent"): its plan is stale, and the check plans afresh.

``RouterExecutor`` is the ``RuleExecutor`` on the smart order router (``RoutingService``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Protocol

from tresor.domain.errors import ExchangeTrouble, IdempotencyInProgress, TresorError
from tresor.domain.rebalance import PlannedTrade
from tresor.services.ports import Clock
from tresor.services.ports.rules import (
    EntryStatus,
    ErrorNote,
    Filled,
    Rule,
    RuleExecutor,
    RulesStore,
    RuleTrade,
    TradeResult,
)
from tresor.services.routing import Execution, Quoted

log = logging.getLogger(__name__)


def trade_key(rule_id: str, entry_id: int, index: int) -> str:
    """The Idempotency-Key a rule's trade is executed under: the same trade of the same
    evaluation always has the same key, so executing it again can never trade twice."""
    return f"rule:{rule_id}:{entry_id}:{index}"


def note(error: TresorError) -> ErrorNote:
    return ErrorNote(error.code, error.message, error.remedy)


def overall(trades: Sequence[RuleTrade]) -> EntryStatus | None:
    """An execution's status from its trades; None while one is still being sent."""
    if any(t.status in ("planned", "sending") for t in trades):
        return None
    if trades and all(t.status == "filled" for t in trades):
        return "executed"
    if any(t.status in ("filled", "partial") for t in trades):
        return "partial"
    return "failed"


class Executions:
    """Runs and settles executions for the holder of a rule's lease."""

    def __init__(
        self, *, store: RulesStore, executor: RuleExecutor, clock: Clock, lease_s: int
    ) -> None:
        self._store = store
        self._executor = executor
        self._clock = clock
        self._lease_s = lease_s

    def _now(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    async def run(
        self,
        rule: Rule,
        token: str,
        entry_id: int,
        trades: Sequence[RuleTrade],
        connection_ids: Sequence[str],
    ) -> None:
        """Each trade in turn; the entry finished with the outcome once every trade's is
        known (else the next check settles it)."""
        done: list[RuleTrade] = []
        for planned in trades:
            if not await self._renew(rule, token):
                return  # the lease passed on: the next check settles this execution
            try:
                ticket = await self._executor.prepare(
                    rule.user_id,
                    planned.trade,
                    quote=rule.spec.quote,
                    connection_ids=connection_ids,
                )
            except TresorError as error:
                failed = replace(
                    planned, status="failed", error=note(error), updated_ms=self._now()
                )
                await self._store.save_trade(entry_id, failed)
                done.append(failed)
                continue
            if not await self._store.begin_trade(
                entry_id, planned.index, ticket=ticket, now_ms=self._now()
            ):
                return  # handed over by another check meanwhile: it settles the execution
            sending = replace(planned, status="sending", ticket=ticket)
            done.append(await self._send(rule.user_id, entry_id, sending))
        status = overall(done)
        if status is not None:
            await self._store.finish_entry(entry_id, status=status, now_ms=self._now())

    async def settle(self, rule: Rule, token: str) -> bool:
        """Finish the executions an earlier check left ``executing`` (its process stopped, or
        an outcome was not known); False while one still cannot be settled."""
        settled = True
        for entry in await self._store.unfinished(rule.id):
            trades: list[RuleTrade] = []
            interrupted = False
            for trade in entry.trades:
                if trade.status == "planned":
                    trade = replace(trade, status="not_sent", updated_ms=self._now())
                    await self._store.save_trade(entry.id, trade)
                    interrupted = True
                elif trade.status == "sending":
                    if not await self._renew(rule, token):
                        return False
                    trade = await self._send(rule.user_id, entry.id, trade)
                trades.append(trade)
            status = overall(trades)
            if status is None:
                settled = False
                continue
            if interrupted or not trades:
                status = "interrupted"
            await self._store.finish_entry(entry.id, status=status, now_ms=self._now())
        return settled

    async def _send(self, user_id: str, entry_id: int, trade: RuleTrade) -> RuleTrade:
        """Execute a trade that was handed over (again, under its key, after a crash)."""
        assert trade.ticket is not None  # noqa: S101 (a trade is handed over with its ticket)
        try:
            result = await self._executor.execute(
                user_id, trade.ticket, idempotency_key=trade.idempotency_key
            )
        except (IdempotencyInProgress, ExchangeTrouble) as error:
            # the outcome is not known yet: it stays "sending" and is asked for again, under
            # the same key, by the next check
            outcome = replace(trade, error=note(error), updated_ms=self._now())
        except TresorError as error:
            outcome = replace(trade, status="failed", error=note(error), updated_ms=self._now())
        else:
            outcome = replace(
                trade,
                status=result.status,
                filled=result.filled,
                gross=result.gross,
                order_ids=result.order_ids,
                error=None,
                updated_ms=self._now(),
            )
        await self._store.save_trade(entry_id, outcome)
        return outcome

    async def _renew(self, rule: Rule, token: str) -> bool:
        until = self._now() + self._lease_s * 1000
        if await self._store.renew(rule.id, token=token, until_ms=until):
            return True
        log.warning("rule %s: its lease passed to another check", rule.id)
        return False


# -- the router --------------------------------------------------------------------------------
class Router(Protocol):
    """What a rule needs of ``RoutingService``."""

    async def quote(
        self,
        user_id: str,
        *,
        side: str,
        base: str,
        quote: str,
        amount: Decimal,
        connection_ids: Sequence[str] | None = None,
    ) -> Quoted: ...

    async def execute(
        self, user_id: str, quote_id: str, *, idempotency_key: str, source: str = "route"
    ) -> Execution: ...


class RouterExecutor:
    """The ``RuleExecutor`` on the router: ``prepare`` quotes the trade over the rule's
    connections (the quote's id is the ticket); ``execute`` executes the quote under the
    trade's key (the router places each leg once per key)."""

    def __init__(self, router: Router) -> None:
        self._router = router

    async def prepare(
        self, user_id: str, trade: PlannedTrade, *, quote: str, connection_ids: Sequence[str]
    ) -> str:
        """Raises: ValidationFailed, NotFound, NoRoute (nothing was traded)."""
        quoted = await self._router.quote(
            user_id,
            side=trade.side,
            base=trade.asset,
            quote=quote,
            amount=trade.amount,
            connection_ids=connection_ids,
        )
        return quoted.quote.id

    async def execute(self, user_id: str, ticket: str, *, idempotency_key: str) -> TradeResult:
        """Raises: QuoteExpired, QuoteAlreadyExecuted, IdempotencyInProgress; the error of the
        legs when none could be placed; ExchangeTrouble while an order's outcome is unknown
        (executing again under the same key reads the orders again)."""
        execution = await self._router.execute(
            user_id, ticket, idempotency_key=idempotency_key, source="rule"
        )
        if not execution.settled:
            raise ExchangeTrouble(
                "The exchange has not answered for every order of this trade yet.",
                remedy="Nothing: the rule's next check reads the orders again.",
            )
        placed = [leg.order for leg in execution.legs if leg.order is not None]
        refused = [leg.error for leg in execution.legs if leg.error is not None]
        if not placed and refused:
            raise refused[0]
        quoted, filled = execution.quote, execution.filled
        status: Filled = "unfilled"
        # every leg filled, and what the plan left out was only the markets' rounding
        if filled >= quoted.filled and quoted.shortfall not in ("depth", "balance"):
            status = "filled"
        elif filled > 0:
            status = "partial"
        return TradeResult(
            status=status,
            filled=filled,
            gross=execution.cost,
            order_ids=tuple(order.id for order in placed),
        )
