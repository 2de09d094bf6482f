"""History through ccxt's unified calls, for every exchange Tresor has no reader of its own
for (and to compare with the Binance reader).

Paging is by time: each page asks ``since`` the last record's time (inclusive: the records of
that millisecond come again and are upserted unchanged). ccxt gives amounts as floats; they are
converted with ``Decimal(str(x))``, which keeps the shortest decimal that reads back as the same
float (exact for the 8-decimal amounts exchanges send).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tresor.adapters.exchange.client import ExchangeClient
from tresor.domain.records import (
    ACCOUNT_WIDE,
    AssetBalance,
    BalanceSnapshot,
    Dataset,
    OrderRecord,
    OrderStatus,
    Page,
    Side,
    TradeRecord,
    TransferKind,
    TransferRecord,
    TransferStatus,
    flatten,
)

PAGE = 500
ZERO = Decimal(0)


def _dec(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(str(value))


def unified_trade(connection_id: str, r: dict[str, Any]) -> TradeRecord:
    """A trade record from one of ccxt's unified trades."""
    fee = r.get("fee") or {}
    return TradeRecord(
        connection_id,
        r["symbol"],
        str(r["id"]),
        None if r.get("order") is None else str(r["order"]),
        Side(r["side"]),
        _dec(r["price"]),
        _dec(r["amount"]),
        _dec(r.get("cost")),
        _dec(fee.get("cost")),
        fee.get("currency"),
        r.get("takerOrMaker") == "maker",
        int(r["timestamp"]),
    )


def unified_order(connection_id: str, r: dict[str, Any]) -> OrderRecord:
    """An order record from one of ccxt's unified orders."""
    status = r.get("status") or "open"
    return OrderRecord(
        connection_id,
        r["symbol"],
        str(r["id"]),
        r.get("clientOrderId"),
        Side(r["side"]),
        str(r.get("type") or "limit"),
        OrderStatus(status) if status in OrderStatus._value2member_map_ else OrderStatus.OPEN,
        r.get("timeInForce"),
        _dec(r["price"]) if r.get("price") else None,
        _dec(r.get("amount")),
        _dec(r.get("filled")),
        _dec(r.get("cost")),
        int(r["timestamp"]),
        int(r.get("lastUpdateTimestamp") or r.get("lastTradeTimestamp") or r["timestamp"]),
    )


class GenericHistory:
    """A ``HistorySource`` on ccxt's unified calls."""

    def __init__(
        self, client: ExchangeClient, *, connection_id: str, now_ms: Callable[[], int]
    ) -> None:
        self.client = client
        self.connection_id = connection_id
        self.now_ms = now_ms
        self._markets: dict[str, tuple[str, str]] = {}

    async def open(self) -> None:
        for symbol, market in (await self.client.load_markets()).items():
            if market.get("spot"):
                self._markets[symbol] = (market["base"], market["quote"])

    async def aclose(self) -> None:
        await self.client.close()

    async def balances(self) -> BalanceSnapshot:
        taken = self.now_ms()
        raw = await self.client.fetch_balance()
        balances: dict[str, AssetBalance] = {}
        for asset, free in (raw.get("free") or {}).items():
            locked = (raw.get("used") or {}).get(asset)
            b = AssetBalance(_dec(free), _dec(locked))
            if b.total:
                balances[asset] = b
        return BalanceSnapshot(self.connection_id, taken, balances)

    async def prices(self) -> dict[str, Decimal]:
        tickers = await self.client.fetch_tickers()
        return {
            symbol: _dec(t.get("last"))
            for symbol, t in tickers.items()
            if isinstance(t, dict) and t.get("last") is not None
        }

    def markets_for(self, dataset: Dataset, assets: frozenset[str]) -> list[str]:
        if dataset in (Dataset.DEPOSITS, Dataset.WITHDRAWALS):
            return [ACCOUNT_WIDE]
        if dataset is Dataset.ORDERS:  # an unfilled order needs either asset (see Binance's)
            return sorted(s for s, (b, q) in self._markets.items() if b in assets or q in assets)
        return sorted(s for s, (b, q) in self._markets.items() if b in assets and q in assets)

    async def active_markets(self) -> frozenset[str]:
        if not self.client.has("fetchOpenOrders"):
            return frozenset()
        return frozenset(o["symbol"] for o in await self.client.fetch_open_orders())

    def listed(self, symbol: str) -> bool:
        return symbol in self._markets

    async def page(
        self, dataset: Dataset, market: str, position: str | None, *, since_ms: int
    ) -> Page:
        since = since_ms if position is None else int(position)
        asked = self.now_ms()
        rows: list[dict[str, Any]]
        if dataset is Dataset.TRADES:
            rows = await self.client.fetch_my_trades(market, since=_dt(since), limit=PAGE)
            records: tuple[Any, ...] = tuple(self._trade(r) for r in rows)
        elif dataset is Dataset.ORDERS:
            rows = await self.client.fetch_orders(market, since=_dt(since), limit=PAGE)
            records = tuple(self._order(r) for r in rows)
        elif dataset is Dataset.DEPOSITS:
            rows = await self.client.fetch_deposits(since=_dt(since), limit=PAGE)
            records = tuple(self._transfer(r, TransferKind.DEPOSIT) for r in rows)
        else:
            rows = await self.client.fetch_withdrawals(since=_dt(since), limit=PAGE)
            records = tuple(self._transfer(r, TransferKind.WITHDRAWAL) for r in rows)
        times = [int(r["timestamp"]) for r in rows if r.get("timestamp") is not None]
        if len(rows) >= PAGE and times:
            last = max(times)
            # a full page within one millisecond cannot be paged by time: step past it
            nxt = last + 1 if last == since else last
            return Page(flatten(records), str(nxt), True, last)
        return Page(flatten(records), str(max([since, *times])), False, asked)

    def _trade(self, r: dict[str, Any]) -> TradeRecord:
        return unified_trade(self.connection_id, r)

    def _order(self, r: dict[str, Any]) -> OrderRecord:
        return unified_order(self.connection_id, r)

    def _transfer(self, r: dict[str, Any], kind: TransferKind) -> TransferRecord:
        status = {"ok": TransferStatus.OK, "failed": TransferStatus.FAILED}.get(
            str(r.get("status")),
            TransferStatus.CANCELED if r.get("status") == "canceled" else TransferStatus.PENDING,
        )
        fee = r.get("fee") or {}
        return TransferRecord(
            self.connection_id,
            kind,
            str(r["id"]),
            r["currency"],
            _dec(r["amount"]),
            _dec(fee.get("cost")),
            r.get("network"),
            status,
            r.get("txid"),
            r.get("address"),
            int(r["timestamp"]),
        )


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
