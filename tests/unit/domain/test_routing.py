"""The smart order router: venue choice by price net of fees, splits, balances, steps and
minimums, and properties over random books checked against an independent book walk, the
market's own pre-trade checks and, on small books, every possible allocation."""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tresor.domain.errors import ValidationFailed
from tresor.domain.market import OrderBook
from tresor.domain.order_rules import MarketRules, check_order
from tresor.domain.routing import (
    Leg,
    RoutePlan,
    RouteRequest,
    Side,
    Venue,
    plan_route,
    slippage,
)

D = Decimal
RICH = D(10) ** 9


def rules(
    exchange: str = "binance",
    *,
    fee: str = "0.001",
    step: str | None = "0.001",
    tick: str | None = "0.01",
    min_amount: str | None = None,
    min_notional: str | None = None,
    max_amount: str | None = None,
    max_notional: str | None = None,
    trading: bool = True,
    symbol: str = "BTC/USDT",
) -> MarketRules:
    base, quote = symbol.split("/")
    return MarketRules(
        exchange=exchange,
        symbol=symbol,
        base=base,
        quote=quote,
        trading=trading,
        amount_step=D(step) if step else None,
        price_tick=D(tick) if tick else None,
        min_amount=D(min_amount) if min_amount else None,
        max_amount=D(max_amount) if max_amount else None,
        market_min_amount=None,
        market_max_amount=None,
        min_price=None,
        max_price=None,
        min_notional=D(min_notional) if min_notional else None,
        max_notional=D(max_notional) if max_notional else None,
        maker_fee=D(fee),
        taker_fee=D(fee),
    )


def venue(
    cid: str,
    asks: list[tuple[str, str]] | None = None,
    bids: list[tuple[str, str]] | None = None,
    *,
    available: Decimal = RICH,
    **rule_args: object,
) -> Venue:
    market = rules(cid, **rule_args)  # type: ignore[arg-type]
    book = OrderBook(
        cid,
        market.symbol,
        0,
        tuple((D(p), D(a)) for p, a in bids or []),
        tuple((D(p), D(a)) for p, a in asks or []),
    )
    return Venue(cid, market, book, available)


def buy(amount: str) -> RouteRequest:
    return RouteRequest("buy", "BTC", "USDT", D(amount))


def sell(amount: str) -> RouteRequest:
    return RouteRequest("sell", "BTC", "USDT", D(amount))


def legs(plan: RoutePlan) -> list[tuple[str, Decimal]]:
    return [(leg.connection_id, leg.amount) for leg in plan.legs]


# -- choosing venues ---------------------------------------------------------------------------
def test_a_buy_goes_to_the_venue_cheapest_after_fees_not_the_lowest_ask() -> None:
    dear_fee = venue("a", [("100.00", "5")], fee="0.002")  # 100.2 with the fee
    cheap_fee = venue("b", [("100.10", "5")], fee="0.0005")  # 100.15005 with the fee
    plan = plan_route(buy("1"), [dear_fee, cheap_fee])
    assert legs(plan) == [("b", D(1))]
    assert plan.net == D("100.10") * (1 + D("0.0005"))
    assert plan.best_single is not None
    assert plan.best_single.connection_id == "b"


def test_a_sell_goes_to_the_venue_paying_most_after_fees() -> None:
    a = venue("a", bids=[("99.9", "5")], fee="0.001")  # 99.8001 after the fee
    b = venue("b", bids=[("100.0", "5")], fee="0.003")  # 99.7
    plan = plan_route(sell("2"), [a, b])
    assert legs(plan) == [("a", D(2))]
    assert plan.net == D("199.8") * (1 - D("0.001"))
    assert plan.legs[0].side == "sell"


def test_the_order_splits_when_no_venue_is_deep_enough_and_each_leg_stops_at_its_worst_level() -> (
    None
):
    a = venue("a", [("100", "0.5"), ("101", "1")])
    b = venue("b", [("100.5", "0.3"), ("102", "5")])
    plan = plan_route(buy("0.7"), [a, b])
    # 0.5 at 100 on a, then b's 100.5 beats a's 101
    assert legs(plan) == [("a", D("0.5")), ("b", D("0.2"))]
    assert [leg.limit_price for leg in plan.legs] == [D(100), D("100.5")]
    assert plan.filled == D("0.7")
    assert plan.unfilled == 0
    assert plan.shortfall is None
    assert plan.gross == D("0.5") * 100 + D("0.2") * D("100.5")


