"""Rebalancing rules: where rules and their log are kept, and what the rules service needs from
the rest of Tresor (the portfolio, prices, fresh balances, and a way to trade).

A rule's log has one entry per evaluation (``RuleLogEntry``); an evaluation made by a check in
``execute`` mode also holds its execution: each planned trade with the Idempotency-Key it is
sent under and what became of it (``RuleTrade``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from tresor.domain.connections import Connection
from tresor.domain.portfolio import Portfolio
from tresor.domain.rebalance import Evaluation, PlannedTrade, RuleSpec

RuleMode = Literal["dry_run", "execute"]
Source = Literal["plan", "check"]
# not_triggered: nothing to do; planned: the trades it would make (a plan, or a dry run);
# nothing_to_trade: triggered, every trade below the minimum; executing: trades under way;
# executed / partial / failed: every trade / some / none went through; interrupted: the process
# stopped during the execution (the trades it had sent were settled, the rest never sent);
# error: it could not be evaluated (see ``error``)
EntryStatus = Literal[
    "not_triggered",
    "planned",
    "nothing_to_trade",
    "executing",
    "executed",
    "partial",
    "failed",
    "interrupted",
    "error",
]
# planned: not sent yet; sending: handed to the router under its key; filled / partial /
# unfilled: the router's answer; failed: refused or not executable; not_sent: never sent (the
# execution was interrupted before it)
TradeStatus = Literal["planned", "sending", "filled", "partial", "unfilled", "failed", "not_sent"]
Filled = Literal["filled", "partial", "unfilled"]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    user_id: str
    name: str | None
    spec: RuleSpec
    mode: RuleMode
    enabled: bool
    interval_s: int
    connection_ids: tuple[str, ...] | None  # None: every connection with a trade key
    created_ms: int
    updated_ms: int
    next_check_ms: int  # when the scheduler's check is next due


@dataclass(frozen=True, slots=True)
class ErrorNote:
    """A domain error as kept in the log."""

    code: str
    message: str
    remedy: str


@dataclass(frozen=True, slots=True)
class TradeResult:
    """What executing one trade did."""

    status: Filled
    filled: Decimal  # base
    gross: Decimal  # quote, the fills' value before fees
    order_ids: tuple[str, ...]  # the orders Tresor placed for it


@dataclass(frozen=True, slots=True)
class RuleTrade:
    """One planned trade of an execution, the key it is sent under and its outcome."""

    index: int  # its place in the plan: sells first, then buys
    trade: PlannedTrade
    idempotency_key: str
    status: TradeStatus
    ticket: str | None = None  # what the executor was asked to execute (the router's quote id)
    filled: Decimal | None = None
    gross: Decimal | None = None
    order_ids: tuple[str, ...] = ()
    error: ErrorNote | None = None
    updated_ms: int = 0


@dataclass(frozen=True, slots=True)
class RuleLogEntry:
    id: int  # 0 until stored
    rule_id: str
    user_id: str
    at_ms: int
    source: Source
    mode: RuleMode
    status: EntryStatus
    evaluation: Evaluation | None  # None when it could not be made
    balances_ms: int | None = None  # when the oldest balances it used were taken
    error: ErrorNote | None = None
    trades: tuple[RuleTrade, ...] = ()  # the execution, in execute mode
    finished_ms: int | None = None


class RulesStore(Protocol):
    """Rules, their scheduling leases and their log. Every method is its own transaction."""

    async def add_rule(self, rule: Rule) -> None: ...

    async def rule(self, rule_id: str, user_id: str | None = None) -> Rule | None:
        """The rule, or None (also when ``user_id`` is given and not its owner)."""
        ...

    async def rules(self, user_id: str) -> list[Rule]:
        """The user's rules, oldest first."""
        ...

    async def save_rule(self, rule: Rule) -> bool:
        """Replace a rule's settings (not its lease); False when it no longer exists."""
        ...

    async def delete_rule(self, rule_id: str, user_id: str) -> bool:
        """Delete the rule and its log; False when the user has no such rule."""
        ...

    async def due(self, *, now_ms: int, limit: int) -> list[Rule]:
        """Enabled rules whose check is due and that no live lease holds, most overdue first."""
        ...

    async def claim(
        self, rule_id: str, *, token: str, now_ms: int, until_ms: int, next_check_ms: int
    ) -> bool:
        """Take the rule's lease until ``until_ms`` and move its next check to
        ``next_check_ms``, only if it is still enabled, due and not leased: of several
        schedulers, exactly one claims a due check."""
        ...

    async def renew(self, rule_id: str, *, token: str, until_ms: int) -> bool:
        """Extend the lease ``token`` holds; False when it no longer holds it."""
        ...

    async def release(self, rule_id: str, *, token: str) -> None: ...

    async def add_entry(self, entry: RuleLogEntry) -> RuleLogEntry:
        """Store an entry (its trades are added by ``add_trades``); the entry with its id."""
        ...

    async def add_trades(self, entry_id: int, trades: Sequence[RuleTrade]) -> None:
        """Store the planned trades of an execution (``index`` is the trade's place in the
        entry's evaluation)."""
        ...

    async def begin_trade(self, entry_id: int, index: int, *, ticket: str, now_ms: int) -> bool:
        """Mark a planned trade as being sent under ``ticket``, only if it is still planned:
        a trade is handed to the router at most once."""
        ...

    async def save_trade(self, entry_id: int, trade: RuleTrade) -> None:
        """Record a trade's outcome."""
        ...

    async def finish_entry(self, entry_id: int, *, status: EntryStatus, now_ms: int) -> None: ...

    async def entries(
        self, rule_id: str, *, before: int | None = None, limit: int = 100
    ) -> list[RuleLogEntry]:
        """The rule's log, newest first, entries with an id below ``before`` when given."""
        ...

    async def last_check(self, rule_id: str) -> RuleLogEntry | None:
        """The rule's newest entry made by a scheduled check that is not an error (and not
        still executing), without its trades."""
        ...

    async def unfinished(self, rule_id: str) -> list[RuleLogEntry]:
        """The rule's executions still marked ``executing``, oldest first."""
        ...


class PortfolioReader(Protocol):
    """The user's holdings valued now (``PortfolioService``)."""

    async def portfolio(
        self, user_id: str, *, quote: str = ..., connection_id: str | None = None
    ) -> Portfolio: ...


class PriceSource(Protocol):
    """The price a market order would start at, for assets the portfolio cannot price
    (``MarketDataService.reference_price``); None when it has none."""

    async def reference_price(
        self, connection: Connection, symbol: str, side: str
    ) -> Decimal | None: ...


class BalanceRefresher(Protocol):
    """Takes a new balance snapshot of a connection now (a balances-only sync)."""

    async def refresh(self, connection_id: str) -> None:
        """Raises: NotFound, KeyRejected, ExchangeTrouble."""
        ...


class RuleExecutor(Protocol):
    """Trades a rule's planned trade: ``prepare`` decides how (the router's quote), and
    ``execute`` carries out what was prepared, once per Idempotency-Key: executing the same
    ticket under the same key again answers what the first execution did."""

    async def prepare(
        self, user_id: str, trade: PlannedTrade, *, quote: str, connection_ids: Sequence[str]
    ) -> str:
        """A ticket for ``execute``.

        Raises: ValidationFailed, OrderRefused kinds, ExchangeTrouble (nothing was traded)."""
        ...

    async def execute(self, user_id: str, ticket: str, *, idempotency_key: str) -> TradeResult:
        """Raises: domain errors (the trade was refused, or not all of it is known)."""
        ...
