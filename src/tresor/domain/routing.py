"""Smart order routing: how to buy or sell an amount of one asset across the user's venues.

``plan_route(request, venues)`` walks each venue's order book (a ``Venue`` is one connection's
market: its ``MarketRules``, its ``OrderBook`` and the free balance the order would spend) and
returns the ``RoutePlan`` that fills the most of the requested amount, then at the best price
net of fees: one venue, or a split over several. Pure and exact: ``Decimal`` sums and products
at 80 digits; only averages are quotients (28 significant digits).

Decisions, and why:

- **Taker fees, valued in the quote.** Every leg takes liquidity (a limit IOC), so it pays the
  market's ``taker_fee``: ``fee = gross x taker_fee``; a buy's ``net`` is what it costs with
  the fee, a sell's what it brings after it. Levels are compared by their effective price,
  ``price x (1 + fee)`` for a buy (cheapest first), ``price x (1 - fee)`` for a sell (highest
  first). A venue that takes the fee from the base received (Binance) charges the same value.
- **Greedy on effective price is optimal before rounding.** A venue's cost grows ever faster
  along its book (each level is worse than the last), so taking the best remaining level across
  all venues gives the cheapest fill of any amount. The amounts are then rounded down to each
  market's ``amount_step`` and what rounding left is offered, in whole steps, to the venues whose
  next level is best.
- **Minimums are searched, not ignored.** A leg below its market's minimum amount or order value
  is either dropped (its amount goes to the others) or raised to its smallest valid order (taken
  from the others); both are tried, up to ``MAX_TRIES`` allocations, and every venue alone is
  tried too. The chosen plan fills the most; among those, the best net price; then fewer legs;
  then connection ids. So a split is chosen only when it beats every single venue that fills
  as much (or fills more than any can), and ties fall out the same way every time.
- **Each leg is an IOC at its limit price** (``Leg.limit_price``): the worst level the plan
  reaches on that book, moved by the request's ``allowance`` (a fraction) away from the market
  onto the price tick. With no allowance a leg cannot fill worse than quoted, and a book that
  moved by one tick before execution fills less or nothing; the allowance lets it fill at most
  that much worse. Balances and the maximum order value are checked at the limit price.
  Its minimum and maximum order value are checked as the exchange checks a limit order, amount x
  limit price (``order_rules.check_order``).
- **Balances are respected conservatively.** A buy leg is sized so that amount x limit price x
  (1 + fee) fits the free quote: the exchange locks amount x limit price for a limit buy before
  matching, and an exchange that charges the fee in the quote needs it too. A sell leg sells at
  most the free base.
- A market without an ``amount_step`` is given ``NO_STEP`` (1e-18, the decimals the database
  keeps). Book levels off the price tick or outside the market's price limits are ignored: an
  order there would be refused.

When the plan fills less than asked, ``shortfall`` says why, in this order: the books together
are not deep enough (``depth``), the free balances do not reach (``balance``), or the markets'
steps, minimums and maximums leave the rest (``rules``).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext
from typing import Literal

from tresor.domain.errors import ValidationFailed
from tresor.domain.market import Level, OrderBook
from tresor.domain.order_rules import MarketRules, floor_to_step, round_price

Side = Literal["buy", "sell"]
Shortfall = Literal["depth", "balance", "rules"]
ZERO = Decimal(0)
ONE = Decimal(1)
NO_STEP = Decimal("1e-18")
MAX_TRIES = 64  # allocations tried when minimums force a choice between venues
_EXACT_DIGITS = 80
_QUOTIENT = Context(prec=28)


@dataclass(frozen=True, slots=True)
class Venue:
    """One connection's market for the pair, as the router sees it now."""

    connection_id: str
    rules: MarketRules
    book: OrderBook
    available: Decimal  # free balance of what a leg spends: the quote (buy) or the base (sell)