def test_a_split_is_chosen_only_when_it_beats_every_venue_alone() -> None:
    # both venues could fill alone; the split of their best levels is cheaper than either
    a = venue("a", [("100", "1"), ("103", "5")])
    b = venue("b", [("101", "1"), ("102", "5")])
    plan = plan_route(buy("2"), [a, b])
    assert legs(plan) == [("a", D(1)), ("b", D(1))]  # 100 + 101
    assert plan.best_single is not None  # 100 + 103 on a, 101 + 102 on b: a tie, a first
    assert plan.best_single.connection_id == "a"
    assert plan.net == D(201) * D("1.001")
    assert plan.best_single.net == D(203) * D("1.001")


def test_one_venue_is_kept_when_a_split_would_cost_the_same() -> None:
    a = venue("a", [("100", "5")])
    b = venue("b", [("100", "5")])
    plan = plan_route(buy("2"), [b, a])
    assert legs(plan) == [("a", D(2))]  # one leg, and the first connection id


def test_what_the_books_cannot_fill_is_reported_as_depth() -> None:
    plan = plan_route(buy("10"), [venue("a", [("100", "1")]), venue("b", [("101", "2")])])
    assert plan.filled == 3
    assert plan.unfilled == 7
    assert plan.shortfall == "depth"


# -- balances, steps and minimums --------------------------------------------------------------
def test_a_buy_leg_fits_the_free_quote_at_its_limit_price_with_the_fee() -> None:
    poor = venue("a", [("100", "5")], available=D("150.15"))  # 1.5 x 100 x 1.001
    other = venue("b", [("110", "5")])
    plan = plan_route(buy("2"), [poor, other])
    assert legs(plan) == [("a", D("1.5")), ("b", D("0.5"))]
    assert plan.legs[0].reserved == D("150.15")


def test_a_sell_never_sells_more_than_the_free_base_and_says_the_balance_is_short() -> None:
    plan = plan_route(sell("3"), [venue("a", bids=[("100", "10")], available=D("1.2345"))])
    assert legs(plan) == [("a", D("1.234"))]  # rounded down to the step 0.001
    assert plan.shortfall == "balance"
    assert plan.venues[0].note is not None


def test_leg_amounts_are_rounded_down_to_each_markets_step() -> None:
    a = venue("a", [("100", "0.55")], step="0.1")
    b = venue("b", [("100.5", "5")], step="0.01")
    plan = plan_route(buy("1.234"), [a, b])
    assert legs(plan) == [("a", D("0.5")), ("b", D("0.73"))]
    assert plan.unfilled == D("0.004")
    assert plan.shortfall == "rules"


def test_a_leg_below_the_minimum_order_value_is_raised_to_it_rather_than_left_unfilled() -> None:
    deep = venue("a", [("100", "0.95")])
    # b's 0.05 would be worth 5.05, below its 10 USDT minimum: b takes 0.1 and a 0.9
    thin_min = venue("b", [("101", "5")], min_notional="10")
    plan = plan_route(buy("1"), [deep, thin_min])
    assert legs(plan) == [("a", D("0.9")), ("b", D("0.1"))]
    assert plan.filled == 1


def test_a_leg_below_the_minimum_is_dropped_when_raising_it_costs_more() -> None:
    a = venue("a", [("100", "1"), ("100.1", "5")])
    b = venue("b", [("99", "0.01"), ("150", "5")], min_amount="0.1")
    plan = plan_route(buy("1"), [a, b])
    assert legs(plan) == [("a", D(1))]


def test_a_leg_below_its_minimum_is_dropped_and_its_share_spread_over_the_others() -> None:
    a = venue("a", [("100", "0.6")])
    c = venue("c", [("100.05", "0.6")])
    # b's first 0.01 is the best price, but b's minimum is 0.1 and its next level is dear
    b = venue("b", [("99", "0.01"), ("150", "5")], min_amount="0.1")
    plan = plan_route(buy("1"), [a, b, c])
    assert legs(plan) == [("a", D("0.6")), ("c", D("0.4"))]


def test_what_rounding_to_steps_leaves_goes_to_a_venue_with_a_finer_step() -> None:
    coarse = venue("a", [("100", "2.5"), ("103", "10")], step="1")
    fine = venue("b", [("101", "5")], step="0.1")
    plan = plan_route(buy("3"), [coarse, fine])
    # the greedy's 2.5 + 0.5 rounds to 2 + 0.5; the 0.5 left goes to b, not a third step on a
    assert legs(plan) == [("a", D(2)), ("b", D(1))]
    assert plan.gross == 301


