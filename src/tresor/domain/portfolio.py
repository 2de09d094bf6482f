"""A user's holdings valued in one quote, now and over time. Pure: the service fetches the
snapshots and sync states, these functions do the arithmetic.

Valuation rules (docs/portfolio.md):

- each connection's holdings are valued with the prices stored with its own latest snapshot
  (the exchange's prices when the snapshot was taken, ``domain.valuation``);
- a snapshot valued in another quote is crossed through its own price of the wanted quote;
  USD and the USD-pegged stablecoins (``USD_PEGGED``) count as one;
- an asset without a price has ``value`` None and stays out of the totals and the allocation;
- allocation is each asset's share of the total value in percent, to ``ALLOCATION_PLACES``,
  rounded by largest remainder so the shares add up to exactly 100.

What a connection's part of the portfolio is made of is its ``Standing`` (label, status, its
latest snapshot's ``SnapshotRef``, the last sync's outcome) and that snapshot's contents. A
snapshot is never changed once stored, so its holdings in a quote (``value_holdings``) and the
totals of a set of them (``asset_totals``) can be kept by their refs: only the freshness
(``age_s``) and the portfolio's ``at_ms`` depend on the time of asking.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import NamedTuple

from tresor.domain.errors import ValidationFailed
from tresor.domain.records import ValuedSnapshot
from tresor.domain.valuation import ONE, USD, USD_PEGGED

HUNDRED = Decimal(100)
ALLOCATION_PLACES = Decimal("0.0001")  # percent
MAX_POINTS_DEFAULT = 500  # the default interval gives at most this many points
MAX_POINTS = 5000  # a chosen interval may give at most this many
_NICE_INTERVALS_S = (60, 300, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400, 604800)


@dataclass(frozen=True, slots=True)
class Holding:
    """One asset on one connection."""

    asset: str
    free: Decimal
    locked: Decimal
    total: Decimal
    price: Decimal | None  # of one unit, in the quote; None: no market leads there
    value: Decimal | None


@dataclass(frozen=True, slots=True)
class Freshness:
    taken_ms: int | None  # the snapshot valued; None: no snapshot yet
    age_s: int | None
    last_success_ms: int | None
    last_error_code: str | None


@dataclass(frozen=True, slots=True)
class ConnectionHoldings:
    connection_id: str
    label: str
    exchange: str
    status: str
    freshness: Freshness
    holdings: tuple[Holding, ...]  # by asset
    value: Decimal  # of the priced holdings


@dataclass(frozen=True, slots=True)
class AssetTotal:
    """One asset across the connections."""

    asset: str
    total: Decimal
    value: Decimal | None  # None: priced on no connection
    allocation: Decimal | None  # percent of the portfolio's value


@dataclass(frozen=True, slots=True)
class Portfolio:
    quote: str
    at_ms: int
    connections: tuple[ConnectionHoldings, ...]
    assets: tuple[AssetTotal, ...]  # by value, largest first; unpriced last, by name
    total: Decimal
    # what the portfolio was made of besides the time (``PortfolioService``: the quote and the
    # connections' standings): two portfolios with equal bases differ only in ``at_ms`` and
    # the ages; None when not known. Not part of the portfolio's value (compare=False).
    basis: Hashable | None = field(default=None, compare=False, repr=False)


class SnapshotRef(NamedTuple):
    """A stored balance snapshot by its row: the same ref is always the same contents. (A
    named tuple: refs are dictionary keys on every request, hashed and compared in C.)"""

    connection_id: str
    snapshot_id: int
    taken_ms: int


class Standing(NamedTuple):
    """One connection as the portfolio shows it, but its holdings: what the store reads in one
    statement (the connection, its latest snapshot's ref, its sync state's outcome). A named
    tuple, as ``SnapshotRef``: a portfolio's standings are its ``basis``."""

    connection_id: str
    label: str
    exchange: str
    status: str
    snapshot: SnapshotRef | None  # the latest taken (ties: the last stored); None: none yet
    last_success_ms: int | None
    last_error_code: str | None


