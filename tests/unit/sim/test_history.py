"""The history generator: a realistic, consistent and reproducible past for an account."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import pytest

from tresor.sim.catalogue import pairs_for
from tresor.sim.engine import Venue
from tresor.sim.history import DEFAULT_SYMBOLS, HistoryError, HistorySpec, generate
from tresor.sim.market import Market
from tresor.sim.state import Account

NOW = 1_750_000_000_000
PAIRS = pairs_for(list(DEFAULT_SYMBOLS))


@dataclass
class Generated:
    venue: Venue
    account: Account
    counts: dict[str, int]
    seconds: float


def generated(trades: int, seed: int, *, days: int = 90, venue_seed: int = 5) -> Generated:
    venue = Venue(Market(PAIRS, venue_seed))
    account = venue.create_account({}, NOW)
    started = time.perf_counter()
    counts = generate(venue, account, HistorySpec(days=days, trades=trades, seed=seed), NOW)
    return Generated(venue, account, counts, time.perf_counter() - started)


@pytest.fixture(scope="module")
def big() -> Generated:
    return generated(50_000, seed=3)


def test_fifty_thousand_trades_over_twenty_symbols_take_seconds_not_minutes(
    big: Generated,
) -> None:
    assert len(DEFAULT_SYMBOLS) == 20
    assert big.seconds < 15
    assert set(big.account.trades) == set(DEFAULT_SYMBOLS)


def test_exactly_the_requested_number_of_trades_is_generated(big: Generated) -> None:
    assert big.counts["trades"] == 50_000
    assert sum(len(t) for t in big.account.trades.values()) == 50_000
    assert big.counts["orders"] == sum(len(o) for o in big.account.orders.values())
    assert big.counts["deposits"] == len(big.account.deposits) > 0
    assert big.counts["withdrawals"] == len(big.account.withdrawals) > 0


def test_history_lies_within_the_requested_days_and_before_now(big: Generated) -> None:
    start = NOW - 90 * 86_400_000
    times = [t.time for trades in big.account.trades.values() for t in trades]
    times += [d.time for d in big.account.deposits] + [w.time for w in big.account.withdrawals]
    assert start - 3_600_000 <= min(times)  # a deposit may precede its first order by an hour
    assert max(times) < NOW


def test_final_balances_are_never_negative(big: Generated) -> None:
    for asset, bal in big.account.balances.items():
        assert bal.free >= 0, asset
        assert bal.locked >= 0, asset


def test_ids_grow_with_time_within_every_symbol(big: Generated) -> None:
    for symbol, orders in big.account.orders.items():
        keys = [(o.time, o.order_id) for o in orders]
        assert keys == sorted(keys), symbol
        assert len({o.order_id for o in orders}) == len(orders), symbol
    for symbol, trades in big.account.trades.items():
        ids = [t.trade_id for t in trades]
        assert ids == sorted(set(ids)), symbol
        times = [t.time for t in trades]
        assert times == sorted(times), symbol


def test_every_trade_belongs_to_an_order_whose_totals_it_makes_up(big: Generated) -> None:
    for symbol, orders in big.account.orders.items():
        by_order: dict[int, list[tuple[Decimal, Decimal]]] = defaultdict(list)
        for t in big.account.trades.get(symbol, []):
            by_order[t.order_id].append((t.price, t.qty))
        assert set(by_order) <= {o.order_id for o in orders}, symbol
        for o in orders:
            fills = by_order.get(o.order_id, [])
            assert o.executed_qty == sum((q for _, q in fills), Decimal(0))
            assert o.cum_quote == sum((p * q for p, q in fills), Decimal(0))
            assert o.executed_qty <= o.orig_qty
            if o.status == "FILLED":
                assert o.executed_qty == o.orig_qty
            elif o.status == "NEW":
                assert o.executed_qty == 0
                assert o.locked == o.orig_qty * o.price
            else:
                assert o.status in ("CANCELED", "EXPIRED")
                assert o.executed_qty < o.orig_qty


def _effects(g: Generated) -> list[tuple[int, int, str, Decimal]]:
    """Every balance change the records imply, as (time, deposits first, asset, amount)."""
    pairs = g.venue.market.pairs
    out: list[tuple[int, int, str, Decimal]] = []
    for d in g.account.deposits:
        out.append((d.time, 0, d.coin, d.amount))
    for w in g.account.withdrawals:
        out.append((w.time, 1, w.coin, -(w.amount + w.fee)))
    for symbol, trades in g.account.trades.items():
        pair = pairs[symbol]
        for t in trades:
            sign = 1 if t.is_buyer else -1
            out.append((t.time, 1, pair.base, sign * t.qty))
            out.append((t.time, 1, pair.quote, -sign * t.price * t.qty))
            out.append((t.time, 1, t.commission_asset, -t.commission))
    return out


def test_balances_equal_deposits_less_withdrawals_and_fees_plus_trades(big: Generated) -> None:
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for _, _, asset, amount in _effects(big):
        expected[asset] += amount
    assets = set(expected) | set(big.account.balances)
    for asset in assets:
        bal = big.account.balance(asset)
        assert bal.free + bal.locked == expected[asset], asset
    open_orders = [o for orders in big.account.orders.values() for o in orders if o.is_open]
    assert open_orders
    locked: dict[str, Decimal] = defaultdict(Decimal)
    for o in open_orders:
        locked[big.venue.market.pairs[o.symbol].quote] += o.locked
    assert {a: b.locked for a, b in big.account.balances.items() if b.locked} == locked


def test_no_balance_goes_negative_at_any_point_of_the_past(big: Generated) -> None:
    running: dict[str, Decimal] = defaultdict(Decimal)
    for when, _, asset, amount in sorted(_effects(big), key=lambda e: (e[0], e[1])):
        running[asset] += amount
        assert running[asset] >= 0, (asset, when)


def test_the_same_seed_gives_the_same_history() -> None:
    first, second = generated(1500, seed=11), generated(1500, seed=11)
    other = generated(1500, seed=12)

    def records(g: Generated) -> tuple[object, ...]:
        acct = g.account
        return (
            [o.query_json() for s in sorted(acct.orders) for o in acct.orders[s]],
            [t.json() for s in sorted(acct.trades) for t in acct.trades[s]],
            [d.json() for d in acct.deposits],
            [w.json() for w in acct.withdrawals],
            {a: (b.free, b.locked) for a, b in acct.balances.items()},
        )

    assert records(first) == records(second)
    assert records(first) != records(other)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (HistorySpec(days=0), "days must be between 1 and 3650"),
        (HistorySpec(days=3651), "days must be between 1 and 3650"),
        (HistorySpec(trades=-1), "trades must be between 0 and 2,000,000"),
        (HistorySpec(trades=2_000_001), "trades must be between 0 and 2,000,000"),
        (HistorySpec(symbols=("BTCUSDT", "NOPEUSDT")), "unknown symbol(s): NOPEUSDT"),
    ],
)
def test_bad_specs_are_rejected_with_a_reason(spec: HistorySpec, message: str) -> None:
    venue = Venue(Market(PAIRS, 1))
    account = venue.create_account({}, NOW)
    with pytest.raises(HistoryError) as caught:
        generate(venue, account, spec, NOW)
    assert str(caught.value) == message
    assert not account.orders
    assert not account.deposits


def test_a_second_history_for_an_account_with_orders_is_refused() -> None:
    g = generated(50, seed=1, days=5)
    trades_before = sum(len(t) for t in g.account.trades.values())
    with pytest.raises(HistoryError, match="without orders"):
        generate(g.venue, g.account, HistorySpec(days=5, trades=50, seed=2), NOW)
    assert sum(len(t) for t in g.account.trades.values()) == trades_before
