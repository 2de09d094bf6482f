"""Nothing a client can send makes the simulator fail: every answer to arbitrary parameters,
on every endpoint, signed or not, is a documented Binance error or a success, never a 500."""

from __future__ import annotations

import hashlib
import hmac
import time
from decimal import Decimal
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.asgi import call_sync
from tresor.sim.app import SimApp
from tresor.sim.server import SimConfig, create_app

APP: SimApp = create_app(
    SimConfig(
        seed=3,
        weight_per_minute=10**9,
        orders_per_10s=10**9,
        orders_per_day=10**9,
        symbols=["BTCUSDT", "ETHBTC"],
    )
)
_venue = APP.sim.venue
_account = _venue.create_account({"USDT": Decimal("100000"), "BTC": Decimal("2")}, 0)
_key = _venue.create_key(_account, {"enableSpotAndMarginTrading": True}, [], 0)

ROUTES = sorted(APP.routes)
NAMES = [
    "symbol",
    "symbols",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "newClientOrderId",
    "orderId",
    "origClientOrderId",
    "limit",
    "fromId",
    "startTime",
    "endTime",
    "interval",
    "recvWindow",
    "newOrderRespType",
    "coin",
    "status",
    "offset",
    "omitZeroBalances",
    "type",
    "cancelRestrictions",
    "permissions",
    "bogus",
]
VALUES = st.one_of(
    st.sampled_from(
        [
            "BTCUSDT",
            "ETHBTC",
            "NOPE",
            "BUY",
            "SELL",
            "LIMIT",
            "MARKET",
            "LIMIT_MAKER",
            "STOP_LOSS",
            "GTC",
            "IOC",
            "FOK",
            "1m",
            "1M",
            "FULL",
            "ACK",
            "true",
            "-1",
            "0",
            "0.001",
            "1",
            "1000",
            "1001",
            "60001",
            '["BTCUSDT"]',
            "[]",
            "1e5",
            "NaN",
            "99999999999999999999999",
            "",
            "0.000000001",
            "30000.5",
            "85000",
        ]
    ),
    st.text(max_size=12),
    st.integers(-(10**20), 10**20).map(str),
)
PARAMS = st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=8)


def _encode(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=st.sampled_from(ROUTES), pairs=PARAMS, sign=st.booleans(), in_body=st.booleans())
def test_no_request_makes_the_simulator_answer_500(
    route: tuple[str, str], pairs: list[tuple[str, str]], sign: bool, in_body: bool
) -> None:
    method, path = route
    query = _encode(pairs)
    headers: list[tuple[bytes, bytes]] = []
    if sign:
        query = (query + "&" if query else "") + f"timestamp={int(time.time() * 1000)}"
        signature = hmac.new(_key.secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        query += f"&signature={signature}"
        headers.append((b"x-mbx-apikey", _key.api_key.encode()))
    body = b""
    if in_body and method == "POST":
        body, query = query.encode(), ""
        headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    answer = call_sync(APP, method, path, query, body, headers)
    assert answer.status < 500, (route, pairs, answer.body)
    payload = answer.json()
    if answer.status >= 400:
        assert isinstance(payload["code"], int)
        assert payload["code"] < 0
        assert payload["msg"]


@settings(max_examples=200, deadline=None)
@given(
    path=st.text(alphabet="/_abcimsv0123", max_size=30),
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
    body=st.binary(max_size=64),
)
def test_unknown_paths_and_garbage_admin_bodies_never_answer_500(
    path: str, method: str, body: bytes
) -> None:
    answer = call_sync(APP, method, "/" + path, "", body)
    assert answer.status < 500