def test_a_coarse_step_venue_gets_one_step_more_when_rounding_leaves_the_order_short() -> None:
    coarse = venue("a", bids=[("95.68", "20")], step="1", max_amount="5")
    poor = venue("b", bids=[("99.82", "6.58")], step="0.1", available=D("1.347"))
    plan = plan_route(sell("5.203"), [coarse, poor])
    # greedy then rounding gives b 1.3 and a 3 (3.903 rounded down): 4.3 of 5.203
    assert legs(plan) == [("a", D(4)), ("b", D("1.2"))]
    assert plan.unfilled == D("0.003")


def test_venues_that_cannot_take_part_say_why() -> None:
    halted = venue("halted", [("90", "5")], trading=False)
    other_pair = venue("eth", [("90", "5")], symbol="ETH/USDT")
    empty = venue("empty", [])
    minimum = venue("min", [("90", "5")], min_amount="3")
    plan = plan_route(buy("1"), [halted, other_pair, empty, minimum, venue("ok", [("100", "5")])])
    assert legs(plan) == [("ok", D(1))]
    notes = {quote.connection_id: quote.note for quote in plan.venues}
    assert "not trading" in (notes["halted"] or "")
    assert "is not BTC/USDT" in (notes["eth"] or "")
    assert "no asks" in (notes["empty"] or "")
    assert "smallest valid order" in (notes["min"] or "")
    assert notes["ok"] is None
    assert [quote.connection_id for quote in plan.venues] == ["halted", "eth", "empty", "min", "ok"]


def test_a_venue_alone_is_quoted_for_comparison() -> None:
    plan = plan_route(buy("1"), [venue("a", [("100", "5")]), venue("b", [("101", "0.5")])])
    alone = {quote.connection_id: quote.alone for quote in plan.venues}
    assert alone["a"] is not None
    assert alone["a"].amount == 1
    assert alone["b"] is not None
    assert alone["b"].amount == D("0.5")


def test_a_request_the_router_cannot_read_is_refused() -> None:
    a = venue("a", [("100", "5")])
    with pytest.raises(ValidationFailed):
        plan_route(buy("0"), [a])
    with pytest.raises(ValidationFailed):
        plan_route(RouteRequest("hold", "BTC", "USDT", D(1)), [a])  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed):
        plan_route(buy("1"), [a, a])


def test_slippage_is_positive_when_the_fill_was_worse_than_quoted() -> None:
    assert slippage(side="buy", quoted=D(100), executed=D(101)) == D("0.01")
    assert slippage(side="sell", quoted=D(100), executed=D(101)) == D("-0.01")


# -- properties --------------------------------------------------------------------------------
STEPS = ("1", "0.1", "0.01", "0.001", None)


@st.composite
def venues(draw: st.DrawFn, count: int = 3) -> list[Venue]:
    out = []
    for i in range(draw(st.integers(1, count))):
        prices = sorted(
            draw(st.lists(st.integers(9_000, 11_000), min_size=0, max_size=5, unique=True))
        )
        levels = [
            (D(p) / 100, D(draw(st.integers(1, 30_000))) / 1000)  # 0.001 .. 30 in steps
            for p in prices
        ]
        asks = [(p, a) for p, a in levels if p >= 100]
        bids = [(p, a) for p, a in reversed(levels) if p < 100]
        market = MarketRules(
            exchange=f"x{i}",
            symbol="BTC/USDT",
            base="BTC",
            quote="USDT",
            trading=True,
            amount_step=(None if (s := draw(st.sampled_from(STEPS))) is None else D(s)),
            price_tick=D("0.01"),
            min_amount=draw(st.sampled_from((None, D("0.01"), D("0.5")))),
            max_amount=draw(st.sampled_from((None, D(5)))),
            market_min_amount=None,
            market_max_amount=None,
            min_price=None,
            max_price=None,
            min_notional=draw(st.sampled_from((None, D(5), D(60)))),
            max_notional=draw(st.sampled_from((None, D(700)))),
            maker_fee=D(0),
            taker_fee=draw(st.sampled_from((D(0), D("0.001"), D("0.00075"), D("0.002")))),
        )
        available = (
            D(draw(st.sampled_from((0, 1, 50, 300, 2_000, 10**7))))
            + D(draw(st.integers(0, 999))) / 1000
        )
        book = OrderBook(market.exchange, market.symbol, 0, tuple(bids), tuple(asks))
        out.append(Venue(f"c{i}", market, book, available))
    return out


requests = st.builds(
    RouteRequest,
    side=st.sampled_from(("buy", "sell")),
    base=st.just("BTC"),
    quote=st.just("USDT"),
    amount=st.integers(1, 40_000).map(lambda n: D(n) / 1000),
)


