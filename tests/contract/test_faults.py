"""Injected faults (``POST /_sim/faults``) and the ccxt exception each one surfaces as: the
failures a client of the real exchange must survive. ``DELETE /_sim/faults`` clears them."""

from __future__ import annotations

import time
from collections.abc import Callable

import ccxt
import pytest

from tests.contract.conftest import Trader, make_trader
from tests.support.clock import SimClock
from tests.support.rawclient import signed
from tests.support.simclient import SimAdmin, binance
from tresor.sim.server import SimConfig

ORDER_PATH = ["/api/v3/order"]


def cleared(sim: SimAdmin) -> bool:
    sim.clear_faults()
    return bool(sim.http.get("/_sim/faults").json() == {"faults": {}})


def resting_price(ex: ccxt.binance, symbol: str) -> float:
    return float(ex.price_to_precision(symbol, ex.fetch_ticker(symbol)["bid"] * 0.9))


def test_latency_delays_answers_without_changing_them(trader: Trader) -> None:
    trader.sim.faults(latency={"share": 1.0, "ms": 300})
    started = time.monotonic()
    balance = trader.ex.fetch_balance()
    assert time.monotonic() - started >= 0.3
    assert balance["BTC"]["total"] == 50
    assert cleared(trader.sim)


def test_json_5xx_is_operation_failed_and_the_order_was_not_executed(trader: Trader) -> None:
    sim, ex = trader.sim, trader.ex
    sim.faults(error_5xx={"share": 1.0}, paths=ORDER_PATH)
    raw = signed(
        sim.http,
        trader.key,
        "POST",
        "/api/v3/order",
        {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"},
    )
    assert raw.status_code == 500
    assert raw.json() == {
        "code": -1001,
        "msg": "Internal error; unable to process your request. Please try again.",
    }
    assert ex.fetch_balance()["ETH"]["total"] == 500  # other paths are not faulted
    with pytest.raises(ccxt.OperationFailed, match="-1001") as info:
        ex.create_order("ETH/USDT", "market", "buy", 1, None, {"clientOrderId": "five-hundred"})
    assert info.type is ccxt.OperationFailed
    assert cleared(sim)
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order(None, "ETH/USDT", {"clientOrderId": "five-hundred"})


def test_html_503_is_exchange_not_available(trader: Trader) -> None:
    sim = trader.sim
    sim.faults(error_503_html={"share": 1.0})
    raw = sim.http.get("/api/v3/time")
    assert raw.status_code == 503
    assert raw.headers["content-type"].startswith("text/html")
    assert raw.text.startswith("<html>")
    with pytest.raises(ccxt.ExchangeNotAvailable) as info:
        trader.ex.fetch_ticker("BTC/USDT")
    assert info.type is ccxt.ExchangeNotAvailable
    assert cleared(sim)
    assert trader.ex.fetch_ticker("BTC/USDT")["last"] > 0


def test_a_share_of_requests_fails_when_the_fault_is_partial(trader: Trader) -> None:
    trader.sim.faults(error_5xx={"share": 0.5}, seed=3)
    failures = 0
    for _ in range(40):
        try:
            trader.ex.fetch_time()
        except ccxt.OperationFailed:
            failures += 1
    assert 8 <= failures <= 32
    assert cleared(trader.sim)


def test_hanging_request_is_a_request_timeout_and_was_not_executed(sim: SimAdmin) -> None:
    t = make_trader(sim, timeout=1000)
    sim.faults(hang={"share": 1.0, "seconds": 3}, paths=ORDER_PATH)
    started = time.monotonic()
    with pytest.raises(ccxt.RequestTimeout):
        t.ex.create_order("ETH/USDT", "market", "buy", 1, None, {"clientOrderId": "hung"})
    assert time.monotonic() - started < 2.5  # ccxt gave up; the venue would answer at 3 s
    assert cleared(sim)
    time.sleep(2.2)  # let the hung request end on the venue: it must not execute late
    with pytest.raises(ccxt.OrderNotFound):
        t.ex.fetch_order(None, "ETH/USDT", {"clientOrderId": "hung"})


def test_lost_answer_hides_an_order_that_was_executed(trader: Trader) -> None:
    sim, ex = trader.sim, trader.ex
    sim.faults(lost_response={"share": 1.0, "mode": "5xx"}, paths=ORDER_PATH)
    with pytest.raises(ccxt.OperationFailed, match="-1001"):
        ex.create_order("ETH/USDT", "market", "buy", 1, None, {"clientOrderId": "lost-1"})
    price = resting_price(ex, "ETH/USDT")
    with pytest.raises(ccxt.OperationFailed):
        ex.create_order("ETH/USDT", "limit", "buy", 1, price, {"clientOrderId": "lost-2"})
    assert cleared(sim)
    executed = ex.fetch_order(None, "ETH/USDT", {"clientOrderId": "lost-1"})
    assert (executed["status"], executed["filled"]) == ("closed", 1)
    assert ex.fetch_balance()["ETH"]["total"] == pytest.approx(500 + 1 - 0.001)
    resting = ex.fetch_order(None, "ETH/USDT", {"clientOrderId": "lost-2"})
    assert resting["status"] == "open"
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):  # a blind resend
        ex.create_order("ETH/USDT", "limit", "buy", 1, price, {"clientOrderId": "lost-2"})


