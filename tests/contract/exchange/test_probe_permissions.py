"""The capability report of every permission combination and every key failure the simulated
Binance can produce, through ``CcxtGateway.probe`` and the unmodified async ccxt client, and
the policy's verdict on it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from tests.contract.exchange.conftest import (
    EGRESS_IPS,
    FUNDS,
    Prober,
    credentials,
    target,
)
from tests.support.simclient import READ_ONLY, TRADE, SimAdmin
from tresor.adapters.exchange import CcxtGateway
from tresor.domain.connections import (
    RIGHTS,
    Ability,
    CapabilityReport,
    ConnectionStatus,
    KeyRole,
    judge,
)

YES, NO, UNKNOWN = Ability.YES, Ability.NO, Ability.UNKNOWN


def rights(report: CapabilityReport) -> dict[str, Ability]:
    return {name: report.right(name) for name in RIGHTS}


def now() -> datetime:
    return datetime.now(UTC)


def assert_refused_ambiguously(report: CapabilityReport) -> None:
    assert report.failure is not None
    assert report.failure.code == "key_refused"
    assert report.authenticates is NO
    checks = report.failure.checks
    assert len(checks) == 4
    assert "copied exactly" in checks[0]
    assert "deleted" in checks[1]
    assert all(ip in checks[2] for ip in EGRESS_IPS)
    assert "permission" in checks[3]
    assert set(rights(report).values()) == {UNKNOWN}


async def test_read_only_key_reads_and_nothing_else(probe: Prober) -> None:
    report, _ = await probe(permissions=READ_ONLY)
    assert report.failure is None
    assert report.authenticates is YES
    assert rights(report) == {
        "read": YES,
        "spot_trade": NO,
        "margin": NO,
        "futures": NO,
        "withdraw": NO,
        "internal_transfer": NO,
    }
    assert report.ip_restricted is NO
    assert report.account_type == "SPOT"
    assert report.expires_at is None
    assert report.unknown_reasons == {}
    assert judge(report, KeyRole.READ, now()).status is ConnectionStatus.CONNECTED
    verdict = judge(report, KeyRole.TRADE, now())
    assert verdict.refusal is not None
    assert verdict.refusal.code == "trade_permission_missing"


async def test_trade_key_reports_spot_trading(probe: Prober) -> None:
    report, _ = await probe(permissions=TRADE)
    assert rights(report)["read"] is YES
    assert rights(report)["spot_trade"] is YES
    assert rights(report)["withdraw"] is NO
    assert judge(report, KeyRole.TRADE, now()).status is ConnectionStatus.CONNECTED
    read_verdict = judge(report, KeyRole.READ, now())
    assert read_verdict.accepted
    assert [w.code for w in read_verdict.warnings] == ["read_key_can_trade"]


async def test_withdraw_enabled_key_is_reported_and_refused(probe: Prober) -> None:
    report, _ = await probe(permissions={**TRADE, "enableWithdrawals": True})
    assert report.right("withdraw") is YES
    for role in KeyRole:
        verdict = judge(report, role, now())
        assert verdict.status is ConnectionStatus.WITHDRAWAL_ENABLED
        assert verdict.refusal is not None
        assert verdict.refusal.code == "withdraw_permission_enabled"


@pytest.mark.parametrize(
    ("flag", "right"),
    [
        ("enableMargin", "margin"),
        ("enableFutures", "futures"),
        ("enableInternalTransfer", "internal_transfer"),
        ("permitsUniversalTransfer", "internal_transfer"),
    ],
)
async def test_extra_binance_flags_are_reported_as_rights(
    probe: Prober, flag: str, right: str
) -> None:
    report, _ = await probe(permissions={**TRADE, flag: True})
    assert report.right(right) is YES
    assert report.right("withdraw") is NO


async def test_ip_restricted_key_that_allows_this_ip_reports_the_restriction(
    probe: Prober,
) -> None:
    report, _ = await probe(permissions=TRADE, ip_whitelist=["127.0.0.1"])
    assert report.failure is None
    assert report.ip_restricted is YES


async def test_ip_allow_list_without_tresor_is_an_ambiguous_refusal_naming_the_egress_ips(
    probe: Prober,
) -> None:
    report, _ = await probe(permissions=TRADE, ip_whitelist=["198.51.100.1"])
    assert_refused_ambiguously(report)
    verdict = judge(report, KeyRole.TRADE, now())
    assert verdict.refusal is not None
    assert verdict.refusal.code == "key_refused"


async def test_wrong_secret_is_invalid_credentials(sim: SimAdmin, gateway: CcxtGateway) -> None:
    key = sim.key(sim.account(FUNDS))
    forged = {**key, "secret": secrets.token_hex(32)}
    report = await gateway.probe(target(sim), credentials(forged))
    assert report.failure is not None
    assert report.failure.code == "invalid_credentials"
    assert "secret" in report.failure.message
    assert report.authenticates is NO
    assert judge(report, KeyRole.READ, now()).status is ConnectionStatus.INVALID_CREDENTIALS


async def test_unknown_key_is_an_ambiguous_refusal(sim: SimAdmin, gateway: CcxtGateway) -> None:
    unknown = {"api_key": secrets.token_hex(32), "secret": secrets.token_hex(32)}
    report = await gateway.probe(target(sim), credentials(unknown))
    assert_refused_ambiguously(report)


async def test_malformed_key_is_invalid_credentials(sim: SimAdmin, gateway: CcxtGateway) -> None:
    malformed = {"api_key": "not a key", "secret": secrets.token_hex(32)}
    report = await gateway.probe(target(sim), credentials(malformed))
    assert report.failure is not None
    assert report.failure.code == "invalid_credentials"


async def test_revoked_key_is_an_ambiguous_refusal(sim: SimAdmin, gateway: CcxtGateway) -> None:
    key = sim.key(sim.account(FUNDS))
    assert (await gateway.probe(target(sim), credentials(key))).failure is None
    sim.revoke(key["api_key"])
    report = await gateway.probe(target(sim), credentials(key))
    assert_refused_ambiguously(report)


async def test_key_without_reading_is_an_ambiguous_refusal(probe: Prober) -> None:
    report, _ = await probe(permissions={"enableReading": False})
    assert_refused_ambiguously(report)


async def test_trading_rights_expired_in_the_past_refuse_a_trade_key(
    sim: SimAdmin, probe: Prober
) -> None:
    expired = now() - timedelta(hours=1)
    report, _ = await probe(permissions=TRADE, trading_expiration=int(expired.timestamp() * 1000))
    assert report.failure is None
    assert report.expires_at is not None
    assert abs(report.expires_at - expired) < timedelta(seconds=1)
    verdict = judge(report, KeyRole.TRADE, now())
    assert verdict.status is ConnectionStatus.INSUFFICIENT_PERMISSIONS
    assert verdict.refusal is not None
    assert verdict.refusal.code == "key_expired"


async def test_trading_rights_expiring_within_a_week_are_accepted_as_expiring(
    probe: Prober,
) -> None:
    soon = now() + timedelta(days=3)
    report, _ = await probe(permissions=TRADE, trading_expiration=int(soon.timestamp() * 1000))
    assert report.expires_at is not None
    assert abs(report.expires_at - soon) < timedelta(seconds=1)
    verdict = judge(report, KeyRole.TRADE, now())
    assert verdict.accepted
    assert verdict.status is ConnectionStatus.EXPIRING
    assert "key_expiring" in [w.code for w in verdict.warnings]


async def test_clock_offset_of_a_healthy_key_is_small(probe: Prober) -> None:
    report, _ = await probe(permissions=TRADE)
    assert report.clock_offset_ms is not None
    assert abs(report.clock_offset_ms) < 1000
