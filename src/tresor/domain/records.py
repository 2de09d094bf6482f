"""The unified records a sync brings home, and the ledger that proves it brought them all.

Records (frozen, amounts ``Decimal``, times in epoch milliseconds as exchanges give them):

- ``TradeRecord``: one fill of one of the account's orders.
- ``OrderRecord``: an order as the exchange last reported it (its status changes; the record is
  replaced, keyed by the exchange's order id).
- ``TransferRecord``: a deposit or a withdrawal (read from history; Tresor cannot make one).
- ``BalanceSnapshot``: every asset's free and locked amounts at one instant.

The completeness ledger:

- ``Cursor``: where the sync of one (connection, dataset, market) stands. ``position`` is the
  exchange adapter's own paging state (a trade id, an order id, a time), opaque to the services;
  ``synced_until`` is the time up to which the dataset is known complete.
- ``Gap``: a stretch of time for which the exchange no longer keeps the data (its retention
  limits), recorded explicitly and shown to the user rather than silently missing.
- ``Page``: what one request to the exchange gave: records, the cursor's next position, whether
  more pages remain, and any gap found.

A page carries its records in flat form (``FlatRecords``: tuples of their fields, enums as
their values, amounts as exact decimal text), the form the store writes: a backfill reads
80,000 of them, and building the tuples straight from the exchange's answer spares a record
object and four ``Decimal``s per row (docs/benchmarks.md). ``flatten`` and
``FlatRecords.records`` convert between the two forms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

ACCOUNT_WIDE = ""  # the ``market`` of datasets that are not per market (transfers)


class Dataset(StrEnum):
    TRADES = "trades"
    ORDERS = "orders"
    DEPOSITS = "deposits"
    WITHDRAWALS = "withdrawals"


HISTORY_DATASETS = (Dataset.TRADES, Dataset.ORDERS, Dataset.DEPOSITS, Dataset.WITHDRAWALS)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderStatus(StrEnum):
    """ccxt's unified order statuses."""

    OPEN = "open"
    CLOSED = "closed"  # completely filled
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"


