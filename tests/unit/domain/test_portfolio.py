"""The portfolio arithmetic and the listing cursors, without a database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tresor.domain.errors import ValidationFailed
from tresor.domain.paging import decode_id, decode_key, encode
from tresor.domain.portfolio import (
    allocation,
    check_range,
    default_interval_ms,
    history_points,
    prices_in,
)
from tresor.domain.records import BalanceSnapshot, ValuedSnapshot

D = Decimal
DAY_MS = 86_400_000


def test_allocation_of_three_equal_values_adds_up_to_exactly_100() -> None:
    shares = allocation({"A": D(1), "B": D(1), "C": D(1)}, D(3))
    assert shares == {"A": D("33.3334"), "B": D("33.3333"), "C": D("33.3333")}
    assert sum(shares.values()) == 100


def test_allocation_of_nothing_is_empty() -> None:
    assert allocation({}, D(0)) == {}


def test_usd_and_its_stablecoins_are_one_money_and_other_quotes_cross_the_stored_price() -> None:
    snap = ValuedSnapshot(BalanceSnapshot("c", 0, {}), "USD", {"BTC": D(50000), "USDT": D(1)})
    assert prices_in(snap, "USDC") == {"BTC": D(50000), "USDT": D(1)}
    assert prices_in(snap, "BTC")["BTC"] == 1
    assert prices_in(snap, "EUR") == {}


def test_history_carries_the_last_snapshot_before_the_range_into_the_first_bucket() -> None:
    found = history_points(
        quote="USD",
        since_ms=1000,
        until_ms=3500,
        interval_ms=1000,
        carried={"a": D(5)},
        values=[("b", 1500, D(7)), ("a", 2999, D(1))],
    )
    assert [(p.start_ms, p.end_ms, p.value, p.connections) for p in found.points] == [
        (1000, 2000, D(12), 2),
        (2000, 3000, D(8), 2),
        (3000, 3500, D(8), 2),
    ]


def test_the_default_interval_keeps_to_500_points() -> None:
    assert default_interval_ms(0, 7 * DAY_MS) == 1_800_000
    assert default_interval_ms(0, 3600_000) == 60_000
    span = 5000 * 365 * DAY_MS
    assert span // default_interval_ms(0, span) <= 500
    with pytest.raises(ValidationFailed):
        check_range(0, DAY_MS, 1)


def test_a_cursor_reads_back_only_in_its_own_listing() -> None:
    cursor = encode("trades", 5, "c", "BTC/USDT", "t1")
    assert "=" not in cursor
    assert decode_key("trades", cursor) == (5, "c", "BTC/USDT", "t1")
    with pytest.raises(ValidationFailed):
        decode_key("orders", cursor)
    assert decode_id("logs", encode("logs", 42)) == 42
    with pytest.raises(ValidationFailed):
        decode_id("logs", encode("logs", True))
