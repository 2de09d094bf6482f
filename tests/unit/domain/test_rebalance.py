"""Rebalancing rules: validation, triggers in plain words, the trades planned for a full
rebalance and for a breached floor or ceiling, and properties over random portfolios: after the
plan is applied once, every asset is within the documented tolerance, value is kept up to the
fees, and no trade is below the rule's minimum or spends cash that is not there."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tresor.domain.errors import ValidationFailed
from tresor.domain.rebalance import (
    BoundsTrigger,
    DriftTrigger,
    Evaluation,
    RuleSpec,
    Trigger,
    apply_trades,
    evaluate,
    parse_targets,
    validate_rule,
)

D = Decimal
PRICES = {"BTC": D(60000), "ETH": D(3000)}


def rule(
    targets: Mapping[str, str] | None = None,
    *triggers: Trigger,
    quote: str = "USDT",
    min_trade: str = "10",
) -> RuleSpec:
    chosen = targets if targets is not None else {"BTC": "40", "ETH": "30", "USDT": "30"}
    return RuleSpec(
        {a: D(p) for a, p in chosen.items()},
        quote,
        triggers or (DriftTrigger(D(5)),),
        D(min_trade),
    )


def trades(evaluation: Evaluation) -> list[tuple[str, str, Decimal]]:
    return [(t.side, t.asset, t.value) for t in evaluation.trades]


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (rule({"BTC": "40", "ETH": "30", "USDT": "20"}), "add up to 90%, not 100%"),
        (rule({"BTC": "110", "USDT": "-10"}), "between 0 and 100"),
        (rule({"BTC": "50", "btc": "50"}), "appears twice"),
        (rule({"BTC": "NaN", "USDT": "100"}), "between 0 and 100"),
        (rule(min_trade="-1"), "minimum trade"),
        (RuleSpec({"BTC": D(100)}, "USDT", (), D(0)), "no trigger"),
        (rule(None, DriftTrigger(D(0))), "above 0 and below 100"),
        (rule(None, DriftTrigger(D(5)), DriftTrigger(D(3))), "more than one drift"),
        (rule(None, BoundsTrigger("SOL", D(5))), "SOL has bounds but no target"),
        (rule(None, BoundsTrigger("BTC")), "neither floor nor ceiling"),
        (rule(None, BoundsTrigger("BTC", D(-1))), "floor for BTC must be between 0 and 100"),
        (rule(None, BoundsTrigger("BTC", D(30), D(20))), "above its ceiling"),
        (rule(None, BoundsTrigger("BTC", D(45))), "outside its own bounds"),
        (rule(None, BoundsTrigger("BTC", None, D(35))), "outside its own bounds"),
        (rule(None, BoundsTrigger("BTC", D(5)), BoundsTrigger("BTC", D(6))), "bounds twice"),
        (rule(quote=""), "needs a quote"),
        (rule({}), "no targets"),
    ],
)
def test_an_invalid_rule_is_refused_with_a_message_naming_the_fault(
    spec: RuleSpec, words: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        validate_rule(spec)
    assert words in refused.value.message
    assert refused.value.remedy


def test_targets_given_twice_are_refused_before_they_collapse_into_one() -> None:
    with pytest.raises(ValidationFailed, match="appears twice"):
        parse_targets([("BTC", D(50)), ("ETH", D(20)), ("BTC", D(30))])
    assert parse_targets([("BTC", D(60)), ("USDT", D(40))]) == {"BTC": D(60), "USDT": D(40)}


def test_a_target_asset_without_a_price_in_the_quote_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="No price in USDT for ETH"):
        evaluate(rule(), {"BTC": D(1)}, {"BTC": D(60000)})


def test_negative_holdings_and_a_fee_outside_zero_to_one_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="Negative holdings of ETH"):
        evaluate(rule(), {"ETH": D(-1)}, PRICES)
    with pytest.raises(ValidationFailed, match="fee"):
        evaluate(rule(), {"ETH": D(1)}, PRICES, fee=D(1))


# -- triggers ----------------------------------------------------------------------------------
def test_a_portfolio_within_its_drift_plans_nothing_and_says_so() -> None:
    # BTC 4,200 (42%), ETH 2,900 (29%), USDT 2,900 (29%)
    holdings = {"BTC": D("0.07"), "ETH": D("0.9666666666666666666666666667"), "USDT": D(2900)}
    found = evaluate(rule(), holdings, PRICES)
    assert not found.triggered
    assert found.scope is None
    assert found.trades == ()
    assert found.reasons == ("Every asset is within 5 points of its target.",)


def test_a_drift_of_exactly_the_limit_does_not_trigger_and_a_hair_more_does() -> None:
    spec = rule({"BTC": "40", "USDT": "60"}, DriftTrigger(D(5)))
    at_limit = evaluate(spec, {"BTC": D("0.075"), "USDT": D(5500)}, PRICES)  # 45%
    assert at_limit.assets[0].drift_pp == 5
    assert not at_limit.triggered
    beyond = evaluate(spec, {"BTC": D("0.075"), "USDT": D("5499.9")}, PRICES)  # 45.0004%
    assert beyond.triggered


def test_a_drift_beyond_the_limit_rebalances_every_asset_sells_first() -> None:
    # BTC 6,000 (46.15%), ETH 6,000 (46.15%), USDT 1,000 (7.69%) of 13,000
    holdings = {"BTC": D("0.1"), "ETH": D(2), "USDT": D(1000), "DOGE": D(5)}
    found = evaluate(rule(), holdings, PRICES)
    assert found.triggered
    assert found.scope == "full"
    assert found.value == 13000
    assert found.ignored == ("DOGE",)
    # 800 USDT of BTC at 60,000 has no finite amount: rounded down to NO_STEP (1e-18)
    assert trades(found) == [("sell", "BTC", pytest.approx(D(800))), ("sell", "ETH", D(2100))]
    assert found.trades[0].value <= 800
    assert found.reasons[1] == (
        "ETH is 46.15% of the portfolio, 16.15 points above its 30% target (the rule allows 5)."
    )
    assert [(s.asset, s.current_pct, s.drift_pp) for s in found.assets] == [
        ("BTC", D("46.1539"), D("6.1539")),
        ("ETH", D("46.1538"), D("16.1538")),
        ("USDT", D("7.6923"), D("-22.3077")),
    ]


def test_the_plan_makes_buys_with_the_proceeds_of_the_sales() -> None:
    holdings = {"BTC": D("0.2"), "ETH": D(0), "USDT": D(0)}  # all in BTC: 12,000
    found = evaluate(rule(), holdings, PRICES, amount_steps={"BTC": D("0.0001"), "ETH": D("0.01")})
    assert trades(found) == [("sell", "BTC", D(7200)), ("buy", "ETH", D(3600))]
    assert found.trades[0].amount == D("0.12")
    assert found.trades[1].amount == D("1.2")
    assert found.trades[1].symbol == "ETH/USDT"


def test_a_floor_breach_buys_back_to_target_funded_by_the_quote_first_then_the_overweight() -> None:
    spec = rule(None, BoundsTrigger("ETH", D(20)))
    # BTC 6,000 (48%), ETH 1,500 (12%), USDT 5,000 (40%) of 12,500
    found = evaluate(spec, {"BTC": D("0.1"), "ETH": D("0.5"), "USDT": D(5000)}, PRICES)
    assert found.scope == "bounds"
    assert found.reasons == ("ETH is 12% of the portfolio, below its floor of 20%.",)
    # ETH needs 2,250; USDT gives its 1,250 above target, BTC the other 1,000
    assert [(t.side, t.asset) for t in found.trades] == [("sell", "BTC"), ("buy", "ETH")]
    assert found.trades[0].value == pytest.approx(D(1000))
    assert found.trades[1].value == 2250
    assert "To fund the rebalancing of ETH" in found.trades[0].reason


def test_a_floor_breach_takes_the_quotes_excess_before_selling_anything() -> None:
    spec = rule(
        {"BTC": "40", "ETH": "20", "SOL": "10", "USDT": "30"},
        BoundsTrigger("ETH", D(10)),
        min_trade="0",
    )
    prices = {"BTC": D(50000), "ETH": D(2500), "SOL": D(100)}
    # BTC 4,800 (48%), ETH 500 (5%), SOL 700 (7%), USDT 4,000 (40%) of 10,000
    holdings = {"BTC": D("0.096"), "ETH": D("0.2"), "SOL": D(7), "USDT": D(4000)}
    found = evaluate(spec, holdings, prices, amount_steps={"BTC": D("0.00001")})
    # ETH needs 1,500: USDT's 1,000 above target first, then 500 from BTC (not 833 + 667);
    # SOL, under its target but not breaching, is left alone
    assert [(t.side, t.asset) for t in found.trades] == [("sell", "BTC"), ("buy", "ETH")]
    assert found.trades[0].value == 500
    assert found.trades[1].value == 1500


def test_a_ceiling_breach_sells_back_to_target_and_refills_the_quote_before_the_rest() -> None:
    spec = rule(
        {"BTC": "40", "ETH": "20", "SOL": "10", "USDT": "30"},
        BoundsTrigger("BTC", None, D(50)),
        min_trade="0",
    )
    prices = {"BTC": D(50000), "ETH": D(3000), "SOL": D(100)}
    # BTC 6,000 (60%), ETH 1,000 (10%), SOL 500 (5%), USDT 2,500 (25%) of 10,000
    holdings = {"BTC": D("0.12"), "ETH": D(1) / 3, "SOL": D(5), "USDT": D(2500)}
    found = evaluate(spec, holdings, prices, amount_steps={"BTC": D("0.00001")})
    # BTC frees 2,000: USDT takes its missing 500, then ETH (1,000 short) and SOL (500 short)
    # share the other 1,500 in proportion: 1,000 and 500
    assert [(t.side, t.asset) for t in found.trades] == [
        ("sell", "BTC"),
        ("buy", "ETH"),
        ("buy", "SOL"),
    ]
    assert found.trades[0].value == 2000
    assert found.trades[1].value == pytest.approx(D(1000))
    assert found.trades[2].value == pytest.approx(D(500))


def test_assets_within_bounds_leave_the_rule_calm() -> None:
    spec = rule(None, BoundsTrigger("BTC", D(5), D(60)))
    found = evaluate(spec, {"BTC": D("0.1"), "ETH": D(2), "USDT": D(1000)}, PRICES)
    assert not found.triggered
    assert found.reasons == ("BTC is 46.15% of the portfolio, within its bounds.",)


def test_without_a_quote_target_the_rule_never_spends_the_cash_it_was_not_given() -> None:
    spec = rule({"BTC": "50", "ETH": "50"}, min_trade="0")
    found = evaluate(spec, {"BTC": D("0.1"), "ETH": D(0), "USDT": D(100000)}, PRICES, fee=D(0))
    assert found.value == 6000
    assert found.ignored == ("USDT",)
    assert trades(found) == [("sell", "BTC", D(3000)), ("buy", "ETH", D(3000))]


def test_buys_are_scaled_down_when_the_sales_cannot_pay_them_and_their_fees() -> None:
    spec = rule({"BTC": "50", "ETH": "50"}, min_trade="0")
    found = evaluate(spec, {"BTC": D("0.1")}, PRICES, fee=D("0.01"))
    sale, purchase = found.trades
    assert sale.value == 3000
    assert purchase.value * D("1.01") <= sale.value * D("0.99")
    assert purchase.value > D(2940)
    assert "scaled down" in purchase.reason
    after = apply_trades({"BTC": D("0.1")}, found.trades, quote="USDT", fee=D("0.01"))
    assert after["USDT"] >= 0


def test_trades_below_the_minimum_are_skipped_and_listed_with_the_reason() -> None:
    # BTC 4,005 (40.05%), ETH 2,000 (20%), USDT 3,995 of 10,000: ETH needs 1,000, BTC sells 5
    spec = rule(None, DriftTrigger(D(5)), min_trade="10")
    holdings = {"BTC": D("0.06675"), "ETH": D(2) / 3, "USDT": D(3995)}
    found = evaluate(spec, holdings, PRICES, amount_steps={"BTC": D("0.000001")})
    assert [(t.side, t.asset) for t in found.trades] == [("buy", "ETH")]
    assert [(t.side, t.asset) for t in found.skipped] == [("sell", "BTC")]
    assert found.skipped[0].reason.startswith(
        "Skipped, worth 4.98 USDT, below the rule's minimum trade of 10 USDT"
    )


def test_an_empty_portfolio_is_not_rebalanced() -> None:
    found = evaluate(rule(), {"DOGE": D(100)}, PRICES)
    assert not found.triggered
    assert found.value == 0
    assert found.reasons == ("The rule's assets hold nothing to rebalance.",)


def test_a_demo_portfolio_converges_to_its_targets_and_the_rule_then_rests() -> None:
    spec = rule(min_trade="10")
    steps = {"BTC": D("0.00001"), "ETH": D("0.0001")}
    holdings: dict[str, Decimal] = {"BTC": D("0.25"), "ETH": D("0.4"), "USDT": D(800)}
    fee = D("0.001")
    first = evaluate(spec, holdings, PRICES, fee=fee, amount_steps=steps)
    assert first.triggered
    after = apply_trades(holdings, first.trades, quote="USDT", fee=fee)
    second = evaluate(spec, after, PRICES, fee=fee, amount_steps=steps)
    assert not second.triggered
    assert all(abs(s.drift_pp) <= first.tolerance_pp for s in second.assets)
    assert all(abs(s.drift_pp) < D("0.2") for s in second.assets)
    assert first.tolerance_pp < 5  # the trigger sits above the tolerance: no flapping


# -- properties --------------------------------------------------------------------------------
ASSETS = ("BTC", "ETH", "SOL", "ADA")


@st.composite
def portfolios(
    draw: st.DrawFn,
) -> tuple[RuleSpec, dict[str, Decimal], dict[str, Decimal], Decimal, dict[str, Decimal]]:
    chosen = draw(st.lists(st.sampled_from(ASSETS), min_size=1, max_size=4, unique=True))
    names = [*chosen, "USDT"] if draw(st.booleans()) or len(chosen) == 1 else chosen
    cuts = sorted(
        draw(st.lists(st.integers(0, 10000), min_size=len(names) - 1, max_size=len(names) - 1))
    )
    bounds = [0, *cuts, 10000]
    targets = {a: D(bounds[i + 1] - bounds[i]) / 100 for i, a in enumerate(names)}
    prices = {a: D(draw(st.integers(1, 10**9))) / D(10) ** draw(st.integers(0, 6)) for a in ASSETS}
    holdings = {
        a: D(draw(st.integers(0, 10**10))) / D(10) ** draw(st.integers(0, 8))
        for a in (*ASSETS, "USDT", "DOGE")
        if draw(st.booleans())
    }
    steps = {
        a: step
        for a in ASSETS
        if (step := draw(st.sampled_from((None, D(1), D("0.01"), D("0.00001"))))) is not None
    }
    min_trade = draw(st.sampled_from((D(0), D(1), D(10), D(100))))
    fee = draw(st.sampled_from((D(0), D("0.001"), D("0.0075"))))
    spec = RuleSpec(targets, "USDT", (DriftTrigger(D("0.0001")),), min_trade)
    return spec, holdings, prices, fee, steps


def exact_drifts(
    spec: RuleSpec, holdings: Mapping[str, Decimal], prices: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    values = {
        a: holdings.get(a, D(0)) * (D(1) if a == spec.quote else prices[a]) for a in spec.targets
    }
    total = sum(values.values(), D(0))
    return {a: values[a] * 100 / total - spec.targets[a] for a in spec.targets}


def worth(holdings: Mapping[str, Decimal], prices: Mapping[str, Decimal]) -> Decimal:
    return sum(
        (amount * prices.get(a, D(1)) for a, amount in holdings.items() if a != "DOGE"), D(0)
    )


def assert_trades_are_sound(
    spec: RuleSpec, found: Evaluation, holdings: Mapping[str, Decimal], steps: Mapping[str, Decimal]
) -> None:
    sides = [t.side for t in found.trades]
    assert sides == sorted(sides, key=lambda side: side == "buy")  # sells first
    for trade in found.trades:
        assert trade.asset != spec.quote
        assert trade.asset in spec.targets
        assert trade.amount > 0
        assert trade.value >= spec.min_trade
        if trade.asset in steps:
            assert trade.amount % steps[trade.asset] == 0
        if trade.side == "sell":
            assert trade.amount <= holdings.get(trade.asset, D(0))
    assert len({t.asset for t in found.trades}) == len(found.trades)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=portfolios())
def test_after_one_full_rebalance_every_asset_is_within_the_tolerance_and_value_is_kept(
    case: tuple[RuleSpec, dict[str, Decimal], dict[str, Decimal], Decimal, dict[str, Decimal]],
) -> None:
    spec, holdings, prices, fee, steps = case
    found = evaluate(spec, holdings, prices, fee=fee, amount_steps=steps)
    assert_trades_are_sound(spec, found, holdings, steps)
    after = apply_trades(holdings, found.trades, quote=spec.quote, fee=fee)
    with localcontext() as ctx:
        ctx.prec = 80
        assert all(amount >= 0 for amount in after.values())  # no cash spent that is not there
        assert worth(after, prices) == worth(holdings, prices) - found.fees
        assert found.fees == sum((t.value * fee for t in found.trades), D(0))
        assert after.get("DOGE") == holdings.get("DOGE")
        if not found.triggered or found.value == 0:
            return
        value_after = sum(
            (after.get(a, D(0)) * (D(1) if a == spec.quote else prices[a]) for a in spec.targets),
            D(0),
        )
        if value_after == 0:
            return
        for asset, drift in exact_drifts(spec, after, prices).items():
            assert abs(drift) <= found.tolerance_pp, (asset, drift, found.tolerance_pp)


@st.composite
def breaches(
    draw: st.DrawFn,
) -> tuple[RuleSpec, dict[str, Decimal], dict[str, Decimal], Decimal, dict[str, Decimal]]:
    spec, holdings, prices, fee, steps = draw(portfolios())
    asset = draw(st.sampled_from(sorted(spec.targets)))
    target = spec.targets[asset]
    floor = draw(st.sampled_from((None, target, target * D("0.5"))))
    ceiling = draw(st.sampled_from((None, target, min(D(100), target * 2))))
    if floor is None and ceiling is None:
        floor = target
    bounded = RuleSpec(
        spec.targets, spec.quote, (BoundsTrigger(asset, floor, ceiling),), spec.min_trade
    )
    return bounded, holdings, prices, fee, steps


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=breaches())
def test_a_bounds_breach_brings_its_asset_to_target_and_moves_no_other_asset_away_from_its_own(
    case: tuple[RuleSpec, dict[str, Decimal], dict[str, Decimal], Decimal, dict[str, Decimal]],
) -> None:
    spec, holdings, prices, fee, steps = case
    found = evaluate(spec, holdings, prices, fee=fee, amount_steps=steps)
    assert_trades_are_sound(spec, found, holdings, steps)
    if found.scope != "bounds":
        assert found.trades == ()
        return
    (trigger,) = spec.triggers
    assert isinstance(trigger, BoundsTrigger)
    after = apply_trades(holdings, found.trades, quote=spec.quote, fee=fee)
    with localcontext() as ctx:
        ctx.prec = 80
        assert all(amount >= 0 for amount in after.values())
        assert worth(after, prices) == worth(holdings, prices) - found.fees
        before = exact_drifts(spec, holdings, prices)
        if sum((after.get(a, D(0)) for a in spec.targets), D(0)) == 0:
            return
        now = exact_drifts(spec, after, prices)
        assert abs(now[trigger.asset]) <= found.tolerance_pp
        for asset in spec.targets:
            assert abs(now[asset]) <= abs(before[asset]) + found.tolerance_pp, asset