def test_lost_answer_can_also_look_like_a_timeout(sim: SimAdmin) -> None:
    t = make_trader(sim, timeout=1000)
    sim.faults(lost_response={"share": 1.0, "mode": "timeout", "seconds": 2}, paths=ORDER_PATH)
    with pytest.raises(ccxt.RequestTimeout):
        t.ex.create_order("ETH/USDT", "market", "buy", 1, None, {"clientOrderId": "lost-t"})
    assert cleared(sim)
    assert t.ex.fetch_order(None, "ETH/USDT", {"clientOrderId": "lost-t"})["status"] == "closed"


def test_maintenance_is_on_maintenance_and_reported_by_the_status(trader: Trader) -> None:
    sim, ex = trader.sim, trader.ex
    sim.faults(maintenance=True)
    raw = sim.http.get("/api/v3/ping")
    assert raw.status_code == 503
    assert raw.json()["msg"] == "System is under maintenance."
    with pytest.raises(ccxt.OnMaintenance):
        ex.fetch_ticker("BTC/USDT")
    with pytest.raises(ccxt.OnMaintenance):
        ex.fetch_balance()
    assert ex.fetch_status()["status"] == "maintenance"
    assert cleared(sim)
    assert ex.fetch_status()["status"] == "ok"
    assert ex.fetch_balance()["BTC"]["total"] == 50


def test_server_clock_offset_is_an_invalid_nonce_until_ccxt_adjusts(trader: Trader) -> None:
    sim, ex = trader.sim, trader.ex
    sim.faults(clock_offset_ms=30_000)
    assert ex.fetch_time() - int(time.time() * 1000) == pytest.approx(30_000, abs=2_000)
    with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
        ex.fetch_balance()
    adjusted = trader.client(options={"adjustForTimeDifference": True})
    assert adjusted.fetch_balance()["BTC"]["total"] == 50
    ex.load_time_difference()
    assert ex.fetch_balance()["BTC"]["total"] == 50
    sim.faults(clock_offset_ms=-5_000)
    with pytest.raises(ccxt.InvalidNonce, match="ahead of the server"):
        ex.fetch_balance()
    assert cleared(sim)
    ex.load_time_difference()
    assert ex.fetch_balance()["BTC"]["total"] == 50


def test_lower_weight_limit_and_order_count_take_effect_and_clear(
    sim_factory: Callable[[SimConfig], SimAdmin],
) -> None:
    clock = SimClock()
    sim = sim_factory(SimConfig(seed=7, clock=clock))
    t = make_trader(sim, options={"adjustForTimeDifference": True})
    price = resting_price(t.ex, "ETH/USDT")
    clock.to_start_of_window(60_000)
    clock.to_start_of_window(10_000)  # the minute's second ten seconds: both windows hold
    t.ex.load_time_difference()
    sim.faults(weight_limit=30)
    assert sim.http.get("/api/v3/exchangeInfo").status_code == 200
    assert sim.http.get("/api/v3/exchangeInfo").status_code == 429
    with pytest.raises(ccxt.DDoSProtection, match="current limit is 30 request weight"):
        binance(sim.url).fetch_markets()
    sim.faults(orders_per_10s=1)
    t.ex.create_order("ETH/USDT", "limit", "buy", 0.1, price)
    with pytest.raises(ccxt.DDoSProtection, match="-1015"):
        t.ex.create_order("ETH/USDT", "limit", "buy", 0.1, price)
    assert cleared(sim)
    t.ex.create_order("ETH/USDT", "limit", "buy", 0.1, price)
    assert sim.http.get("/api/v3/exchangeInfo").status_code == 200


def test_unknown_fault_is_refused_by_the_admin_api(sim: SimAdmin) -> None:
    response = sim.http.post("/_sim/faults", json={"earthquake": {"share": 1}})
    assert response.status_code == 400
    assert "earthquake" in response.json()["error"]
    assert sim.http.get("/_sim/faults").json() == {"faults": {}}
