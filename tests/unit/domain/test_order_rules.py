"""Pre-trade checks: every rule of a market refuses the order that breaks it, with the rule's
stable name, the value and the limit; what the checks accept satisfies every rule; the
rounding helpers are exact."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tresor.domain.errors import InsufficientFunds, InvalidOrder, MarketClosed, TresorError
from tresor.domain.order_rules import (
    RULES,
    MarketRules,
    check_order,
    floor_to_step,
    is_multiple,
    plain,
    round_price,
)

D = Decimal
BTC = MarketRules(
    exchange="binance",
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    trading=True,
    amount_step=D("0.00001"),
    price_tick=D("0.01"),
    min_amount=D("0.00001"),
    max_amount=D("9000"),
    market_min_amount=None,
    market_max_amount=D("100"),
    min_price=D("0.01"),
    max_price=D("1000000"),
    min_notional=D("5"),
    max_notional=D("9000000"),
    maker_fee=D("0.001"),
    taker_fee=D("0.001"),
)
RICH = {"USDT": D("100000000"), "BTC": D("10000")}


def order(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "side": "buy",
        "order_type": "limit",
        "amount": D("0.001"),
        "price": D("50000"),
        "time_in_force": None,
        "reference_price": None,
        "free": RICH,
    }
    base.update(changes)
    return base


def refused(rules: MarketRules = BTC, **changes: Any) -> InvalidOrder:
    with pytest.raises(InvalidOrder) as caught:
        check_order(rules, **order(**changes))
    return caught.value


def test_a_valid_limit_and_market_order_pass() -> None:
    check_order(BTC, **order())
    check_order(BTC, **order(order_type="market", price=None, reference_price=D("50000.5")))
    check_order(BTC, **order(side="sell", time_in_force=None, free={"BTC": D("0.001")}))


def test_a_halted_market_is_closed_before_any_other_rule() -> None:
    with pytest.raises(MarketClosed) as caught:
        check_order(replace(BTC, trading=False), **order(amount=D("-1")))
    assert caught.value.code == "market_closed"
    assert caught.value.details == {"symbol": "BTC/USDT", "exchange": "binance"}


@pytest.mark.parametrize(
    ("changes", "rule", "details"),
    [
        ({"side": "hold"}, "side", {"side": "hold"}),
        ({"order_type": "stop"}, "order_type", {"order_type": "stop"}),
        ({"price": None}, "price_required", {}),
        (
            {"order_type": "market", "reference_price": D("50000")},
            "price_not_allowed",
            {"price": "50000"},
        ),
        (
            {"time_in_force": "GTD"},
            "time_in_force",
            {"time_in_force": "GTD", "allowed": "GTC, IOC, FOK"},
        ),
        (
            {
                "order_type": "market",
                "price": None,
                "reference_price": D("1"),
                "time_in_force": "GTC",
            },
            "time_in_force",
            {"time_in_force": "GTC", "allowed": "IOC, FOK"},
        ),
        ({"amount": D("0")}, "amount_positive", {"amount": "0"}),
        ({"amount": D("-0.001")}, "amount_positive", {"amount": "-0.001"}),
        ({"amount": D("NaN")}, "amount_positive", {"amount": "NaN"}),
        ({"price": D("0")}, "price_positive", {"price": "0"}),
        (
            {"amount": D("0.000015")},
            "amount_precision",
            {"amount": "0.000015", "amount_step": "0.00001"},
        ),
        (
            {"amount": D("0.000001")},
            "min_amount",
            {"amount": "0.000001", "min_amount": "0.00001"},
        ),
        (
            {"amount": D("9000.1"), "price": D("1")},
            "max_amount",
            {"amount": "9000.1", "max_amount": "9000"},
        ),
        (
            {"price": D("50000.005")},
            "price_precision",
            {"price": "50000.005", "price_tick": "0.01"},
        ),
        (
            {"price": D("1000000.01")},
            "max_price",
            {"price": "1000000.01", "max_price": "1000000"},
        ),
        (
            {"amount": D("0.00002"), "price": D("60000")},
            "min_notional",
            {"notional": "1.2", "min_notional": "5"},
        ),
        (
            {"amount": D("9000"), "price": D("1001")},
            "max_notional",
            {"notional": "9009000", "max_notional": "9000000"},
        ),
    ],
)
def test_each_broken_rule_is_named_with_its_value_and_limit(
    changes: dict[str, Any], rule: str, details: dict[str, str]
) -> None:
    error = refused(**changes)
    assert error.code == "invalid_order"
    assert error.rule == rule
    assert error.details == {"rule": rule, "symbol": "BTC/USDT", **details}
    for value in details.values():
        assert value in error.message  # the message names the value and the limit


def test_the_minimum_price_is_its_own_rule() -> None:
    error = refused(replace(BTC, min_price=D("100")), price=D("99.99"))
    assert (error.rule, error.details["min_price"]) == ("min_price", "100")


def test_the_messages_say_it_in_plain_words() -> None:
    assert refused(amount=D("0.00002"), price=D("60000")).message == (
        "The order is worth 1.2 USDT, below the market's minimum order value of 5 USDT."
    )
    assert refused(amount=D("0.000015")).message == (
        "The amount 0.000015 BTC is not a whole multiple of the market's amount step 0.00001 "
        "(round it down to 0.00001)."
    )


def test_market_orders_take_the_stricter_of_the_market_and_general_amount_limits() -> None:
    market = {"order_type": "market", "price": None, "reference_price": D("10")}
    error = refused(**market, amount=D("100.00001"))
    assert (error.rule, error.details["max_amount"]) == ("max_amount", "100")
    assert "for market orders" in error.message
    check_order(BTC, **order(amount=D("100.00001"), price=D("10")))  # a limit may
    stricter_min = replace(BTC, market_min_amount=D("0.1"))
    error = refused(stricter_min, **market, amount=D("0.09"))
    assert (error.rule, error.details["min_amount"]) == ("min_amount", "0.1")
    looser_min = replace(BTC, market_min_amount=D("0.000001"), market_max_amount=None)
    error = refused(looser_min, **market, amount=D("0.000009"))
    assert (error.rule, error.details["min_amount"]) == ("min_amount", "0.00001")


def test_market_orders_are_valued_at_the_reference_price() -> None:
    market = {"order_type": "market", "price": None, "time_in_force": "IOC"}
    error = refused(**market, amount=D("0.0001"), reference_price=D("49999.99"))
    assert (error.rule, error.details["notional"]) == ("min_notional", "4.999999")
    assert "at the current price" in error.message
    check_order(BTC, **order(**market, amount=D("0.0001"), reference_price=D("50000")))
    with pytest.raises(ValueError, match="reference_price"):
        check_order(BTC, **order(**market, reference_price=None))


def test_time_in_force_is_case_insensitive_and_may_be_left_out() -> None:
    check_order(BTC, **order(time_in_force="ioc"))
    check_order(BTC, **order(time_in_force=None))
    check_order(
        BTC, **order(order_type="market", price=None, reference_price=D("1e4"), time_in_force="FOK")
    )


def test_rules_the_market_does_not_set_are_not_checked() -> None:
    bare = replace(
        BTC,
        amount_step=None,
        price_tick=None,
        min_amount=None,
        max_amount=None,
        market_max_amount=None,
        min_price=None,
        max_price=None,
        min_notional=None,
        max_notional=None,
    )
    check_order(bare, **order(amount=D("0.0000000001"), price=D("1234567890.123456789")))


def test_a_buy_needs_the_quote_and_a_sell_the_base_with_no_fee_added() -> None:
    exact = {"USDT": D("50")}  # 0.001 BTC at 50,000 is 50 USDT; the fee is paid in BTC
    check_order(BTC, **order(free=exact))
    with pytest.raises(InsufficientFunds) as caught:
        check_order(BTC, **order(free={"USDT": D("49.99")}))
    assert caught.value.code == "insufficient_funds"
    assert caught.value.details == {
        "symbol": "BTC/USDT",
        "asset": "USDT",
        "needed": "50",
        "available": "49.99",
    }
    assert "50 USDT" in caught.value.message
    assert "49.99 USDT" in caught.value.message
    with pytest.raises(InsufficientFunds) as sold:
        check_order(BTC, **order(side="sell", free={"USDT": D("1e9")}))
    assert sold.value.details["asset"] == "BTC"
    assert sold.value.details["available"] == "0"
    market_buy = order(order_type="market", price=None, reference_price=D("60000"))
    with pytest.raises(InsufficientFunds) as caught:
        check_order(BTC, **{**market_buy, "free": exact})
    assert caught.value.details["needed"] == "60"


def test_no_balance_given_skips_the_funds_check() -> None:
    check_order(BTC, **order(free=None))


def test_the_rules_order_puts_limits_before_steps() -> None:
    """An amount below the minimum is named as such, not as off the step."""
    assert refused(amount=D("0.0000015")).rule == "min_amount"


def test_every_name_check_order_uses_is_listed() -> None:
    assert len(set(RULES)) == len(RULES)
    assert {"min_notional", "price_band", "max_open_orders", "exchange_rule"} <= set(RULES)


# -- rounding helpers ----------------------------------------------------------------------------
def test_floor_to_step_and_round_price_examples() -> None:
    assert floor_to_step(D("0.123456"), D("0.001")) == D("0.123")
    assert str(floor_to_step(D("0.123456"), D("0.00100000"))) == "0.123"
    assert str(floor_to_step(D("1234.5"), D("10"))) == "1230"
    assert floor_to_step(D("-0.5"), D("1")) == D("-1")
    assert floor_to_step(D("7"), None) == D("7")
    assert floor_to_step(D("0.75"), D("0.25")) == D("0.75")
    assert round_price(D("100.019"), D("0.01"), "buy") == D("100.01")
    assert round_price(D("100.011"), D("0.01"), "sell") == D("100.02")
    assert round_price(D("100.01"), D("0.01"), "sell") == D("100.01")
    assert round_price(D("3.14159"), None, "buy") == D("3.14159")
    with pytest.raises(ValueError, match="side"):
        round_price(D("1"), D("0.1"), "hold")
    with pytest.raises(ValueError, match="positive"):
        floor_to_step(D("1"), D("0"))


def test_floats_are_refused_everywhere() -> None:
    with pytest.raises(TypeError, match="amount must be a Decimal, not float"):
        check_order(BTC, **order(amount=0.001))
    with pytest.raises(TypeError, match="price"):
        check_order(BTC, **order(price=50000.0))
    with pytest.raises(TypeError, match="value"):
        floor_to_step(0.3, D("0.1"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="step"):
        round_price(D("1"), 0.1, "buy")  # type: ignore[arg-type]


def test_plain_writes_decimals_without_exponents() -> None:
    assert [plain(D(x)) for x in ("1E-8", "5.00000000", "1E+3", "-0", "0.0001")] == [
        "0.00000001",
        "5",
        "1000",
        "0",
        "0.0001",
    ]


# -- properties ----------------------------------------------------------------------------------
steps = st.sampled_from([D(s) for s in ("1", "0.5", "0.25", "0.1", "0.01", "0.05", "1E-8", "10")])
values = st.decimals(min_value=D("-1e12"), max_value=D("1e12"), allow_nan=False, places=10)


@given(value=values, step=steps)
def test_flooring_never_exceeds_the_input_and_lands_on_the_step(value: D, step: D) -> None:
    floored = floor_to_step(value, step)
    assert floored <= value
    assert value - floored < step
    assert is_multiple(floored, step)


@given(value=values, step=steps, side=st.sampled_from(["buy", "sell"]))
def test_a_rounded_price_is_on_the_tick_and_in_the_sides_favour(
    value: D, step: D, side: str
) -> None:
    rounded = round_price(value, step, side)
    assert is_multiple(rounded, step)
    assert abs(rounded - value) < step
    assert rounded <= value if side == "buy" else rounded >= value


def optional(strategy: st.SearchStrategy[D]) -> st.SearchStrategy[D | None]:
    return st.one_of(st.none(), strategy)


# spread over many orders of magnitude (1e-8 to 1e6), as amounts and prices are
amounts_or_prices = st.builds(
    lambda digits, exponent: D(digits).scaleb(exponent),
    st.integers(1, 99_999),
    st.integers(-12, 1),
)
market_rules = st.builds(
    MarketRules,
    exchange=st.just("binance"),
    symbol=st.just("ETH/USDT"),
    base=st.just("ETH"),
    quote=st.just("USDT"),
    trading=st.sampled_from([True] * 9 + [False]),
    amount_step=optional(st.sampled_from([D("0.0001"), D("0.01"), D("1"), D("0.5")])),
    price_tick=optional(st.sampled_from([D("0.01"), D("0.05"), D("1"), D("0.00000001")])),
    min_amount=optional(st.sampled_from([D("0.0001"), D("0.01"), D("1")])),
    max_amount=optional(st.sampled_from([D("10"), D("1000"), D("90000")])),
    market_min_amount=optional(st.sampled_from([D("0.001"), D("0.1")])),
    market_max_amount=optional(st.sampled_from([D("5"), D("500")])),
    min_price=optional(st.sampled_from([D("0.01"), D("10")])),
    max_price=optional(st.sampled_from([D("1000"), D("100000")])),
    min_notional=optional(st.sampled_from([D("5"), D("10")])),
    max_notional=optional(st.sampled_from([D("1000"), D("9000000")])),
    maker_fee=st.just(D("0.001")),
    taker_fee=st.just(D("0.001")),
)
orders = st.fixed_dictionaries(
    {
        "side": st.sampled_from(["buy", "sell"]),
        "order_type": st.sampled_from(["limit", "market"]),
        "amount": amounts_or_prices,
        "price": amounts_or_prices,
        "time_in_force": st.sampled_from([None, None, "IOC", "FOK", "GTC"]),
        "reference_price": amounts_or_prices,
        "free": st.fixed_dictionaries(
            {"USDT": amounts_or_prices.map(lambda v: v * 1000), "ETH": amounts_or_prices}
        ),
    }
)


def satisfies_every_rule(rules: MarketRules, o: dict[str, Any]) -> None:
    market = o["order_type"] == "market"
    amount: D = o["amount"]
    price: D | None = None if market else o["price"]
    fill: D = o["reference_price"] if market else o["price"]
    assert rules.trading
    assert amount > 0
    if rules.amount_step is not None:
        assert amount % rules.amount_step == 0
    lows = [rules.min_amount] + ([rules.market_min_amount] if market else [])
    highs = [rules.max_amount] + ([rules.market_max_amount] if market else [])
    assert all(amount >= low for low in lows if low is not None)
    assert all(amount <= high for high in highs if high is not None)
    if price is not None:
        assert price > 0
        assert rules.price_tick is None or price % rules.price_tick == 0
        assert rules.min_price is None or price >= rules.min_price
        assert rules.max_price is None or price <= rules.max_price
    assert rules.min_notional is None or amount * fill >= rules.min_notional
    assert rules.max_notional is None or amount * fill <= rules.max_notional
    spend = (o["free"]["USDT"], amount * fill) if o["side"] == "buy" else (o["free"]["ETH"], amount)
    assert spend[0] >= spend[1]
    assert o["time_in_force"] in ((None, "IOC", "FOK") if market else (None, "GTC", "IOC", "FOK"))


def snapped(rules: MarketRules, o: dict[str, Any]) -> dict[str, Any]:
    """The order moved onto the market's steps (so that many generated orders pass)."""
    out = dict(o)
    out["amount"] = floor_to_step(o["amount"], rules.amount_step) or rules.amount_step or D(1)
    out["price"] = round_price(o["price"], rules.price_tick, o["side"]) or rules.price_tick
    if o["order_type"] == "market":
        out["price"] = None
    return out


@settings(max_examples=400)
@given(rules=market_rules, o=orders, snap=st.booleans())
def test_whatever_check_order_accepts_satisfies_every_rule(
    rules: MarketRules, o: dict[str, Any], snap: bool
) -> None:
    o = (
        snapped(rules, o)
        if snap
        else {**o, "price": None if o["order_type"] == "market" else o["price"]}
    )
    error = refusal(rules, o)
    if error is None:
        satisfies_every_rule(rules, o)
    elif isinstance(error, InvalidOrder):
        assert error.rule in RULES
        assert all(isinstance(v, str) for v in error.details.values())


def refusal(rules: MarketRules, o: dict[str, Any]) -> TresorError | None:
    try:
        check_order(rules, **o)
    except (InvalidOrder, MarketClosed, InsufficientFunds) as error:
        return error
    return None


@given(rules=market_rules, o=orders)
def test_an_order_that_breaks_nothing_is_accepted(rules: MarketRules, o: dict[str, Any]) -> None:
    """The converse, so the property above is not vacuous: an order built to satisfy every
    rule passes."""
    o = snapped(rules, o)
    try:
        satisfies_every_rule(rules, o)
    except AssertionError:
        return
    check_order(rules, **o)