@dataclass(frozen=True, slots=True)
class RouteRequest:
    side: Side
    base: str
    quote: str
    amount: Decimal  # in the base asset
    # how far past the worst level quoted a leg's limit may go (a fraction: 0.002 is 0.2 %),
    # so a book that moved a tick before execution still fills; the balance check counts it
    allowance: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Leg:
    """One order of the plan: a limit IOC of ``amount`` at ``limit_price`` on one connection."""

    connection_id: str
    exchange: str
    symbol: str
    side: Side
    amount: Decimal  # base, a whole multiple of the market's step
    average_price: Decimal  # gross / amount, before fees
    gross: Decimal  # quote, the book walk's value before fees
    fee: Decimal  # quote, gross x taker fee
    net: Decimal  # quote: paid with the fee (buy), received after it (sell)
    limit_price: Decimal  # the worst level reached: the protective IOC limit
    reserved: Decimal  # the free balance the leg may hold: quote (buy) or base (sell)


@dataclass(frozen=True, slots=True)
class VenueQuote:
    """What one venue could do on its own, or why it takes no part."""

    connection_id: str
    exchange: str
    alone: Leg | None  # its best plan alone; None: it can fill nothing
    note: str | None  # plain words: why it cannot take part, or what limits it


@dataclass(frozen=True, slots=True)
class RoutePlan:
    side: Side
    base: str
    quote: str
    requested: Decimal
    legs: tuple[Leg, ...]  # by connection id
    filled: Decimal  # planned, never above requested
    gross: Decimal
    fee: Decimal
    net: Decimal
    average_price: Decimal | None  # gross / filled
    net_price: Decimal | None  # net / filled: the price with fees
    unfilled: Decimal
    shortfall: Shortfall | None  # why something is unfilled
    best_single: Leg | None  # the best venue alone, for comparison
    venues: tuple[VenueQuote, ...]  # in the order given


def slippage(*, side: Side, quoted: Decimal, executed: Decimal) -> Decimal:
    """How much worse ``executed`` is than the ``quoted`` price, as a fraction of it (negative:
    better). A buy is worse when it paid more, a sell when it received less."""
    moved = executed - quoted if side == "buy" else quoted - executed
    return _QUOTIENT.divide(moved, quoted)


def plan_route(request: RouteRequest, venues: Sequence[Venue]) -> RoutePlan:
    """The best plan to fill ``request`` on ``venues`` (see the module docstring).

    Raises:
        ValidationFailed: a side other than buy/sell, an amount not above zero, or two venues
            with the same connection id.
    """
    _check(request, venues)
    with localcontext() as ctx:
        ctx.prec = _EXACT_DIGITS
        ranked = sorted(venues, key=lambda v: v.connection_id)
        ladders: list[_Ladder] = []
        notes: dict[str, str] = {}
        for rank, venue in enumerate(ranked):
            built = _ladder(venue, rank, request)
            if isinstance(built, str):
                notes[venue.connection_id] = built
                continue
            ladders.append(built)
            if built.note is not None:
                notes[venue.connection_id] = built.note
        usable = [ladder for ladder in ladders if ladder.usable]
        singles = {ladder.rank: _best(_search([ladder], request), request) for ladder in usable}
        candidates = [*_search(usable, request), *(s for s in singles.values() if s)]
        chosen = _best(candidates, request) or ()
        best_single = _best([s for s in singles.values() if s], request)
        legs = tuple(_leg(ladder, amount) for ladder, amount in chosen)
        alone = {s[0][0].venue.connection_id: _leg(*s[0]) for s in singles.values() if s}
        quotes = tuple(
            VenueQuote(
                v.connection_id,
                v.rules.exchange,
                alone.get(v.connection_id),
                notes.get(v.connection_id),
            )
            for v in venues
        )
        return _plan(request, legs, ladders, best_single, quotes)


