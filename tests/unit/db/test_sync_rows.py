"""The sync store's driver rows: money as the exact decimal text ``Money`` writes on SQLite (never
in exponent form), the Decimal itself for PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tresor.adapters.db.sync_rows import _as_text, driver_rows
from tresor.domain.records import (
    OrderRecord,
    OrderStatus,
    Side,
    TradeRecord,
    TransferKind,
    TransferRecord,
    TransferStatus,
)

AMOUNTS = ("0E-8", "7E-8", "0.00000482", "86871.20000000", "1E+2", "-0", "123456789012.123456789")


@given(st.decimals(allow_nan=True, allow_infinity=True))
def test_money_text_is_what_format_f_gives_for_any_decimal(amount: Decimal) -> None:
    assert _as_text(amount) == format(amount, "f")


def test_rows_carry_exact_text_on_sqlite_and_the_decimal_on_postgresql() -> None:
    for text in AMOUNTS:
        amount = Decimal(text)
        trade = TradeRecord(
            "c", "BTC/USDT", "1", "2", Side.BUY, amount, amount, amount, amount, "BTC", True, 5
        )
        order = OrderRecord(
            "c",
            "BTC/USDT",
            "2",
            None,
            Side.SELL,
            "limit",
            OrderStatus.OPEN,
            "GTC",
            amount,
            amount,
            amount,
            amount,
            5,
            6,
        )
        market = OrderRecord(
            "c",
            "BTC/USDT",
            "3",
            "x",
            Side.BUY,
            "market",
            OrderStatus.CLOSED,
            None,
            None,
            amount,
            amount,
            amount,
            5,
            6,
        )
        transfer = TransferRecord(
            "c",
            TransferKind.DEPOSIT,
            "9",
            "BTC",
            amount,
            amount,
            None,
            TransferStatus.OK,
            None,
            None,
            7,
        )
        records = [trade, order, market, transfer]
        exact = format(amount, "f")
        trades, orders, transfers = driver_rows(records, money_as_text=True)
        assert trades == [
            ("c", "BTC/USDT", "1", "2", "buy", exact, exact, exact, exact, "BTC", True, 5)
        ]
        assert orders == [
            (
                "c",
                "BTC/USDT",
                "2",
                None,
                "sell",
                "limit",
                "open",
                "GTC",
                exact,
                exact,
                exact,
                exact,
                5,
                6,
            ),
            (
                "c",
                "BTC/USDT",
                "3",
                "x",
                "buy",
                "market",
                "closed",
                None,
                None,
                exact,
                exact,
                exact,
                5,
                6,
            ),
        ]
        assert transfers == [("c", "deposit", "9", "BTC", exact, exact, None, "ok", None, None, 7)]
        trades, orders, transfers = driver_rows(records, money_as_text=False)
        assert trades[0][5:9] == (amount,) * 4
        assert all(type(v) is Decimal for v in trades[0][5:9])
        assert orders[0][8:12] == (amount,) * 4
        assert orders[1][8] is None
        assert transfers[0][4:6] == (amount, amount)
