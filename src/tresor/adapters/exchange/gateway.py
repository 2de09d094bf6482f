"""``CcxtGateway``: the ``ExchangeGateway`` port on async ccxt.

It owns the redacting log filter (installed on the ``ccxt`` loggers while the gateway lives)
and every client it opens; ``aclose()`` closes what is still open and removes the filter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
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
MARKETS_TTL_MS = 3_600_000  # an endpoint's markets, loaded once, are shared this long


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
        """An open reader of the connection's balances and history (close it).

        Raises:
            ExchangeTrouble, KeyRejected: loading the exchange's markets failed.
        """
        client = self.connect(target, credentials, connection_id=connection_id)
        source: BinanceHistory | GenericHistory
        if target.exchange == "binance" and "binance" not in self.generic_for:
            source = BinanceHistory(client, connection_id=connection_id, now_ms=self.now_ms)
        else:
            source = GenericHistory(client, connection_id=connection_id, now_ms=self.now_ms)
        shared = self._market_sets.get(target)
        fresh = shared is not None and self.now_ms() - shared[0] < MARKETS_TTL_MS
        try:
            if shared is not None and fresh:
                client.adopt_markets(shared[1])  # no exchangeInfo for this sync
            await source.open()
            if not fresh:
                holder = build_ccxt(target, _NO_KEY)
                client.lend_markets(holder)
                self._market_sets[target] = (self.now_ms(), holder)
        except BaseException:
            await self._release(client)
            raise
        return source

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
        if self._http is not None:
            await self._http.close()
            self._http = None
        self.redactor.uninstall()


if TYPE_CHECKING:  # mypy proves the gateway implements the port
    _port: type[ExchangeGateway] = CcxtGateway
    _market_port: type[MarketGateway] = CcxtGateway
