"""``Meter``: every request a ccxt instance makes is charged to the rate budget before it
leaves, reconciled with the exchange's usage headers when the answer comes, and recorded in the
request log.

It hooks the instance, not ccxt's classes, at its documented extension points:

- ``fetch2(path, api, method, params, config)``: ccxt's request pipeline (throttle, sign,
  ``fetch``). Binance requests are charged here, *before* ccxt signs them: a request the budget
  holds for the next weight window is signed when it is let go, so its timestamp is fresh and
  ccxt's default ``recvWindow`` (10 s) suffices however long the wait. For other exchanges ccxt's
  throttle hook, which ``fetch2`` calls before signing too, is replaced by a charge of ccxt's
  per-endpoint cost.
- ``fetch(url, method, headers, body)``: the one coroutine that performs HTTP. The wrapper
  times the call, reconciles the budget with the answer and logs it (a request that reaches it
  uncharged, which ccxt's own code paths do not make, is charged there).
- ``on_rest_response(code, reason, url, method, headers, body, ...)``: called by ``fetch`` with
  every answer's status and headers, before ccxt raises for an error status. It hands them to
  the wrapper through a context variable (one per task, so concurrent requests on one instance
  do not mix).

Binance calls are charged their documented weight (``weights.BINANCE``) and ccxt's own
throttle is switched off (it assumes the old 1,200-per-minute limit); a call that places orders
is charged to the key's ORDERS buckets too (``weights.BINANCE_ORDERS``), after its weight.
After a 429 or a 418 the bucket is blocked for ``Retry-After`` seconds, so no further request
is sent before the exchange allows it: Tresor never keeps knocking until it earns a ban. A 429
with code -1015 (too many new orders) blocks the key's ORDERS buckets instead of the IP's
weight.
"""

from __future__ import annotations

import contextvars
import functools
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from tresor.adapters.exchange.weights import (
    ORDER_BUCKETS,
    USAGE_HEADERS,
    BudgetPlan,
    binance_orders,
    binance_weight,
)
from tresor.domain.errors import RateBudgetExhausted, ValidationFailed
from tresor.domain.ratelimits import Bucket
from tresor.domain.records import ExchangeCall
from tresor.services.ports import RateBudget, RequestLog

DEFAULT_ACQUIRE_TIMEOUT = 150.0  # seconds: longer than a window, shorter than a hung job
_HIDDEN_PARAMS = ("signature", "timestamp", "recvwindow")
_SECRET_WORDS = ("key", "sign", "secret", "passphrase", "token", "password")


@dataclass
class _Answer:
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


_ANSWER: contextvars.ContextVar[_Answer | None] = contextvars.ContextVar(
    "tresor_exchange_answer", default=None
)
ORDER_RATE_CODE = "-1015"  # Binance: too many new orders (the ORDERS limit, per account)
# ccxt's cost of the request about to be sent (non-Binance: set by the throttle hook, which
# ccxt's ``fetch2`` calls just before ``fetch`` in the same task)
_COST: contextvars.ContextVar[int] = contextvars.ContextVar("tresor_exchange_cost", default=0)
# (bucket kind, weight, orders) already charged for the request ccxt is signing (Binance: set by the
# ``fetch2`` hook, taken by ``fetch``; one charge pays for one request)
_CHARGED: contextvars.ContextVar[tuple[str, int, int] | None] = contextvars.ContextVar(
    "tresor_exchange_charged", default=None
)


def loggable_path(path: str, query: Mapping[str, str]) -> str:
    """``path?name=value&...`` with the signature, timestamps and anything named like a key
    removed."""
    kept = [
        f"{name}={value}"
        for name, value in query.items()
        if name.lower() not in _HIDDEN_PARAMS
        and not any(word in name.lower() for word in _SECRET_WORDS)
    ]
    return path + ("?" + "&".join(kept) if kept else "")


def error_code(body: str) -> str | None:
    """The exchange's own error code in a JSON error body (Binance ``{"code": -1003}``)."""
    if not body or body[0] != "{":
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    code = parsed.get("code") if isinstance(parsed, dict) else None
    return None if code is None else str(code)


