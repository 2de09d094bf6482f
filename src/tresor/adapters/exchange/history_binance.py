"""Binance history, paged the cheapest way its API allows and parsed from the raw answers.

Per dataset (Binance spot REST docs, "Account endpoints" and "Wallet endpoints"):

- trades: ``GET /api/v3/myTrades`` per symbol (weight 20, up to 1,000 rows); orders:
  ``GET /api/v3/allOrders`` per symbol (weight 20), the same way. The first read of a symbol
  asks for its *most recent* 1,000 (no ``startTime``, no id: "otherwise most recent ... are
  returned"). One answer settles a symbol with fewer than that in all, or one whose answer
  reaches back past the backfill's start; it also shows orders placed before the start that
  filled after it (their fills are in the window, so the trades are read). Otherwise the older
  part of the window is read forward from the start (``startTime``, then ``fromId`` /
  ``orderId``, which never skip rows sharing a millisecond) until it meets the first answer.
  So a symbol costs ``ceil(n / 1000)`` requests, one if it has none: the least any client can
  spend, since each request returns at most 1,000 rows.
- Once caught up, trades go on from the next id. An order can still change after it was read
  (open, then filled), so the orders position goes back to the oldest order still open: the
  next sync re-reads from there and updates it.
- deposits and withdrawals: ``/sapi/v1/capital/deposit/hisrec`` and ``.../withdraw/history``,
  account-wide, windows of at most 90 days (``startTime``/``endTime``), newest first, paged with
  ``offset``. Once caught up the position goes back a day (or to the oldest pending transfer) so
  late-arriving and pending transfers are read again; rows are upserted by id.

Positions (opaque to the services, stored in ``sync_cursors``) read ``NEXT[/OPEN[/STOP/AFTER]]``:
the id to read on from (empty: from the backfill's start), the oldest open order seen in this
pass, and while the older part of a window is being filled in, the first id the newest answer
held (``STOP``) and the id after its last one (``AFTER``, where the pass ends). Positions
written by earlier versions (``NEXT`` and ``NEXT/OPEN``) read the same.

Signed reads carry ccxt's default ``recvWindow`` (10 s): the rate budget is charged before ccxt
signs a request (``metering``), so one held for the next weight window is signed when it goes.

Binance removes canceled and expired orders that had no fills after 90 days: a backfill
reaching further back records that as a gap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tresor.adapters.exchange.binance_records import (
    order_tuples,
    parse_transfers,
    rows_of,
    trade_tuples,
    unreadable,
)
from tresor.adapters.exchange.client import ExchangeClient
from tresor.domain.errors import ValidationFailed
from tresor.domain.records import (
    ACCOUNT_WIDE,
    AssetBalance,
    BalanceSnapshot,
    Dataset,
    FlatRecords,
    GapFound,
    OrderStatus,
    OrderTuple,
    Page,
    TransferKind,
    TransferStatus,
    flatten,
)

PAGE = 1000
DAY_MS = 86_400_000
WALLET_WINDOW_MS = 90 * DAY_MS
WALLET_OVERLAP_MS = DAY_MS
ORDER_RETENTION_MS = 90 * DAY_MS
# a window reaching past the retention by less than this is not reported as a gap: a 90-day
# backfill is set when the sync starts and each market is read a little later, which left a
# gap of a few seconds on every market (4,200 rows on the dashboard for 10 connections)
RETENTION_SLACK_MS = 3_600_000
_RETENTION_GAP = (
    "Binance removes canceled and expired orders that had no fills after 90 days: those older "
    "than that are not available."
)


@dataclass(frozen=True, slots=True)
class _Position:
    """A per-symbol cursor position (see the module docstring)."""

    next_id: int | None = None  # None: from the backfill's start
    oldest_open: int | None = None
    stop: int | None = None  # filling in: read up to this id (exclusive) ...
    after: int = 0  # ... then the pass ends here

    @classmethod
    def parse(cls, text: str) -> _Position:
        parts = [int(p) if p else None for p in text.split("/")]
        parts += [None] * (4 - len(parts))
        return cls(parts[0], parts[1], parts[2], parts[3] or 0)

    def __str__(self) -> str:
        head = "" if self.next_id is None else str(self.next_id)
        open_ = "" if self.oldest_open is None else str(self.oldest_open)
        if self.stop is not None:
            return f"{head}/{open_}/{self.stop}/{self.after}"
        return f"{head}/{open_}" if open_ else head


_OPEN = OrderStatus.OPEN.value
_NOTHING = FlatRecords()


def _oldest_open(orders: Sequence[OrderTuple], oldest: int | None) -> int | None:
    for order in orders:
        if order[6] == _OPEN:  # status
            order_id = int(order[2])
            oldest = order_id if oldest is None else min(oldest, order_id)
    return oldest


class BinanceHistory:
    """A ``HistorySource`` for one Binance connection (its read key)."""

    def __init__(
        self,
        client: ExchangeClient,
        *,
        connection_id: str,
        now_ms: Callable[[], int],
    ) -> None:
        self.client = client
        self.connection_id = connection_id
        self.now_ms = now_ms
        self._by_symbol: dict[str, tuple[str, str, str]] = {}  # symbol -> (id, base, quote)
        self._by_id: dict[str, str] = {}

    async def open(self) -> None:
        """Load the spot markets (one ``exchangeInfo`` request)."""
        markets = await self.client.load_markets()
        for symbol, market in markets.items():
            if market.get("spot"):
                self._by_symbol[symbol] = (market["id"], market["base"], market["quote"])
                self._by_id[market["id"]] = symbol

    async def aclose(self) -> None:
        await self.client.close()

    # -- balances -----------------------------------------------------------------------------
    async def balances(self) -> BalanceSnapshot:
        taken = self.now_ms()
        raw = await self.client.binance_raw("account", {"omitZeroBalances": "true"})
        if not isinstance(raw, dict) or not isinstance(raw.get("balances"), list):
            raise unreadable("an account")
        balances: dict[str, AssetBalance] = {}
        for row in raw["balances"]:
            free, locked = Decimal(row["free"]), Decimal(row["locked"])
            if free or locked:
                balances[row["asset"]] = AssetBalance(free=free, locked=locked)
        return BalanceSnapshot(self.connection_id, taken, balances)

    async def prices(self) -> dict[str, Decimal]:
        """The last price of every spot market, by unified symbol (one request, weight 4)."""
        raw = await self.client.binance_raw("prices", {})
        prices: dict[str, Decimal] = {}
        for row in rows_of(raw, "prices"):
            symbol = self._by_id.get(row.get("symbol", ""))
            if symbol is not None:
                prices[symbol] = Decimal(row["price"])
        return prices

    # -- which markets to read ----------------------------------------------------------------
    def markets_for(self, dataset: Dataset, assets: frozenset[str]) -> list[str]:
        """The markets ``dataset`` is read per, for an account known to have held ``assets``
        (balances, transfers, earlier trades and orders) rather than every listed pair:

        - orders: placing one needs the quote (buy) or the base (sell), and an order that
          never filled leaves no other trace (Binance has no account-wide order query): every
          pair with either asset held. The sync service reads the empty ones again only once
          a day.
        - trades: none beyond those: every fill belongs to an order, and the orders pass reads
          every pair an order could be on (the first read of a pair also shows orders placed
          before the backfill's start), so the service reads trades exactly where it found
          orders.
        """
        if dataset in (Dataset.DEPOSITS, Dataset.WITHDRAWALS):
            return [ACCOUNT_WIDE]
        if dataset is Dataset.ORDERS:
            return sorted(
                symbol
                for symbol, (_, base, quote) in self._by_symbol.items()
                if base in assets or quote in assets
            )
        return []

    async def active_markets(self) -> frozenset[str]:
        """Markets with an open order (one ``openOrders`` request for all symbols, weight 80):
        an order that has not filled yet leaves no trace in balances."""
        raw = await self.client.binance_raw("open_orders", {})
        return frozenset(
            symbol
            for row in rows_of(raw, "open orders")
            if (symbol := self._by_id.get(row.get("symbol", "")))
        )

    def listed(self, symbol: str) -> bool:
        return symbol in self._by_symbol

    # -- pages --------------------------------------------------------------------------------
    async def page(
        self, dataset: Dataset, market: str, position: str | None, *, since_ms: int
    ) -> Page:
        """The next page of ``dataset`` in ``market`` after ``position`` (None: the first,
        of the window from ``since_ms``)."""
        if dataset is Dataset.TRADES or dataset is Dataset.ORDERS:
            params: dict[str, Any] = {"symbol": self._market_id(market), "limit": PAGE}
            if position is None:
                return await self._newest(dataset, market, params, since_ms)
            return await self._onwards(dataset, market, params, _Position.parse(position), since_ms)
        return await self._transfers(dataset, position, since_ms)

    def _market_id(self, symbol: str) -> str:
        found = self._by_symbol.get(symbol)
        if found is None:
            raise ValidationFailed(
                f"{symbol} is not a spot market on this exchange.", details={"symbol": symbol}
            )
        return found[0]

    async def _read(
        self, dataset: Dataset, symbol: str, params: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of raw rows, and the name of their id field."""
        if dataset is Dataset.ORDERS:
            return rows_of(await self.client.binance_raw("all_orders", params), "orders"), "orderId"
        return rows_of(await self.client.binance_raw("my_trades", params), "trades"), "id"

    def _parse(self, dataset: Dataset, symbol: str, rows: list[dict[str, Any]]) -> FlatRecords:
        if dataset is Dataset.ORDERS:
            return FlatRecords(orders=order_tuples(rows, self.connection_id, symbol))
        return FlatRecords(trades=trade_tuples(rows, self.connection_id, symbol))

    async def _newest(
        self, dataset: Dataset, symbol: str, params: dict[str, Any], since_ms: int
    ) -> Page:
        """The first read of a symbol: its most recent rows (see the module docstring)."""
        asked = self.now_ms()
        gaps: tuple[GapFound, ...] = ()
        if dataset is Dataset.ORDERS and since_ms < asked - ORDER_RETENTION_MS - RETENTION_SLACK_MS:
            gaps = (GapFound(since_ms, asked - ORDER_RETENTION_MS, _RETENTION_GAP),)
        rows, id_key = await self._read(dataset, symbol, params)
        if not rows:  # none at all: an empty market (read again once a day)
            return Page(_NOTHING, None, False, asked, gaps)
        try:
            first_id, first_time = int(rows[0][id_key]), int(rows[0]["time"])
            after = int(rows[-1][id_key]) + 1
            if first_time < since_ms:  # it reaches back past the start: keep the window's
                rows = [row for row in rows if int(row["time"]) >= since_ms]
        except (KeyError, TypeError, ValueError) as exc:
            raise unreadable(f"{dataset.value} rows") from exc
        records = self._parse(dataset, symbol, rows)
        oldest_open = _oldest_open(records.orders, None) if dataset is Dataset.ORDERS else None
        if first_time < since_ms or len(rows) < PAGE:
            done = _Position(oldest_open if oldest_open is not None else after)
            return Page(records, str(done), False, asked, gaps)
        # older rows of the window remain: read them forward from the start, up to these
        filling = _Position(None, oldest_open, first_id, after)
        return Page(records, str(filling), True, since_ms, gaps)

    async def _onwards(
        self,
        dataset: Dataset,
        symbol: str,
        params: dict[str, Any],
        at: _Position,
        since_ms: int,
    ) -> Page:
        """A page read forward from ``at``."""
        if at.next_id is None:
            params["startTime"] = since_ms
        else:
            params["orderId" if dataset is Dataset.ORDERS else "fromId"] = at.next_id
        asked = self.now_ms()
        rows, id_key = await self._read(dataset, symbol, params)
        more = len(rows) >= PAGE
        try:
            next_id = int(rows[-1][id_key]) + 1 if rows else at.next_id
            last_time = int(rows[-1]["time"]) if rows else asked
            if at.stop is not None and rows and next_id is not None and next_id > at.stop:
                stop = at.stop  # the rest was in the newest answer, stored already
                rows = [row for row in rows if int(row[id_key]) < stop]
        except (KeyError, TypeError, ValueError) as exc:
            raise unreadable(f"{dataset.value} rows") from exc
        records = self._parse(dataset, symbol, rows)
        oldest_open = at.oldest_open
        if dataset is Dataset.ORDERS:
            oldest_open = _oldest_open(records.orders, oldest_open)
        if at.stop is not None:  # filling in the older part of the window
            if more and next_id is not None and next_id < at.stop:
                position = _Position(next_id, oldest_open, at.stop, at.after)
                return Page(records, str(position), True, last_time)
            resume = oldest_open if oldest_open is not None else at.after
            return Page(records, str(_Position(resume)), False, asked)
        if next_id is None:  # nothing read yet and nothing found: start over next time
            return Page(records, None, False, asked)
        if more:
            return Page(records, str(_Position(next_id, oldest_open)), True, last_time)
        # caught up; orders go back to the oldest one still open, to see it change
        resume = oldest_open if oldest_open is not None else next_id
        return Page(records, str(_Position(resume)), False, asked)

    async def _transfers(self, dataset: Dataset, position: str | None, since_ms: int) -> Page:
        # position "START" or "START/OFFSET/OLDEST_PENDING": the window being read
        kind = TransferKind.DEPOSIT if dataset is Dataset.DEPOSITS else TransferKind.WITHDRAWAL
        start, offset, pending = since_ms, 0, None
        if position is not None:
            parts = position.split("/")
            start = int(parts[0])
            offset = int(parts[1]) if len(parts) > 1 and parts[1] else 0
            pending = int(parts[2]) if len(parts) > 2 and parts[2] else None
        asked = self.now_ms()
        end = min(asked, start + WALLET_WINDOW_MS)
        call = "deposits" if kind is TransferKind.DEPOSIT else "withdrawals"
        params = {"startTime": start, "endTime": end, "offset": offset, "limit": PAGE}
        rows = rows_of(await self.client.binance_raw(call, params), call)
        transfers = parse_transfers(rows, self.connection_id, kind)
        for transfer in transfers:
            if transfer.status is TransferStatus.PENDING:
                pending = transfer.time_ms if pending is None else min(pending, transfer.time_ms)
        records = flatten(transfers)
        tail = "" if pending is None else str(pending)
        if len(rows) >= PAGE:
            return Page(records, f"{start}/{offset + len(rows)}/{tail}", True, start)
        if end < asked:  # the next window
            return Page(records, f"{end + 1}/0/{tail}", True, end)
        # caught up: next time, read again from a day back, or from the oldest pending one
        again = end - WALLET_OVERLAP_MS
        if pending is not None:
            again = min(again, pending)
        return Page(records, str(max(again, since_ms)), False, asked)
