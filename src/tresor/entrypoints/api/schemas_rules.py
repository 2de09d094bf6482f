"""Rebalancing rules as the API takes and gives them, with their plans and their log.
Percentages and amounts are decimal strings; times are ISO 8601 UTC with epoch milliseconds."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from tresor.domain.rebalance import (
    AssetState,
    BoundsTrigger,
    DriftTrigger,
    Evaluation,
    PlannedTrade,
    RuleSpec,
    Trigger,
)
from tresor.entrypoints.api.schemas_records import Amount, Ms, Symbol, amount, at, maybe
from tresor.services.ports.rules import ErrorNote, Rule, RuleLogEntry, RuleTrade
from tresor.services.rules import DEFAULT_INTERVAL_S, MAX_INTERVAL_S, MIN_INTERVAL_S

MAX_TARGETS = 20
MAX_CONNECTIONS = 20
Asset = Annotated[
    str,
    Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9]+$", examples=["BTC", "USDT"]),
]
Percent = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{1,3}(\.[0-9]{1,4})?$",
        description="A percentage from 0 to 100 as a decimal string (at most 4 decimals).",
        examples=["40", "12.5"],
    ),
]
Money = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{1,20}(\.[0-9]{1,18})?$",
        description="A decimal number of zero or more as a string, exact.",
        examples=["10", "25.5"],
    ),
]
ConnectionId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]
Mode = Literal["dry_run", "execute"]
Interval = Annotated[
    int,
    Field(
        ge=MIN_INTERVAL_S,
        le=MAX_INTERVAL_S,
        description=f"Seconds between checks ({MIN_INTERVAL_S} to {MAX_INTERVAL_S}).",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]


class BoundsIn(BaseModel):
    """A floor and/or ceiling for one target asset, in percent of the portfolio: leaving them
    brings the asset back to its target."""

    model_config = ConfigDict(extra="forbid", title="RuleBounds")

    asset: Asset
    floor_pct: Percent | None = None
    ceiling_pct: Percent | None = None


class RuleCreate(BaseModel):
    """A rebalancing rule: target percentages adding up to 100, and at least one trigger
    (`drift_pp`, `bounds`)."""

    model_config = ConfigDict(extra="forbid", title="RuleCreate")

    name: Name | None = None
    targets: dict[Asset, Percent] = Field(
        min_length=1,
        max_length=MAX_TARGETS,
        description="Asset -> target percent of the portfolio, adding up to exactly 100.",
        examples=[{"BTC": "40", "ETH": "30", "USDT": "30"}],
    )
    quote: Asset = Field(
        default="USDT",
        description="The asset every trade goes through (BTC/USDT, ETH/USDT ...); the portfolio "
        "is valued in it. It counts in the portfolio only when it is a target.",
    )
    drift_pp: Percent | None = Field(
        default=None,
        description="Rebalance everything when any asset is more than this many percentage "
        "points from its target.",
        examples=["5"],
    )
    bounds: list[BoundsIn] = Field(default_factory=list, max_length=MAX_TARGETS)
    min_trade: Money = Field(
        default="10", description="The smallest trade worth making, in the quote asset."
    )
    interval_s: Interval = DEFAULT_INTERVAL_S
    mode: Mode = Field(
        default="dry_run",
        description="dry_run: every check only logs what it would trade; execute: it trades.",
    )
    enabled: bool = True
    connection_ids: list[ConnectionId] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CONNECTIONS,
        description="The connections whose holdings the rule keeps (yours); default: every "
        "connection with a trade key.",
    )

    def spec(self) -> RuleSpec:
        triggers: list[Trigger] = []
        if self.drift_pp is not None:
            triggers.append(DriftTrigger(Decimal(self.drift_pp)))
        triggers += [
            BoundsTrigger(
                b.asset,
                None if b.floor_pct is None else Decimal(b.floor_pct),
                None if b.ceiling_pct is None else Decimal(b.ceiling_pct),
            )
            for b in self.bounds
        ]
        return RuleSpec(
            targets={asset: Decimal(pct) for asset, pct in self.targets.items()},
            quote=self.quote,
            triggers=tuple(triggers),
            min_trade=Decimal(self.min_trade),
        )


class RuleUpdate(BaseModel):
    """What to change; fields left out stay as they are. `name` and `connection_ids` may be
    null: no name; every connection with a trade key."""

    model_config = ConfigDict(extra="forbid", title="RuleUpdate")

    enabled: bool | None = None
    mode: Mode | None = None
    interval_s: Interval | None = None
    name: Name | None = None
    connection_ids: list[ConnectionId] | None = Field(
        default=None, min_length=1, max_length=MAX_CONNECTIONS
    )


class BoundsPublic(BaseModel):
    model_config = ConfigDict(title="RuleBoundsPublic")

    asset: str
    floor_pct: Amount | None
    ceiling_pct: Amount | None


class RulePublic(BaseModel):
    model_config = ConfigDict(title="Rule")

    id: str = Field(examples=["rul_3f2a9c0d1b7e6a5c4d3e"])
    name: str | None
    targets: dict[str, Amount]
    quote: str
    drift_pp: Amount | None
    bounds: list[BoundsPublic]
    min_trade: Amount
    interval_s: int
    mode: Mode
    enabled: bool
    connection_ids: list[str] | None = Field(description="null: every connection with a trade key.")
    created: datetime
    created_ms: Ms
    updated: datetime
    updated_ms: Ms
    next_check: datetime = Field(description="When the scheduler checks it next (if enabled).")
    next_check_ms: Ms

    @classmethod
    def of(cls, r: Rule) -> RulePublic:
        spec = r.spec
        drift = next((t for t in spec.triggers if isinstance(t, DriftTrigger)), None)
        return cls(
            id=r.id,
            name=r.name,
            targets={asset: amount(pct) for asset, pct in spec.targets.items()},
            quote=spec.quote,
            drift_pp=None if drift is None else amount(drift.max_drift_pp),
            bounds=[
                BoundsPublic(
                    asset=t.asset, floor_pct=maybe(t.floor_pct), ceiling_pct=maybe(t.ceiling_pct)
                )
                for t in spec.triggers
                if isinstance(t, BoundsTrigger)
            ],
            min_trade=amount(spec.min_trade),
            interval_s=r.interval_s,
            mode=r.mode,
            enabled=r.enabled,
            connection_ids=None if r.connection_ids is None else list(r.connection_ids),
            created=at(r.created_ms),
            created_ms=r.created_ms,
            updated=at(r.updated_ms),
            updated_ms=r.updated_ms,
            next_check=at(r.next_check_ms),
            next_check_ms=r.next_check_ms,
        )


class RuleList(BaseModel):
    items: list[RulePublic]


# -- evaluations and the log -------------------------------------------------------------------
class AssetStatePublic(BaseModel):
    asset: str
    amount: Amount
    price: Amount = Field(description="Of one unit, in the quote.")
    value: Amount
    current_pct: Amount
    target_pct: Amount
    drift_pp: Amount = Field(description="current_pct - target_pct, in percentage points.")

    @classmethod
    def of(cls, s: AssetState) -> AssetStatePublic:
        return cls(
            asset=s.asset,
            amount=amount(s.amount),
            price=amount(s.price),
            value=amount(s.value),
            current_pct=amount(s.current_pct),
            target_pct=amount(s.target_pct),
            drift_pp=amount(s.drift_pp),
        )


class PlannedTradePublic(BaseModel):
    asset: str
    symbol: Symbol
    side: Literal["buy", "sell"]
    amount: Amount = Field(description="In the base asset.")
    value: Amount = Field(description="In the quote, at the evaluated price, before fees.")
    reason: str

    @classmethod
    def of(cls, t: PlannedTrade) -> PlannedTradePublic:
        return cls(
            asset=t.asset,
            symbol=t.symbol,
            side=t.side,
            amount=amount(t.amount),
            value=amount(t.value),
            reason=t.reason,
        )


class EvaluationPublic(BaseModel):
    model_config = ConfigDict(title="RuleEvaluation")

    quote: str
    value: Amount = Field(description="Of the target assets, in the quote.")
    triggered: bool
    scope: Literal["full", "bounds"] | None = Field(
        description="full: every asset back to its target; bounds: the breaching assets."
    )
    reasons: list[str] = Field(description="Why it triggered, or why not, in plain words.")
    assets: list[AssetStatePublic]
    ignored: list[str] = Field(description="Held but not in the targets: left alone.")
    trades: list[PlannedTradePublic] = Field(description="Sells first, then buys.")
    skipped: list[PlannedTradePublic] = Field(description="Trades not worth making, and why.")
    fees: Amount = Field(description="The trades' estimated fees, in the quote.")
    tolerance_pp: Amount = Field(
        description="After the trades, every asset is within this many points of its target."
    )

    @classmethod
    def of(cls, e: Evaluation) -> EvaluationPublic:
        return cls(
            quote=e.quote,
            value=amount(e.value),
            triggered=e.triggered,
            scope=e.scope,
            reasons=list(e.reasons),
            assets=[AssetStatePublic.of(s) for s in e.assets],
            ignored=list(e.ignored),
            trades=[PlannedTradePublic.of(t) for t in e.trades],
            skipped=[PlannedTradePublic.of(t) for t in e.skipped],
            fees=amount(e.fees),
            tolerance_pp=amount(e.tolerance_pp),
        )


class ErrorPublic(BaseModel):
    model_config = ConfigDict(title="RuleError")

    code: str
    message: str
    remedy: str

    @classmethod
    def of(cls, e: ErrorNote | None) -> ErrorPublic | None:
        return None if e is None else cls(code=e.code, message=e.message, remedy=e.remedy)


TradeStatusName = Literal[
    "planned", "sending", "filled", "partial", "unfilled", "failed", "not_sent"
]


class RuleTradePublic(BaseModel):
    """One trade of an execution: sent through the router under its own Idempotency-Key."""

    model_config = ConfigDict(title="RuleTrade")

    index: int = Field(description="Its place among the evaluation's trades.")
    symbol: Symbol
    side: Literal["buy", "sell"]
    amount: Amount
    idempotency_key: str
    status: TradeStatusName
    quote_id: str | None = Field(description="The router's quote it was executed as.")
    filled: Amount | None
    gross: Amount | None = Field(description="The fills' value in the quote, before fees.")
    order_ids: list[str] = Field(description="The orders placed for it (GET /v1/orders/{id}).")
    error: ErrorPublic | None
    updated: datetime
    updated_ms: Ms

    @classmethod
    def of(cls, t: RuleTrade) -> RuleTradePublic:
        return cls(
            index=t.index,
            symbol=t.trade.symbol,
            side=t.trade.side,
            amount=amount(t.trade.amount),
            idempotency_key=t.idempotency_key,
            status=t.status,
            quote_id=t.ticket,
            filled=maybe(t.filled),
            gross=maybe(t.gross),
            order_ids=list(t.order_ids),
            error=ErrorPublic.of(t.error),
            updated=at(t.updated_ms),
            updated_ms=t.updated_ms,
        )


EntryStatusName = Literal[
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


class RuleLogEntryPublic(BaseModel):
    """One evaluation of a rule (a plan, or a scheduled check) and, in execute mode, its
    execution."""

    model_config = ConfigDict(title="RuleLogEntry")

    id: int
    rule_id: str
    at: datetime
    at_ms: Ms
    source: Literal["plan", "check"]
    mode: Mode
    status: EntryStatusName
    balances_taken: datetime | None = Field(
        description="When the oldest balances the evaluation used were taken."
    )
    balances_taken_ms: Ms | None
    evaluation: EvaluationPublic | None = Field(description="null: it could not be made.")
    error: ErrorPublic | None = Field(description="Why it could not be made.")
    execution: list[RuleTradePublic] = Field(description="The trades made (execute mode).")
    finished: datetime | None
    finished_ms: Ms | None

    @classmethod
    def of(cls, e: RuleLogEntry) -> RuleLogEntryPublic:
        return cls(
            id=e.id,
            rule_id=e.rule_id,
            at=at(e.at_ms),
            at_ms=e.at_ms,
            source=e.source,
            mode=e.mode,
            status=e.status,
            balances_taken=None if e.balances_ms is None else at(e.balances_ms),
            balances_taken_ms=e.balances_ms,
            evaluation=None if e.evaluation is None else EvaluationPublic.of(e.evaluation),
            error=ErrorPublic.of(e.error),
            execution=[RuleTradePublic.of(t) for t in e.trades],
            finished=None if e.finished_ms is None else at(e.finished_ms),
            finished_ms=e.finished_ms,
        )


class RuleLogPage(BaseModel):
    items: list[RuleLogEntryPublic]
    next_cursor: str | None
