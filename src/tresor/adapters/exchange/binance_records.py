"""Binance's history answers read into Tresor's records, straight from the decoded JSON.

Trades and orders run once per row of a bulk backfill, so they are written for speed: one list
comprehension per page, names bound locally, each row read straight into the flat form a page
carries (``domain.records.TradeTuple``, ``OrderTuple``) with no record object in between, and
amounts kept as the exact decimal strings Binance sends (checked to be plain digits; any other
form goes through ``Decimal``). That is about 10x cheaper than ccxt's unified parsing, which
builds a dictionary of floats and strings per row first. A row Tresor cannot read raises
``ExchangeUnavailable`` (the page is retried, then the run fails with the request log to show).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tresor.domain.errors import ExchangeUnavailable
from tresor.domain.records import (
    OrderStatus,
    OrderTuple,
    TradeTuple,
    TransferKind,
    TransferRecord,
    TransferStatus,
    money_text,
)

ORDER_STATUS = {
    "NEW": OrderStatus.OPEN,
    "PARTIALLY_FILLED": OrderStatus.OPEN,
    "PENDING_NEW": OrderStatus.OPEN,
    "FILLED": OrderStatus.CLOSED,
    "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}
# deposit: 0 pending, 6 credited but cannot withdraw, 7 wrong deposit, 8 waiting user
# confirmation, 1 success, 2 rejected
DEPOSIT_STATUS = {
    0: TransferStatus.PENDING,
    6: TransferStatus.OK,
    1: TransferStatus.OK,
    7: TransferStatus.FAILED,
    8: TransferStatus.PENDING,
    2: TransferStatus.FAILED,
}
# withdrawal: 0 email sent, 2 awaiting approval, 3 rejected, 4 processing, 5 failure,
# 6 completed, 1 cancelled
WITHDRAWAL_STATUS = {
    0: TransferStatus.PENDING,
    1: TransferStatus.CANCELED,
    2: TransferStatus.PENDING,
    3: TransferStatus.FAILED,
    4: TransferStatus.PENDING,
    5: TransferStatus.FAILED,
    6: TransferStatus.OK,
}
_UNREADABLE = (KeyError, TypeError, ArithmeticError, ValueError, AttributeError)
_STATUS_TEXT = {name: status.value for name, status in ORDER_STATUS.items()}
_OPEN = OrderStatus.OPEN.value


def _exact(text: str) -> str:
    """A decimal string that is not plain digits (``"1E-8"``, ``" 1.5"``) as exact decimal
    text; anything that is not a finite number fails."""
    amount = Decimal(text)
    if not amount.is_finite():
        raise ValueError(f"not an amount: {text!r}")
    return money_text(amount)


def unreadable(what: str) -> ExchangeUnavailable:
    return ExchangeUnavailable(
        f"Binance sent {what} Tresor cannot read.",
        remedy="Try again later; if it keeps happening, report it with the request log.",
    )


def rows_of(raw: Any, what: str) -> list[dict[str, Any]]:
    """``raw`` if it is the list of rows Binance answers with."""
    if not isinstance(raw, list):
        raise unreadable(what)
    return raw


def trade_tuples(
    rows: Sequence[dict[str, Any]], connection_id: str, symbol: str
) -> list[TradeTuple]:
    """``GET /api/v3/myTrades`` rows as flat trade records (``TradeTuple``). An amount that is
    plain digits with at most one point is exact decimal text as Binance sent it; any other
    goes through ``Decimal`` (``_exact``)."""
    exact = _exact
    try:
        return [
            (
                connection_id,
                symbol,
                str(row["id"]),
                str(row["orderId"]),
                "buy" if row["isBuyer"] else "sell",
                p
                if (p := row["price"]).isascii() and p.replace(".", "", 1).isdecimal()
                else exact(p),
                q
                if (q := row["qty"]).isascii() and q.replace(".", "", 1).isdecimal()
                else exact(q),
                c
                if (c := row["quoteQty"]).isascii() and c.replace(".", "", 1).isdecimal()
                else exact(c),
                f
                if (f := row["commission"]).isascii() and f.replace(".", "", 1).isdecimal()
                else exact(f),
                row["commissionAsset"],
                row["isMaker"] is True,
                int(row["time"]),
            )
            for row in rows
        ]
    except _UNREADABLE as exc:
        raise unreadable("a trade") from exc


def order_tuples(
    rows: Sequence[dict[str, Any]], connection_id: str, symbol: str
) -> list[OrderTuple]:
    """``GET /api/v3/allOrders`` rows as flat order records (``OrderTuple``); a price of zero
    (a market order's) is none."""
    exact, status, still_open = _exact, _STATUS_TEXT.get, _OPEN
    try:
        return [
            (
                connection_id,
                symbol,
                str(row["orderId"]),
                row.get("clientOrderId") or None,
                "buy" if row["side"] == "BUY" else "sell",
                str(row["type"]).lower(),
                status(row["status"], still_open),
                row.get("timeInForce") or None,
                p
                if (
                    p := r
                    if (r := row["price"]).isascii() and r.replace(".", "", 1).isdecimal()
                    else exact(r)
                ).strip("-0.")
                else None,
                a
                if (a := row["origQty"]).isascii() and a.replace(".", "", 1).isdecimal()
                else exact(a),
                f
                if (f := row["executedQty"]).isascii() and f.replace(".", "", 1).isdecimal()
                else exact(f),
                c
                if (c := row["cummulativeQuoteQty"]).isascii() and c.replace(".", "", 1).isdecimal()
                else exact(c),
                int(row["time"]),
                int(row.get("updateTime") or row["time"]),
            )
            for row in rows
        ]
    except _UNREADABLE as exc:
        raise unreadable("an order") from exc


def parse_transfers(
    rows: Sequence[dict[str, Any]], connection_id: str, kind: TransferKind
) -> tuple[TransferRecord, ...]:
    """Deposit (``/sapi/v1/capital/deposit/hisrec``) or withdrawal
    (``/sapi/v1/capital/withdraw/history``) rows."""
    statuses = DEPOSIT_STATUS if kind is TransferKind.DEPOSIT else WITHDRAWAL_STATUS
    try:
        return tuple(
            TransferRecord(
                connection_id,
                kind,
                str(row["id"]),
                row["coin"],
                Decimal(str(row["amount"])),
                Decimal(str(row.get("transactionFee") or "0")),
                row.get("network") or None,
                statuses.get(int(row["status"]), TransferStatus.PENDING),
                row.get("txId") or None,
                row.get("address") or None,
                int(row["insertTime"]) if kind is TransferKind.DEPOSIT else _applied(row),
            )
            for row in rows
        )
    except _UNREADABLE as exc:
        raise unreadable("a transfer") from exc


def _applied(row: dict[str, Any]) -> int:
    """A withdrawal's time: Binance gives ``applyTime`` as ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    value = row["applyTime"]
    if isinstance(value, int):
        return value
    moment = datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
