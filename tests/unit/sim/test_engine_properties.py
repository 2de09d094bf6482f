"""Money and balance properties of the matching engine, over random sequences of orders.

Every step of a random session (limit and market orders on both sides, GTC/IOC/FOK, cancels and
waits that let resting orders fill as makers) must leave the account's books exact: no negative
balance, locked funds equal to what the open orders hold, every unit of every asset accounted
for by the starting balances and the trades, with ``Decimal`` and no rounding drift.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tresor.sim.catalogue import pairs_for
from tresor.sim.engine import EIGHT, Venue
from tresor.sim.errors import SimError
from tresor.sim.market import Market
from tresor.sim.rules import floor_step
from tresor.sim.state import Account, Balance

SYMBOLS = ("BTCUSDT", "ETHUSDT", "ETHBTC", "LINKBTC")  # deep to thin books
PAIRS = pairs_for(list(SYMBOLS))
START = 1_750_000_000_000
FUNDS = {
    "USDT": Decimal("150000"),
    "BTC": Decimal("1.5"),
    "ETH": Decimal("30"),
    "LINK": Decimal("3000"),
}

place = st.tuples(
    st.just("place"),
    st.sampled_from(SYMBOLS),
    st.sampled_from(("BUY", "SELL")),
    st.sampled_from(("LIMIT", "LIMIT", "MARKET")),
    st.sampled_from(("GTC", "GTC", "IOC", "FOK")),
    st.one_of(st.integers(8, 2_000), st.integers(2_000, 60_000)),  # order value in USD
    st.one_of(st.integers(-40, 40), st.integers(-300, 300)),  # limit offset from mid, in bp
    st.booleans(),  # market orders: by quoteOrderQty instead of quantity
)
cancel = st.tuples(st.just("cancel"), st.integers(0, 1000))
wait = st.tuples(
    st.just("wait"), st.one_of(st.integers(1, 600_000), st.integers(600_000, 8 * 3_600_000))
)
# (one_of would merge repeated branches: weights come from sampling the kind)
step_kinds = {"place": place, "cancel": cancel, "wait": wait}
kinds = ("place", "place", "place", "cancel", "wait", "wait")
steps = st.sampled_from(kinds).flatmap(step_kinds.__getitem__)
sessions = st.lists(steps, min_size=6, max_size=30)


def new_venue(seed: int) -> tuple[Venue, Account]:
    venue = Venue(Market(PAIRS, seed))
    return venue, venue.create_account(dict(FUNDS), START)


def snapshot(account: Account) -> dict[str, tuple[Decimal, Decimal]]:
    return {a: (b.free, b.locked) for a, b in account.balances.items()}


def place_random(venue: Venue, account: Account, step: tuple[object, ...], now: int) -> None:
    _, symbol, side, type_, tif, usd, offset_bp, by_quote = step
    assert isinstance(symbol, str)
    assert isinstance(usd, int)
    assert isinstance(offset_bp, int)
    market = venue.market
    pair = market.pairs[symbol]
    base_usd = Decimal(repr(market.usd(pair.base, now)))
    qty = floor_step(Decimal(usd) / base_usd, pair.step_size)
    price = None
    quote_qty = None
    if type_ == "LIMIT":
        mid = market.price(symbol, now)
        price = floor_step(mid * (1 + Decimal(offset_bp) / 10_000), pair.tick_size)
    elif by_quote:
        quote_usd = Decimal(repr(market.usd(pair.quote, now)))
        quote_qty = (Decimal(usd) / quote_usd).quantize(EIGHT)
        qty = None
    venue.settle_account(account, now)
    before = snapshot(account)
    orders_before = sum(len(v) for v in account.orders.values())
    try:
        venue.place_order(
            account,
            pair,
            side=str(side),
            type_=str(type_),
            tif=str(tif) if type_ == "LIMIT" else None,
            qty=qty,
            quote_qty=quote_qty,
            price=price,
            client_id=None,
            now=now,
        )
    except SimError:
        # a rejected order changes nothing
        assert snapshot(account) == before
        assert sum(len(v) for v in account.orders.values()) == orders_before


def check_books(venue: Venue, account: Account) -> None:
    pairs = venue.market.pairs
    # no negative balance
    for asset, bal in account.balances.items():
        assert bal.free >= 0, (asset, bal)
        assert bal.locked >= 0, (asset, bal)
    # locked funds are exactly what the open orders hold
    held: dict[str, Decimal] = defaultdict(Decimal)
    open_ids = set()
    for orders in account.orders.values():
        for o in orders:
            if o.is_open:
                open_ids.add(o.order_id)
                pair = pairs[o.symbol]
                if o.side == "BUY":
                    assert o.locked == o.remaining * o.price
                    held[pair.quote] += o.locked
                else:
                    assert o.locked == o.remaining
                    held[pair.base] += o.locked
            else:
                assert o.locked == 0
    assert set(account.open_orders) == open_ids
    for asset, bal in account.balances.items():
        assert bal.locked == held[asset], asset
    # conservation: starting funds plus trade effects equal free + locked, exactly
    expected: dict[str, Decimal] = defaultdict(Decimal, FUNDS)
    by_order: dict[tuple[str, int], list[tuple[Decimal, Decimal]]] = defaultdict(list)
    for symbol, trades in account.trades.items():
        pair = pairs[symbol]
        for t in trades:
            sign = 1 if t.is_buyer else -1
            expected[pair.base] += sign * t.qty
            expected[pair.quote] -= sign * t.price * t.qty
            expected[t.commission_asset] -= t.commission
            assert t.commission_asset == (pair.base if t.is_buyer else pair.quote)
            by_order[(symbol, t.order_id)].append((t.price, t.qty))
    for asset in set(expected) | set(account.balances):
        bal = account.balances.get(asset, Balance())
        assert bal.free + bal.locked == expected[asset], asset
    # every order agrees with its own trades, and its status with its executed quantity
    for symbol, orders in account.orders.items():
        for o in orders:
            fills = by_order.get((symbol, o.order_id), [])
            assert o.executed_qty == sum((q for _, q in fills), Decimal(0))
            assert o.cum_quote == sum((p * q for p, q in fills), Decimal(0))
            assert o.executed_qty <= o.orig_qty
            if o.status == "NEW":
                assert o.executed_qty == 0
            elif o.status == "PARTIALLY_FILLED":
                assert 0 < o.executed_qty < o.orig_qty
            elif o.status == "FILLED":
                assert o.executed_qty == o.orig_qty
            elif o.status == "CANCELED":
                assert o.executed_qty < o.orig_qty
            else:
                assert o.status == "EXPIRED"
                # a quoteOrderQty market order reports what it bought as its quantity
                assert o.executed_qty < o.orig_qty or o.orig_quote_qty > 0


def check_ids_follow_time(account: Account) -> None:
    for orders in account.orders.values():
        keys = [(o.time, o.order_id) for o in orders]
        assert keys == sorted(keys)
        assert len({o.order_id for o in orders}) == len(orders)
    for trades in account.trades.values():
        ids = [t.trade_id for t in trades]
        assert ids == sorted(set(ids))
        by_id = sorted(trades, key=lambda t: t.trade_id)
        times = [t.time for t in by_id]
        assert times == sorted(times), "a later trade id carries an earlier time"


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), steps=sessions)
def test_random_sessions_keep_balances_exact_and_never_negative(
    seed: int,
    steps: list[tuple[object, ...]],
) -> None:
    venue, account = new_venue(seed)
    now = START
    for step in steps:
        if step[0] == "place":
            place_random(venue, account, step, now)
        elif step[0] == "cancel":
            open_now = sorted(account.open_orders)
            if open_now:
                index = step[1]
                assert isinstance(index, int)
                order = account.open_orders[open_now[index % len(open_now)]]
                venue.cancel(account, order, now)
                assert order.status == "CANCELED"
        else:
            delta = step[1]
            assert isinstance(delta, int)
            now += delta
            venue.settle_all(now)
        check_books(venue, account)
        check_ids_follow_time(account)


def test_resting_orders_of_one_symbol_fill_in_time_order_across_orders() -> None:
    venue, account = new_venue(3)
    pair = venue.market.pairs["BTCUSDT"]
    mid = venue.market.price("BTCUSDT", START)
    # the deeper bid is placed first; the shallower one crosses first as the price falls
    for factor in ("0.998", "0.999"):
        price = floor_step(mid * Decimal(factor), pair.tick_size)
        order, fills = venue.place_order(
            account,
            pair,
            side="BUY",
            type_="LIMIT",
            tif="GTC",
            qty=Decimal("0.2"),
            quote_qty=None,
            price=price,
            client_id=None,
            now=START,
        )
        assert order.status == "NEW"
        assert fills == []
    venue.settle_account(account, START + 6 * 3_600_000)
    trades = account.trades["BTCUSDT"]
    assert len(trades) == 2
    assert trades[0].time < trades[1].time
    assert trades[0].trade_id < trades[1].trade_id
    check_books(venue, account)


def test_cancel_returns_the_locked_funds_to_free() -> None:
    venue, account = new_venue(1)
    pair = venue.market.pairs["ETHUSDT"]
    price = floor_step(venue.market.price("ETHUSDT", START) / 2, pair.tick_size)
    order, _ = venue.place_order(
        account,
        pair,
        side="BUY",
        type_="LIMIT",
        tif="GTC",
        qty=Decimal("1"),
        quote_qty=None,
        price=price,
        client_id=None,
        now=START,
    )
    assert account.balance("USDT").locked == price
    venue.cancel(account, order, START + 1000)
    assert account.balance("USDT") == Balance(free=FUNDS["USDT"], locked=Decimal(0))
    assert order.status == "CANCELED"
    assert order.order_id not in account.open_orders


def test_open_orders_in_different_symbols_are_all_kept_and_settled() -> None:
    venue, account = new_venue(2)
    placed = []
    for symbol in ("BTCUSDT", "ETHUSDT", "BTCUSDT"):
        pair = venue.market.pairs[symbol]
        price = floor_step(venue.market.price(symbol, START) * Decimal("0.9"), pair.tick_size)
        qty = floor_step(Decimal(100) / price, pair.step_size) + pair.step_size
        order, _ = venue.place_order(
            account,
            pair,
            side="BUY",
            type_="LIMIT",
            tif="GTC",
            qty=qty,
            quote_qty=None,
            price=price,
            client_id=None,
            now=START,
        )
        placed.append(order)
    assert sorted(account.open_orders.values(), key=lambda o: o.order_id) == placed
    check_books(venue, account)
    venue.cancel(account, placed[1], START + 1)
    assert list(account.open_orders.values()) == [placed[0], placed[2]]
    check_books(venue, account)