NO_ALLOWANCE = D(0)


def walk(book: OrderBook, side: Side, amount: Decimal) -> tuple[Decimal, Decimal]:
    """An independent book walk: (gross, worst price) of taking ``amount``."""
    levels = book.asks if side == "buy" else book.bids
    gross, left, worst = D(0), amount, D(0)
    for price, size in levels:
        if left <= 0:
            break
        take = min(size, left)
        gross += take * price
        left -= take
        worst = price
    assert left == 0, "the leg takes more than the book holds"
    return gross, worst


def assert_leg_is_sound(leg: Leg, v: Venue, allowance: Decimal = NO_ALLOWANCE) -> None:
    market, side = v.rules, leg.side
    gross, worst = walk(v.book, side, leg.amount)
    assert leg.gross == gross
    if allowance == 0:
        assert leg.limit_price == worst
    elif side == "buy":
        assert worst <= leg.limit_price <= worst * (1 + allowance)
    else:
        assert worst * (1 - allowance) <= leg.limit_price <= worst
    assert leg.fee == gross * market.taker_fee
    assert leg.net == (gross + leg.fee if side == "buy" else gross - leg.fee)
    # the exchange's own checks for a limit IOC at the protective price, with the free balance
    spent = market.quote if side == "buy" else market.base
    check_order(
        market,
        side=side,
        order_type="limit",
        amount=leg.amount,
        price=leg.limit_price,
        time_in_force="IOC",
        reference_price=None,
        free={spent: v.available},
    )
    if market.amount_step is not None:
        assert leg.amount % market.amount_step == 0
    if side == "buy":
        assert leg.net <= v.available
        assert leg.amount * leg.limit_price * (1 + market.taker_fee) <= v.available
    else:
        assert leg.amount <= v.available


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests, given_venues=venues())
def test_every_plan_is_executable_exact_and_never_more_than_asked(
    request: RouteRequest, given_venues: list[Venue]
) -> None:
    plan = plan_route(request, given_venues)
    by_id = {v.connection_id: v for v in given_venues}
    assert plan.filled <= request.amount
    assert plan.filled == sum((leg.amount for leg in plan.legs), D(0))
    assert plan.unfilled == request.amount - plan.filled
    assert (plan.shortfall is None) == (plan.unfilled == 0)
    assert len({leg.connection_id for leg in plan.legs}) == len(plan.legs)
    for leg in plan.legs:
        assert leg.amount > 0
        assert_leg_is_sound(leg, by_id[leg.connection_id])
    for quote in plan.venues:
        if quote.alone is not None:
            assert_leg_is_sound(quote.alone, by_id[quote.connection_id])
    assert plan.net == sum((leg.net for leg in plan.legs), D(0))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request=requests,
    given_venues=venues(),
    allowance=st.sampled_from((D("0.0005"), D("0.002"), D("0.01"), D("0.05"))),
)
def test_with_an_allowance_each_limit_moves_at_most_that_far_and_still_fits_every_rule(
    request: RouteRequest, given_venues: list[Venue], allowance: Decimal
) -> None:
    plan = plan_route(replace(request, allowance=allowance), given_venues)
    by_id = {v.connection_id: v for v in given_venues}
    assert plan.filled <= request.amount
    for leg in plan.legs:
        assert_leg_is_sound(leg, by_id[leg.connection_id], allowance)
        # what the leg may lock at its limit is what the plan reserved for it
        if leg.side == "buy":
            fee = by_id[leg.connection_id].rules.taker_fee
            assert leg.reserved == leg.amount * leg.limit_price * (1 + fee)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests, given_venues=venues())
def test_the_plan_fills_at_least_as_much_as_any_venue_alone_and_costs_no_more_for_as_much(
    request: RouteRequest, given_venues: list[Venue]
) -> None:
    plan = plan_route(request, given_venues)
    for v in given_venues:
        alone = plan_route(request, [v])
        assert alone.filled <= plan.filled
        if alone.filled == plan.filled and plan.filled > 0:
            if request.side == "buy":
                assert plan.net <= alone.net
            else:
                assert plan.net >= alone.net
    if plan.best_single is not None:
        assert plan.best_single.amount <= plan.filled


@settings(max_examples=100, deadline=None)
@given(request=requests, given_venues=venues())
def test_the_plan_does_not_depend_on_the_order_venues_are_given_in(
    request: RouteRequest, given_venues: list[Venue]
) -> None:
    forward = plan_route(request, given_venues)
    backward = plan_route(request, list(reversed(given_venues)))
    assert forward.legs == backward.legs
    assert forward.best_single == backward.best_single


