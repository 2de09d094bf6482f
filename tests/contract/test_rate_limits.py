"""Rate limits as Binance documents them: each endpoint's weight in X-MBX-USED-WEIGHT-1M, 429 +
Retry-After + -1003 over the limit, growing 418 bans for clients that keep going, the ORDERS
count (-1015) with its headers, and the /sapi buckets. ccxt raises DDoSProtection for 429 and 418.

Limits use fixed windows, so the tests that fill a window run on a venue whose clock they move
to the start of one (``SimClock``) rather than racing the wall clock."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import ccxt
import pytest

from tests.contract.conftest import Trader, make_trader
from tests.support.clock import SimClock
from tests.support.rawclient import signed, used_weight
from tests.support.simclient import SimAdmin, binance
from tresor.sim.server import SimConfig

Factory = Callable[[SimConfig], SimAdmin]
BAN_TEXT = re.compile(
    r"^Way too much request weight used; IP banned until (\d+)\. Please use "
    r"WebSocket Streams for live updates to avoid bans\.$"
)


def clocked_venue(sim_factory: Factory, **config: Any) -> tuple[SimAdmin, SimClock]:
    clock = SimClock()
    sim = sim_factory(SimConfig(seed=7, clock=clock, **config))
    clock.to_start_of_window(60_000)
    return sim, clock


def public_weights(symbols: list[str]) -> list[tuple[str, dict[str, Any], int]]:
    def listed(n: int) -> dict[str, Any]:
        return {"symbols": json.dumps(symbols[:n], separators=(",", ":"))}

    one = {"symbol": "BTCUSDT"}
    return [
        ("/api/v3/ping", {}, 1),
        ("/api/v3/time", {}, 1),
        ("/api/v3/exchangeInfo", {}, 20),
        ("/api/v3/depth", {**one, "limit": 100}, 5),
        ("/api/v3/depth", {**one, "limit": 101}, 25),
        ("/api/v3/depth", {**one, "limit": 500}, 25),
        ("/api/v3/depth", {**one, "limit": 501}, 50),
        ("/api/v3/depth", {**one, "limit": 1000}, 50),
        ("/api/v3/depth", {**one, "limit": 1001}, 250),
        ("/api/v3/trades", one, 25),
        ("/api/v3/historicalTrades", one, 25),
        ("/api/v3/aggTrades", one, 4),
        ("/api/v3/klines", {**one, "interval": "1h"}, 2),
        ("/api/v3/uiKlines", {**one, "interval": "1h"}, 2),
        ("/api/v3/avgPrice", one, 2),
        ("/api/v3/ticker/24hr", one, 2),
        ("/api/v3/ticker/24hr", {}, 80),
        ("/api/v3/ticker/24hr", listed(20), 2),
        ("/api/v3/ticker/24hr", listed(21), 40),
        ("/api/v3/ticker/24hr", listed(100), 40),
        ("/api/v3/ticker/24hr", listed(101), 80),
        ("/api/v3/ticker/price", one, 2),
        ("/api/v3/ticker/price", {}, 4),
        ("/api/v3/ticker/price", listed(3), 4),
        ("/api/v3/ticker/bookTicker", one, 2),
        ("/api/v3/ticker/bookTicker", {}, 4),
        ("/api/v3/ticker/bookTicker", listed(3), 4),
    ]


def test_every_public_endpoint_reports_its_documented_weight(sim: SimAdmin) -> None:
    symbols = [s["symbol"] for s in sim.http.get("/api/v3/exchangeInfo").json()["symbols"]]
    for path, params, weight in public_weights(symbols):
        sim.reset_limits()
        response = sim.http.get(path, params=params)
        assert response.status_code == 200, path
        assert used_weight(response) == weight, (path, params)


def test_every_signed_endpoint_reports_its_documented_weight(trader: Trader) -> None:
    ex = trader.ex
    order = ex.create_order("ETH/USDT", "market", "buy", 0.5)
    resting = ex.create_order("ETH/USDT", "limit", "buy", 0.1, 1000)
    one = {"symbol": "ETHUSDT"}
    new = {
        **one,
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.1",
        "price": "1000",
    }
    cases = [
        ("GET", "/api/v3/account", {}, 20),
        ("POST", "/api/v3/order", new, 1),
        ("POST", "/api/v3/order/test", new, 1),
        ("POST", "/api/v3/order/test", {**new, "computeCommissionRates": "true"}, 20),
        ("GET", "/api/v3/order", {**one, "orderId": order["id"]}, 4),
        ("DELETE", "/api/v3/order", {**one, "orderId": resting["id"]}, 1),
        ("GET", "/api/v3/openOrders", one, 6),
        ("GET", "/api/v3/openOrders", {}, 80),
        ("DELETE", "/api/v3/openOrders", one, 1),
        ("GET", "/api/v3/allOrders", one, 20),
        ("GET", "/api/v3/myTrades", one, 20),
        ("GET", "/api/v3/myTrades", {**one, "orderId": order["id"]}, 5),
        ("GET", "/api/v3/rateLimit/order", {}, 40),
    ]
    for method, path, params, weight in cases:
        trader.sim.reset_limits()
        response = signed(trader.sim.http, trader.key, method, path, params)
        assert response.status_code == 200, (path, response.text)
        assert used_weight(response) == weight, (method, path, params)


def test_sapi_endpoints_report_their_own_ip_and_uid_buckets(trader: Trader) -> None:
    http, key = trader.sim.http, trader.key
    for path in (
        "/sapi/v1/capital/deposit/hisrec",
        "/sapi/v1/account/apiRestrictions",
        "/sapi/v1/account/status",
    ):
        trader.sim.reset_limits()
        response = signed(http, key, "GET", path)
        assert response.headers["x-sapi-used-ip-weight-1m"] == "1", path
        assert "x-mbx-used-weight-1m" not in response.headers
    trader.sim.reset_limits()
    response = signed(http, key, "GET", "/sapi/v1/capital/withdraw/history")
    assert response.headers["x-sapi-used-uid-weight-1m"] == "18000"


def test_exceeding_the_weight_limit_is_429_with_retry_after(sim_factory: Factory) -> None:
    sim, _ = clocked_venue(sim_factory, weight_per_minute=100)
    answers = [sim.http.get("/api/v3/exchangeInfo") for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 5 + [429]
    assert [used_weight(r) for r in answers] == [20, 40, 60, 80, 100, 100]
    refused = answers[-1]
    assert refused.json() == {
        "code": -1003,
        "msg": (
            "Too much request weight used; current limit is 100 request weight per 1 MINUTE. "
            "Please use WebSocket Streams for live updates to avoid polling the API."
        ),
    }
    assert 50 <= int(refused.headers["retry-after"]) <= 60
    with pytest.raises(ccxt.DDoSProtection, match="-1003"):
        make_trader(sim)


def test_continuing_after_429s_earns_a_418_ban_that_doubles_on_repeat(
    sim_factory: Factory,
) -> None:
    sim, clock = clocked_venue(sim_factory, weight_per_minute=10, ban_after_429s=3)
    statuses = [sim.http.get("/api/v3/ping").status_code for _ in range(14)]
    assert statuses == [200] * 10 + [429] * 3 + [418]
    banned = sim.http.get("/api/v3/time")
    assert banned.status_code == 418
    assert banned.json()["code"] == -1003
    until = int(BAN_TEXT.match(banned.json()["msg"]).group(1))  # type: ignore[union-attr]
    assert until - clock() == pytest.approx(120_000, abs=2_000)
    assert 118 <= int(banned.headers["retry-after"]) <= 120
    with pytest.raises(ccxt.DDoSProtection, match="IP banned until"):
        binance(sim.url).fetch_time()

    clock.advance(121_000)
    clock.to_start_of_window(60_000)
    assert sim.http.get("/api/v3/ping").status_code == 200
    statuses = [sim.http.get("/api/v3/ping").status_code for _ in range(13)]
    assert statuses[-1] == 418
    again = sim.http.get("/api/v3/ping")
    assert 238 <= int(again.headers["retry-after"]) <= 240


def test_orders_over_the_ten_second_count_are_refused_with_1015(sim_factory: Factory) -> None:
    sim, clock = clocked_venue(sim_factory, orders_per_10s=3)
    t = make_trader(sim, options={"adjustForTimeDifference": True})
    ex = t.ex
    price = float(ex.price_to_precision("ETH/USDT", ex.fetch_ticker("ETH/USDT")["bid"] * 0.8))
    clock.to_start_of_window(10_000)
    ex.load_time_difference()
    counts = []
    for _ in range(3):
        ex.create_order("ETH/USDT", "limit", "buy", 0.1, price)
        headers = ex.last_response_headers
        counts.append((headers["x-mbx-order-count-10s"], headers["x-mbx-order-count-1d"]))
    assert counts == [("1", "1"), ("2", "2"), ("3", "3")]
    refused = signed(
        sim.http,
        t.key,
        "POST",
        "/api/v3/order",
        {
            "symbol": "ETHUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.1",
            "price": str(price),
        },
        timestamp=clock(),
    )
    assert refused.status_code == 429
    assert refused.json() == {
        "code": -1015,
        "msg": "Too many new orders; current limit is 3 orders per 10 SECOND.",
    }
    assert 1 <= int(refused.headers["retry-after"]) <= 10
    with pytest.raises(ccxt.DDoSProtection, match="-1015"):
        ex.create_order("ETH/USDT", "limit", "buy", 0.1, price)
    assert len(ex.fetch_open_orders("ETH/USDT")) == 3

    clock.to_start_of_window(10_000)
    ex.load_time_difference()
    ex.create_order("ETH/USDT", "limit", "buy", 0.1, price)
    assert ex.last_response_headers["x-mbx-order-count-10s"] == "1"
    assert ex.last_response_headers["x-mbx-order-count-1d"] == "4"


def test_orders_that_fill_at_once_give_their_count_back(sim_factory: Factory) -> None:
    sim, clock = clocked_venue(sim_factory, orders_per_10s=2)
    t = make_trader(sim, options={"adjustForTimeDifference": True})
    clock.to_start_of_window(10_000)
    t.ex.load_time_difference()
    for _ in range(5):
        assert t.ex.create_order("ETH/USDT", "market", "buy", 0.1)["status"] == "closed"
        assert t.ex.last_response_headers["x-mbx-order-count-10s"] == "0"


def test_the_daily_order_count_is_enforced_too(sim_factory: Factory) -> None:
    sim, _ = clocked_venue(sim_factory, orders_per_day=2)
    t = make_trader(sim, options={"adjustForTimeDifference": True})
    price = float(t.ex.price_to_precision("ETH/USDT", t.ex.fetch_ticker("ETH/USDT")["bid"] * 0.8))
    t.ex.create_order("ETH/USDT", "limit", "buy", 0.1, price)
    t.ex.create_order("ETH/USDT", "limit", "buy", 0.1, price)
    with pytest.raises(ccxt.DDoSProtection, match="current limit is 2 orders per 1 DAY"):
        t.ex.create_order("ETH/USDT", "limit", "buy", 0.1, price)


def test_withdrawal_history_is_limited_by_the_account_bucket_without_a_ban(
    sim_factory: Factory,
) -> None:
    sim, _ = clocked_venue(sim_factory)
    t = make_trader(sim, options={"adjustForTimeDifference": True})
    for _ in range(10):
        t.ex.fetch_withdrawals()
    with pytest.raises(ccxt.DDoSProtection, match="-1003"):
        t.ex.fetch_withdrawals()
    assert t.ex.fetch_deposits() == []  # the IP bucket is separate, and nothing is banned