# -- checks and ladders ------------------------------------------------------------------------
def _check(request: RouteRequest, venues: Sequence[Venue]) -> None:
    if request.side not in ("buy", "sell"):
        raise ValidationFailed(
            f"The side must be 'buy' or 'sell', not {request.side!r}.",
            remedy="Send side 'buy' or 'sell'.",
        )
    if not request.amount.is_finite() or request.amount <= 0:
        raise ValidationFailed(
            f"The amount must be above zero, not {request.amount}.",
            remedy=f"Give the amount of {request.base} to {request.side}, above zero.",
        )
    ids = [v.connection_id for v in venues]
    if len(set(ids)) != len(ids):
        raise ValidationFailed(
            "A connection appears twice among the venues.",
            remedy="Give each connection once.",
        )


@dataclass(frozen=True, slots=True)
class _Ladder:
    """A venue's side of the book, made ready: usable levels best first, cumulative amounts and
    values, and the amounts a leg may take (``lot`` <= amount <= ``cap``, whole steps)."""

    venue: Venue
    rank: int  # position by connection id: the tie-break
    buy: bool
    step: Decimal
    fee: Decimal
    allowance: Decimal
    prices: tuple[Decimal, ...]
    ends: tuple[Decimal, ...]  # cumulative amount at the end of each level
    values: tuple[Decimal, ...]  # cumulative gross at the end of each level
    depth: Decimal
    funded: Decimal  # what the free balance reaches, within the depth
    cap: Decimal
    lot: Decimal | None = None  # the smallest valid leg; None: no valid leg in the book
    note: str | None = None

    @property
    def usable(self) -> bool:
        return self.lot is not None and self.lot <= self.cap

    def walk(self, amount: Decimal) -> tuple[Decimal, Decimal]:
        """(gross, worst level's price) of taking ``amount`` (0 < amount <= depth)."""
        i = bisect_left(self.ends, amount)
        before = self.ends[i - 1] if i else ZERO
        value = self.values[i - 1] if i else ZERO
        return value + (amount - before) * self.prices[i], self.prices[i]

    def limit(self, amount: Decimal) -> Decimal:
        """The leg's limit price: the worst level it reaches, moved by the allowance away from
        the market (a buy up, a sell down) onto the tick, within the market's price limits."""
        worst = self.walk(amount)[1]
        if not self.allowance:
            return worst
        rules = self.venue.rules
        moved = worst * (ONE + self.allowance if self.buy else ONE - self.allowance)
        price = round_price(moved, rules.price_tick, "buy" if self.buy else "sell")
        if self.buy:
            if rules.max_price is not None:
                price = min(price, rules.max_price)
            return max(price, worst)
        if rules.min_price is not None:
            price = max(price, rules.min_price)
        return min(price, worst)

    def key(self, level: int) -> tuple[Decimal, int, int]:
        """Order of levels across venues: best effective price, then connection, then depth."""
        price = self.prices[level]
        effective = price * (ONE + self.fee) if self.buy else -price * (ONE - self.fee)
        return effective, self.rank, level

    def chunk_key(self, position: Decimal, more: Decimal) -> tuple[Decimal, int]:
        """Order of the chunks left by rounding: best average effective price, then connection."""
        start = self.walk(position)[0] if position else ZERO
        price = (self.walk(position + more)[0] - start) / more
        return (price * (ONE + self.fee) if self.buy else -price * (ONE - self.fee)), self.rank

    def valid(self, amount: Decimal) -> bool:
        """Whether ``amount`` is a leg the market accepts and the venue can fill and fund."""
        rules = self.venue.rules
        if amount <= 0 or amount > self.cap or amount % self.step != 0:
            return False
        notional = amount * self.limit(amount)
        return (
            (rules.min_amount is None or amount >= rules.min_amount)
            and (rules.min_notional is None or notional >= rules.min_notional)
            and (rules.max_notional is None or notional <= rules.max_notional)
        )


