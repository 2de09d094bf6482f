"""A client written from Binance's "General API Information" and "SIGNED endpoint security"
sections, not from ccxt: the venue must accept every documented way of sending a request."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
import pytest

from tests.contract.conftest import ClockedVenue, Trader, make_trader
from tests.support.rawclient import sign, signed

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def now_ms() -> int:
    return int(time.time() * 1000)


def post(trader: Trader, query: str, body: str) -> httpx.Response:
    """Binance's mixed form: signature = HMAC(query string + body), appended to the body."""
    signature = sign(trader.key["secret"], query + body)
    return trader.sim.http.post(
        f"/api/v3/order?{query}" if query else "/api/v3/order",
        content=f"{body}&signature={signature}",
        headers={"X-MBX-APIKEY": trader.key["api_key"], **FORM},
    )


def get(trader: Trader, path: str, query: str) -> httpx.Response:
    signature = sign(trader.key["secret"], query)
    return trader.sim.http.get(
        f"{path}?{query}&signature={signature}", headers={"X-MBX-APIKEY": trader.key["api_key"]}
    )


def test_parameters_split_between_query_and_body_are_signed_as_one_string(
    trader: Trader,
) -> None:
    query = "symbol=ETHUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = f"quantity=0.1&price=1000&recvWindow=5000&timestamp={now_ms()}"
    response = post(trader, query, body)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["price"]) == ("NEW", "1000.00000000")