@dataclass(frozen=True, slots=True)
class ValuedHoldings:
    """A snapshot's holdings valued in one quote, and their value."""

    holdings: tuple[Holding, ...]  # by asset
    value: Decimal


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """The value at the end of the bucket [start_ms, end_ms): each connection's latest snapshot
    taken before ``end_ms``, valued at its own stored prices."""

    start_ms: int
    end_ms: int
    value: Decimal | None  # None: no connection had a snapshot yet
    connections: int  # how many connections' snapshots make up the value


@dataclass(frozen=True, slots=True)
class History:
    quote: str
    since_ms: int
    until_ms: int
    interval_ms: int
    points: tuple[HistoryPoint, ...]


# -- prices ------------------------------------------------------------------------------------
def _same_money(a: str, b: str) -> bool:
    return a == b or (USD in (a, b) and a in USD_PEGGED and b in USD_PEGGED)


def prices_in(valued: ValuedSnapshot, quote: str) -> dict[str, Decimal]:
    """The snapshot's prices in ``quote``: as stored, or crossed through the stored price of
    ``quote`` (empty when the snapshot has none)."""
    if valued.quote == quote:
        return dict(valued.prices)
    rate = ONE if _same_money(valued.quote, quote) else valued.prices.get(quote)
    if rate is None or rate <= 0:
        return {}
    return {asset: price / rate for asset, price in valued.prices.items()}


def _price(asset: str, quote: str, prices: Mapping[str, Decimal]) -> Decimal | None:
    return ONE if asset == quote else prices.get(asset)


def snapshot_value(valued: ValuedSnapshot, quote: str) -> Decimal:
    """The value of the snapshot's priced assets in ``quote``."""
    prices = prices_in(valued, quote)
    total = Decimal(0)
    for asset, balance in valued.snapshot.balances.items():
        price = _price(asset, quote, prices)
        if price is not None:
            total += balance.total * price
    return total


# -- the portfolio now -------------------------------------------------------------------------
def value_holdings(valued: ValuedSnapshot, quote: str) -> ValuedHoldings:
    """The snapshot's holdings, by asset, valued at its own prices in ``quote``."""
    holdings: list[Holding] = []
    prices = prices_in(valued, quote)
    for asset, balance in sorted(valued.snapshot.balances.items()):
        price = _price(asset, quote, prices)
        total = balance.total
        holdings.append(
            Holding(
                asset=asset,
                free=balance.free,
                locked=balance.locked,
                total=total,
                price=price,
                value=None if price is None else total * price,
            )
        )
    value = sum((h.value for h in holdings if h.value is not None), Decimal(0))
    return ValuedHoldings(tuple(holdings), value)


_NOTHING = ValuedHoldings((), Decimal(0))


def standing_holdings(
    standing: Standing, valued: ValuedHoldings | None, *, now_ms: int
) -> ConnectionHoldings:
    """The connection's part of the portfolio: its standing, its holdings (``valued``, those
    of ``standing.snapshot``; None without a snapshot) and their freshness at ``now_ms``."""
    taken = standing.snapshot.taken_ms if standing.snapshot is not None else None
    held = valued if valued is not None and taken is not None else _NOTHING
    return ConnectionHoldings(
        connection_id=standing.connection_id,
        label=standing.label,
        exchange=standing.exchange,
        status=standing.status,
        freshness=Freshness(
            taken_ms=taken,
            age_s=None if taken is None else max(0, now_ms - taken) // 1000,
            last_success_ms=standing.last_success_ms,
            last_error_code=standing.last_error_code,
        ),
        holdings=held.holdings,
        value=held.value,
    )


