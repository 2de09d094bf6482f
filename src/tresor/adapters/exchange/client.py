"""Building an async ccxt client for an ``ExchangeTarget``, and ``ExchangeClient``: the
allow-list of the calls Tresor makes through it.

``ExchangeClient`` has one method per allowed call and nothing else: no ``withdraw``, no
``transfer``, no generic ``request``, no ``__getattr__`` that would forward any other name to
ccxt. Every method translates ccxt's exceptions into domain errors (``errors.translate``).
The only method whose name mentions withdrawals is ``fetch_withdrawals``, a read of history.

Credentials are revealed from their ``Secret`` here, when the ccxt instance is built, and
nowhere else; the revealed values are registered with the gateway's ``SecretRedactor`` for
as long as the client is open.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
import ssl
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import aiohttp
import ccxt.async_support as ccxt
import certifi

from tresor.adapters.exchange.errors import translate
from tresor.adapters.exchange.metering import Meter
from tresor.adapters.exchange.order_refusals import SentOrder
from tresor.adapters.exchange.redact import SecretRedactor
from tresor.domain.connections import Credentials, ExchangeTarget
from tresor.domain.errors import ExchangeUnavailable, UnknownExchange, ValidationFailed
from tresor.domain.order_rules import MarketRules

DEFAULT_TIMEOUT_MS = 10_000
CCXT_LOGGER = "ccxt"
_HOST = re.compile(r"^https?://[^/]+")

# Tresor trades spot only: with these, load_markets is the single GET /api/v3/exchangeInfo
# (no futures listings, no signed capital/config/getall, no margin pair lists), and
# fetch_open_orders may be called without a symbol (ccxt refuses by default, as the
# unfiltered call costs 80 request weight on Binance).
BINANCE_OPTIONS: dict[str, Any] = {
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
    "fetchOpenOrders": {"warnWithoutSymbol": False},
}


_BINANCE_RAW = {
    "account": "private_get_account",
    "my_trades": "private_get_mytrades",
    "all_orders": "private_get_allorders",
    "open_orders": "private_get_openorders",
    "deposits": "sapi_get_capital_deposit_hisrec",
    "withdrawals": "sapi_get_capital_withdraw_history",
    "prices": "public_get_ticker_price",
}


@functools.cache
def default_rate_limit_ms(exchange: str) -> float:
    """ccxt's documented pace for ``exchange``: milliseconds per cost-1 request."""
    return float(getattr(ccxt, exchange)().rateLimit)


def known_exchange(exchange: str) -> bool:
    return exchange in ccxt.exchanges


def rewrite_hosts(api: Any, base: str) -> Any:
    """ccxt's ``urls['api']`` (a string or nested dicts of strings) with every URL's scheme and
    host replaced by ``base``, paths kept."""
    if isinstance(api, str):
        return _HOST.sub(base, api)
    if isinstance(api, dict):
        return {name: rewrite_hosts(value, base) for name, value in api.items()}
    return api


def build_ccxt(
    target: ExchangeTarget,
    credentials: Credentials,
    *,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    verbose: bool = False,
    http: SharedHttp | None = None,
) -> Any:
    """A new async ccxt instance for ``target``: on ``http``'s session and TLS context when
    given (the instance then never closes them), else on its own, opened on first use."""
    if not known_exchange(target.exchange):
        raise UnknownExchange(details={"exchange": target.exchange})
    config: dict[str, Any] = {
        "apiKey": credentials.api_key.reveal(),
        "secret": credentials.secret.reveal(),
        "timeout": timeout_ms,
        "enableRateLimit": True,
        "verbose": verbose,
    }
    if credentials.passphrase is not None:
        config["password"] = credentials.passphrase.reveal()
    if target.exchange == "binance":
        config["options"] = copy.deepcopy(BINANCE_OPTIONS)  # ccxt may change its options
    if http is not None:
        config["session"] = http.session
    exchange = getattr(ccxt, target.exchange)(config)
    # ccxt keeps the raw text of every instance's last answer, which nothing here reads: a
    # client kept between syncs (gateway) would hold an account's balances, or the whole
    # price list, until its next request
    exchange.enableLastHttpResponse = False
    if http is not None:
        exchange.ssl_context = http.tls  # else ccxt builds one per instance (~20 ms of CPU)
    if target.url is not None:
        base = target.url.rstrip("/")
        if not _HOST.fullmatch(base):
            raise ValidationFailed(
                "An endpoint URL must be a scheme and a host, like http://127.0.0.1:8900.",
                details={"endpoint": target.endpoint},
            )
        exchange.urls["api"] = rewrite_hosts(exchange.urls["api"], base)
        if base.startswith("http://"):
            # ccxt's close() sleeps 250 ms so TLS transports can shut down (ccxt PR 23470);
            # a plain-HTTP endpoint (the simulator) has none, and every probe would pay it
            exchange.timeout_on_exit = 0
        if target.exchange == "binance":
            # ccxt applies Binance's spot error table only to URLs on the real host
            # (binance.get_exceptions_by_url); spot overrides the common table, as there.
            exchange.exceptions["exact"].update(exchange.exceptions["spot"]["exact"])
    # ccxt logs to "ccxt.base.exchange" and prints its verbose output; send both through the
    # "ccxt" logger, where the gateway's redacting filter sits.
    logger = logging.getLogger(CCXT_LOGGER)
    exchange.logger = logger
    exchange.log = lambda *parts: logger.debug(" ".join(str(p) for p in parts))
    return exchange


