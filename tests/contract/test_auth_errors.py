"""Authentication failures: each answered with Binance's code, text and HTTP status, and raised
by ccxt as the same exception class it raises against the real exchange."""

from __future__ import annotations

import time
from typing import Any

import ccxt
import httpx
import pytest

from tests.contract.conftest import Trader, make_trader
from tests.support.rawclient import sign, signed
from tests.support.simclient import READ_ONLY, TRADE, SimAdmin, binance

REJECTED = "Invalid API-key, IP, or permissions for action."


def client_for(sim: SimAdmin, key: dict[str, Any], **extra: Any) -> ccxt.binance:
    ex = binance(sim.url, key, **extra)
    ex.load_markets()
    return ex


def assert_rejected_key(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.json() == {"code": -2015, "msg": REJECTED}


def test_unknown_key_is_an_authentication_error(trader: Trader) -> None:
    trader.sim.revoke(trader.key["api_key"])
    assert_rejected_key(signed(trader.sim.http, trader.key, "GET", "/api/v3/account"))
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        trader.ex.fetch_balance()


def test_rejected_key_after_a_successful_private_call_is_ddos_protection(trader: Trader) -> None:
    """ccxt reads -2015 after a successful private call as a temporary ban, as Binance sends it
    during some bans (binance.handle_errors, options.hasAlreadyAuthenticatedSuccessfully)."""
    ex = trader.ex
    ex.fetch_balance()
    trader.sim.revoke(trader.key["api_key"])
    with pytest.raises(ccxt.DDoSProtection, match="-2015"):
        ex.fetch_balance()
    with pytest.raises(ccxt.DDoSProtection, match="-2015"):
        ex.sapi_get_account_status()


def test_wrong_secret_is_an_invalid_signature(trader: Trader) -> None:
    forged = {**trader.key, "secret": "x" * 64}
    response = signed(trader.sim.http, forged, "GET", "/api/v3/account")
    assert response.status_code == 400
    assert response.json() == {"code": -1022, "msg": "Signature for this request is not valid."}
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        client_for(trader.sim, forged).fetch_balance()


def test_uppercase_hex_signature_is_accepted(trader: Trader) -> None:
    query = f"timestamp={int(time.time() * 1000)}"
    response = trader.sim.http.get(
        f"/api/v3/account?{query}&signature={sign(trader.key['secret'], query).upper()}",
        headers={"X-MBX-APIKEY": trader.key["api_key"]},
    )
    assert response.status_code == 200
    assert "balances" in response.json()


def test_malformed_key_is_an_api_key_format_error(trader: Trader) -> None:
    bad = {**trader.key, "api_key": "not-a-key"}
    response = signed(trader.sim.http, bad, "GET", "/api/v3/account")
    assert response.status_code == 401
    assert response.json() == {"code": -2014, "msg": "API-key format invalid."}
    with pytest.raises(ccxt.AuthenticationError, match="-2014"):
        client_for(trader.sim, bad).fetch_balance()


def test_signed_call_without_a_key_header_is_an_api_key_format_error(sim: SimAdmin) -> None:
    response = sim.http.get(f"/api/v3/account?timestamp={int(time.time() * 1000)}&signature=ab")
    assert response.json()["code"] == -2014


def test_missing_signature_is_a_missing_mandatory_parameter(trader: Trader) -> None:
    response = trader.sim.http.get(
        f"/api/v3/account?timestamp={int(time.time() * 1000)}",
        headers={"X-MBX-APIKEY": trader.key["api_key"]},
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": -1102,
        "msg": "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
    }


def test_key_restricted_to_another_ip_is_rejected(sim: SimAdmin) -> None:
    account = sim.account({"USDT": "100"})
    elsewhere = sim.key(account, TRADE, ip_whitelist=["203.0.113.7"])
    assert_rejected_key(signed(sim.http, elsewhere, "GET", "/api/v3/account"))
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        client_for(sim, elsewhere).fetch_balance()
    here = sim.key(account, TRADE, ip_whitelist=["203.0.113.7", "127.0.0.1"])
    assert client_for(sim, here).fetch_balance()["USDT"]["total"] == 100


def test_read_only_key_reads_but_cannot_trade(sim: SimAdmin) -> None:
    account = sim.account({"USDT": "100000"})
    reader = sim.key(account, READ_ONLY)
    assert_rejected_key(
        signed(
            sim.http,
            reader,
            "POST",
            "/api/v3/order",
            {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1"},
        )
    )
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        client_for(sim, reader).create_order("ETH/USDT", "market", "buy", 0.1)
    ex = client_for(sim, reader)
    assert ex.fetch_balance()["USDT"]["total"] == 100000
    with pytest.raises(ccxt.DDoSProtection, match="-2015"):  # ccxt: -2015 after a success
        ex.create_order("ETH/USDT", "market", "buy", 0.1)
    assert ex.fetch_my_trades("ETH/USDT") == []


def test_key_without_reading_cannot_read(sim: SimAdmin) -> None:
    account = sim.account({"USDT": "100"})
    blind = sim.key(account, {"enableReading": False})
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        client_for(sim, blind).fetch_balance()


def test_expired_trading_authority_stops_trading_but_not_reading(sim: SimAdmin) -> None:
    account = sim.account({"USDT": "100000"})
    now = int(time.time() * 1000)
    expired = sim.key(account, TRADE, trading_expiration=now - 60_000)
    ex = client_for(sim, expired)
    restrictions = ex.sapi_get_account_apirestrictions()
    assert restrictions["tradingAuthorityExpirationTime"] == now - 60_000
    assert restrictions["enableSpotAndMarginTrading"] is True
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        ex.create_order("ETH/USDT", "market", "buy", 0.1)
    assert ex.fetch_balance()["USDT"]["total"] == 100000
    valid = sim.key(account, TRADE, trading_expiration=now + 3_600_000)
    order = client_for(sim, valid).create_order("ETH/USDT", "market", "buy", 0.1)
    assert order["status"] == "closed"


def test_stale_timestamp_is_an_invalid_nonce(trader: Trader) -> None:
    stale = int(time.time() * 1000) - 20_000
    response = signed(trader.sim.http, trader.key, "GET", "/api/v3/account", timestamp=stale)
    assert response.status_code == 400
    assert response.json() == {
        "code": -1021,
        "msg": "Timestamp for this request is outside of the recvWindow.",
    }
    late = make_trader(trader.sim, options={"timeDifference": 15_000})  # ccxt's clock 15 s slow
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        late.ex.fetch_balance()
    assert late.ex.fetch_balance({"recvWindow": 20_000})["USDT"]["total"] > 0


def test_timestamp_a_second_ahead_of_the_server_is_an_invalid_nonce(trader: Trader) -> None:
    ahead = int(time.time() * 1000) + 2_000
    response = signed(trader.sim.http, trader.key, "GET", "/api/v3/account", timestamp=ahead)
    assert response.json() == {
        "code": -1021,
        "msg": "Timestamp for this request was 1000ms ahead of the server's time.",
    }
    early = make_trader(trader.sim, options={"timeDifference": -3_000})
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        early.ex.fetch_balance()


def test_receive_window_above_a_minute_is_a_bad_request(trader: Trader) -> None:
    with pytest.raises(ccxt.BadRequest, match="recvWindow"):
        trader.ex.fetch_balance({"recvWindow": 60_001})
    assert trader.ex.fetch_balance({"recvWindow": 60_000})["BTC"]["total"] == 50
