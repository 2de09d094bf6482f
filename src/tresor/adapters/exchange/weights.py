"""What each exchange request costs, and the budget buckets it is charged to.

Binance publishes a weight per endpoint (spot REST docs, "LIMITS" and each endpoint's
"Weight"): ``/api/v3`` requests count against the IP's REQUEST_WEIGHT per minute, ``/sapi``
requests against a separate per-IP or per-UID (account) minute. The table below holds the
weights of every call Tresor makes; a call missing from it is charged ``UNKNOWN_WEIGHT``, a
generous guess, so an omission errs on the side of going slower.

Binance also counts new orders per account (ORDERS: 100 per 10 seconds and 200,000 per day,
exchangeInfo ``rateLimits``; over either, 429 with code -1015). A request that places orders
(``BINANCE_ORDERS``) is charged its count to the key's two ORDERS buckets as well as its weight
to the IP's: the two counters are separate, so a key sending orders fast is held back alone,
and the other connections behind the same IP go on. The answer's ``X-MBX-ORDER-COUNT-10S`` and
``-1D`` headers reconcile them; a -1015 blocks the key's ORDERS bucket, not the IP's weight.

Other exchanges are charged ccxt's own per-endpoint ``cost`` against a bucket sized from ccxt's
``rateLimit`` (the minimum milliseconds between cost-1 requests it documents for the exchange).

Budgets keep ``HEADROOM`` below the exchange's limit for clocks that disagree by a few
milliseconds at window edges and for the odd request made outside Tresor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tresor.domain.connections import ExchangeTarget
from tresor.domain.ratelimits import Bucket

HEADROOM = 0.95
UNKNOWN_WEIGHT = 20
MINUTE = 60.0
DAY = 86_400.0

# Binance's documented limits, per minute (exchangeInfo ``rateLimits`` and the sapi docs)
BINANCE_WEIGHT_PER_MINUTE = 6_000
BINANCE_SAPI_IP_PER_MINUTE = 12_000
BINANCE_SAPI_UID_PER_MINUTE = 180_000
BINANCE_ORDERS_PER_10S = 100  # per account
BINANCE_ORDERS_PER_DAY = 200_000
ORDER_BUCKETS = ("orders_10s", "orders_1d")

# header that reports the current count, per bucket kind
USAGE_HEADERS = {
    "ip": "x-mbx-used-weight-1m",
    "sapi_ip": "x-sapi-used-ip-weight-1m",
    "sapi_uid": "x-sapi-used-uid-weight-1m",
    "orders_10s": "x-mbx-order-count-10s",
    "orders_1d": "x-mbx-order-count-1d",
}


Weigher = Callable[[Mapping[str, str]], int]  # the weight, from the query's parameters


def _depth(query: Mapping[str, str]) -> int:
    try:
        limit = int(query.get("limit", "100"))
    except ValueError:
        return 250
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def _one_or_all(one: int, every: int) -> Weigher:
    return lambda q: one if "symbol" in q else every


def _ticker_24hr(query: Mapping[str, str]) -> int:
    if "symbol" in query:
        return 2
    symbols = query.get("symbols")
    if symbols is None:
        return 80
    n = symbols.count(",") + 1
    return 2 if n <= 20 else 40 if n <= 100 else 80


# (method, path) -> (bucket kind, weight or weigher)
BINANCE: dict[tuple[str, str], tuple[str, int | Weigher]] = {
    ("GET", "/api/v3/ping"): ("ip", 1),
    ("GET", "/api/v3/time"): ("ip", 1),
    ("GET", "/api/v3/exchangeInfo"): ("ip", 20),
    ("GET", "/api/v3/depth"): ("ip", _depth),
    ("GET", "/api/v3/trades"): ("ip", 25),
    ("GET", "/api/v3/klines"): ("ip", 2),
    ("GET", "/api/v3/uiKlines"): ("ip", 2),
    ("GET", "/api/v3/avgPrice"): ("ip", 2),
    ("GET", "/api/v3/ticker/24hr"): ("ip", _ticker_24hr),
    ("GET", "/api/v3/ticker/price"): ("ip", _one_or_all(2, 4)),
    ("GET", "/api/v3/ticker/bookTicker"): ("ip", _one_or_all(2, 4)),
    ("GET", "/api/v3/account"): ("ip", 20),
    ("GET", "/api/v3/myTrades"): ("ip", lambda q: 5 if "orderId" in q else 20),
    ("GET", "/api/v3/allOrders"): ("ip", 20),
    ("GET", "/api/v3/openOrders"): ("ip", _one_or_all(6, 80)),
    ("GET", "/api/v3/order"): ("ip", 4),
    ("POST", "/api/v3/order"): ("ip", 1),
    ("DELETE", "/api/v3/order"): ("ip", 1),
    ("GET", "/api/v3/rateLimit/order"): ("ip", 40),
    ("GET", "/sapi/v1/system/status"): ("sapi_ip", 1),
    ("GET", "/sapi/v1/account/status"): ("sapi_ip", 1),
    ("GET", "/sapi/v1/account/apiRestrictions"): ("sapi_ip", 1),
    ("GET", "/sapi/v1/capital/deposit/hisrec"): ("sapi_ip", 1),
    ("GET", "/sapi/v1/capital/withdraw/history"): ("sapi_uid", 18_000),
}


# (method, path) -> how many orders the request places (Binance's ORDERS limit counts them)
BINANCE_ORDERS: dict[tuple[str, str], int] = {
    ("POST", "/api/v3/order"): 1,
    ("POST", "/api/v3/order/cancelReplace"): 1,
    ("POST", "/api/v3/sor/order"): 1,
    ("POST", "/api/v3/order/oco"): 2,
    ("POST", "/api/v3/orderList/oco"): 2,
    ("POST", "/api/v3/orderList/oto"): 2,
    ("POST", "/api/v3/orderList/otoco"): 3,
}


def binance_orders(method: str, path: str) -> int:
    """How many orders a request places (0 for any other request)."""
    return BINANCE_ORDERS.get((method.upper(), path), 0)


def binance_weight(method: str, path: str, query: Mapping[str, str]) -> tuple[str, int]:
    """The bucket kind (``ip``, ``sapi_ip``, ``sapi_uid``) and the weight of one request."""
    entry = BINANCE.get((method.upper(), path))
    if entry is None:
        return ("sapi_ip" if path.startswith("/sapi/") else "ip"), UNKNOWN_WEIGHT
    kind, weight = entry
    return kind, weight if isinstance(weight, int) else weight(query)


@dataclass(frozen=True, slots=True)
class BudgetPlan:
    """The buckets of one (endpoint, egress IP) and one key, by kind."""

    buckets: Mapping[str, Bucket]

    def bucket(self, kind: str) -> Bucket:
        return self.buckets[kind]


def venue_name(target: ExchangeTarget) -> str:
    """What names the venue in bucket keys: the operator's endpoint, or the exchange id."""
    return target.endpoint or target.exchange


