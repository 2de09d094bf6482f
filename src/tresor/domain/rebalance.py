"""Rebalancing rules: target allocations, when to act, and the trades that get there.

A ``RuleSpec`` names target percentages (adding up to exactly 100), the ``quote`` every trade
goes through (``BTC/USDT``, ``ETH/USDT`` ...; the portfolio is valued in it), one or more
triggers and the smallest trade worth making (``min_trade``, in the quote). ``evaluate`` values
the holdings at the given prices, says whether the rule triggers and why, and plans the trades.

Decisions, and why:

- **The portfolio is the target assets.** Assets held but not in the targets are left alone
  (listed in ``ignored``). The quote counts only when it is a target: ``USDT 30`` holds 30% in
  cash, and without a USDT target the rule never spends cash it was not given; buys are then
  paid from the sales alone.
- **A drift trigger rebalances everything**: when any asset is more than ``max_drift_pp``
  percentage points from its target, every asset is planned back to its target.
- **A bounds trigger repairs the breach, and only moves the rest as much as that needs.** When
  an asset leaves its floor or ceiling ("if BTC falls below 5%, buy back to target"), it is
  planned back to its target; the counterpart is the quote first (down to, or up to, its own
  target: no trade, no fee), then the other assets in proportion to how far each is from its
  target on the side that helps (the overweight ones fund a purchase; the underweight ones
  receive a sale's proceeds). No other asset moves away from its target or past it. A drift
  trigger that fires at the same time wins (everything is rebalanced).
- **Sells first, then buys with what there is.** A sale brings ``value x (1 - fee)``; a buy costs
  ``value x (1 + fee)``. The buys are scaled down together when the quote available (the quote
  held, if it is a target, plus the sales' proceeds) cannot pay them. A trade worth less than
  ``min_trade`` is skipped (``skipped``, with the reason); amounts are rounded down to the
  market's step (``amount_steps``; ``NO_STEP`` when not given) and a sale never exceeds what is
  held. The quote is never traded against itself.
- Percentages are the portfolio's allocation (``portfolio.allocation``: to 0.0001, adding up to
  exactly 100); a drift is current minus target in percentage points. Sums and products are
  exact; quotients round down, so a plan never spends more than there is.

**Tolerance.** After the planned trades are made at the evaluated prices, every asset's drift
is within ``tolerance_pp`` (a full rebalance); with a bounds trigger, a breaching asset is
within ``tolerance_pp`` of its target and no other asset further from its own than before plus
``tolerance_pp``::

    R            = n x (min_trade + g) + 2 x fee x V
    tolerance_pp = 100 x 2R / (V - R)        (100 when V <= R)

with ``V`` the portfolio's value, ``n`` the target assets other than the quote and ``g`` the
largest step value (amount step x price). Why: a sale rounded down or skipped leaves its asset
at most ``min_trade + g`` above target; the sales' shortfall and the fees (at most
``2 x fee x V``: a fee on each side of a turnover of at most ``V``) are what scales the buys
down, so a buy, and the quote, end less than ``R`` from their targets, and the value changes by
less than ``R``; a share ``(d + r) / V'`` is then within ``2R / (V - R)`` of ``d / V``. Choose
``max_drift_pp`` above the tolerance, or the rule triggers again at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Context, Decimal, localcontext
from typing import Literal

from tresor.domain.errors import ValidationFailed
from tresor.domain.order_rules import floor_to_step, plain
from tresor.domain.portfolio import allocation

Side = Literal["buy", "sell"]
Scope = Literal["full", "bounds"]
ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
NO_STEP = Decimal("1e-18")
_EXACT_DIGITS = 80
_DOWN = Context(prec=_EXACT_DIGITS, rounding=ROUND_FLOOR)


@dataclass(frozen=True, slots=True)
class DriftTrigger:
    """Act when any asset is more than ``max_drift_pp`` percentage points from its target."""

    max_drift_pp: Decimal


@dataclass(frozen=True, slots=True)
class BoundsTrigger:
    """Act when ``asset`` falls below ``floor_pct`` or rises above ``ceiling_pct`` percent of
    the portfolio (either may be None)."""

    asset: str
    floor_pct: Decimal | None = None
    ceiling_pct: Decimal | None = None


Trigger = DriftTrigger | BoundsTrigger


@dataclass(frozen=True, slots=True)
class RuleSpec:
    targets: Mapping[str, Decimal]  # asset -> percent, adding up to exactly 100
    quote: str  # the asset trades go through and the portfolio is valued in
    triggers: tuple[Trigger, ...]
    min_trade: Decimal  # in the quote


@dataclass(frozen=True, slots=True)
class AssetState:
    asset: str
    amount: Decimal
    price: Decimal  # of one unit, in the quote
    value: Decimal
    current_pct: Decimal
    target_pct: Decimal
    drift_pp: Decimal  # current - target


@dataclass(frozen=True, slots=True)
class PlannedTrade:
    asset: str
    symbol: str  # ASSET/QUOTE
    side: Side
    amount: Decimal  # base, rounded down to the step
    value: Decimal  # amount x price, in the quote, before fees
    reason: str


@dataclass(frozen=True, slots=True)
class Evaluation:
    quote: str
    value: Decimal  # of the target assets, in the quote
    assets: tuple[AssetState, ...]  # in the order of the targets
    ignored: tuple[str, ...]  # held, not in the targets: left alone
    triggered: bool
    scope: Scope | None  # what the trades rebalance: everything, or the breaching assets
    reasons: tuple[str, ...]  # plain words: why it triggered, or why not
    trades: tuple[PlannedTrade, ...]  # sells first, then buys
    skipped: tuple[PlannedTrade, ...]  # trades not worth making, with the reason
    fees: Decimal  # the trades' estimated fees, in the quote
    tolerance_pp: Decimal  # see the module docstring


# -- validation --------------------------------------------------------------------------------
def parse_targets(pairs: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """``{asset: percent}`` from (asset, percent) pairs, refusing an asset given twice.

    Raises:
        ValidationFailed: an asset appears twice (in any letter case).
    """
    targets: dict[str, Decimal] = {}
    for asset, percent in pairs:
        if asset.upper() in (known.upper() for known in targets):
            raise _invalid(f"{asset} appears twice in the targets.", "Give each asset once.")
        targets[asset] = percent
    return targets


def validate_rule(spec: RuleSpec) -> None:
    """Raises: ValidationFailed, naming the first thing wrong with the rule."""
    if not spec.quote:
        raise _invalid("The rule needs a quote asset.", "Name the asset trades go through.")
    if not spec.targets:
        raise _invalid("The rule has no targets.", "Give target percentages, adding up to 100.")
    seen: set[str] = set()
    for asset, percent in spec.targets.items():
        if not asset or asset.upper() in seen:
            raise _invalid(
                f"{asset or 'An empty name'} appears twice or is empty in the targets.",
                "Give each asset once, by its symbol.",
            )
        seen.add(asset.upper())
        if not percent.is_finite() or not ZERO <= percent <= HUNDRED:
            raise _invalid(
                f"The target for {asset} must be between 0 and 100 percent, not {percent}.",
                "Give every target as a percentage from 0 to 100.",
            )
    total = sum(spec.targets.values(), ZERO)
    if total != HUNDRED:
        raise _invalid(
            f"The targets add up to {plain(total)}%, not 100%.",
            "Adjust the percentages so they add up to exactly 100.",
        )
    if not spec.min_trade.is_finite() or spec.min_trade < 0:
        raise _invalid(
            f"The minimum trade must be zero or more, not {spec.min_trade}.",
            f"Give the smallest trade worth making, in {spec.quote}.",
        )
    _validate_triggers(spec)


def _validate_triggers(spec: RuleSpec) -> None:
    if not spec.triggers:
        raise _invalid(
            "The rule has no trigger.",
            "Give a drift in percentage points, or a floor or ceiling for an asset.",
        )
    drifts = [t for t in spec.triggers if isinstance(t, DriftTrigger)]
    if len(drifts) > 1:
        raise _invalid("The rule has more than one drift trigger.", "Keep one.")
    for drift in drifts:
        if not drift.max_drift_pp.is_finite() or not ZERO < drift.max_drift_pp < HUNDRED:
            raise _invalid(
                f"The drift must be above 0 and below 100 points, not {drift.max_drift_pp}.",
                "Give the drift in percentage points, e.g. 5.",
            )
    bounded: set[str] = set()
    for bounds in (t for t in spec.triggers if isinstance(t, BoundsTrigger)):
        _validate_bounds(bounds, spec.targets, bounded)


def _validate_bounds(bounds: BoundsTrigger, targets: Mapping[str, Decimal], seen: set[str]) -> None:
    asset = bounds.asset
    if asset not in targets:
        raise _invalid(f"{asset} has bounds but no target.", "Bound only assets in the targets.")
    if asset in seen:
        raise _invalid(f"{asset} has bounds twice.", "Give one floor and ceiling per asset.")
    seen.add(asset)
    floor, ceiling, target = bounds.floor_pct, bounds.ceiling_pct, targets[asset]
    if floor is None and ceiling is None:
        raise _invalid(f"The bounds for {asset} have neither floor nor ceiling.", "Give one.")
    for name, value in (("floor", floor), ("ceiling", ceiling)):
        if value is not None and (not value.is_finite() or not ZERO <= value <= HUNDRED):
            raise _invalid(
                f"The {name} for {asset} must be between 0 and 100 percent, not {value}.",
                "Give bounds as percentages of the portfolio.",
            )
    if floor is not None and ceiling is not None and floor > ceiling:
        raise _invalid(
            f"The floor for {asset} ({plain(floor)}%) is above its ceiling ({plain(ceiling)}%).",
            "Give a floor below the ceiling.",
        )
    if (floor is not None and floor > target) or (ceiling is not None and ceiling < target):
        raise _invalid(
            f"The target for {asset} ({plain(target)}%) is outside its own bounds: the rule "
            "would trigger again right after rebalancing.",
            "Put the floor below the target and the ceiling above it.",
        )


def _invalid(message: str, remedy: str) -> ValidationFailed:
    return ValidationFailed(message, remedy=remedy)


# -- evaluation --------------------------------------------------------------------------------
def evaluate(
    spec: RuleSpec,
    holdings: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    *,
    fee: Decimal = ZERO,
    amount_steps: Mapping[str, Decimal] | None = None,
) -> Evaluation:
    """Value ``holdings`` at ``prices`` (asset -> price of one unit in the quote), decide
    whether the rule triggers and plan the trades (see the module docstring). ``fee`` is the
    taker fee as a fraction; ``amount_steps`` the markets' amount steps by asset.

    Raises:
        ValidationFailed: the rule is invalid, a target asset has no price in the quote, a
            holding is negative, or the fee is not a fraction below 1.
    """
    validate_rule(spec)
    _check_inputs(spec, holdings, prices, fee)
    with localcontext() as ctx:
        ctx.prec = _EXACT_DIGITS
        states = _states(spec, holdings, prices)
        value = sum((s.value for s in states), ZERO)
        ignored = tuple(
            sorted(a for a, amount in holdings.items() if amount > 0 and a not in spec.targets)
        )
        scope, breached, reasons = _decide(spec, states, value)
        desired = {s.asset: s.value for s in states}
        if scope == "full":
            desired = {s.asset: s.target_pct * value / HUNDRED for s in states}
        elif scope == "bounds":
            desired = _repair(spec, states, breached, value)
        repaired = breached if scope == "bounds" else frozenset()
        trades, skipped = _trades(spec, states, desired, fee, amount_steps or {}, repaired)
        return Evaluation(
            quote=spec.quote,
            value=value,
            assets=states,
            ignored=ignored,
            triggered=scope is not None,
            scope=scope,
            reasons=reasons,
            trades=trades,
            skipped=skipped,
            fees=sum((t.value * fee for t in trades), ZERO),
            tolerance_pp=_tolerance(spec, states, value, fee, amount_steps or {}),
        )


def _check_inputs(
    spec: RuleSpec, holdings: Mapping[str, Decimal], prices: Mapping[str, Decimal], fee: Decimal
) -> None:
    missing = [
        a
        for a in spec.targets
        if a != spec.quote and not ((p := prices.get(a)) is not None and p.is_finite() and p > 0)
    ]
    if missing:
        raise _invalid(
            f"No price in {spec.quote} for {', '.join(missing)}.",
            f"Choose a quote every target asset trades against (a market ASSET/{spec.quote}).",
        )
    negative = [a for a in spec.targets if holdings.get(a, ZERO) < 0]
    if negative:
        raise _invalid(f"Negative holdings of {', '.join(negative)}.", "Give amounts held.")
    if not fee.is_finite() or not ZERO <= fee < ONE:
        raise _invalid(f"The fee must be a fraction from 0 to 1, not {fee}.", "E.g. 0.001.")


def _states(
    spec: RuleSpec, holdings: Mapping[str, Decimal], prices: Mapping[str, Decimal]
) -> tuple[AssetState, ...]:
    amounts = {a: holdings.get(a, ZERO) for a in spec.targets}
    unit = {a: ONE if a == spec.quote else prices[a] for a in spec.targets}
    values = {a: amounts[a] * unit[a] for a in spec.targets}
    shares = allocation(values, sum(values.values(), ZERO))
    return tuple(
        AssetState(
            asset=a,
            amount=amounts[a],
            price=unit[a],
            value=values[a],
            current_pct=shares.get(a, ZERO),
            target_pct=target,
            drift_pp=shares.get(a, ZERO) - target,
        )
        for a, target in spec.targets.items()
    )


def _pct(value: Decimal) -> str:
    return plain(value.quantize(Decimal("0.01")))


def _decide(
    spec: RuleSpec, states: tuple[AssetState, ...], value: Decimal
) -> tuple[Scope | None, frozenset[str], tuple[str, ...]]:
    """(scope, breaching assets, reasons)."""
    if value <= 0:
        return None, frozenset(), ("The rule's assets hold nothing to rebalance.",)
    by_asset = {s.asset: s for s in states}
    fired: list[str] = []
    calm: list[str] = []
    full, breached = False, set[str]()
    for trigger in spec.triggers:
        if isinstance(trigger, DriftTrigger):
            limit = trigger.max_drift_pp
            far = [s for s in states if abs(s.drift_pp) > limit]
            full = full or bool(far)
            fired += [
                f"{s.asset} is {_pct(s.current_pct)}% of the portfolio, "
                f"{_pct(abs(s.drift_pp))} points {'above' if s.drift_pp > 0 else 'below'} its "
                f"{_pct(s.target_pct)}% target (the rule allows {plain(limit)})."
                for s in far
            ]
            if not far:
                calm.append(f"Every asset is within {plain(limit)} points of its target.")
            continue
        state = by_asset[trigger.asset]
        low, high, now = trigger.floor_pct, trigger.ceiling_pct, state.current_pct
        if low is not None and now < low:
            breached.add(state.asset)
            fired.append(
                f"{state.asset} is {_pct(now)}% of the portfolio, below its floor of {plain(low)}%."
            )
        elif high is not None and now > high:
            breached.add(state.asset)
            fired.append(
                f"{state.asset} is {_pct(now)}% of the portfolio, above its ceiling "
                f"of {plain(high)}%."
            )
        else:
            calm.append(f"{state.asset} is {_pct(now)}% of the portfolio, within its bounds.")
    if full:
        return "full", frozenset(breached), tuple(fired)
    if breached:
        return "bounds", frozenset(breached), tuple(fired)
    return None, frozenset(), tuple(calm)


def _repair(
    spec: RuleSpec, states: tuple[AssetState, ...], breached: frozenset[str], value: Decimal
) -> dict[str, Decimal]:
    """Desired values: breaching assets at their targets; the others move toward theirs, the
    quote first, then in proportion, by exactly what the breaching assets free or need."""
    desired = {s.asset: s.value for s in states}
    aim = {s.asset: s.target_pct * value / HUNDRED for s in states}
    for asset in breached:
        desired[asset] = aim[asset]
    freed = sum((s.value - aim[s.asset] for s in states if s.asset in breached), ZERO)
    # freed > 0: the breaching assets sell and the rest receive; < 0: the rest pay
    room = {
        s.asset: (aim[s.asset] - s.value if freed > 0 else s.value - aim[s.asset])
        for s in states
        if s.asset not in breached
    }
    room = {a: r for a, r in room.items() if r > 0}
    left = abs(freed)
    if spec.quote in room:
        moved = min(left, room.pop(spec.quote))
        desired[spec.quote] += moved if freed > 0 else -moved
        left -= moved
    total = sum(room.values(), ZERO)
    for asset, space in room.items():
        moved = min(space, left * space / total) if total > 0 else ZERO
        desired[asset] += moved if freed > 0 else -moved
    return desired


def _trades(
    spec: RuleSpec,
    states: tuple[AssetState, ...],
    desired: Mapping[str, Decimal],
    fee: Decimal,
    steps: Mapping[str, Decimal],
    breached: frozenset[str],
) -> tuple[tuple[PlannedTrade, ...], tuple[PlannedTrade, ...]]:
    sells: list[PlannedTrade] = []
    buys: list[tuple[AssetState, Decimal, str]] = []
    skipped: list[PlannedTrade] = []
    cash = next((s.value for s in states if s.asset == spec.quote), ZERO)
    for s in states:
        change = desired[s.asset] - s.value
        if s.asset == spec.quote or change == 0:
            continue
        why = _why(spec, s, breached, change)
        if change > 0:
            buys.append((s, change, why))
            continue
        trade = _trade(spec, s, "sell", _amount(-change, s, steps, most=s.amount), why)
        if _worth(spec, trade, skipped):
            sells.append(trade)
            cash += trade.value * (ONE - fee)
    wanted = sum((change for _, change, _ in buys), ZERO) * (ONE + fee)
    scale = ONE if wanted <= cash else _DOWN.divide(cash, wanted)
    bought: list[PlannedTrade] = []
    for s, change, why in buys:
        if scale < 1:
            why += f" (scaled down: the {spec.quote} available after the sales is short)"
        trade = _trade(spec, s, "buy", _amount(_DOWN.multiply(change, scale), s, steps), why)
        if _worth(spec, trade, skipped):
            bought.append(trade)
    return tuple(sells + bought), tuple(skipped)


def _amount(
    value: Decimal, state: AssetState, steps: Mapping[str, Decimal], most: Decimal | None = None
) -> Decimal:
    """The amount worth ``value`` (at most ``most``), rounded down to the market's step."""
    amount = _DOWN.divide(value, state.price)
    if most is not None:
        amount = min(amount, most)
    return floor_to_step(amount, steps.get(state.asset) or NO_STEP)


