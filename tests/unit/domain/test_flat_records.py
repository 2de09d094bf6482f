"""Records in flat form (what history pages carry to the store): the same records again when read
back, amounts as exact decimal text that never takes an exponent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tresor.domain.records import (
    OrderRecord,
    OrderStatus,
    Side,
    TradeRecord,
    TransferKind,
    TransferRecord,
    TransferStatus,
    flatten,
    money_text,
)

AMOUNTS = ("0E-8", "7E-8", "0.00000482", "86871.20000000", "1E+2", "-0", "123456789012.123456789")


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_money_text_is_exact_and_never_in_exponent_form(amount: Decimal) -> None:
    text = money_text(amount)
    assert text == format(amount, "f")
    assert "E" not in text
    assert Decimal(text) == amount


def test_every_kind_reads_back_as_the_same_records_in_field_order() -> None:
    records = []
    for n, text in enumerate(AMOUNTS):
        amount = Decimal(text)
        records += [
            TradeRecord(
                "c",
                "BTC/USDT",
                f"t{n}",
                None,
                Side.SELL,
                amount,
                amount,
                amount,
                amount,
                None,
                n % 2 == 0,
                n,
            ),
            OrderRecord(
                "c",
                "BTC/USDT",
                f"o{n}",
                None if n % 2 else "x",
                Side.BUY,
                "limit",
                OrderStatus.CANCELED,
                None,
                None if n % 2 else amount,
                amount,
                amount,
                amount,
                n,
                n + 1,
            ),
            TransferRecord(
                "c",
                TransferKind.WITHDRAWAL,
                f"w{n}",
                "USDT",
                amount,
                amount,
                None,
                TransferStatus.FAILED,
                None,
                "addr",
                n,
            ),
        ]
    flat = flatten(records)
    assert len(flat) == len(records)
    assert (len(flat.trades), len(flat.orders), len(flat.transfers)) == (7, 7, 7)
    assert sorted(flat.records(), key=repr) == sorted(records, key=repr)
    trade, order, transfer = flat.trades[1], flat.orders[0], flat.transfers[0]
    assert trade == ("c", "BTC/USDT", "t1", None, "sell", *["0.00000007"] * 4, None, False, 1)
    assert order[4:9] == ("buy", "limit", "canceled", None, "0.00000000")
    assert (transfer[1], transfer[7]) == ("withdrawal", "failed")


def test_only_records_flatten() -> None:
    with pytest.raises(TypeError):
        flatten(["a trade"])  # type: ignore[list-item]
