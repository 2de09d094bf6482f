"""What a rebalancing rule is evaluated on: its connections, their balances (read again when too
old) and the prices, valued as the user's portfolio values them (``PortfolioService``).

- **Connections**: the rule's own list, or every connection of the user with a trade key that
  is not disabled (``TradeKeyRequired`` when there is none).
- **Balances**: each connection's latest snapshot, read again first when it is older than
  ``max_balance_age_s`` (``strict``: always, and a failed read is raised, as a check in
  execute mode needs; otherwise the stored snapshot is used, its time in ``balances_ms``).
- **Prices**: each asset's price in the rule's quote from the snapshots (the exchange's own
  prices when they were taken), weighted by the amount each connection holds; an asset no
  connection holds (nothing to price it from) is priced at what buying it would start at
  (``PriceSource``, the endpoint's ticker).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from tresor.domain.connections import Connection, ConnectionStatus, KeyRole
from tresor.domain.errors import ExchangeTrouble, NotFound, TradeKeyRequired, TresorError
from tresor.domain.portfolio import Portfolio
from tresor.domain.rebalance import (
    HUNDRED,
    BoundsTrigger,
    DriftTrigger,
    Evaluation,
    RuleSpec,
    evaluate,
)
from tresor.services.ports import Clock, UnitOfWorkFactory
from tresor.services.ports.rules import BalanceRefresher, PortfolioReader, PriceSource, Rule

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Valued:
    """A rule evaluated, and what it was evaluated on."""

    evaluation: Evaluation
    balances_ms: int | None  # when the oldest balances used were taken
    connection_ids: tuple[str, ...]
    holdings: dict[str, Decimal]
    prices: dict[str, Decimal]


class RuleValuation:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        portfolio: PortfolioReader,
        prices: PriceSource,
        balances: BalanceRefresher,
        clock: Clock,
        fee: Decimal,
        max_balance_age_s: int,
    ) -> None:
        self._uow = uow
        self._portfolio = portfolio
        self._prices = prices
        self._balances = balances
        self._clock = clock
        self.fee = fee
        self.max_balance_age_s = max_balance_age_s

    def _now(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    async def value(self, rule: Rule, *, strict: bool) -> Valued:
        """The rule evaluated on its connections' balances (see the module docstring).

        Raises: TradeKeyRequired, NotFound (a connection the rule names is gone),
        ValidationFailed (a target without a price), KeyRejected, ExchangeTrouble."""
        spec = rule.spec
        connections = await self.connections(rule)
        ids = tuple(c.id for c in connections)
        portfolio = await self._portfolio.portfolio(rule.user_id, quote=spec.quote)
        taken = _taken(portfolio, ids)
        oldest = self._now() - self.max_balance_age_s * 1000
        stale = [i for i in ids if strict or (taken.get(i) or 0) < oldest]
        failure: TresorError | None = None
        for connection_id in stale:
            try:
                await self._balances.refresh(connection_id)
            except TresorError as error:
                if strict:
                    raise
                failure = error
        if stale:
            portfolio = await self._portfolio.portfolio(rule.user_id, quote=spec.quote)
            taken = _taken(portfolio, ids)
        if any(taken.get(i) is None for i in ids):
            raise failure or ExchangeTrouble(
                "The balances of a connection of this rule have not been read yet.",
                remedy="Test the connection (POST /v1/connections/{id}/test), then try again.",
            )
        holdings, prices = _holdings(portfolio, ids, spec.quote)
        for asset in spec.targets:
            if asset != spec.quote and asset not in prices:
                price = await self._price(connections, f"{asset}/{spec.quote}")
                if price is not None:
                    prices[asset] = price
        balances_ms = min((t for t in taken.values() if t is not None), default=None)
        return Valued(self.evaluate(spec, holdings, prices), balances_ms, ids, holdings, prices)

    def evaluate(
        self, spec: RuleSpec, holdings: dict[str, Decimal], prices: dict[str, Decimal]
    ) -> Evaluation:
        """Raises: ValidationFailed."""
        return evaluate(spec, holdings, prices, fee=self.fee)

    async def connections(self, rule: Rule) -> list[Connection]:
        async with self._uow(read_only=True) as uow:
            mine = await uow.connections.for_user(rule.user_id)
        if rule.connection_ids is None:
            chosen = [
                c
                for c in mine
                if c.key(KeyRole.TRADE) is not None and c.status is not ConnectionStatus.DISABLED
            ]
            if not chosen:
                raise TradeKeyRequired(
                    "None of your connections has a trade key, so the rule has nothing to "
                    "rebalance.",
                    remedy="Add a trade key to a connection (PUT /v1/connections/{id}/keys/trade)"
                    ", or name the rule's connections.",
                )
            return sorted(chosen, key=lambda c: c.id)
        by_id = {c.id: c for c in mine}
        if any(i not in by_id for i in rule.connection_ids):
            raise NotFound(
                "A connection this rule names no longer exists.",
                remedy="Change the rule's connections (PATCH /v1/rules/{id}, 'connection_ids').",
            )
        return [by_id[i] for i in rule.connection_ids]

    async def _price(self, connections: Sequence[Connection], symbol: str) -> Decimal | None:
        for connection in connections:
            price = await self._prices.reference_price(connection, symbol, "buy")
            if price is not None and price.is_finite() and price > 0:
                return price
        return None


def carry_on(spec: RuleSpec, last: Evaluation, tolerance: Decimal) -> RuleSpec | None:
    """The rule that goes on with a rebalancing left incomplete: a drift of ``tolerance``
    after a full rebalance; after a bounds repair, bounds of ``tolerance`` around the targets
    of the assets that had left their bounds. None when the tolerance cannot be a trigger."""
    if not ZERO < tolerance < HUNDRED:
        return None
    if last.scope == "full":
        return RuleSpec(spec.targets, spec.quote, (DriftTrigger(tolerance),), spec.min_trade)
    then = {s.asset: s.current_pct for s in last.assets}
    repaired = [
        t.asset
        for t in spec.triggers
        if isinstance(t, BoundsTrigger)
        and t.asset in then
        and (
            (t.floor_pct is not None and then[t.asset] < t.floor_pct)
            or (t.ceiling_pct is not None and then[t.asset] > t.ceiling_pct)
        )
    ]
    bounds = tuple(
        BoundsTrigger(
            asset,
            max(ZERO, spec.targets[asset] - tolerance),
            min(HUNDRED, spec.targets[asset] + tolerance),
        )
        for asset in repaired
    )
    return RuleSpec(spec.targets, spec.quote, bounds, spec.min_trade) if bounds else None


def _taken(portfolio: Portfolio, ids: Sequence[str]) -> dict[str, int | None]:
    """When each connection's balances were taken (None: never)."""
    found: dict[str, int | None] = dict.fromkeys(ids)
    for c in portfolio.connections:
        if c.connection_id in found:
            found[c.connection_id] = c.freshness.taken_ms
    return found


def _holdings(
    portfolio: Portfolio, ids: Sequence[str], quote: str
) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """The amounts held on the connections ``ids``, and each asset's price in ``quote``: the
    connections' own prices, weighted by the amount each holds."""
    wanted = set(ids)
    amounts: dict[str, Decimal] = {}
    priced: dict[str, Decimal] = {}
    values: dict[str, Decimal] = {}
    for c in portfolio.connections:
        if c.connection_id not in wanted:
            continue
        for h in c.holdings:
            amounts[h.asset] = amounts.get(h.asset, ZERO) + h.total
            if h.value is not None and h.total > 0:
                priced[h.asset] = priced.get(h.asset, ZERO) + h.total
                values[h.asset] = values.get(h.asset, ZERO) + h.value
    prices = {asset: values[asset] / priced[asset] for asset in priced}
    prices.pop(quote, None)
    return amounts, prices