def _trade(spec: RuleSpec, s: AssetState, side: Side, amount: Decimal, why: str) -> PlannedTrade:
    return PlannedTrade(s.asset, f"{s.asset}/{spec.quote}", side, amount, amount * s.price, why)


def _worth(spec: RuleSpec, trade: PlannedTrade, skipped: list[PlannedTrade]) -> bool:
    if trade.amount > 0 and trade.value >= spec.min_trade:
        return True
    note = (
        f"worth {plain(trade.value)} {spec.quote}, below the rule's minimum trade of "
        f"{plain(spec.min_trade)} {spec.quote}"
        if trade.amount > 0
        else "below the market's amount step"
    )
    skipped.append(
        PlannedTrade(
            trade.asset,
            trade.symbol,
            trade.side,
            trade.amount,
            trade.value,
            f"Skipped, {note}: {trade.reason[0].lower()}{trade.reason[1:]}",
        )
    )
    return False


def _why(spec: RuleSpec, s: AssetState, breached: frozenset[str], change: Decimal) -> str:
    toward = f"{s.asset} from {_pct(s.current_pct)}% toward its {_pct(s.target_pct)}% target"
    if not breached or s.asset in breached:
        return f"To bring {toward}."
    return (
        f"To fund the rebalancing of {', '.join(sorted(breached))}, moving {toward}."
        if change < 0
        else f"With the proceeds of rebalancing {', '.join(sorted(breached))}, moving {toward}."
    )