def _ladder(venue: Venue, rank: int, request: RouteRequest) -> _Ladder | str:
    rules, buy = venue.rules, request.side == "buy"
    if (rules.base, rules.quote) != (request.base, request.quote):
        return f"Its market {rules.symbol} is not {request.base}/{request.quote}."
    if not rules.trading:
        return f"{rules.symbol} is not trading on {rules.exchange} now."
    if not ZERO <= rules.taker_fee < ONE:
        return f"Its taker fee {rules.taker_fee} is not a fraction between 0 and 1."
    levels = _levels(venue.book.asks if buy else venue.book.bids, rules, buy=buy)
    if not levels:
        return f"Its order book has no {'asks' if buy else 'bids'} to take."
    step = rules.amount_step if rules.amount_step and rules.amount_step > 0 else NO_STEP
    prices, ends, values = _cumulate(levels)
    depth, available = ends[-1], max(venue.available, ZERO)
    fee = rules.taker_fee
    allowance = max(request.allowance, ZERO)
    factor = (ONE + fee) * (ONE + allowance)
    funded = _prefix(prices, ends, available, factor) if buy else min(available, depth)
    limits = [depth, funded, request.amount]
    if rules.max_amount is not None:
        limits.append(rules.max_amount)
    if rules.max_notional is not None:
        limits.append(_prefix(prices, ends, rules.max_notional, ONE + allowance))
    cap = floor_to_step(max(min(limits), ZERO), step)
    ladder = _Ladder(
        venue, rank, buy, step, fee, allowance, prices, ends, values, depth, funded, cap
    )
    while cap > 0 and not _fits(ladder, cap, available):  # a quotient rounded up: one step less
        cap -= step
    lot = _smallest_lot(prices, ends, step, rules)
    note = None
    if lot is None:
        note = "Its book is too thin for the market's minimum order."
    elif cap < lot:
        side = "quote" if buy else "base"
        note = (
            f"Its smallest valid order ({lot} {request.base}) is more than it can take "
            f"(book depth {depth}, free {side} {available}, asked {request.amount})."
        )
    elif funded < min(depth, request.amount):
        note = f"Its free balance limits it to {cap} {request.base}."
    return _Ladder(
        venue, rank, buy, step, fee, allowance, prices, ends, values, depth, funded, cap, lot, note
    )


def _levels(levels: Iterable[Level], rules: MarketRules, *, buy: bool) -> list[Level]:
    tick = rules.price_tick
    kept = [
        (price, amount)
        for price, amount in levels
        if price > 0
        and amount > 0
        and (tick is None or tick <= 0 or price % tick == 0)
        and (rules.min_price is None or price >= rules.min_price)
        and (rules.max_price is None or price <= rules.max_price)
    ]
    return sorted(kept, key=lambda level: level[0], reverse=not buy)


def _cumulate(
    levels: Sequence[Level],
) -> tuple[tuple[Decimal, ...], tuple[Decimal, ...], tuple[Decimal, ...]]:
    ends: list[Decimal] = []
    values: list[Decimal] = []
    amount = value = ZERO
    for price, size in levels:
        amount += size
        value += price * size
        ends.append(amount)
        values.append(value)
    return tuple(p for p, _ in levels), tuple(ends), tuple(values)


def _prefix(
    prices: Sequence[Decimal], ends: Sequence[Decimal], budget: Decimal, factor: Decimal
) -> Decimal:
    """The largest amount A such that every amount up to A keeps A' x limit(A') x ``factor``
    within ``budget`` (the limit is the price of the level A' ends in)."""
    before = ZERO
    for price, end in zip(prices, ends, strict=True):
        most = budget / (price * factor)
        if most < end:
            return max(most, before)
        before = end
    return before


def _fits(ladder: _Ladder, amount: Decimal, available: Decimal) -> bool:
    """The exact check behind the cap's quotients: funds and the maximum order value."""
    limit = ladder.limit(amount)
    rules = ladder.venue.rules
    if ladder.buy and amount * limit * (ONE + ladder.fee) > available:
        return False
    return rules.max_notional is None or amount * limit <= rules.max_notional


def _ceil(value: Decimal, step: Decimal) -> Decimal:
    return -floor_to_step(-value, step)


