"""Market data of the configured endpoints (ticker, order book, candles), cached within the
rate budget.

One request, in order::

    endpoint name -> its target (UnknownEndpoint); a candle timeframe the exchange offers
        (UnsupportedTimeframe)
    cache.get(key): younger than its time to live -> answered, no exchange request
    otherwise one fetch per key at a time: concurrent identical requests in this process share
        one (single flight), and the cache's claim makes processes sharing a Redis cache wait
        for the one that fetches
    the fetch: the symbol checked against the endpoint's markets (UnknownSymbol), then the
        source's call, charged to the rate budget *without waiting*; the answer is cached for
        its time to live plus ``keep_stale_s``
    the exchange cannot be asked now (no room in the budget, rate limited, unreachable):
        the cached entry, flagged ``stale``, with its age; with nothing cached, the error
        (``rate_budget_exhausted`` with ``retry_after``)

Times to live: ticker 2 s, order book 1 s; the latest candles a sixtieth of their timeframe
(1 s to 60 s: the last candle is still moving); a window of candles that are all closed (from a
``since``, ``limit`` of them) cannot change and is kept an hour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tresor.domain.connections import Connection, ExchangeTarget
from tresor.domain.errors import (
    ExchangeTrouble,
    InputError,
    RateBudgetExhausted,
    UnknownEndpoint,
    UnknownSymbol,
    UnsupportedTimeframe,
)
from tresor.domain.market import (
    Candles,
    MarketAnswer,
    MarketRecord,
    Observed,
    OrderBook,
    R,
    Ticker,
)
from tresor.services.ports import Clock, MarketCache, MarketGateway, MarketSource

NO_ROOM_MESSAGE = (
    "Tresor's request budget for this exchange has no room right now, and nothing recent enough "
    "is cached for this request; it was not sent."
)
NO_ROOM_REMEDY = (
    "Ask again after the number of seconds in the Retry-After header. Market data is cached, so "
    "repeating the same request (same symbol, depth or timeframe) is the cheapest way to get it."
)


@dataclass(frozen=True)
class MarketPolicy:
    ticker_ttl_s: float = 2.0
    book_ttl_s: float = 1.0
    candles_ttl_min_s: float = 1.0  # the latest candles: a sixtieth of the timeframe, within
    candles_ttl_max_s: float = 60.0
    closed_candles_ttl_s: float = 3600.0  # a window of closed candles never changes
    keep_stale_s: float = 300.0  # how long past its time to live an entry may answer as stale
    claim_s: float = 15.0  # how long a process fetching a key holds it (more than a timeout)
    poll_s: float = 0.02  # how often a process waiting for another's fetch looks again


@dataclass(frozen=True)
class MarketEndpoint:
    name: str
    exchange: str
    timeframes: tuple[str, ...]


class MarketDataService:
    """Ticker, order book and candles of the operator's endpoints (``TRESOR_ENDPOINTS``)."""

    def __init__(
        self,
        *,
        gateway: MarketGateway,
        cache: MarketCache,
        clock: Clock,
        endpoints: Mapping[str, ExchangeTarget],
        policy: MarketPolicy | None = None,
    ) -> None:
        self._gateway = gateway
        self._cache = cache
        self._clock = clock
        self._endpoints = dict(endpoints)
        self.policy = policy or MarketPolicy()
        self._flights: dict[str, asyncio.Future[tuple[Observed[Any], bool]]] = {}

    # -- what is served ------------------------------------------------------------------------
    def endpoints(self) -> list[MarketEndpoint]:
        """The configured endpoints, by name (no exchange request)."""
        found = []
        for name, target in sorted(self._endpoints.items()):
            try:
                timeframes = self._gateway.market(target).timeframes()
            except InputError:  # an endpoint the operator misconfigured: listed, with no candles
                timeframes = ()
            found.append(MarketEndpoint(name, target.exchange, timeframes))
        return found

    async def symbols(self, endpoint: str) -> tuple[str, ...]:
        """The unified symbols of the endpoint's markets, sorted.

        Raises:
            UnknownEndpoint: no endpoint of that name.
            ExchangeTrouble: the markets could not be loaded (RateBudgetExhausted: no room).
        """
        source = self._source(endpoint)
        try:
            return tuple(sorted(await source.symbols()))
        except RateBudgetExhausted as exc:
            raise _no_room(exc) from exc

    # -- market data ---------------------------------------------------------------------------
    async def reference_price(
        self, connection: Connection, symbol: str, side: str
    ) -> Decimal | None:
        """The price a market order of ``side`` on ``connection`` would start at (the best
        ask for a buy, the best bid for a sell) from the endpoint's ticker, cached or fetched;
        None when the connection's endpoint is not served here or has no such price."""
        if connection.endpoint is None or connection.endpoint not in self._endpoints:
            return None
        try:
            ticker = (await self.ticker(connection.endpoint, symbol)).value
        except (InputError, ExchangeTrouble):
            return None
        return (ticker.ask if side == "buy" else ticker.bid) or ticker.last

    async def ticker(self, endpoint: str, symbol: str) -> MarketAnswer[Ticker]:
        """The last price, best bid and ask and the day's figures of ``symbol``.

        Raises:
            UnknownEndpoint, UnknownSymbol: the request names nothing the endpoint has.
            ExchangeTrouble: the exchange could not be asked and nothing is cached
                (RateBudgetExhausted with ``retry_after``: no room in the budget now).
        """
        source = self._source(endpoint)

        async def fetch() -> Ticker:
            return await source.ticker(await self._symbol(source, endpoint, symbol))

        return await self._answer(
            endpoint,
            f"ticker:{endpoint}:{symbol}",
            Ticker,
            fetch,
            lambda _: self.policy.ticker_ttl_s,
        )

    async def order_book(self, endpoint: str, symbol: str, depth: int) -> MarketAnswer[OrderBook]:
        """The best ``depth`` bid and ask levels of ``symbol``. The book is fetched at the
        largest depth costing the same request weight, and that one book answers every
        smaller depth while it is fresh.

        Raises:
            UnknownEndpoint, UnknownSymbol, ExchangeTrouble: as ``ticker``.
        """
        source = self._source(endpoint)
        limit = source.book_limit(depth)

        async def fetch() -> OrderBook:
            return await source.order_book(await self._symbol(source, endpoint, symbol), limit)

        answer = await self._answer(
            endpoint,
            f"book:{endpoint}:{symbol}:{limit}",
            OrderBook,
            fetch,
            lambda _: self.policy.book_ttl_s,
        )
        return MarketAnswer(
            answer.endpoint, answer.value.top(depth), answer.fetched_ms, answer.age_ms, answer.stale
        )

    async def candles(
        self,
        endpoint: str,
        symbol: str,
        timeframe: str,
        *,
        since_ms: int | None = None,
        limit: int = 100,
    ) -> MarketAnswer[Candles]:
        """``limit`` candles of ``timeframe`` from ``since_ms`` on (None: the latest ones),
        oldest first.

        Raises:
            UnknownEndpoint, UnknownSymbol, ExchangeTrouble: as ``ticker``.
            UnsupportedTimeframe: the exchange offers no candles of ``timeframe``.
        """
        source = self._source(endpoint)
        offered = source.timeframes()
        if timeframe not in offered:
            raise UnsupportedTimeframe(
                f"{endpoint!r} offers no candles of timeframe {timeframe!r}.",
                details={"timeframe": timeframe, "timeframes": list(offered)},
            )

        async def fetch() -> Candles:
            resolved = await self._symbol(source, endpoint, symbol)
            return await source.candles(resolved, timeframe, since_ms=since_ms, limit=limit)

        def ttl(found: Candles) -> float:
            return self._candles_ttl(found, since_ms=since_ms, limit=limit)

        since = "latest" if since_ms is None else str(since_ms)
        return await self._answer(
            endpoint,
            f"candles:{endpoint}:{symbol}:{timeframe}:{since}:{limit}",
            Candles,
            fetch,
            ttl,
        )

    # -- the cache -----------------------------------------------------------------------------
    def _candles_ttl(self, found: Candles, *, since_ms: int | None, limit: int) -> float:
        p = self.policy
        rows = found.candles
        if not rows:
            return p.candles_ttl_min_s
        last = rows[-1]
        if since_ms is not None and len(rows) >= limit and last.closed(self._now_ms()):
            return p.closed_candles_ttl_s
        length_s = (last.close_ms - last.open_ms) / 1000
        return min(p.candles_ttl_max_s, max(p.candles_ttl_min_s, length_s / 60))

    async def _answer(
        self,
        endpoint: str,
        key: str,
        kind: type[R],
        fetch: Callable[[], Awaitable[R]],
        ttl: Callable[[R], float],
    ) -> MarketAnswer[R]:
        cached = await self._cached(key, kind)
        if cached is not None and self._fresh(cached, ttl):
            return self._of(endpoint, cached, stale=False)
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._refresh(key, kind, fetch, ttl))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        # shielded: a caller that gives up does not cancel the fetch the others wait for
        observed, stale = await asyncio.shield(flight)
        return self._of(endpoint, observed, stale=stale)

    def _landed(self, key: str, done: asyncio.Future[tuple[Observed[Any], bool]]) -> None:
        if self._flights.get(key) is done:
            del self._flights[key]
        if not done.cancelled():
            done.exception()  # retrieved: waiters that all gave up leave no warning behind

    async def _refresh(
        self,
        key: str,
        kind: type[R],
        fetch: Callable[[], Awaitable[R]],
        ttl: Callable[[R], float],
    ) -> tuple[Observed[R], bool]:
        """Fetch ``key`` once (this process's only flight for it): ``(entry, stale)``."""
        token = await self._cache.claim(key, seconds=self.policy.claim_s)
        if token is None:  # another process is fetching it: wait for its entry
            waited, token = await self._wait_for_other(key, kind, ttl)
            if waited is not None:
                return waited, False
        try:
            # the entry may have landed since this request looked (another flight, process)
            cached = await self._cached(key, kind)
            if cached is not None and self._fresh(cached, ttl):
                return cached, False
            try:
                value = await fetch()
            except ExchangeTrouble as exc:
                if cached is not None:
                    return cached, True
                if isinstance(exc, RateBudgetExhausted):
                    raise _no_room(exc) from exc
                raise
            fetched_ms = self._now_ms()
            keep = ttl(value) + self.policy.keep_stale_s
            stored: Observed[MarketRecord] = Observed(value, fetched_ms)
            await self._cache.put(key, stored, keep_seconds=keep)
            return Observed(value, fetched_ms), False
        finally:
            if token is not None:
                await self._cache.release(key, token)

    async def _wait_for_other(
        self, key: str, kind: type[R], ttl: Callable[[R], float]
    ) -> tuple[Observed[R] | None, str | None]:
        """Wait until the process holding the claim on ``key`` stores a fresh entry (returned)
        or gives up its claim, which this one then takes (``(None, token)``)."""
        token: str | None = None
        while token is None:
            await asyncio.sleep(self.policy.poll_s)
            cached = await self._cached(key, kind)
            if cached is not None and self._fresh(cached, ttl):
                return cached, None
            token = await self._cache.claim(key, seconds=self.policy.claim_s)
        return None, token

    async def _cached(self, key: str, kind: type[R]) -> Observed[R] | None:
        entry = await self._cache.get(key)
        if entry is None or not isinstance(entry.value, kind):
            return None
        return Observed(entry.value, entry.fetched_ms)

    def _fresh(self, entry: Observed[R], ttl: Callable[[R], float]) -> bool:
        return self._now_ms() - entry.fetched_ms < ttl(entry.value) * 1000

    def _of(self, endpoint: str, entry: Observed[R], *, stale: bool) -> MarketAnswer[R]:
        age = max(0, self._now_ms() - entry.fetched_ms)
        return MarketAnswer(endpoint, entry.value, entry.fetched_ms, age, stale)

    # -- endpoints and symbols -----------------------------------------------------------------
    def _source(self, endpoint: str) -> MarketSource:
        target = self._endpoints.get(endpoint)
        if target is None:
            raise UnknownEndpoint(
                f"There is no endpoint named {endpoint!r}.",
                remedy="GET /v1/markets lists the endpoints this Tresor serves market data of.",
                details={"endpoint": endpoint},
            )
        return self._gateway.market(target)

    async def _symbol(self, source: MarketSource, endpoint: str, symbol: str) -> str:
        """``symbol`` as the endpoint lists it (``btc/usdt`` is ``BTC/USDT``).

        Raises: UnknownSymbol; ExchangeTrouble (the markets could not be loaded)."""
        known = await source.symbols()
        if symbol in known:
            return symbol
        if symbol.upper() in known:
            return symbol.upper()
        raise UnknownSymbol(
            f"{endpoint!r} has no market {symbol!r}.",
            details={"endpoint": endpoint, "symbol": symbol},
        )

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)


def _no_room(exc: RateBudgetExhausted) -> RateBudgetExhausted:
    return RateBudgetExhausted(
        exc.bucket,
        exc.timeout,
        exc.retry_after,
        message=NO_ROOM_MESSAGE,
        remedy=NO_ROOM_REMEDY,
    )
