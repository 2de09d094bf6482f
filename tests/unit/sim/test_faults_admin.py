"""Fault configurations and the admin API's input validation: clear 4xx answers, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.sim.asgi_client import client, fixed_app
from tresor.sim.faults import FaultConfigError, Faults


def test_an_empty_configuration_injects_nothing() -> None:
    f = Faults.parse({})
    assert f.raw == {}
    assert (f.latency_share, f.error_5xx_share, f.hang_share, f.lost_share) == (0, 0, 0, 0)
    assert not f.maintenance
    assert f.applies("/api/v3/order")
    assert not any(f.roll(f.error_5xx_share) for _ in range(100))


def test_a_full_configuration_is_read_field_by_field() -> None:
    body = {
        "latency": {"share": 1.0, "ms": 200},
        "error_5xx": {"share": 0.1},
        "error_503_html": {"share": 0.2},
        "hang": {"share": 0.3, "seconds": 31},
        "lost_response": {"share": 0.4, "mode": "timeout", "seconds": 5},
        "maintenance": True,
        "clock_offset_ms": -2500,
        "weight_limit": 100,
        "orders_per_10s": 5,
        "paths": ["/api/v3/order"],
        "seed": 7,
    }
    f = Faults.parse(body)
    assert (f.latency_share, f.latency_ms) == (1.0, 200.0)
    assert (f.error_5xx_share, f.error_503_share) == (0.1, 0.2)
    assert (f.hang_share, f.hang_seconds) == (0.3, 31.0)
    assert (f.lost_share, f.lost_mode, f.lost_seconds) == (0.4, "timeout", 5.0)
    assert f.maintenance
    assert (f.clock_offset_ms, f.weight_limit, f.orders_per_10s) == (-2500, 100, 5)
    assert f.applies("/api/v3/order")
    assert not f.applies("/api/v3/account")
    assert f.raw == body


def test_defaults_fill_what_a_fault_leaves_out() -> None:
    f = Faults.parse({"latency": {}, "hang": {"share": 0.5}, "lost_response": {}})
    assert (f.latency_share, f.latency_ms) == (1.0, 100.0)
    assert f.hang_seconds == 30.0
    assert (f.lost_share, f.lost_mode) == (1.0, "5xx")


def test_a_seed_makes_the_rolls_repeatable() -> None:
    a, b = (
        Faults.parse({"error_5xx": {"share": 0.5}, "seed": 3}),
        Faults.parse({"error_5xx": {"share": 0.5}, "seed": 3}),
    )
    rolls_a = [a.roll(a.error_5xx_share) for _ in range(200)]
    assert rolls_a == [b.roll(b.error_5xx_share) for _ in range(200)]
    assert 60 < sum(rolls_a) < 140


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the fault configuration must be a JSON object"),
        ({"latency": {}, "bogus": 1, "nope": 2}, "unknown fault(s): bogus, nope"),
        ({"latency": 0.5}, "latency must be an object with a 'share'"),
        ({"error_5xx": {"share": 1.5}}, "error_5xx.share must be a number between 0 and 1"),
        ({"error_5xx": {"share": -0.1}}, "error_5xx.share must be a number between 0 and 1"),
        ({"error_5xx": {"share": "0.5"}}, "error_5xx.share must be a number between 0 and 1"),
        ({"error_5xx": {"share": True}}, "error_5xx.share must be a number between 0 and 1"),
        ({"latency": {"ms": -1}}, "latency.ms must be a non-negative number"),
        ({"hang": {"seconds": "30"}}, "hang.seconds must be a non-negative number"),
        ({"hang": {"seconds": True}}, "hang.seconds must be a non-negative number"),
        ({"lost_response": {"mode": "drop"}}, "lost_response.mode must be '5xx' or 'timeout'"),
        ({"maintenance": "yes"}, "maintenance must be true or false"),
        ({"clock_offset_ms": 1.5}, "clock_offset_ms must be an integer"),
        ({"weight_limit": 0}, "weight_limit must be an integer >= 1"),
        ({"weight_limit": True}, "weight_limit must be an integer >= 1"),
        ({"orders_per_10s": "5"}, "orders_per_10s must be an integer >= 1"),
        ({"paths": "/api"}, "paths must be a list of path prefixes"),
        ({"paths": ["/api", 3]}, "paths must be a list of path prefixes"),
        ({"seed": "7"}, "seed must be an integer"),
    ],
)
def test_invalid_configurations_are_refused_with_a_clear_reason(body: Any, message: str) -> None:
    with pytest.raises(FaultConfigError) as caught:
        Faults.parse(body)
    assert str(caught.value) == message


async def test_faults_are_set_read_and_cleared_through_the_admin_api() -> None:
    app = fixed_app()
    async with client(app) as http:
        bad = await http.post("/_sim/faults", json={"weight_limit": 0})
        assert app.sim.faults.raw == {}
        put = await http.post("/_sim/faults", json={"maintenance": True})
        got = await http.get("/_sim/faults")
        down = await http.get("/api/v3/ping")
        cleared = await http.delete("/_sim/faults")
        up = await http.get("/api/v3/ping")
    assert (bad.status_code, bad.json()) == (400, {"error": "weight_limit must be an integer >= 1"})
    assert put.status_code == got.status_code == 200
    assert got.json() == {"faults": {"maintenance": True}}
    assert down.status_code == 503
    assert cleared.json() == {"faults": {}}
    assert up.status_code == 200


BAD_BALANCES = [
    ({"balances": [1]}, "balances must be an object of asset -> amount"),
    ([1, 2], "balances must be an object of asset -> amount"),
    ({"balances": {"usdt": "1"}}, "bad asset name 'usdt'"),
    ({"balances": {"": "1"}}, "bad asset name ''"),
    ({"balances": {"US-DT": "1"}}, "bad asset name 'US-DT'"),
    ({"balances": {"USDT": "abc"}}, "bad amount for USDT: 'abc'"),
    ({"balances": {"USDT": "-1"}}, "bad amount for USDT: '-1'"),
    ({"balances": {"USDT": "NaN"}}, "bad amount for USDT: 'NaN'"),
    ({"balances": {"USDT": "Infinity"}}, "bad amount for USDT: 'Infinity'"),
    ({"balances": {"USDT": "1e999999999"}}, "bad amount for USDT: '1e999999999'"),
    ({"balances": {"USDT": None}}, "bad amount for USDT: None"),
    ({"balances": {"USDT": True}}, "bad amount for USDT: True"),
    ({"balances": {"USDT": {"x": 1}}}, "bad amount for USDT: {'x': 1}"),
]


@pytest.mark.parametrize(("payload", "message"), BAD_BALANCES)
async def test_accounts_with_bad_balances_are_refused(payload: Any, message: str) -> None:
    app = fixed_app()
    async with client(app) as http:
        r = await http.post("/_sim/accounts", json=payload)
    assert (r.status_code, r.json()) == (400, {"error": message})
    assert app.sim.venue.accounts == {}


async def test_a_body_that_is_not_json_is_refused() -> None:
    async with client(fixed_app()) as http:
        for body in (b"{", b"balances=1", b"\xff\xfe", b'{"balances": {"USDT": 1e999}}'):
            r = await http.post("/_sim/accounts", content=body)
            assert (r.status_code, r.json()) == (400, {"error": "the body must be JSON"}), body


async def test_an_account_is_created_with_its_balances() -> None:
    async with client(fixed_app()) as http:
        r = await http.post("/_sim/accounts", json={"balances": {"USDT": "10.5", "BTC": 1}})
        shown = await http.get(f"/_sim/accounts/{r.json()['account_id']}")
    assert r.status_code == 201
    assert shown.json()["balances"] == {
        "BTC": {"free": "1.00000000", "locked": "0.00000000"},
        "USDT": {"free": "10.50000000", "locked": "0.00000000"},
    }


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"permissions": {"enableMoon": True}}, "unknown permission flag(s): enableMoon"),
        (
            {"permissions": {"enableReading": "yes"}},
            "permissions must be an object of flag -> true/false",
        ),
        ({"permissions": ["enableReading"]}, "permissions must be an object of flag -> true/false"),
        ({"ip_whitelist": "10.0.0.1"}, "ip_whitelist must be a list of IP addresses"),
        ({"ip_whitelist": [10]}, "ip_whitelist must be a list of IP addresses"),
        ({"trading_expiration": -1}, "trading_expiration must be a time in milliseconds"),
        ({"trading_expiration": True}, "trading_expiration must be a time in milliseconds"),
        (["enableReading"], "the body must be a JSON object"),
    ],
)
async def test_keys_with_bad_settings_are_refused(payload: Any, message: str) -> None:
    app = fixed_app()
    async with client(app) as http:
        await http.post("/_sim/accounts", json={})
        r = await http.post("/_sim/accounts/1/keys", json=payload)
    assert (r.status_code, r.json()) == (400, {"error": message})
    assert app.sim.venue.keys == {}


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/_sim/accounts/999", "no account 999"),
        ("GET", "/_sim/accounts/abc", "no account abc"),
        ("POST", "/_sim/accounts/999/keys", "no account 999"),
        ("POST", "/_sim/accounts/999/history", "no account 999"),
        ("GET", "/_sim/accounts/999/truth", "no account 999"),
        ("DELETE", "/_sim/keys/nope", "no such key"),
        ("GET", "/_sim/nothing/here", "no admin route GET /_sim/nothing/here"),
        ("PUT", "/_sim/accounts", "no admin route PUT /_sim/accounts"),
    ],
)
async def test_unknown_accounts_keys_and_routes_are_404(
    method: str, path: str, message: str
) -> None:
    async with client(fixed_app()) as http:
        r = await http.request(method, path, json={})
    assert (r.status_code, r.json()) == (404, {"error": message})


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"days": 0}, "days must be between 1 and 3650"),
        ({"trades": -5}, "trades must be a whole number >= 0"),
        ({"trades": 3_000_000}, "trades must be between 0 and 2,000,000"),
        ({"symbols": ["BTCUSDT", "NOPE"]}, "unknown symbol(s): NOPE"),
        ({"days": "many"}, "days must be a whole number >= 0"),
        ({"days": None}, "days must be a whole number >= 0"),
        ({"days": True}, "days must be a whole number >= 0"),
        ({"days": 1.5}, "days must be a whole number >= 0"),
        ({"symbols": 5}, "symbols must be a list of symbol names"),
        ({"colour": "red"}, "unknown history field(s): colour"),
        ({"open_orders": 101}, "open_orders must be at most 100"),
        ([1], "the body must be a JSON object"),
    ],
)
async def test_bad_history_requests_are_400_and_change_nothing(payload: Any, message: str) -> None:
    app = fixed_app()
    async with client(app) as http:
        await http.post("/_sim/accounts", json={})
        r = await http.post("/_sim/accounts/1/history", json=payload)
    assert r.status_code == 400
    assert r.json()["error"].startswith(message)
    assert app.sim.venue.accounts[1].orders == {}


async def test_history_is_generated_once_per_account() -> None:
    async with client(fixed_app()) as http:
        await http.post("/_sim/accounts", json={})
        first = await http.post(
            "/_sim/accounts/1/history", json={"days": 3, "trades": 20, "seed": 1}
        )
        again = await http.post(
            "/_sim/accounts/1/history", json={"days": 3, "trades": 20, "seed": 1}
        )
        truth = await http.get("/_sim/accounts/1/truth")
    assert first.status_code == 201
    assert first.json()["trades"] == 20
    assert again.status_code == 400
    assert "without orders" in again.json()["error"]
    assert len(truth.json()["trades"]) == 20