def _smallest_lot(
    prices: Sequence[Decimal], ends: Sequence[Decimal], step: Decimal, rules: MarketRules
) -> Decimal | None:
    """The smallest whole-step amount meeting the minimum amount and minimum order value
    (amount x the limit price it reaches), or None when the book holds none."""
    least = max(step, _ceil(rules.min_amount or ZERO, step))
    before = ZERO
    for price, end in zip(prices, ends, strict=True):
        low = max(least, floor_to_step(before, step) + step)  # the first whole step past before
        if rules.min_notional is not None:
            low = max(low, _ceil(rules.min_notional / price, step))
            if low * price < rules.min_notional:
                low += step
        if low <= end:
            return low
        before = end
    return None


# -- allocation --------------------------------------------------------------------------------
Allocation = tuple[tuple[_Ladder, Decimal], ...]  # (venue, amount), by rank, amounts above zero
_State = tuple[frozenset[int], tuple[tuple[int, Decimal], ...]]  # members, floors by rank


def _search(ladders: Sequence[_Ladder], request: RouteRequest) -> list[Allocation]:
    """Every valid allocation found over ``ladders``, breadth first from the greedy one: where
    it leaves a leg below its market's minimum, without that venue and with it raised to its
    smallest valid leg; where rounding down to steps leaves the order short, with a venue
    given one step more than rounding left it (the others give way)."""
    found: list[Allocation] = []
    by_rank = {ladder.rank: ladder for ladder in ladders}
    pending: deque[_State] = deque([(frozenset(by_rank), ())])
    seen: set[_State] = set()
    while pending and len(seen) < MAX_TRIES:
        state = pending.popleft()
        if state in seen:
            continue
        seen.add(state)
        members, floors = state
        allocation, branches = _allocate(
            [by_rank[rank] for rank in sorted(members)], dict(floors), request.amount
        )
        if allocation:
            found.append(allocation)
        for dropped, raised in branches:
            kept = {rank: low for rank, low in floors if rank != dropped}
            if raised is not None:
                kept[raised[0]] = raised[1]
            rest = members if dropped is None else members - {dropped}
            pending.append((rest, tuple(sorted(kept.items()))))
    return found


_Branch = tuple[int | None, tuple[int, Decimal] | None]  # a venue dropped, a venue's new floor


def _allocate(
    ladders: Sequence[_Ladder], floors: dict[int, Decimal], amount: Decimal
) -> tuple[Allocation | None, list[_Branch]]:
    """The greedy allocation of ``amount``, each venue holding at least its floor (None when a
    leg breaks its market's rules or the floors exceed the amount), and the branches to try."""
    held = {ladder.rank: floors.get(ladder.rank, ZERO) for ladder in ladders}
    remaining = amount - sum(held.values(), ZERO)
    if remaining < 0:
        return None, []
    queue: list[tuple[tuple[Decimal, int, int], _Ladder]] = []
    for ladder in ladders:
        _push(queue, ladder, held[ladder.rank])
    while remaining > 0 and queue:
        _, ladder = heapq.heappop(queue)
        position = held[ladder.rank]
        level_end = min(ladder.ends[bisect_right(ladder.ends, position)], ladder.cap)
        take = min(level_end - position, remaining)
        held[ladder.rank] = position + take
        remaining -= take
        _push(queue, ladder, held[ladder.rank])
    exact = dict(held)
    for ladder in ladders:  # whole steps; what rounding left goes to the best next levels
        held[ladder.rank] = floor_to_step(held[ladder.rank], ladder.step)
    remaining = amount - sum(held.values(), ZERO)
    open_ = list(ladders)
    while remaining > 0:  # each venue at most once: it takes all it can, or the rest
        chunks = [
            (ladder.chunk_key(held[ladder.rank], more), ladder, more)
            for ladder in open_
            if (more := floor_to_step(min(remaining, ladder.cap - held[ladder.rank]), ladder.step))
            > 0
        ]
        if not chunks:
            break
        _, ladder, more = min(chunks, key=lambda chunk: chunk[0])
        held[ladder.rank] += more
        remaining -= more
        open_.remove(ladder)
    for ladder in ladders:
        taken = held[ladder.rank]
        if taken > 0 and not ladder.valid(taken):  # without it, or raised to its smallest leg
            lot = ladder.lot or ZERO
            return None, [
                (ladder.rank, None),
                *([(None, (ladder.rank, lot))] if lot > taken else []),
            ]
    branches: list[_Branch] = []
    if remaining > 0:  # rounding left the order short: one more step on a venue it cut
        for ladder in ladders:
            more = held[ladder.rank] + ladder.step
            if exact[ladder.rank] > held[ladder.rank] and more <= ladder.cap:
                branches.append((None, (ladder.rank, more)))
    allocation = tuple((ladder, held[ladder.rank]) for ladder in ladders if held[ladder.rank] > 0)
    return allocation, branches