def asset_totals(
    connections: Iterable[ConnectionHoldings],
) -> tuple[tuple[AssetTotal, ...], Decimal]:
    """Each asset's amount and value across ``connections`` with its allocation (largest
    value first, unpriced last by name), and the grand total."""
    amounts: dict[str, Decimal] = {}
    values: dict[str, Decimal] = {}
    for holdings in connections:
        for h in holdings.holdings:
            amounts[h.asset] = amounts.get(h.asset, Decimal(0)) + h.total
            if h.value is not None:
                values[h.asset] = values.get(h.asset, Decimal(0)) + h.value
    total = sum(values.values(), Decimal(0))
    shares = allocation(values, total)
    assets = [
        AssetTotal(asset, amounts[asset], values.get(asset), shares.get(asset)) for asset in amounts
    ]
    assets.sort(key=lambda a: (a.value is None, -(a.value or 0), a.asset))
    return tuple(assets), total


def summarize(connections: Sequence[ConnectionHoldings], *, quote: str, now_ms: int) -> Portfolio:
    """Totals per asset across ``connections``, their allocation and the grand total."""
    assets, total = asset_totals(connections)
    return Portfolio(quote, now_ms, tuple(connections), assets, total)


def allocation(values: Mapping[str, Decimal], total: Decimal) -> dict[str, Decimal]:
    """Each value's share of ``total`` in percent, to ``ALLOCATION_PLACES``, adding up to
    exactly 100 (largest remainder); empty when there is nothing to share."""
    if total <= 0:
        return {}
    raw = {asset: value * HUNDRED / total for asset, value in values.items()}
    shares = {a: r.quantize(ALLOCATION_PLACES, rounding=ROUND_DOWN) for a, r in raw.items()}
    missing = int((HUNDRED - sum(shares.values(), Decimal(0))) / ALLOCATION_PLACES)
    order = sorted(raw, key=lambda a: (-(raw[a] - shares[a]), a))
    if missing < 0:  # a rounded quotient landed above its true value: take back from the last
        order.reverse()
    for asset in order[: abs(missing)]:
        shares[asset] += ALLOCATION_PLACES if missing > 0 else -ALLOCATION_PLACES
    return shares


# -- the value over time -----------------------------------------------------------------------
def default_interval_ms(since_ms: int, until_ms: int, max_points: int = MAX_POINTS_DEFAULT) -> int:
    """The shortest round interval giving at most ``max_points`` points."""
    span = until_ms - since_ms
    for seconds in _NICE_INTERVALS_S:
        if -(-span // (seconds * 1000)) <= max_points:
            return seconds * 1000
    return -(-span // (max_points * 1000)) * 1000


def check_range(since_ms: int, until_ms: int, interval_ms: int) -> None:
    """Raises: ValidationFailed (an empty range, or too many points)."""
    if until_ms <= since_ms:
        raise ValidationFailed(
            "'since' must be before 'until'.", remedy="Give a 'since' earlier than 'until'."
        )
    if interval_ms <= 0 or -(-(until_ms - since_ms) // interval_ms) > MAX_POINTS:
        raise ValidationFailed(
            f"That interval gives more than {MAX_POINTS} points.",
            remedy="Choose a longer interval or a shorter range, or leave 'interval' out.",
        )


def history_points(
    *,
    quote: str,
    since_ms: int,
    until_ms: int,
    interval_ms: int,
    carried: Mapping[str, Decimal],
    values: Iterable[tuple[str, int, Decimal]],
) -> History:
    """Buckets of ``interval_ms`` from ``since_ms``. ``carried``: by connection, the value (in
    ``quote``) of its latest snapshot before ``since_ms``; ``values``: (connection, taken_ms,
    value) of snapshots taken in the range, oldest first (only each connection's last one in a
    bucket counts, so the others may be left out)."""
    latest = dict(carried)
    pending = iter(values)
    upcoming = next(pending, None)
    points: list[HistoryPoint] = []
    start = since_ms
    while start < until_ms:
        end = min(start + interval_ms, until_ms)
        while upcoming is not None and upcoming[1] < end:
            latest[upcoming[0]] = upcoming[2]
            upcoming = next(pending, None)
        value = sum(latest.values(), Decimal(0)) if latest else None
        points.append(HistoryPoint(start, end, value, len(latest)))
        start = end
    return History(quote, since_ms, until_ms, interval_ms, tuple(points))
