"""``CcxtGateway``: the ``ExchangeGateway`` port on async ccxt.

It owns the redacting log filter (installed on the ``ccxt`` loggers while the gateway lives)
and every client it opens; ``aclose()`` closes what is still open and removes the filter.

Syncs reuse what they can, as building it costs more CPU than the requests it serves:

- a connection's sync client is kept between its syncs (building a ccxt Binance instance is
  milliseconds of CPU), up to ``clients_kept`` of them, least recently used first out, and
  closed after ``client_idle_ms`` unused. It is kept under an HMAC of its endpoint and key
  (under a key of the gateway's own, so nothing kept reveals a secret): a sync with another
  key (rotated) closes it and builds a new one, so a replaced key is never used again, and
  ``forget`` closes the client of a connection that is gone. Its secrets stay registered
  with the redactor exactly as long as it is kept;
- an endpoint's markets are loaded once an hour, by one sync at a time, and shared;
- an endpoint's last prices (what values a balance snapshot) are shared for
  ``prices_ttl_ms``, fetched by one sync at a time: a fleet of balance syncs asks for them
  every few seconds, not once per sync.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tresor.adapters.exchange.client import (
    DEFAULT_TIMEOUT_MS,
    ExchangeClient,
    SharedHttp,
    build_ccxt,
    default_rate_limit_ms,
    known_exchange,
)
from tresor.adapters.exchange.history_binance import BinanceHistory
from tresor.adapters.exchange.history_generic import GenericHistory
from tresor.adapters.exchange.market import CcxtMarket
from tresor.adapters.exchange.metering import DEFAULT_ACQUIRE_TIMEOUT, Meter
from tresor.adapters.exchange.probes import probe_key
from tresor.adapters.exchange.redact import SecretRedactor
from tresor.adapters.exchange.weights import binance_plan, generic_plan, venue_name
from tresor.domain.connections import CapabilityReport, Credentials, ExchangeTarget
from tresor.domain.errors import UnknownExchange
from tresor.domain.records import BalanceSnapshot, Dataset, Page
from tresor.domain.secrets import Secret
from tresor.services.ports import (
    Clock,
    ExchangeGateway,
    HistorySource,
    MarketGateway,
    RateBudget,
    RequestLog,
)

# public market data needs no key (ccxt sends none for public calls)
_NO_KEY = Credentials(api_key=Secret(""), secret=Secret(""))
TRADING_ACQUIRE_TIMEOUT = 2.0  # seconds; domain.orders.SEND_DELAY_MS counts on it
MARKETS_TTL_MS = 3_600_000  # an endpoint's markets, loaded once, are shared this long
CLIENTS_KEPT = 1_000  # sync clients kept between syncs (a ccxt Binance instance: ~0.25 MB)
CLIENT_IDLE_MS = 900_000  # a kept client unused this long is closed
PRICES_TTL_MS = 5_000  # an endpoint's last prices are shared by the syncs this long


@dataclass(eq=False)
class _Kept:
    """A connection's sync client, kept between its syncs."""

    fingerprint: bytes  # of the endpoint and key it was built for (``_fingerprint``)
    client: ExchangeClient
    http: SharedHttp | None  # the session it runs on (one per event loop)
    used_ms: int = 0  # when a sync last took it or gave it back
    borrowers: int = 0  # syncs using it now
    markets: Any = None  # the shared markets holder it took its markets from
    evicted: bool = False  # no longer kept: closed once no sync uses it


