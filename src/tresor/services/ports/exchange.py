"""Reaching exchanges: the rate budget, the request log, market data and history readers."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from tresor.domain.connections import (
    ExchangeTarget,
)
from tresor.domain.market import Candles, MarketRecord, Observed, OrderBook, Ticker
from tresor.domain.ratelimits import Bucket
from tresor.domain.records import (
    BalanceSnapshot,
    Dataset,
    ExchangeCall,
    Page,
)


class RateBudget(Protocol):
    """The request budget: fixed windows aligned to the epoch, as Binance counts them
    (``domain.ratelimits``). The embedded default keeps it in memory; the distributed mode keeps
    it in Redis, shared by all workers. Headroom is the caller's: give buckets a ``limit`` below
    the exchange's own."""

    async def acquire(
        self,
        buckets: Sequence[Bucket],
        weight: int,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (ends in a domain error)
    ) -> None:
        """Wait until every bucket has room for ``weight`` in its current window (and none is
        blocked), then charge them all at once: never some of them.

        Raises:
            RateBudgetExhausted: there was no room within ``timeout`` seconds; nothing was
                charged. Raised as soon as that is certain (a window, or a block, ending after
                the deadline), not at the deadline. Its ``retry_after`` is how long the full
                bucket was still to stay full.
            ValueError: ``weight`` is negative or above a bucket's limit (it could never fit).
        """
        ...

    async def room_after(self, buckets: Sequence[Bucket], weight: int) -> tuple[float, str | None]:
        """How long until every bucket has room for ``weight`` (as ``acquire`` would wait; a
        block counts), and the key of a bucket without room now: ``(0.0, None)`` when there is
        room now. Charges nothing: a look before work that would end in ``acquire``."""
        ...

    async def observe(self, bucket: Bucket, used: int) -> None:
        """Reconcile with the exchange's own count (``X-MBX-USED-WEIGHT-1M``): the current
        window's count becomes the larger of ours and ``used``."""
        ...

    async def block(self, bucket: Bucket, seconds: float) -> None:
        """Charge nothing to ``bucket`` for ``seconds`` (``Retry-After`` of a 429 or a 418 ban).
        A shorter block never shortens a longer one."""
        ...

    async def used(self, bucket: Bucket) -> int:
        """The weight charged to ``bucket`` in its current window."""
        ...


class RequestLog(Protocol):
    """Where every exchange request is recorded. ``record`` never blocks and never fails the
    request: entries are buffered and written in batches."""

    def record(self, call: ExchangeCall) -> None: ...


class MarketSource(Protocol):
    """Public market data of one exchange endpoint, read without a key through the exchange
    library's unified calls. Every request is charged to the rate budget *without waiting*:
    when the budget has no room right now the call raises ``RateBudgetExhausted`` at once (a
    cache answers instead, or the caller retries later)."""

    exchange: str

    async def symbols(self) -> frozenset[str]:
        """The unified symbols of the endpoint's markets (loaded once, refreshed hourly).

        Raises:
            ExchangeTrouble: the markets could not be loaded (and never were).
        """
        ...

    def timeframes(self) -> tuple[str, ...]:
        """The candle timeframes the exchange offers ("1m", "1h", "1d" ...); no request."""
        ...

    def book_limit(self, depth: int) -> int:
        """How many levels to ask for when ``depth`` are wanted: the most that cost the same
        request weight (Binance: 100 for any depth up to 100), so one cached book serves many
        depths."""
        ...

    async def ticker(self, symbol: str) -> Ticker:
        """Raises: ExchangeTrouble, ValidationFailed (the exchange refused the request)."""
        ...

    async def order_book(self, symbol: str, limit: int) -> OrderBook:
        """Raises: ExchangeTrouble, ValidationFailed."""
        ...

    async def candles(
        self, symbol: str, timeframe: str, *, since_ms: int | None, limit: int
    ) -> Candles:
        """The ``limit`` candles from ``since_ms`` on (None: the latest), oldest first.

        Raises: ExchangeTrouble, ValidationFailed."""
        ...


class MarketGateway(Protocol):
    def market(self, target: ExchangeTarget) -> MarketSource:
        """The endpoint's market data source (one per endpoint, kept open by the gateway).

        Raises:
            UnknownExchange: ``target.exchange`` is not an exchange the gateway knows.
        """
        ...


class MarketCache(Protocol):
    """Recently read market data, by key. In memory in the embedded default; in Redis, shared
    by every process, in the distributed mode. ``claim``/``release`` elect the one process that
    asks the exchange when several miss the same key at once (single flight across processes;
    within a process the service coalesces requests itself)."""

    async def get(self, key: str) -> Observed[MarketRecord] | None: ...

    async def put(self, key: str, entry: Observed[MarketRecord], *, keep_seconds: float) -> None:
        """Store ``entry`` for ``keep_seconds`` (past its time to live: a stale answer is better
        than none when the exchange cannot be asked)."""
        ...

    async def claim(self, key: str, *, seconds: float) -> str | None:
        """A token if this caller may fetch ``key`` now (nobody else is fetching it, or the
        other's claim is older than ``seconds``); None while another process fetches it."""
        ...

    async def release(self, key: str, token: str) -> None:
        """End the claim ``token`` on ``key`` (a claim that expired meanwhile is left alone)."""
        ...


class HistorySource(Protocol):
    """One connection's read access to its exchange (opened by ``ExchangeGateway.history``):
    balances, prices and history pages. Close it with ``aclose``."""

    async def balances(self) -> BalanceSnapshot: ...

    async def prices(self) -> dict[str, Decimal]:
        """The last price of every market, by unified symbol ("BTC/USDT")."""
        ...

    def markets_for(self, dataset: Dataset, assets: frozenset[str]) -> list[str]:
        """The markets ``dataset`` is read per, for an account known to have held ``assets``
        (``[ACCOUNT_WIDE]`` for account-wide datasets)."""
        ...

    def listed(self, symbol: str) -> bool: ...

    async def active_markets(self) -> frozenset[str]:
        """Markets with an open order (which balances do not reveal)."""
        ...

    async def page(
        self, dataset: Dataset, market: str, position: str | None, *, since_ms: int
    ) -> Page:
        """The page after ``position`` (None: the first, from ``since_ms``).

        Raises:
            ExchangeTrouble, KeyRejected: as the exchange answered.
        """
        ...

    async def aclose(self) -> None: ...