class Meter:
    """Budget, usage headers and request log for one ccxt instance."""

    def __init__(
        self,
        *,
        budget: RateBudget,
        plan: BudgetPlan,
        log: RequestLog | None,
        venue: str,
        connection_id: str | None,
        now_ms: Callable[[], int],
        exact_weights: bool,
        acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT,
    ) -> None:
        self.budget = budget
        self.plan = plan
        self.log = log
        self.venue = venue
        self.connection_id = connection_id
        self.now_ms = now_ms
        self.exact_weights = exact_weights
        self.acquire_timeout = acquire_timeout

    def install(self, ex: Any) -> None:
        """Hook ``ex`` (an async ccxt instance)."""
        fetch: Callable[..., Awaitable[Any]] = ex.fetch
        on_rest_response: Callable[..., Any] = ex.on_rest_response

        def answered(
            code: int, reason: str, url: str, method: str, headers: Any, body: Any, *rest: Any
        ) -> Any:
            answer = _ANSWER.get()
            if answer is not None:
                answer.status = int(code)
                answer.headers = {str(k).lower(): str(v) for k, v in dict(headers).items()}
                answer.body = body if isinstance(body, str) and int(code) >= 400 else ""
            return on_rest_response(code, reason, url, method, headers, body, *rest)

        async def metered_fetch(
            url: str, method: str = "GET", headers: Any = None, body: Any = None
        ) -> Any:
            return await self._fetch(fetch, url, method, headers, body)

        ex.on_rest_response = answered
        ex.fetch = metered_fetch
        if self.exact_weights:
            ex.enableRateLimit = False
            fetch2: Callable[..., Awaitable[Any]] = ex.fetch2

            async def charged_fetch2(
                path: str,
                api: Any = ("public",),
                method: str = "GET",
                params: Any = None,
                config: Any = None,
            ) -> Any:
                charge = self._binance_charge(ex, path, api, method, params)
                if charge is None:  # charged by ``fetch``, from the URL ccxt signed
                    return await fetch2(path, api, method, params or {}, config or {})
                await self._charge(*charge[:2], orders=charge[2])
                token = _CHARGED.set(charge)
                try:
                    return await fetch2(path, api, method, params or {}, config or {})
                finally:
                    _CHARGED.reset(token)

            ex.fetch2 = charged_fetch2
        else:
            ex.enableRateLimit = True
            ex.throttle = self._throttle

    def _binance_charge(
        self, ex: Any, path: str, api: Any, method: str, params: Any
    ) -> tuple[str, int, int] | None:
        """The bucket kind, weight and order count of the request ``fetch2`` is about to sign:
        its URL path is
        ccxt's base URL for ``api`` and ``path``, as ``sign`` builds it. None where that is not
        known before signing (no URL for ``api``, a path with ``{placeholders}``)."""
        name = api if isinstance(api, str) else api[0]
        base = ex.urls.get("api", {}).get(name)
        if not isinstance(base, str) or "{" in path:
            return None
        url_path = _url_path(base, path)
        query = {str(k): v if isinstance(v, str) else str(v) for k, v in (params or {}).items()}
        return (*binance_weight(method, url_path, query), binance_orders(method, url_path))

    async def _charge(self, kind: str, weight: int, *, orders: int = 0) -> None:
        """Take ``weight`` from the ``kind`` bucket, then ``orders`` from the key's ORDERS
        buckets, waiting for the budget to allow each. In that order: a request refused for
        want of order budget has spent one unit of the IP's weight (of thousands a minute),
        where the other way round a request refused for want of weight would spend one of the
        account's few orders."""
        bucket = self.plan.bucket(kind)
        _fits(bucket, weight, "request weight", "weight_per_minute")
        order_buckets = [self.plan.bucket(name) for name in ORDER_BUCKETS] if orders else []
        for counted in order_buckets:
            _fits(counted, orders, "orders", "orders_per_10s")
        await self.budget.acquire([bucket], weight, timeout=self.acquire_timeout)
        if order_buckets:
            await self.budget.acquire(order_buckets, orders, timeout=self.acquire_timeout)

    async def order_room(self) -> None:
        """Whether the key's order buckets can take one more order before ``acquire_timeout``
        (a look: nothing is charged; the order is charged when it is sent). Where the
        exchange counts no orders apart (not Binance), there is nothing to look at.

        Raises: RateBudgetExhausted, as sending the order would after its wait."""
        if not self.exact_weights:
            return
        buckets = [self.plan.bucket(name) for name in ORDER_BUCKETS]
        wait, full = await self.budget.room_after(buckets, 1)
        if full is not None and wait > self.acquire_timeout:
            raise RateBudgetExhausted(bucket=full, timeout=self.acquire_timeout, retry_after=wait)

    async def _throttle(self, cost: Any = None) -> None:
        """ccxt's throttle hook (non-Binance exchanges): charge ccxt's cost for the call."""
        weight = max(1, math.ceil(float(cost if cost is not None else 1)))
        _COST.set(weight)
        await self.budget.acquire([self.plan.bucket("ip")], weight, timeout=self.acquire_timeout)

    async def _fetch(
        self,
        fetch: Callable[..., Awaitable[Any]],
        url: str,
        method: str,
        headers: Any,
        body: Any,
    ) -> Any:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        charged = _CHARGED.get()
        orders = binance_orders(method, parts.path) if self.exact_weights else 0
        if charged is not None:  # charged before signing (``fetch2``)
            _CHARGED.set(None)
            kind, weight = charged[:2]
        elif self.exact_weights:
            kind, weight = binance_weight(method, parts.path, query)
            await self._charge(kind, weight, orders=orders)
        else:
            kind = "ip"
            weight = _COST.get()
            _COST.set(0)
        answer = _Answer()
        token = _ANSWER.set(answer)
        started = time.perf_counter()
        try:
            return await fetch(url, method, headers, body)
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            _ANSWER.reset(token)
            await self._settle(kind, answer, orders=orders)
            if self.log is not None:
                self.log.record(
                    ExchangeCall(
                        at_ms=self.now_ms(),
                        connection_id=self.connection_id,
                        venue=self.venue,
                        method=method.upper(),
                        path=loggable_path(parts.path, query),
                        status=answer.status,
                        latency_ms=round(latency_ms, 3),
                        weight=weight,
                        error_code=error_code(answer.body),
                    )
                )

    async def _settle(self, kind: str, answer: _Answer, *, orders: int = 0) -> None:
        """Reconcile with the exchange's counts; stop sending while it says to wait."""
        if answer.status is None:
            return
        kinds = (kind, *ORDER_BUCKETS) if orders else (kind,)
        for counted in kinds:
            header = USAGE_HEADERS.get(counted)
            used = answer.headers.get(header) if header else None
            if used is not None and used.isdigit():
                await self.budget.observe(self.plan.bucket(counted), int(used))
        if answer.status in (418, 429):
            retry_after = _seconds(answer.headers.get("retry-after"))
            seconds = retry_after if retry_after is not None else 60.0
            if orders and answer.status == 429 and error_code(answer.body) == ORDER_RATE_CODE:
                # the key's orders are spent, not the IP's weight (a daily limit: a long wait)
                await self.budget.block(self.plan.bucket("orders_10s"), seconds)
                return
            await self.budget.block(self.plan.bucket(kind), seconds)


def _fits(bucket: Bucket, cost: int, unit: str, setting: str) -> None:
    """Raises ValidationFailed for a request that could never fit ``bucket`` (an endpoint
    configured with a tiny limit): waiting would never end."""
    if cost > bucket.limit:
        raise ValidationFailed(
            f"This request costs {cost} {unit}, more than the endpoint's budget of "
            f"{bucket.limit} per window: it could never be sent.",
            remedy="Ask for less (a smaller depth or limit), or ask the operator to "
            f"raise the endpoint's {setting}.",
            details={"weight": cost, "limit": bucket.limit},
        )


@functools.lru_cache(maxsize=1024)
def _url_path(base: str, path: str) -> str:
    """The path of ``base/path``: ``https://host/api/v3`` and ``myTrades``, ``/api/v3/myTrades``."""
    return urlsplit(f"{base}/{path}").path


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