@dataclass(frozen=True)
class SharedHttp:
    """One aiohttp session (its connection pool: keep-alive across clients) and TLS context
    for every client of a gateway. Cookies are not kept: clients of different accounts share
    the session."""

    session: Any  # aiohttp.ClientSession
    tls: ssl.SSLContext

    @classmethod
    def open(cls) -> SharedHttp:
        """Call inside the event loop the clients will run in."""
        tls = ssl.create_default_context(cafile=certifi.where())
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=tls, enable_cleanup_closed=True),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
        return cls(session, tls)

    async def close(self) -> None:
        await self.session.close()


class _Absent(Exception):
    """The exchange has no such order (ccxt's ``OrderNotFound``), where "none" is an answer."""


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ExchangeUnavailable("The exchange sent an answer Tresor cannot read.")
    return value


def _list(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ExchangeUnavailable("The exchange sent an answer Tresor cannot read.")
    return value


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


class ExchangeClient:
    """The read and trade calls Tresor makes on one exchange account, and nothing else.

    Raises domain errors only (see ``errors``). Close it (``await client.close()`` or
    ``async with``) to release its HTTP session and forget its secrets.
    """

    __slots__ = ("_closed", "_egress_ips", "_ex", "_meter", "_redactor", "_secrets", "exchange")

    def __init__(
        self,
        ex: Any,
        *,
        exchange: str,
        egress_ips: Sequence[str] = (),
        redactor: SecretRedactor | None = None,
        meter: Meter | None = None,
    ) -> None:
        self._ex = ex
        self._meter = meter
        self.exchange = exchange
        self._egress_ips = tuple(egress_ips)
        self._redactor = redactor
        self._secrets = tuple(
            str(v) for v in (ex.apiKey, ex.secret, getattr(ex, "password", None)) if v
        )
        if redactor is not None:
            redactor.add(self._secrets)
        self._closed = False

    @classmethod
    def open(
        cls,
        target: ExchangeTarget,
        credentials: Credentials,
        *,
        egress_ips: Sequence[str] = (),
        redactor: SecretRedactor | None = None,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        verbose: bool = False,
        meter: Meter | None = None,
        http: SharedHttp | None = None,
    ) -> ExchangeClient:
        ex = build_ccxt(target, credentials, timeout_ms=timeout_ms, verbose=verbose, http=http)
        if meter is not None:
            meter.install(ex)
        return cls(
            ex, exchange=target.exchange, egress_ips=egress_ips, redactor=redactor, meter=meter
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._ex.close()
        finally:
            if self._redactor is not None:
                self._redactor.discard(self._secrets)

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"ExchangeClient({self.exchange!r}, closed={self._closed})"

    async def _run(
        self,
        call: Coroutine[Any, Any, Any],
        *,
        trading: bool = False,
        absent: bool = False,
        order: SentOrder | None = None,
    ) -> Any:
        """Await a ccxt call; its errors become domain errors (with ``absent``, ccxt's
        ``OrderNotFound`` becomes ``_Absent``, for the caller to answer "none")."""
        if self._closed:
            call.close()
            raise RuntimeError("this exchange client is closed")
        try:
            return await call
        except ccxt.OrderNotFound as exc:
            if not absent:
                error = self._translated(exc, trading=trading, order=order)
            else:
                error = _Absent()
        except ccxt.BaseError as exc:
            error = self._translated(exc, trading=trading, order=order)
        # raised outside the except block, so the ccxt exception (whose traceback holds the
        # signed request) is not chained as __context__
        raise error

    def _translated(
        self, exc: BaseException, *, trading: bool, order: SentOrder | None = None
    ) -> Exception:
        return translate(
            exc,
            exchange=self.exchange,
            egress_ips=self._egress_ips,
            secrets=self._secrets,
            response_headers=self._ex.last_response_headers,
            trading=trading,
            order=order,
        )

    def adopt_markets(self, holder: Any) -> None:
        """Take the markets another ccxt instance of the same exchange loaded (ccxt's
        ``set_markets_from_exchange``, references only): ``load_markets`` then sends nothing.

        A client that loaded (or adopted) markets before answers ``load_markets`` from ccxt's
        finished loading task, the *old* markets: that task is dropped, so the next
        ``load_markets`` returns these."""
        self._ex.set_markets_from_exchange(holder)
        self._ex.markets_loading = None

    def lend_markets(self, holder: Any) -> None:
        """Give this client's loaded markets to ``holder`` (a keyless instance that keeps them
        after this client is closed)."""
        holder.set_markets_from_exchange(self._ex)

    def has(self, feature: str) -> bool:
        """Whether ccxt implements a unified call for this exchange (``fetchTime`` ...)."""
        return bool(self._ex.has.get(feature))

    # -- reading ------------------------------------------------------------------------------
    async def load_markets(self, *, reload: bool = False) -> dict[str, Any]:
        return _dict(await self._run(self._ex.load_markets(reload)))

    async def fetch_time(self) -> int:
        return int(await self._run(self._ex.fetch_time()))

    async def fetch_balance(self) -> dict[str, Any]:
        return _dict(await self._run(self._ex.fetch_balance()))

    async def fetch_tickers(self) -> dict[str, Any]:
        return _dict(await self._run(self._ex.fetch_tickers()))

    async def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        return _dict(await self._run(self._ex.fetch_ticker(symbol)))

    async def fetch_order_book(self, symbol: str, limit: int | None = None) -> dict[str, Any]:
        return _dict(await self._run(self._ex.fetch_order_book(symbol, limit)))

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        *,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[list[Any]]:
        rows = await self._run(self._ex.fetch_ohlcv(symbol, timeframe, _ms(since), limit))
        if not isinstance(rows, list):
            raise ExchangeUnavailable("The exchange sent an answer Tresor cannot read.")
        return rows

    async def fetch_my_trades(
        self, symbol: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        return _list(await self._run(self._ex.fetch_my_trades(symbol, _ms(since), limit)))

    async def fetch_orders(
        self, symbol: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        return _list(await self._run(self._ex.fetch_orders(symbol, _ms(since), limit)))

    async def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return _list(await self._run(self._ex.fetch_open_orders(symbol)))

    async def fetch_order(self, order_id: str, symbol: str) -> dict[str, Any]:
        return _dict(await self._run(self._ex.fetch_order(order_id, symbol)))

    async def fetch_deposits(
        self, code: str | None = None, *, since: datetime | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        return _list(await self._run(self._ex.fetch_deposits(code, _ms(since), limit)))

    async def fetch_withdrawals(
        self, code: str | None = None, *, since: datetime | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The history of past withdrawals (a read; Tresor cannot make one)."""
        return _list(await self._run(self._ex.fetch_withdrawals(code, _ms(since), limit)))

    def rate_limit_ms(self) -> float:
        """ccxt's documented pace for this exchange: milliseconds per cost-1 request."""
        return float(self._ex.rateLimit)

    def markets(self) -> dict[str, Any]:
        """The markets ``load_markets`` loaded, by unified symbol."""
        return dict(self._ex.markets or {})

    def timeframes(self) -> tuple[str, ...]:
        """The candle timeframes ccxt knows the exchange offers (``fetch_ohlcv``), none if it
        offers no candles."""
        if not self.has("fetchOHLCV"):
            return ()
        return tuple(str(name) for name in (self._ex.timeframes or {}))

    def timeframe_seconds(self, timeframe: str) -> int:
        """ccxt's length of a timeframe (a month counts 30 days, a year 365)."""
        return int(self._ex.parse_timeframe(timeframe))

    # -- raw Binance history (parsed by ``history_binance``; ccxt's unified parsing is the
    # bottleneck of a bulk backfill) ----------------------------------------------------------
    async def binance_raw(self, call: str, params: dict[str, Any]) -> Any:
        """One of Binance's read endpoints, as it answered (JSON decoded, nothing parsed):

        ``account`` (GET /api/v3/account), ``my_trades`` (/api/v3/myTrades), ``all_orders``
        (/api/v3/allOrders), ``open_orders`` (/api/v3/openOrders), ``deposits``
        (/sapi/v1/capital/deposit/hisrec), ``withdrawals`` (/sapi/v1/capital/withdraw/history,
        the history of past withdrawals), ``prices`` (/api/v3/ticker/price).
        """
        name = _BINANCE_RAW.get(call)
        if name is None:
            raise ValueError(f"{call!r} is not an allowed raw Binance call")
        method = getattr(self._ex, name)
        return await self._run(method(params))

    # -- trading ------------------------------------------------------------------------------
    @property
    def precision_mode(self) -> int:
        """ccxt's ``precisionMode`` of the exchange (how its markets' precisions read)."""
        return int(self._ex.precisionMode)

    async def order_room(self) -> None:
        """Refuse at once, before any work for it, an order the key's order budget could not
        send in time (see ``Meter.order_room``).

        Raises: RateBudgetExhausted."""
        if self._meter is not None:
            await self._meter.order_room()

    async def create_order(
        self,
        *,
        symbol: str,
        side: str,
        order_type: str,
        amount: Decimal,
        price: Decimal | None = None,
        client_order_id: str | None = None,
        time_in_force: str | None = None,
        recv_window_ms: int | None = None,
        rules: MarketRules | None = None,
    ) -> dict[str, Any]:
        """Place an order. Amounts go to ccxt as decimal strings, never through float. With the
        market's ``rules``, a refusal names the exact rule the order broke."""
        params: dict[str, Any] = {}
        if client_order_id is not None:
            params["clientOrderId"] = client_order_id
        if time_in_force is not None and order_type == "limit":
            params["timeInForce"] = time_in_force
        if recv_window_ms is not None and self.exchange == "binance":
            params["recvWindow"] = recv_window_ms
        call = self._ex.create_order(
            symbol, order_type, side, str(amount), None if price is None else str(price), params
        )
        sent = None
        if rules is not None:
            sent = SentOrder(rules, side, order_type, amount, price)
        return _dict(await self._run(call, trading=True, order=sent))

    async def fetch_order_by_client_id(
        self, client_order_id: str, symbol: str
    ) -> dict[str, Any] | None:
        """The order the exchange knows by ``client_order_id``, or None when it has none."""
        call = self._ex.fetch_order(None, symbol, {"origClientOrderId": client_order_id})
        try:
            return _dict(await self._run(call, trading=True, absent=True))
        except _Absent:
            return None

    async def fetch_order_trades(self, order_id: str, symbol: str) -> list[dict[str, Any]]:
        return _list(await self._run(self._ex.fetch_order_trades(order_id, symbol), trading=True))

    async def cancel_order(self, order_id: str, symbol: str) -> dict[str, Any]:
        return _dict(await self._run(self._ex.cancel_order(order_id, symbol), trading=True))

    # -- what the key may do (per exchange; None when ccxt lacks the call) --------------------
    async def _implicit(self, name: str) -> dict[str, Any] | None:
        method = getattr(self._ex, name, None)
        if method is None:
            return None
        return _dict(await self._run(method()))

    async def binance_api_restrictions(self) -> dict[str, Any] | None:
        """``GET /sapi/v1/account/apiRestrictions``: the key's permission flags."""
        return await self._implicit("sapi_get_account_apirestrictions")

    async def binance_account(self) -> dict[str, Any] | None:
        """``GET /api/v3/account``: accountType, canTrade, permissions (and balances)."""
        return await self._implicit("private_get_account")

    async def okx_account_config(self) -> dict[str, Any] | None:
        """``GET /api/v5/account/config``: ``perm``, ``ip``, ``acctLv``."""
        return await self._implicit("private_get_account_config")

    async def kucoin_api_key_info(self) -> dict[str, Any] | None:
        """``GET /api/v1/user/api-key``: ``permission``, ``ipWhitelist``."""
        return await self._implicit("private_get_user_api_key")

    async def kraken_api_key_info(self) -> dict[str, Any] | None:
        """``POST /0/private/GetApiKeyInfo``: ``permissions``, ``ipAllowlist``, ``validUntil``."""
        return await self._implicit("private_post_getapikeyinfo")