class _LoopLocks:
    """One asyncio lock per key, in the running event loop (a lock belongs to one loop)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._locks: dict[Hashable, asyncio.Lock] = {}

    def __call__(self, key: Hashable) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._locks = loop, {}
        return self._locks.setdefault(key, asyncio.Lock())


class _KeptSource:
    """The ``HistorySource`` a sync gets: the connection's reader on its kept client, with the
    endpoint's shared prices. ``aclose`` hands the client back to the gateway, which keeps it,
    rather than closing it (the reader's own ``aclose`` would)."""

    def __init__(
        self,
        reader: BinanceHistory | GenericHistory,
        *,
        prices: Callable[
            [Callable[[], Awaitable[dict[str, Decimal]]]], Awaitable[dict[str, Decimal]]
        ],
        give_back: Callable[[], Awaitable[None]],
    ) -> None:
        self._reader = reader
        self._prices = prices
        self._give_back: Callable[[], Awaitable[None]] | None = give_back

    async def balances(self) -> BalanceSnapshot:
        return await self._reader.balances()

    async def prices(self) -> dict[str, Decimal]:
        return await self._prices(self._reader.prices)

    def markets_for(self, dataset: Dataset, assets: frozenset[str]) -> list[str]:
        return self._reader.markets_for(dataset, assets)

    def listed(self, symbol: str) -> bool:
        return self._reader.listed(symbol)

    async def active_markets(self) -> frozenset[str]:
        return await self._reader.active_markets()

    async def page(
        self, dataset: Dataset, market: str, position: str | None, *, since_ms: int
    ) -> Page:
        return await self._reader.page(dataset, market, position, since_ms=since_ms)

    async def aclose(self) -> None:
        give_back, self._give_back = self._give_back, None
        if give_back is not None:
            await give_back()


class CcxtGateway:
    """The only way to an exchange: probes, and clients limited to read and trade calls.

    ``egress_ips`` are the addresses the operator tells users to put on their keys'
    allow-lists (``TRESOR_EGRESS_IPS``); they are named in the checks of an ambiguous refusal.
    """

    def __init__(
        self,
        *,
        egress_ips: Sequence[str],
        clock: Clock,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        verbose: bool = False,
        budget: RateBudget | None = None,
        request_log: RequestLog | None = None,
        generic_for: frozenset[str] = frozenset(),
        clients_kept: int = CLIENTS_KEPT,
        client_idle_ms: int = CLIENT_IDLE_MS,
        prices_ttl_ms: int = PRICES_TTL_MS,
    ) -> None:
        self.egress_ips = tuple(egress_ips)
        self.budget = budget
        self.request_log = request_log
        # exchanges read through ccxt's unified calls even where Tresor has its own reader
        # (to compare the two, and as a fallback)
        self.generic_for = generic_for
        self.clock = clock
        self.timeout_ms = timeout_ms
        self.verbose = verbose
        self.redactor = SecretRedactor()
        self.redactor.install()
        self._open: set[ExchangeClient] = set()
        self._markets: dict[ExchangeTarget, CcxtMarket] = {}
        # per endpoint: when its markets were loaded, and a keyless ccxt instance holding them
        self._market_sets: dict[ExchangeTarget, tuple[int, Any]] = {}
        self._http: SharedHttp | None = None
        self._http_loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # sync clients kept by connection id, least recently used first
        self.clients_kept = clients_kept
        self.client_idle_ms = client_idle_ms
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._fingerprint_key = secrets.token_bytes(32)
        self._closing: set[asyncio.Task[None]] = set()
        # per endpoint: when its last prices were answered, and the prices
        self.prices_ttl_ms = prices_ttl_ms
        self._price_sets: dict[ExchangeTarget, tuple[int, dict[str, Decimal]]] = {}
        self._locks = _LoopLocks()

    def _shared_http(self) -> SharedHttp | None:
        """The session every client shares, in the running event loop (None outside one)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        if self._http is None or self._http_loop is not loop:
            self._http = SharedHttp.open()  # one from another loop is left to its loop
            self._http_loop = loop
        return self._http

    def supports(self, exchange: str) -> bool:
        return known_exchange(exchange)

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def _meter(
        self,
        target: ExchangeTarget,
        connection_id: str | None,
        *,
        acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT,
    ) -> Meter | None:
        if self.budget is None:
            return None
        ip = self.egress_ips[0] if self.egress_ips else "default"
        exact = target.exchange == "binance"
        if exact:
            plan = binance_plan(target, ip=ip, key_id=connection_id or "public")
        else:
            plan = generic_plan(target, ip=ip, rate_limit_ms=default_rate_limit_ms(target.exchange))
        return Meter(
            budget=self.budget,
            plan=plan,
            log=self.request_log,
            venue=venue_name(target),
            connection_id=connection_id,
            now_ms=self.now_ms,
            exact_weights=exact,
            acquire_timeout=acquire_timeout,
        )

    async def history(
        self, target: ExchangeTarget, credentials: Credentials, *, connection_id: str
    ) -> HistorySource:
        """An open reader of the connection's balances and history (close it), on the
        connection's kept client (see the module docstring).

        Raises:
            ExchangeTrouble, KeyRejected: loading the exchange's markets failed.
        """
        kept = self._borrow(target, credentials, connection_id)
        reader: BinanceHistory | GenericHistory
        if target.exchange == "binance" and "binance" not in self.generic_for:
            reader = BinanceHistory(kept.client, connection_id=connection_id, now_ms=self.now_ms)
        else:
            reader = GenericHistory(kept.client, connection_id=connection_id, now_ms=self.now_ms)
        try:
            await self._kept_markets(target, kept, reader.open)
        except BaseException:
            await self._give_back(connection_id, kept, drop=True)
            raise
        return _KeptSource(
            reader,
            prices=functools.partial(self._shared_prices, target),
            give_back=functools.partial(self._give_back, connection_id, kept),
        )

    def _fingerprint(self, target: ExchangeTarget, credentials: Credentials) -> bytes:
        """What a kept client was built for (endpoint and key), as an HMAC under the gateway's
        own random key: comparable, and revealing nothing of the secrets."""
        passphrase = credentials.passphrase
        parts = (
            repr(target),
            credentials.api_key.reveal(),
            credentials.secret.reveal(),
            "-" if passphrase is None else "+" + passphrase.reveal(),
        )
        mac = hmac.new(self._fingerprint_key, digestmod=hashlib.sha256)
        for part in parts:
            data = part.encode()
            mac.update(len(data).to_bytes(8, "big") + data)
        return mac.digest()

    def _borrow(
        self, target: ExchangeTarget, credentials: Credentials, connection_id: str
    ) -> _Kept:
        """The connection's kept client if it was built for this endpoint and key (in this
        event loop), else a new one, kept in its place; the one it replaces is closed. No
        ``await`` here: two syncs of one connection never both build one."""
        now = self.now_ms()
        self._sweep(now)
        fingerprint = self._fingerprint(target, credentials)
        http = self._shared_http()
        kept = self._kept.get(connection_id)
        if kept is not None and (
            kept.fingerprint != fingerprint or kept.http is not http or kept.client.closed
        ):
            self._evict(connection_id)  # another key (rotated): the old client is done with
            kept = None
        if kept is None:
            client = self._open_client(target, credentials, connection_id)
            kept = self._kept[connection_id] = _Kept(fingerprint, client, http)
            while len(self._kept) > self.clients_kept:
                self._evict(next(iter(self._kept)))  # the least recently used
        else:
            self._kept.move_to_end(connection_id)
        kept.borrowers += 1
        kept.used_ms = now
        return kept

    async def _give_back(self, connection_id: str, kept: _Kept, *, drop: bool = False) -> None:
        """End a sync's use of ``kept``; ``drop`` (its opening failed) stops keeping it."""
        kept.borrowers -= 1
        if self._kept.get(connection_id) is kept:
            if drop:
                del self._kept[connection_id]
                kept.evicted = True
            else:
                kept.used_ms = self.now_ms()
                self._kept.move_to_end(connection_id)
        if kept.evicted and kept.borrowers == 0:
            await kept.client.close()

    def _evict(self, connection_id: str) -> None:
        """Stop keeping the connection's client: closed now (in the background: ccxt may wait
        for TLS to shut down), or by the last sync still using it."""
        kept = self._kept.pop(connection_id, None)
        if kept is None:
            return
        kept.evicted = True
        if kept.borrowers == 0:
            task = asyncio.get_running_loop().create_task(kept.client.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _sweep(self, now_ms: int) -> None:
        """Close the kept clients no sync has used for ``client_idle_ms``."""
        idle = []
        for connection_id, kept in self._kept.items():  # least recently used first
            if now_ms - kept.used_ms < self.client_idle_ms:
                break
            if kept.borrowers == 0:
                idle.append(connection_id)
        for connection_id in idle:
            self._evict(connection_id)

    async def forget(self, connection_id: str) -> None:
        """Close the connection's kept client, if any (the connection or its key is gone; a
        sync using it now finishes first)."""
        kept = self._kept.pop(connection_id, None)
        if kept is not None:
            kept.evicted = True
            if kept.borrowers == 0:
                await kept.client.close()

    def kept_clients(self) -> int:
        """How many sync clients are kept."""
        return len(self._kept)

    def _fresh_markets(self, target: ExchangeTarget) -> Any:
        shared = self._market_sets.get(target)
        if shared is None or self.now_ms() - shared[0] >= MARKETS_TTL_MS:
            return None
        return shared[1]

    async def _kept_markets(
        self, target: ExchangeTarget, kept: _Kept, open_reader: Callable[[], Awaitable[Any]]
    ) -> None:
        """Give ``kept``'s client the endpoint's shared markets, loading them through it (one
        ``exchangeInfo``, one sync of the endpoint at a time) when there are none fresh, then
        ``open_reader()``, which reads them from the client."""
        holder = self._fresh_markets(target)
        if holder is None:
            async with self._locks(("markets", target)):
                holder = self._fresh_markets(target)
                if holder is None:
                    # reload: a kept client answers load_markets with the markets it holds
                    await kept.client.load_markets(reload=True)
                    holder = build_ccxt(target, _NO_KEY)
                    kept.client.lend_markets(holder)
                    self._market_sets[target] = (self.now_ms(), holder)
                    kept.markets = holder
        if kept.markets is not holder:
            kept.client.adopt_markets(holder)
            kept.markets = holder
        await open_reader()

    def _fresh_prices(self, target: ExchangeTarget) -> dict[str, Decimal] | None:
        shared = self._price_sets.get(target)
        if shared is None or self.now_ms() - shared[0] >= self.prices_ttl_ms:
            return None
        return shared[1]

    async def _shared_prices(
        self, target: ExchangeTarget, fetch: Callable[[], Awaitable[dict[str, Decimal]]]
    ) -> dict[str, Decimal]:
        """The endpoint's last prices if answered less than ``prices_ttl_ms`` ago, else
        ``fetch()``'s (one sync of the endpoint at a time asks; the others wait and share)."""
        prices = self._fresh_prices(target)
        if prices is None:
            async with self._locks(("prices", target)):
                prices = self._fresh_prices(target)
                if prices is None:
                    prices = await fetch()
                    self._price_sets[target] = (self.now_ms(), prices)  # as of the answer
        return dict(prices)

    async def _with_markets(
        self,
        target: ExchangeTarget,
        client: ExchangeClient,
        load: Callable[[], Awaitable[Any]],
    ) -> None:
        """Give ``client`` the endpoint's shared markets when they are fresh (no
        ``exchangeInfo``); else ``load`` them through it and share them for the next ones."""
        shared = self._market_sets.get(target)
        fresh = shared is not None and self.now_ms() - shared[0] < MARKETS_TTL_MS
        if shared is not None and fresh:
            client.adopt_markets(shared[1])
        await load()
        if not fresh:
            holder = build_ccxt(target, _NO_KEY)
            client.lend_markets(holder)
            self._market_sets[target] = (self.now_ms(), holder)

    async def trading_client(
        self, target: ExchangeTarget, credentials: Credentials, *, connection_id: str
    ) -> ExchangeClient:
        """A client for the trading path, with the endpoint's shared markets loaded; its
        requests wait at most ``TRADING_ACQUIRE_TIMEOUT`` for the rate budget (an order is
        signed right after, and must reach the exchange within its receive window)."""
        client = self._open_client(
            target, credentials, connection_id, acquire_timeout=TRADING_ACQUIRE_TIMEOUT
        )
        self._open = {c for c in self._open if not c.closed}
        self._open.add(client)
        try:
            await self._with_markets(target, client, client.load_markets)
        except BaseException:
            await self._release(client)
            raise
        return client

    def _open_client(
        self,
        target: ExchangeTarget,
        credentials: Credentials,
        connection_id: str | None,
        *,
        acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT,
    ) -> ExchangeClient:
        if self._closed:
            raise RuntimeError("the exchange gateway is closed")
        if not self.supports(target.exchange):
            raise UnknownExchange(details={"exchange": target.exchange})
        return ExchangeClient.open(
            target,
            credentials,
            egress_ips=self.egress_ips,
            redactor=self.redactor,
            timeout_ms=self.timeout_ms,
            verbose=self.verbose,
            meter=self._meter(target, connection_id, acquire_timeout=acquire_timeout),
            http=self._shared_http(),
        )

    def connect(
        self,
        target: ExchangeTarget,
        credentials: Credentials,
        *,
        connection_id: str | None = None,
    ) -> ExchangeClient:
        """A client for the read and trade calls; close it (or ``async with`` it) when done.

        Raises:
            UnknownExchange: ``target.exchange`` is not a ccxt exchange id.
            ValidationFailed: ``target.url`` is not a scheme and a host.
        """
        client = self._open_client(target, credentials, connection_id)
        self._open = {c for c in self._open if not c.closed}
        self._open.add(client)
        return client

    def market(self, target: ExchangeTarget) -> CcxtMarket:
        """The endpoint's public market data: one keyless client per endpoint, kept open until
        ``aclose``. Its requests are charged to the budget with no wait (``acquire_timeout``
        0): no room now is ``RateBudgetExhausted`` at once, for the cache to answer instead.

        Raises:
            UnknownExchange: ``target.exchange`` is not a ccxt exchange id.
            ValidationFailed: ``target.url`` is not a scheme and a host.
        """
        found = self._markets.get(target)
        if found is not None:
            return found
        client = self._open_client(target, _NO_KEY, None, acquire_timeout=0.0)
        market = self._markets[target] = CcxtMarket(client, now_ms=self.now_ms)
        return market

    async def probe(self, target: ExchangeTarget, credentials: Credentials) -> CapabilityReport:
        """Authenticate with the key and report what it can do; failures are in the report.

        Raises:
            UnknownExchange, ValidationFailed: the target itself is wrong (a programming error:
                the services check exchanges and endpoints before probing).
        """
        client = self.connect(target, credentials)
        try:
            return await probe_key(client, self.clock.now)
        finally:
            await self._release(client)

    async def _release(self, client: ExchangeClient) -> None:
        self._open.discard(client)
        await client.close()

    async def aclose(self) -> None:
        """Close every client still open and remove the log filter."""
        self._closed = True
        while self._open:
            await self._release(self._open.pop())
        while self._markets:
            await self._markets.popitem()[1].aclose()
        self._market_sets.clear()
        while self._kept:
            await self._kept.popitem()[1].client.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        self._price_sets.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None
        self.redactor.uninstall()


if TYPE_CHECKING:  # mypy proves the gateway implements the port
    _port: type[ExchangeGateway] = CcxtGateway
    _market_port: type[MarketGateway] = CcxtGateway