@settings(max_examples=200, deadline=None)
@given(
    first=st.lists(st.integers(1, 20), min_size=1, max_size=4),
    second=st.lists(st.integers(1, 20), min_size=1, max_size=4),
    share=st.integers(1, 99),
    side=st.sampled_from(("buy", "sell")),
)
def test_an_order_deeper_than_every_book_but_within_their_sum_is_split_and_filled(
    first: list[int], second: list[int], share: int, side: Side
) -> None:
    depth_a, depth_b = D(sum(first)), D(sum(second))
    # more than the deeper book, at most both together, in whole steps of 0.001
    low, high = max(depth_a, depth_b), depth_a + depth_b
    amount = (low + (high - low) * share / 100).quantize(D("0.001"))
    if amount <= low:
        amount = low + D("0.001")

    def levels(sizes: list[int], start: int) -> list[tuple[str, str]]:
        sign = 1 if side == "buy" else -1
        return [(str(100 + sign * (start + i)), str(size)) for i, size in enumerate(sizes)]

    key = "asks" if side == "buy" else "bids"
    a = venue("a", **{key: levels(first, 0)})  # type: ignore[arg-type]
    b = venue("b", **{key: levels(second, 1)})  # type: ignore[arg-type]
    plan = plan_route(RouteRequest(side, "BTC", "USDT", amount), [a, b])
    assert plan.filled == amount
    assert [leg.connection_id for leg in plan.legs] == ["a", "b"]


@st.composite
def small_books(draw: st.DrawFn) -> tuple[RouteRequest, list[Venue]]:
    side: Side = draw(st.sampled_from(("buy", "sell")))
    out = []
    for cid in ("a", "b", "c")[: draw(st.integers(2, 3))]:
        prices = sorted(draw(st.lists(st.integers(90, 110), min_size=1, max_size=3, unique=True)))
        if side == "sell":
            prices.reverse()
        levels = tuple((D(p), D(draw(st.integers(1, 4)))) for p in prices)
        market = rules(
            cid,
            fee=draw(st.sampled_from(("0", "0.001", "0.01", "0.05"))),
            step="1",
            min_amount=draw(st.sampled_from((None, "2", "3"))),
            min_notional=draw(st.sampled_from((None, "250", "400"))),
        )
        bids, asks = (levels, ()) if side == "sell" else ((), levels)
        book = OrderBook(cid, "BTC/USDT", 0, bids, asks)
        available = D(draw(st.sampled_from((10**6, 3, 250, 500))))
        out.append(Venue(cid, market, book, available))
    return RouteRequest(side, "BTC", "USDT", D(draw(st.integers(1, 10)))), out


def fits(v: Venue, side: Side, amount: int) -> Decimal | None:
    """The net value of ``amount`` on ``v`` if it is a valid leg, by brute force."""
    levels = v.book.asks if side == "buy" else v.book.bids
    if amount > sum(size for _, size in levels):
        return None
    gross, worst = walk(v.book, side, D(amount))
    market = v.rules
    fee = market.taker_fee
    if market.min_amount is not None and amount < market.min_amount:
        return None
    if market.min_notional is not None and amount * worst < market.min_notional:
        return None
    if side == "buy" and amount * worst * (1 + fee) > v.available:
        return None
    if side == "sell" and amount > v.available:
        return None
    return gross * (1 + fee) if side == "buy" else gross * (1 - fee)


@settings(max_examples=500, deadline=None)
@given(case=small_books())
def test_on_small_books_the_plan_is_the_best_of_every_possible_allocation(
    case: tuple[RouteRequest, list[Venue]],
) -> None:
    request, given_venues = case
    side, asked = request.side, int(request.amount)
    best: tuple[Decimal, Decimal] | None = None
    for amounts in itertools.product(range(asked + 1), repeat=len(given_venues)):
        if sum(amounts) > asked:
            continue
        nets = [
            D(0) if x == 0 else fits(v, side, x) for v, x in zip(given_venues, amounts, strict=True)
        ]
        if any(net is None for net in nets):
            continue
        net = sum((n for n in nets if n is not None), D(0))
        if best is None or (sum(amounts), net if side == "sell" else -net) > (
            best[0],
            best[1] if side == "sell" else -best[1],
        ):
            best = (D(sum(amounts)), net)
    plan = plan_route(request, given_venues)
    assert best is not None
    assert (plan.filled, plan.net) == best
