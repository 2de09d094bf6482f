"""Signed requests: Binance's documented HMAC vectors, the timing window, allow-lists, flags."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

import pytest

from tests.unit.sim.asgi_client import NOW, client, fixed_app
from tresor.sim import auth
from tresor.sim import errors as e
from tresor.sim.params import Params, split_pairs
from tresor.sim.state import PERMISSION_FLAGS, ApiKey

# The worked example of Binance's "SIGNED Endpoint Examples for POST /api/v3/order".
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_QUERY = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
DOC_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
DOC_MIXED_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
DOC_MIXED_BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
DOC_MIXED_SIGNATURE = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
DOC_TIME = 1499827319559
TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}


def key(
    permissions: dict[str, bool] | None = None,
    ip_whitelist: list[str] | None = None,
    trading_expiration: int = 0,
) -> ApiKey:
    flags = dict(PERMISSION_FLAGS)
    flags.update(TRADE if permissions is None else permissions)
    return ApiKey(
        api_key=DOC_KEY,
        secret=DOC_SECRET,
        account_id=1,
        permissions=flags,
        ip_whitelist=ip_whitelist or [],
        create_time=0,
        trading_expiration=trading_expiration,
    )


def sign(payload: str, secret: str = DOC_SECRET) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def check(
    query: str,
    body: str = "",
    *,
    now: int = DOC_TIME + 100,
    api_key: str | None = DOC_KEY,
    k: ApiKey | None = None,
    ip: str = "127.0.0.1",
    trade: bool = True,
) -> ApiKey:
    the_key = k or key()
    return auth.check_signed(
        keys={the_key.api_key: the_key},
        api_key=api_key,
        params=Params(split_pairs(query), split_pairs(body)),
        query=query,
        body=body,
        now=now,
        ip=ip,
        trade=trade,
    )


def signed(params: dict[str, object], secret: str = DOC_SECRET) -> str:
    query = urlencode(params)
    return f"{query}&signature={sign(query, secret)}"


def rejected(query: str, **kwargs: object) -> e.SimError:
    with pytest.raises(e.SimError) as caught:
        check(query, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_the_documented_query_string_vector_is_reproduced() -> None:
    payload = auth.signed_payload(f"{DOC_QUERY}&signature={DOC_SIGNATURE}", "")
    assert payload == DOC_QUERY
    assert sign(payload) == DOC_SIGNATURE


def test_the_documented_query_and_body_vector_is_reproduced() -> None:
    payload = auth.signed_payload(
        DOC_MIXED_QUERY, f"{DOC_MIXED_BODY}&signature={DOC_MIXED_SIGNATURE}"
    )
    assert payload == DOC_MIXED_QUERY + DOC_MIXED_BODY  # no separator, as documented
    assert sign(payload) == DOC_MIXED_SIGNATURE


def test_the_documented_requests_are_accepted() -> None:
    assert check(f"{DOC_QUERY}&signature={DOC_SIGNATURE}").api_key == DOC_KEY
    body = f"{DOC_MIXED_BODY}&signature={DOC_MIXED_SIGNATURE}"
    assert check(DOC_MIXED_QUERY, body).api_key == DOC_KEY


def test_an_uppercase_hex_signature_is_accepted() -> None:
    assert check(f"{DOC_QUERY}&signature={DOC_SIGNATURE.upper()}").api_key == DOC_KEY


def test_a_wrong_signature_is_rejected_with_1022() -> None:
    err = rejected(f"{DOC_QUERY}&signature={'0' * 64}")
    assert (err.http_status, err.code, err.msg) == (
        400,
        -1022,
        "Signature for this request is not valid.",
    )


def test_a_signature_over_other_bytes_is_rejected() -> None:
    tampered = DOC_QUERY.replace("quantity=1", "quantity=2")
    assert rejected(f"{tampered}&signature={DOC_SIGNATURE}").code == -1022


@pytest.mark.parametrize("ahead", [1000, 1001, 60_000])
def test_a_timestamp_a_second_or_more_ahead_is_rejected(ahead: int) -> None:
    err = rejected(signed({"timestamp": NOW + ahead}), now=NOW)
    assert (err.http_status, err.code, err.msg) == (
        400,
        -1021,
        "Timestamp for this request was 1000ms ahead of the server's time.",
    )


def test_a_timestamp_less_than_a_second_ahead_is_accepted() -> None:
    assert check(signed({"timestamp": NOW + 999}), now=NOW).api_key == DOC_KEY


@pytest.mark.parametrize(
    ("age", "window"), [(5001, None), (10_001, 10_000), (61_000, 60_000), (1, "0.5")]
)
def test_a_timestamp_older_than_the_recv_window_is_rejected(age: int, window: object) -> None:
    fields: dict[str, object] = {"timestamp": NOW - age}
    if window is not None:
        fields["recvWindow"] = window
    err = rejected(signed(fields), now=NOW)
    assert (err.http_status, err.code, err.msg) == (
        400,
        -1021,
        "Timestamp for this request is outside of the recvWindow.",
    )


@pytest.mark.parametrize(("age", "window"), [(5000, None), (60_000, 60_000), (0, "0.5")])
def test_a_timestamp_within_the_recv_window_is_accepted(age: int, window: object) -> None:
    fields: dict[str, object] = {"timestamp": NOW - age}
    if window is not None:
        fields["recvWindow"] = window
    assert check(signed(fields), now=NOW).api_key == DOC_KEY


def test_a_recv_window_above_sixty_seconds_is_rejected() -> None:
    err = rejected(signed({"timestamp": NOW, "recvWindow": 60_001}), now=NOW)
    assert (err.http_status, err.code, err.msg) == (
        400,
        -1102,
        "'recvWindow' contains unexpected value. Cannot be greater than 60000.",
    )


def test_a_missing_or_malformed_api_key_is_2014() -> None:
    for bad in (None, "", "short", DOC_KEY[:-1] + "!"):
        err = rejected(f"{DOC_QUERY}&signature={DOC_SIGNATURE}", api_key=bad)
        assert (err.http_status, err.code, err.msg) == (401, -2014, "API-key format invalid.")


def test_an_unknown_api_key_is_2015() -> None:
    err = rejected(f"{DOC_QUERY}&signature={DOC_SIGNATURE}", api_key="A" * 64)
    assert (err.http_status, err.code) == (401, -2015)


def test_a_call_from_an_ip_off_the_allow_list_is_2015_with_401() -> None:
    k = key(ip_whitelist=["10.1.1.1"])
    query = signed({"timestamp": NOW})
    assert check(query, now=NOW, k=k, ip="10.1.1.1").api_key == DOC_KEY
    err = rejected(query, now=NOW, k=k, ip="10.1.1.2")
    assert (err.http_status, err.code, err.msg) == (
        401,
        -2015,
        "Invalid API-key, IP, or permissions for action.",
    )


def test_a_read_only_key_cannot_trade() -> None:
    k = key({"enableReading": True})
    query = signed({"timestamp": NOW})
    assert check(query, now=NOW, k=k, trade=False).api_key == DOC_KEY
    err = rejected(query, now=NOW, k=k, trade=True)
    assert (err.http_status, err.code) == (401, -2015)


def test_a_key_without_reading_cannot_read() -> None:
    err = rejected(
        signed({"timestamp": NOW}), now=NOW, k=key({"enableReading": False}), trade=False
    )
    assert (err.http_status, err.code) == (401, -2015)


def test_trading_stops_when_the_trading_authority_expires() -> None:
    k = key(trading_expiration=NOW - 1)
    err = rejected(signed({"timestamp": NOW}), now=NOW, k=k, trade=True)
    assert (err.http_status, err.code) == (401, -2015)
    assert check(signed({"timestamp": NOW}), now=NOW, k=k, trade=False).api_key == DOC_KEY


async def test_the_app_answers_401_for_a_key_used_from_another_ip() -> None:
    app = fixed_app()
    async with client(app, ip="10.9.9.9") as http:
        made = await http.post("/_sim/accounts", json={"balances": {"USDT": "100"}})
        account_id = made.json()["account_id"]
        created = await http.post(
            f"/_sim/accounts/{account_id}/keys",
            json={"permissions": TRADE, "ip_whitelist": ["10.1.1.1"]},
        )
        creds = created.json()
        query = signed({"timestamp": NOW}, creds["secret"])
        headers = {"X-MBX-APIKEY": creds["api_key"]}
        r = await http.get(f"/api/v3/account?{query}", headers=headers)
    async with client(app, ip="10.1.1.1") as http:
        ok = await http.get(f"/api/v3/account?{query}", headers=headers)
    assert r.status_code == 401
    assert r.json() == {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
    assert ok.status_code == 200
    assert ok.json()["balances"] == [
        {"asset": "USDT", "free": "100.00000000", "locked": "0.00000000"}
    ]
