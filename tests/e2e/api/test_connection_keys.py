"""Adding a connection through the API against the simulator: every permission combination
and every failure gives the right HTTP status, problem code and remedy, and the right stored
status and capability report (or nothing stored at all)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.api.conftest import EGRESS_IP, Api, Tenant, assert_problem

READ_ONLY = {"enableReading": True}
TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}
EVERYTHING = {
    "enableReading": True,
    "enableSpotAndMarginTrading": True,
    "enableWithdrawals": True,
    "enableFutures": True,
    "enableMargin": True,
}
NO_RIGHTS = dict.fromkeys(("margin", "futures", "withdraw", "internal_transfer"), "no")


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Accepted:
    """A key the policy accepts: the key's status, rights and warning codes."""

    permissions: dict[str, bool]
    role: str
    status: str
    rights: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    ip_whitelist: list[str] | None = None


ACCEPTED = {
    "read-only key as the read key": Accepted(
        READ_ONLY, "read", "connected", {"read": "yes", "spot_trade": "no", **NO_RIGHTS}
    ),
    "trading key as the read key (least-privilege warning)": Accepted(
        TRADE,
        "read",
        "connected",
        {"read": "yes", "spot_trade": "yes", **NO_RIGHTS},
        ["read_key_can_trade"],
    ),
    "trading key as the trade key": Accepted(
        TRADE, "trade", "connected", {"read": "yes", "spot_trade": "yes", **NO_RIGHTS}
    ),
    "trade key with margin and futures": Accepted(
        {**TRADE, "enableMargin": True, "enableFutures": True},
        "trade",
        "connected",
        {"read": "yes", "spot_trade": "yes", **NO_RIGHTS, "margin": "yes", "futures": "yes"},
    ),
    "trade key allowing Tresor's address": Accepted(
        TRADE,
        "trade",
        "connected",
        {"read": "yes", "spot_trade": "yes", **NO_RIGHTS},
        ip_whitelist=["127.0.0.1"],
    ),
}


@pytest.mark.parametrize("case", ACCEPTED.values(), ids=ACCEPTED.keys())
async def test_an_acceptable_key_is_stored_with_its_capability_report(
    api: Api, alice: Tenant, case: Accepted
) -> None:
    headers = await alice.headers()
    key = api.key(case.permissions, ip_whitelist=case.ip_whitelist)
    answer = await api.add(headers, **{case.role: key})
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["status"] == case.status
    (stored_key,) = created["keys"]
    assert stored_key["role"] == case.role
    assert stored_key["status"] == case.status
    assert stored_key["sealed"] is (case.role == "trade")
    assert stored_key["hint"] == f"{key['api_key'][:4]}…{key['api_key'][-4:]}"
    report = stored_key["report"]
    assert report["authenticates"] == "yes"
    assert report["rights"] == case.rights
    assert report["failure"] is None
    assert report["ip_restricted"] == ("yes" if case.ip_whitelist else "no")
    assert report["account_type"] == "SPOT"
    assert abs(report["clock_offset_ms"]) < 1000
    assert [w["code"] for w in stored_key["warnings"]] == case.warnings
    for warning in stored_key["warnings"]:
        assert warning["message"]
        assert warning["remedy"]
    # what is stored is what was answered
    again = await api.http.get(f"/v1/connections/{created['id']}", headers=headers)
    assert again.status_code == 200
    assert again.json() == created
    listed = await api.http.get("/v1/connections", headers=headers)
    assert listed.json()["items"] == [created]
    assert listed.json()["egress_ips"] == [EGRESS_IP]


async def test_a_trade_key_alone_also_serves_reading_and_both_keys_can_be_given(
    api: Api, alice: Tenant
) -> None:
    headers = await alice.headers()
    answer = await api.add(headers, read=api.key(READ_ONLY), trade=api.key(TRADE))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "connected"
    assert [(k["role"], k["status"]) for k in body["keys"]] == [
        ("read", "connected"),
        ("trade", "connected"),
    ]


@dataclass(frozen=True)
class Refused:
    """A key the policy refuses: the problem's status and code, a word its remedy must say."""

    role: str
    status: int
    code: str
    remedy_says: str
    permissions: dict[str, bool] | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    forge: str | None = None  # "secret": a wrong secret; "key": a key the exchange never made
    fault: dict[str, Any] | None = None
    checks: bool = False