def binance_plan(target: ExchangeTarget, *, ip: str, key_id: str) -> BudgetPlan:
    venue = venue_name(target)
    weight = target.weight_per_minute or BINANCE_WEIGHT_PER_MINUTE
    orders = target.orders_per_10s or BINANCE_ORDERS_PER_10S
    return BudgetPlan(
        {
            "ip": Bucket(f"{venue}:ip:{ip}:weight:1m", _headroom(weight), MINUTE),
            "sapi_ip": Bucket(
                f"{venue}:ip:{ip}:sapi:1m", _headroom(BINANCE_SAPI_IP_PER_MINUTE), MINUTE
            ),
            "sapi_uid": Bucket(
                f"{venue}:key:{key_id}:sapi:1m", _headroom(BINANCE_SAPI_UID_PER_MINUTE), MINUTE
            ),
            "orders_10s": Bucket(f"{venue}:key:{key_id}:orders:10s", _headroom(orders), 10.0),
            "orders_1d": Bucket(
                f"{venue}:key:{key_id}:orders:1d", _headroom(BINANCE_ORDERS_PER_DAY), DAY
            ),
        }
    )


def generic_plan(target: ExchangeTarget, *, ip: str, rate_limit_ms: float) -> BudgetPlan:
    """One bucket per (venue, IP) holding ccxt's documented pace: a cost-1 request every
    ``rate_limit_ms`` milliseconds, counted per minute."""
    per_minute = target.weight_per_minute or max(1, int(60_000 / max(rate_limit_ms, 1.0)))
    venue = venue_name(target)
    return BudgetPlan({"ip": Bucket(f"{venue}:ip:{ip}:cost:1m", _headroom(per_minute), MINUTE)})


def _headroom(limit: int) -> int:
    return max(1, int(limit * HEADROOM))