class TransferKind(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


class TransferStatus(StrEnum):
    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class TradeRecord:
    connection_id: str
    symbol: str  # unified, e.g. "BTC/USDT"
    trade_id: str
    order_id: str | None
    side: Side
    price: Decimal
    amount: Decimal  # in the base asset
    cost: Decimal  # in the quote asset
    fee: Decimal
    fee_asset: str | None
    maker: bool
    time_ms: int


@dataclass(frozen=True, slots=True)
class OrderRecord:
    connection_id: str
    symbol: str
    order_id: str
    client_order_id: str | None
    side: Side
    type: str  # "limit", "market", ...
    status: OrderStatus
    time_in_force: str | None
    price: Decimal | None
    amount: Decimal
    filled: Decimal
    cost: Decimal
    created_ms: int
    updated_ms: int


@dataclass(frozen=True, slots=True)
class TransferRecord:
    connection_id: str
    kind: TransferKind
    transfer_id: str
    asset: str
    amount: Decimal
    fee: Decimal
    network: str | None
    status: TransferStatus
    tx_id: str | None
    address: str | None
    time_ms: int


Record = TradeRecord | OrderRecord | TransferRecord

# A record's fields in declaration order, enums as their values and amounts as exact decimal
# text (``money_text``): the flat form pages carry and the store writes
TradeTuple = tuple[str, str, str, str | None, str, str, str, str, str, str | None, bool, int]
OrderTuple = tuple[
    str, str, str, str | None, str, str, str, str | None, str | None, str, str, str, int, int
]
TransferTuple = tuple[str, str, str, str, str, str, str | None, str, str | None, str | None, int]


def money_text(amount: Decimal) -> str:
    """``amount`` as exact decimal text, never in exponent form (``Decimal("1E-8")`` is
    ``"0.00000001"``): ``str`` unless it chose an exponent, the same digits as
    ``format(amount, "f")`` at half its cost."""
    text = str(amount)
    return format(amount, "f") if "E" in text else text


@dataclass(frozen=True, slots=True)
class FlatRecords:
    """Records in flat form (``TradeTuple``, ``OrderTuple``, ``TransferTuple``)."""

    trades: Sequence[TradeTuple] = ()
    orders: Sequence[OrderTuple] = ()
    transfers: Sequence[TransferTuple] = ()

    def __len__(self) -> int:
        return len(self.trades) + len(self.orders) + len(self.transfers)

    def records(self) -> list[Record]:
        """The records themselves: trades, then orders, then transfers."""
        found: list[Record] = [
            TradeRecord(
                c, s, t, o, Side(d), Decimal(p), Decimal(a), Decimal(k), Decimal(f), fa, m, ms
            )
            for c, s, t, o, d, p, a, k, f, fa, m, ms in self.trades
        ]
        found += [
            OrderRecord(
                c,
                s,
                o,
                co,
                Side(d),
                ty,
                OrderStatus(st),
                tif,
                None if p is None else Decimal(p),
                Decimal(a),
                Decimal(fi),
                Decimal(k),
                cm,
                um,
            )
            for c, s, o, co, d, ty, st, tif, p, a, fi, k, cm, um in self.orders
        ]
        found += [
            TransferRecord(
                c,
                TransferKind(kd),
                t,
                ass,
                Decimal(a),
                Decimal(f),
                net,
                TransferStatus(st),
                tx,
                ad,
                ms,
            )
            for c, kd, t, ass, a, f, net, st, tx, ad, ms in self.transfers
        ]
        return found


def flatten(records: Iterable[Record]) -> FlatRecords:
    """``records`` in flat form."""
    trades: list[TradeTuple] = []
    orders: list[OrderTuple] = []
    transfers: list[TransferTuple] = []
    money = money_text
    for r in records:
        if type(r) is TradeRecord:
            trades.append(
                (
                    r.connection_id,
                    r.symbol,
                    r.trade_id,
                    r.order_id,
                    r.side.value,
                    money(r.price),
                    money(r.amount),
                    money(r.cost),
                    money(r.fee),
                    r.fee_asset,
                    r.maker,
                    r.time_ms,
                )
            )
        elif type(r) is OrderRecord:
            orders.append(
                (
                    r.connection_id,
                    r.symbol,
                    r.order_id,
                    r.client_order_id,
                    r.side.value,
                    r.type,
                    r.status.value,
                    r.time_in_force,
                    None if r.price is None else money(r.price),
                    money(r.amount),
                    money(r.filled),
                    money(r.cost),
                    r.created_ms,
                    r.updated_ms,
                )
            )
        elif type(r) is TransferRecord:
            transfers.append(
                (
                    r.connection_id,
                    r.kind.value,
                    r.transfer_id,
                    r.asset,
                    money(r.amount),
                    money(r.fee),
                    r.network,
                    r.status.value,
                    r.tx_id,
                    r.address,
                    r.time_ms,
                )
            )
        else:
            raise TypeError(f"not a record: {r!r}")
    return FlatRecords(trades, orders, transfers)


@dataclass(frozen=True, slots=True)
class AssetBalance:
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class BalanceSnapshot:
    connection_id: str
    taken_ms: int
    balances: Mapping[str, AssetBalance]  # assets with a non-zero total only

    def assets(self) -> frozenset[str]:
        return frozenset(self.balances)


@dataclass(frozen=True, slots=True)
class Cursor:
    connection_id: str
    dataset: Dataset
    market: str  # a unified symbol, or ACCOUNT_WIDE
    position: str | None  # the adapter's paging state; None: start from ``since``
    synced_until_ms: int  # the dataset is complete up to this time (0: nothing yet)
    since_ms: int  # where the backfill began


@dataclass(frozen=True, slots=True)
class Gap:
    connection_id: str
    dataset: Dataset
    market: str
    start_ms: int
    end_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class GapFound:
    """A gap as the exchange adapter reports it (the service adds the connection)."""

    start_ms: int
    end_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class Page:
    records: FlatRecords
    position: str | None
    more: bool  # another page is waiting: ask again with ``position``
    synced_until_ms: int  # the dataset is complete up to here after this page
    gaps: tuple[GapFound, ...] = field(default=())
    requests: int = 1


@dataclass(frozen=True, slots=True)
class SyncProgress:
    """Reported after every page, for progress bars."""

    connection_id: str
    dataset: Dataset
    market: str
    markets_done: int
    markets_total: int
    records: int  # stored so far in this run


@dataclass(frozen=True, slots=True)
class ExchangeCall:
    """One request to an exchange, for the request log: never the signature, the key or the
    answer's body."""

    at_ms: int
    connection_id: str | None
    venue: str  # the operator's endpoint name, or the exchange id
    method: str
    path: str  # the path and its non-secret parameters (symbol, fromId, limit ...)
    status: int | None  # None: no answer (network error, timeout)
    latency_ms: float
    weight: int
    error_code: str | None  # the exchange's own code (Binance's -1003 ...), when it gave one


@dataclass(frozen=True, slots=True)
class RecordQuery:
    """Filters for listing synced records, newest first, a page at a time.

    ``before`` is the keyset cursor: the sort key of the last record of the previous page
    (time, connection, market or kind, id); ``None`` starts from the newest."""

    connection_ids: tuple[str, ...]
    symbol: str | None = None
    asset: str | None = None  # trades: either side of the symbol; transfers: the asset
    side: str | None = None
    status: str | None = None
    kind: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    before: tuple[int, str, str, str] | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class CallQuery:
    """Filters for the request log, newest first; ``before`` is the last id of the previous
    page."""

    connection_ids: tuple[str, ...]
    status: int | None = None
    errors_only: bool = False
    method: str | None = None
    path_prefix: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    before: int | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class StoredCall:
    id: int
    call: ExchangeCall


@dataclass(frozen=True, slots=True)
class ValuedSnapshot:
    """A balance snapshot with the prices (in ``quote``) its assets were valued at when taken."""

    snapshot: BalanceSnapshot
    quote: str
    prices: Mapping[str, Decimal]
