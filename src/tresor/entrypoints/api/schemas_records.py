"""The unified records as the API gives them, the same for every exchange: trades, orders,
transfers, balance snapshots, and the market data shapes (ticker, order book, candles).

Amounts are decimal strings (never floats); times are ISO 8601 in UTC with the exchange's raw
epoch milliseconds beside them (``time`` and ``time_ms``). These models are also the published
JSON Schemas (``GET /v1/schemas``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from tresor.domain.market import Candles, Level, OrderBook, Ticker
from tresor.domain.records import OrderRecord, TradeRecord, TransferRecord, ValuedSnapshot

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Amount = Annotated[
    str,
    Field(
        pattern=r"^-?[0-9]+(\.[0-9]+)?$",
        description="A decimal number as a string, exact (never a float).",
        examples=["0.015", "64250.5"],
    ),
]
Ms = Annotated[int, Field(description="Milliseconds since the Unix epoch, as the exchange gave.")]
Symbol = Annotated[
    str, Field(description="Unified market symbol, BASE/QUOTE.", examples=["BTC/USDT"])
]


def amount(value: Decimal) -> str:
    """Plain notation without trailing zeros, so an amount reads the same from every database
    (PostgreSQL's ``NUMERIC(38, 18)`` pads to 18 places); exact, unlike ``normalize``."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def maybe(value: Decimal | None) -> str | None:
    return None if value is None else amount(value)


def at(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return EPOCH + timedelta(milliseconds=ms)


class TradePublic(BaseModel):
    """One fill of one of the account's orders."""

    model_config = ConfigDict(title="Trade")

    connection_id: str
    symbol: Symbol
    trade_id: str = Field(description="The exchange's id of the fill.")
    order_id: str | None
    side: Literal["buy", "sell"]
    price: Amount = Field(description="In the quote asset, per unit of the base asset.")
    amount: Amount = Field(description="In the base asset.")
    cost: Amount = Field(description="In the quote asset (price times amount).")
    fee: Amount
    fee_asset: str | None
    maker: bool
    time: datetime
    time_ms: Ms

    @classmethod
    def of(cls, r: TradeRecord) -> TradePublic:
        return cls(
            connection_id=r.connection_id,
            symbol=r.symbol,
            trade_id=r.trade_id,
            order_id=r.order_id,
            side=r.side.value,
            price=amount(r.price),
            amount=amount(r.amount),
            cost=amount(r.cost),
            fee=amount(r.fee),
            fee_asset=r.fee_asset,
            maker=r.maker,
            time=at(r.time_ms),
            time_ms=r.time_ms,
        )


class OrderPublic(BaseModel):
    """An order as the exchange last reported it."""

    model_config = ConfigDict(title="Order")

    connection_id: str
    symbol: Symbol
    order_id: str
    client_order_id: str | None
    side: Literal["buy", "sell"]
    type: str = Field(examples=["limit", "market"])
    status: Literal["open", "closed", "canceled", "expired", "rejected"] = Field(
        description="'closed' means completely filled."
    )
    time_in_force: str | None
    price: Amount | None = Field(description="The limit price; null for market orders.")
    amount: Amount
    filled: Amount
    cost: Amount
    created: datetime
    created_ms: Ms
    updated: datetime
    updated_ms: Ms

    @classmethod
    def of(cls, r: OrderRecord) -> OrderPublic:
        return cls(
            connection_id=r.connection_id,
            symbol=r.symbol,
            order_id=r.order_id,
            client_order_id=r.client_order_id,
            side=r.side.value,
            type=r.type,
            status=r.status.value,
            time_in_force=r.time_in_force,
            price=maybe(r.price),
            amount=amount(r.amount),
            filled=amount(r.filled),
            cost=amount(r.cost),
            created=at(r.created_ms),
            created_ms=r.created_ms,
            updated=at(r.updated_ms),
            updated_ms=r.updated_ms,
        )


class TransferPublic(BaseModel):
    """A deposit or a withdrawal, read from the exchange's history (Tresor never makes one)."""

    model_config = ConfigDict(title="Transfer")

    connection_id: str
    kind: Literal["deposit", "withdrawal"]
    transfer_id: str
    asset: str
    amount: Amount
    fee: Amount
    network: str | None
    status: Literal["pending", "ok", "failed", "canceled"]
    tx_id: str | None
    address: str | None
    time: datetime
    time_ms: Ms

    @classmethod
    def of(cls, r: TransferRecord) -> TransferPublic:
        return cls(
            connection_id=r.connection_id,
            kind=r.kind.value,
            transfer_id=r.transfer_id,
            asset=r.asset,
            amount=amount(r.amount),
            fee=amount(r.fee),
            network=r.network,
            status=r.status.value,
            tx_id=r.tx_id,
            address=r.address,
            time=at(r.time_ms),
            time_ms=r.time_ms,
        )


class BalancePublic(BaseModel):
    model_config = ConfigDict(title="Balance")

    free: Amount
    locked: Amount = Field(description="Held by open orders.")
    total: Amount


class BalancesPublic(BaseModel):
    """A portfolio snapshot: every asset's free and locked amounts on one account at one
    instant, with the prices it was valued at."""

    model_config = ConfigDict(title="Balances")

    connection_id: str
    taken: datetime
    taken_ms: Ms
    quote: str = Field(examples=["USD"])
    balances: dict[str, BalancePublic] = Field(description="By asset; non-zero totals only.")
    prices: dict[str, Amount] = Field(description="Price of one unit of each asset in 'quote'.")

    @classmethod
    def of(cls, v: ValuedSnapshot) -> BalancesPublic:
        return cls(
            connection_id=v.snapshot.connection_id,
            taken=at(v.snapshot.taken_ms),
            taken_ms=v.snapshot.taken_ms,
            quote=v.quote,
            balances={
                asset: BalancePublic(
                    free=amount(b.free), locked=amount(b.locked), total=amount(b.total)
                )
                for asset, b in sorted(v.snapshot.balances.items())
            },
            prices={asset: amount(p) for asset, p in sorted(v.prices.items())},
        )


class TickerPublic(BaseModel):
    """A price feed: the last price and the best bid and ask of one market."""

    model_config = ConfigDict(title="Ticker")

    exchange: str = Field(examples=["binance"])
    symbol: Symbol
    time: datetime
    time_ms: Ms
    last: Amount | None
    bid: Amount | None
    bid_amount: Amount | None
    ask: Amount | None
    ask_amount: Amount | None
    high: Amount | None = Field(description="Over the last 24 hours.")
    low: Amount | None = Field(description="Over the last 24 hours.")
    base_volume: Amount | None = Field(description="Over the last 24 hours, in the base asset.")
    quote_volume: Amount | None = Field(description="Over the last 24 hours, in the quote asset.")

    @staticmethod
    def fields_of(t: Ticker) -> dict[str, object]:
        return {
            "exchange": t.exchange,
            "symbol": t.symbol,
            "time": at(t.time_ms),
            "time_ms": t.time_ms,
            "last": maybe(t.last),
            "bid": maybe(t.bid),
            "bid_amount": maybe(t.bid_amount),
            "ask": maybe(t.ask),
            "ask_amount": maybe(t.ask_amount),
            "high": maybe(t.high),
            "low": maybe(t.low),
            "base_volume": maybe(t.base_volume),
            "quote_volume": maybe(t.quote_volume),
        }


LevelPublic = tuple[Amount, Amount]


def levels(side: tuple[Level, ...]) -> list[LevelPublic]:
    return [(amount(price), amount(size)) for price, size in side]


class OrderBookPublic(BaseModel):
    """Liquidity depth: the resting orders of one market, as [price, amount] levels."""

    model_config = ConfigDict(title="OrderBook")

    exchange: str = Field(examples=["binance"])
    symbol: Symbol
    time: datetime
    time_ms: Ms
    bids: list[LevelPublic] = Field(description="Best (highest) price first.")
    asks: list[LevelPublic] = Field(description="Best (lowest) price first.")

    @staticmethod
    def fields_of(b: OrderBook) -> dict[str, object]:
        return {
            "exchange": b.exchange,
            "symbol": b.symbol,
            "time": at(b.time_ms),
            "time_ms": b.time_ms,
            "bids": levels(b.bids),
            "asks": levels(b.asks),
        }


class CandlePublic(BaseModel):
    """One OHLCV candle: the prices of the first, highest, lowest and last trade of an
    interval, and the amount traded in it."""

    model_config = ConfigDict(title="Candle")

    time: datetime = Field(description="When the candle opens.")
    time_ms: Ms
    close_time: datetime = Field(description="When it ends (the next candle's open).")
    close_time_ms: Ms
    open: Amount
    high: Amount
    low: Amount
    close: Amount = Field(description="The last price so far, while the candle is open.")
    volume: Amount = Field(description="In the base asset.")
    closed: bool = Field(description="False for a candle still open when read: it will change.")


class CandlesPublic(BaseModel):
    """Price history: the OHLCV candles of one market over one timeframe, oldest first."""

    model_config = ConfigDict(title="Candles")

    exchange: str = Field(examples=["binance"])
    symbol: Symbol
    timeframe: str = Field(
        description="The candle length: a number and s, m, h, d, w, M (month) or y.",
        examples=["1m", "1h", "1d"],
    )
    candles: list[CandlePublic]

    @staticmethod
    def fields_of(c: Candles, *, now_ms: int) -> dict[str, object]:
        return {
            "exchange": c.exchange,
            "symbol": c.symbol,
            "timeframe": c.timeframe,
            "candles": [
                CandlePublic(
                    time=at(k.open_ms),
                    time_ms=k.open_ms,
                    close_time=at(k.close_ms),
                    close_time_ms=k.close_ms,
                    open=amount(k.open),
                    high=amount(k.high),
                    low=amount(k.low),
                    close=amount(k.close),
                    volume=amount(k.volume),
                    closed=k.closed(now_ms),
                )
                for k in c.candles
            ],
        }


class TradePage(BaseModel):
    items: list[TradePublic]
    next_cursor: str | None = Field(description="Pass as 'cursor' for the next page; null: last.")


class OrderPage(BaseModel):
    items: list[OrderPublic]
    next_cursor: str | None


class TransferPage(BaseModel):
    items: list[TransferPublic]
    next_cursor: str | None