REFUSED = {
    "read-only key as the trade key": Refused(
        "trade", 422, "trade_permission_missing", "Spot & Margin Trading", READ_ONLY
    ),
    "read key that can withdraw": Refused(
        "read",
        422,
        "withdraw_permission_enabled",
        "disable withdrawals",
        {"enableReading": True, "enableWithdrawals": True},
    ),
    "trade key with every permission": Refused(
        "trade", 422, "withdraw_permission_enabled", "disable withdrawals", EVERYTHING
    ),
    "wrong secret": Refused("read", 422, "invalid_credentials", "secret", forge="secret"),
    "unknown key": Refused("trade", 422, "key_refused", "checks", forge="key", checks=True),
    "IP allow-list without Tresor's address": Refused(
        "read",
        422,
        "key_refused",
        "checks",
        TRADE,
        {"ip_whitelist": ["198.51.100.1"]},
        checks=True,
    ),
    "key that cannot even read": Refused(
        "read", 422, "key_refused", "checks", {"enableReading": False}, checks=True
    ),
    "trading authority expired": Refused(
        "trade",
        422,
        "key_expired",
        "Renew",
        TRADE,
        {"trading_expiration": ms(datetime.now(UTC) - timedelta(hours=1))},
    ),
    "exchange under maintenance": Refused(
        "trade", 503, "exchange_unavailable", "retry", TRADE, fault={"maintenance": True}
    ),
    "exchange rate-limiting": Refused(
        "read", 503, "rate_limited", "retry", READ_ONLY, fault={"weight_limit": 5}
    ),
    "clocks far apart": Refused(
        "read", 503, "clock_skew", "clock", READ_ONLY, fault={"clock_offset_ms": 30_000}
    ),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
async def test_a_refused_key_gets_its_problem_and_remedy_and_nothing_is_stored(
    api: Api, alice: Tenant, case: Refused
) -> None:
    headers = await alice.headers()
    key = api.key(case.permissions, **case.spec)
    if case.forge == "secret":
        key = {**key, "secret": "f" * 64}
    elif case.forge == "key":
        key = {"api_key": "K" * 64, "secret": "S" * 64}
    api.secrets.update(key.values())
    if case.fault:
        api.sim.faults(**case.fault)
    answer = await api.add(headers, **{case.role: key})
    api.sim.clear_faults()
    body = assert_problem(answer, case.status, case.code)
    assert case.remedy_says.lower() in body["remedy"].lower() or case.remedy_says.lower() in (
        body["detail"].lower()
    ), body
    if case.checks:
        checks = body["checks"]
        assert len(checks) == 4
        assert EGRESS_IP in checks[2]
        assert "copied exactly" in checks[0]
    listed = await api.http.get("/v1/connections", headers=headers)
    assert listed.json()["items"] == []
    assert await api.rows("SELECT connection_id FROM connection_keys") == []


async def test_a_rate_limited_exchange_is_stored_nowhere_and_the_answer_is_a_problem(
    api: Api, alice: Tenant
) -> None:
    headers = await alice.headers()
    api.sim.faults(weight_limit=5)
    answer = await api.add(headers, read=api.key(READ_ONLY))
    body = assert_problem(answer, 503, "rate_limited")
    assert "slow down" in body["detail"]
    api.sim.clear_faults()
    again = await api.add(headers, read=api.key(READ_ONLY))
    assert again.status_code == 201, again.text


async def test_trading_authority_expiring_within_a_week_is_accepted_as_expiring(
    api: Api, alice: Tenant
) -> None:
    headers = await alice.headers()
    soon = datetime.now(UTC) + timedelta(days=3)
    answer = await api.add(headers, trade=api.key(TRADE, trading_expiration=ms(soon)))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "expiring"
    (key,) = body["keys"]
    assert key["status"] == "expiring"
    expires = datetime.fromisoformat(key["report"]["expires_at"])
    assert abs(expires - soon) < timedelta(seconds=1)
    (warning,) = [w for w in key["warnings"] if w["code"] == "key_expiring"]
    assert f"{soon:%Y-%m-%d}" in warning["message"]
    assert "rotate" in warning["remedy"]


@pytest.mark.parametrize(
    ("exchange", "endpoint", "code"),
    [
        ("binance", "nowhere", "unknown_endpoint"),
        ("kraken", "sim", "unknown_endpoint"),
        ("notanexchange", None, "unknown_exchange"),
    ],
)
async def test_an_unknown_exchange_or_endpoint_is_refused_before_any_key_is_sent(
    api: Api, alice: Tenant, exchange: str, endpoint: str | None, code: str
) -> None:
    headers = await alice.headers()
    started = time.perf_counter()
    answer = await api.add(headers, read=api.key(), exchange=exchange, endpoint=endpoint)
    assert_problem(answer, 422, code)
    assert time.perf_counter() - started < 1
    assert (await api.http.get("/v1/connections", headers=headers)).json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"exchange": "binance", "label": "no keys", "endpoint": "sim"},
        {"exchange": "binance", "label": " ", "endpoint": "sim", "read_key": None},
        {"exchange": "binance", "label": "url", "endpoint": "http://evil.example"},
        {"exchange": "Binance!", "label": "x"},
        {"exchange": "binance", "label": "x", "read_key": {"api_key": "abcd"}},
        {"exchange": "binance", "label": "x", "surprise": 1},
    ],
    ids=["no key", "blank label", "raw url", "bad exchange id", "no secret", "unknown field"],
)
async def test_malformed_connection_requests_are_validation_problems(
    api: Api, alice: Tenant, body: dict[str, Any]
) -> None:
    headers = await alice.headers()
    answer = await api.http.post("/v1/connections", json=body, headers=headers)
    assert_problem(answer, 422, "validation_failed")