def _tolerance(
    spec: RuleSpec,
    states: tuple[AssetState, ...],
    value: Decimal,
    fee: Decimal,
    steps: Mapping[str, Decimal],
) -> Decimal:
    """The module docstring's bound on the drift left after the plan, in points."""
    traded = [s for s in states if s.asset != spec.quote]
    step_value = max(((steps.get(s.asset) or NO_STEP) * s.price for s in traded), default=ZERO)
    residual = len(traded) * (spec.min_trade + step_value) + 2 * fee * value
    if value <= residual:
        return HUNDRED
    return min(HUNDRED, Context(prec=28).divide(HUNDRED * 2 * residual, value - residual))


# -- simulation --------------------------------------------------------------------------------
def apply_trades(
    holdings: Mapping[str, Decimal],
    trades: Iterable[PlannedTrade],
    *,
    quote: str,
    fee: Decimal,
) -> dict[str, Decimal]:
    """The holdings after ``trades`` fill at their planned value, the fee paid in the quote: a
    sale brings ``value x (1 - fee)``, a buy costs ``value x (1 + fee)``. For dry runs and to
    check that a rule converges."""
    after = dict(holdings)
    with localcontext() as ctx:
        ctx.prec = _EXACT_DIGITS
        for trade in trades:
            sign = ONE if trade.side == "buy" else -ONE
            after[trade.asset] = after.get(trade.asset, ZERO) + sign * trade.amount
            after[quote] = after.get(quote, ZERO) - sign * trade.value - trade.value * fee
    return after