def test_a_post_may_carry_every_parameter_in_the_query_string(trader: Trader) -> None:
    query = f"symbol=ETHUSDT&side=BUY&type=MARKET&quantity=0.1&timestamp={now_ms()}"
    response = trader.sim.http.post(
        f"/api/v3/order?{query}&signature={sign(trader.key['secret'], query)}",
        headers={"X-MBX-APIKEY": trader.key["api_key"]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "FILLED"


def test_a_parameter_sent_in_both_query_and_body_takes_the_query_value(trader: Trader) -> None:
    query = "symbol=ETHUSDT&side=BUY&type=LIMIT&timeInForce=GTC&price=1000"
    body = f"quantity=0.1&price=1200&timestamp={now_ms()}"
    response = post(trader, query, body)
    assert response.status_code == 200, response.text
    assert response.json()["price"] == "1000.00000000"


def test_a_delete_may_carry_its_parameters_in_the_body(trader: Trader) -> None:
    trader.ex.create_order("ETH/USDT", "limit", "buy", 0.1, 1000)
    body = f"symbol=ETHUSDT&timestamp={now_ms()}"
    response = trader.sim.http.request(
        "DELETE",
        "/api/v3/openOrders",
        content=f"{body}&signature={sign(trader.key['secret'], body)}",
        headers={"X-MBX-APIKEY": trader.key["api_key"], **FORM},
    )
    assert response.status_code == 200, response.text
    assert [o["status"] for o in response.json()] == ["CANCELED"]


def test_the_signature_covers_the_exact_bytes_sent(trader: Trader) -> None:
    query = f"symbol=ETHUSDT&timestamp={now_ms()}"
    signature = sign(trader.key["secret"], query)
    reordered = "&".join(reversed(query.split("&")))
    response = trader.sim.http.get(
        f"/api/v3/openOrders?{reordered}&signature={signature}",
        headers={"X-MBX-APIKEY": trader.key["api_key"]},
    )
    assert response.json() == {"code": -1022, "msg": "Signature for this request is not valid."}


def test_percent_encoded_values_are_signed_as_sent_and_decoded(trader: Trader) -> None:
    client_id = "desk:1/a.b_c-d"
    body = (
        "symbol=ETHUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price=1000"
        f"&newClientOrderId={quote(client_id, safe='')}&timestamp={now_ms()}"
    )
    response = post(trader, "", body)
    assert response.status_code == 200, response.text
    assert response.json()["clientOrderId"] == client_id


def test_receive_window_may_have_microsecond_decimals(trader: Trader) -> None:
    response = get(trader, "/api/v3/account", f"recvWindow=5000.125&timestamp={now_ms()}")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("stale_by_ms", [0, 20_000])
def test_timestamp_may_be_sent_in_microseconds(trader: Trader, stale_by_ms: int) -> None:
    micros = (now_ms() - stale_by_ms) * 1000 + 123
    response = get(trader, "/api/v3/account", f"timestamp={micros}")
    if stale_by_ms:
        assert response.json()["code"] == -1021
    else:
        assert response.status_code == 200, response.text


def test_time_window_parameters_may_be_sent_in_microseconds(trader: Trader) -> None:
    trader.ex.create_order("ETH/USDT", "market", "buy", 0.5)
    start = now_ms() - 3_600_000
    end = now_ms() + 1_000
    ms = signed(
        trader.sim.http,
        trader.key,
        "GET",
        "/api/v3/myTrades",
        {"symbol": "ETHUSDT", "startTime": start, "endTime": end},
    )
    us = signed(
        trader.sim.http,
        trader.key,
        "GET",
        "/api/v3/myTrades",
        {"symbol": "ETHUSDT", "startTime": start * 1000, "endTime": end * 1000},
    )
    assert us.status_code == 200, us.text
    assert us.json() == ms.json() != []
    since = (now_ms() // 60_000 - 30) * 60_000
    klines = {"symbol": "BTCUSDT", "interval": "1m", "limit": 5}
    by_ms = trader.sim.http.get("/api/v3/klines", params={**klines, "startTime": since})
    by_us = trader.sim.http.get("/api/v3/klines", params={**klines, "startTime": since * 1000})
    assert by_us.json() == by_ms.json()
    assert by_us.json()[0][0] == since


def test_order_response_type_ack_and_result_trim_the_answer(trader: Trader) -> None:
    order = {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1"}
    ack = signed(
        trader.sim.http, trader.key, "POST", "/api/v3/order", {**order, "newOrderRespType": "ACK"}
    ).json()
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = signed(
        trader.sim.http,
        trader.key,
        "POST",
        "/api/v3/order",
        {**order, "newOrderRespType": "RESULT"},
    ).json()
    assert result["status"] == "FILLED"
    assert "fills" not in result
    full = signed(trader.sim.http, trader.key, "POST", "/api/v3/order", order).json()
    assert full["fills"]  # MARKET and LIMIT orders answer FULL by default


def test_omit_zero_balances_drops_empty_assets(trader: Trader) -> None:
    trader.ex.create_order("ETH/USDT", "market", "sell", 500)  # sells the whole ETH balance
    every = signed(trader.sim.http, trader.key, "GET", "/api/v3/account").json()["balances"]
    assert {"asset": "ETH", "free": "0.00000000", "locked": "0.00000000"} in every
    some = signed(
        trader.sim.http, trader.key, "GET", "/api/v3/account", {"omitZeroBalances": "true"}
    ).json()["balances"]
    assert "ETH" not in {b["asset"] for b in some}
    assert len(some) == len(every) - 1


def test_order_rate_limit_reports_the_unfilled_order_count(clocked: ClockedVenue) -> None:
    t = make_trader(clocked.sim, options={"adjustForTimeDifference": True})
    clocked.clock.to_start_of_window(10_000)
    t.ex.load_time_difference()
    t.ex.create_order("ETH/USDT", "limit", "buy", 0.1, 1000)
    t.ex.create_order("ETH/USDT", "market", "buy", 0.1)  # filled at once: not counted
    limits = signed(
        clocked.sim.http, t.key, "GET", "/api/v3/rateLimit/order", timestamp=clocked.clock()
    ).json()
    assert [(r["interval"], r["intervalNum"], r["limit"], r["count"]) for r in limits] == [
        ("SECOND", 10, 100, 1),
        ("DAY", 1, 200_000, 1),
    ]