def _push(
    queue: list[tuple[tuple[Decimal, int, int], _Ladder]], ladder: _Ladder, position: Decimal
) -> None:
    if position < ladder.cap:
        heapq.heappush(queue, (ladder.key(bisect_right(ladder.ends, position)), ladder))


def _best(candidates: Iterable[Allocation], request: RouteRequest) -> Allocation | None:
    """The allocation filling the most, then at the best net value, then with fewer legs, then
    by connection ids."""
    buy = request.side == "buy"

    def order(allocation: Allocation) -> tuple[Decimal, Decimal, int, tuple[str, ...]]:
        filled = sum((amount for _, amount in allocation), ZERO)
        net = sum((_leg(ladder, amount).net for ladder, amount in allocation), ZERO)
        ids = tuple(ladder.venue.connection_id for ladder, _ in allocation)
        return -filled, net if buy else -net, len(allocation), ids

    return min(candidates, key=order, default=None)


# -- the plan ----------------------------------------------------------------------------------
def _leg(ladder: _Ladder, amount: Decimal) -> Leg:
    gross = ladder.walk(amount)[0]
    limit = ladder.limit(amount)
    fee = gross * ladder.fee
    rules = ladder.venue.rules
    return Leg(
        connection_id=ladder.venue.connection_id,
        exchange=rules.exchange,
        symbol=rules.symbol,
        side="buy" if ladder.buy else "sell",
        amount=amount,
        average_price=_QUOTIENT.divide(gross, amount),
        gross=gross,
        fee=fee,
        net=gross + fee if ladder.buy else gross - fee,
        limit_price=limit,
        reserved=amount * limit * (ONE + ladder.fee) if ladder.buy else amount,
    )


def _plan(
    request: RouteRequest,
    legs: tuple[Leg, ...],
    ladders: Sequence[_Ladder],
    best_single: Allocation | None,
    venues: tuple[VenueQuote, ...],
) -> RoutePlan:
    filled = sum((leg.amount for leg in legs), ZERO)
    gross = sum((leg.gross for leg in legs), ZERO)
    fee = sum((leg.fee for leg in legs), ZERO)
    net = sum((leg.net for leg in legs), ZERO)
    unfilled = request.amount - filled
    shortfall: Shortfall | None = None
    if unfilled > 0:
        if sum((ladder.depth for ladder in ladders), ZERO) < request.amount:
            shortfall = "depth"
        elif sum((min(ladder.depth, ladder.funded) for ladder in ladders), ZERO) < request.amount:
            shortfall = "balance"
        else:
            shortfall = "rules"
    return RoutePlan(
        side=request.side,
        base=request.base,
        quote=request.quote,
        requested=request.amount,
        legs=legs,
        filled=filled,
        gross=gross,
        fee=fee,
        net=net,
        average_price=_QUOTIENT.divide(gross, filled) if filled else None,
        net_price=_QUOTIENT.divide(net, filled) if filled else None,
        unfilled=unfilled,
        shortfall=shortfall,
        best_single=_leg(*best_single[0]) if best_single else None,
        venues=venues,
    )
