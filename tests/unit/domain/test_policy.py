"""``judge``: which keys are accepted, with which status, and why the others are refused."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest

from tresor.domain.connections import (
    RIGHTS,
    Ability,
    CapabilityReport,
    ConnectionStatus,
    KeyRole,
    combine,
    judge,
    report_from_dict,
    report_to_dict,
)
from tresor.domain.errors import (
    ExchangeUnavailable,
    InvalidCredentials,
    KeyExpired,
    KeyRefusedAmbiguously,
    TradePermissionMissing,
    WithdrawPermissionEnabled,
)
from tresor.domain.secrets import Secret

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
Y, N, U = Ability.YES, Ability.NO, Ability.UNKNOWN


def report(*, expires: datetime | None = None, **rights: Ability) -> CapabilityReport:
    values = dict.fromkeys(RIGHTS, N)
    values["read"] = Y
    values.update(rights)
    return CapabilityReport(checked_at=NOW, authenticates=Y, rights=values, expires_at=expires)


@pytest.mark.parametrize("role", list(KeyRole))
def test_a_key_that_can_withdraw_is_refused_in_any_role_whatever_else_it_can_do(
    role: KeyRole,
) -> None:
    verdict = judge(report(spot_trade=Y, withdraw=Y), role, NOW)
    assert isinstance(verdict.refusal, WithdrawPermissionEnabled)
    assert verdict.status is ConnectionStatus.WITHDRAWAL_ENABLED
    assert "disable withdrawals" in verdict.refusal.remedy


def test_a_trade_key_without_trade_rights_is_refused_with_the_setting_to_enable() -> None:
    verdict = judge(report(spot_trade=N), KeyRole.TRADE, NOW)
    assert isinstance(verdict.refusal, TradePermissionMissing)
    assert verdict.status is ConnectionStatus.INSUFFICIENT_PERMISSIONS
    assert "Spot & Margin Trading" in verdict.refusal.remedy


def test_a_read_key_that_can_trade_is_accepted_with_a_least_privilege_warning() -> None:
    verdict = judge(report(spot_trade=Y), KeyRole.READ, NOW)
    assert verdict.accepted
    assert verdict.status is ConnectionStatus.CONNECTED
    assert [w.code for w in verdict.warnings] == ["read_key_can_trade"]


def test_a_plain_read_key_is_connected_without_warnings() -> None:
    verdict = judge(report(), KeyRole.READ, NOW)
    assert (verdict.status, verdict.warnings, verdict.refusal) == (
        ConnectionStatus.CONNECTED,
        (),
        None,
    )


def test_unknown_rights_are_accepted_but_said_so() -> None:
    verdict = judge(report(spot_trade=U, withdraw=U), KeyRole.TRADE, NOW)
    assert verdict.accepted
    assert {w.code for w in verdict.warnings} == {"right_unknown"}
    assert len(verdict.warnings) == 2


def test_a_key_expiring_within_a_week_is_accepted_as_expiring() -> None:
    verdict = judge(report(spot_trade=Y, expires=NOW + timedelta(days=3)), KeyRole.TRADE, NOW)
    assert verdict.accepted
    assert verdict.status is ConnectionStatus.EXPIRING
    assert verdict.warnings[-1].code == "key_expiring"


def test_a_key_whose_rights_expired_is_refused() -> None:
    verdict = judge(report(spot_trade=Y, expires=NOW - timedelta(seconds=1)), KeyRole.TRADE, NOW)
    assert isinstance(verdict.refusal, KeyExpired)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidCredentials(), ConnectionStatus.INVALID_CREDENTIALS),
        (
            KeyRefusedAmbiguously(details={"checks": ["a", "b"]}),
            ConnectionStatus.INVALID_CREDENTIALS,
        ),
        (ExchangeUnavailable(), ConnectionStatus.EXCHANGE_UNAVAILABLE),
    ],
)
def test_a_failed_check_refuses_the_key_with_the_failure_found(
    error: Exception, status: ConnectionStatus
) -> None:
    failed = CapabilityReport.failed(NOW, error)  # type: ignore[arg-type]
    verdict = judge(failed, KeyRole.READ, NOW)
    assert verdict.status is status
    assert verdict.refusal is not None
    assert verdict.refusal.code == error.code  # type: ignore[attr-defined]
    assert failed.right("withdraw") is U


def test_the_ambiguous_refusal_keeps_its_list_of_checks() -> None:
    failed = CapabilityReport.failed(NOW, KeyRefusedAmbiguously(details={"checks": ["x", "y"]}))
    verdict = judge(failed, KeyRole.TRADE, NOW)
    assert verdict.refusal is not None
    assert verdict.refusal.details["checks"] == ["x", "y"]


def test_the_most_serious_key_status_is_the_connection_status() -> None:
    assert (
        combine([ConnectionStatus.CONNECTED, ConnectionStatus.EXPIRING])
        is ConnectionStatus.EXPIRING
    )
    assert (
        combine([ConnectionStatus.CONNECTED, ConnectionStatus.IP_NOT_ALLOWED])
        is ConnectionStatus.IP_NOT_ALLOWED
    )
    assert combine([]) is ConnectionStatus.VERIFYING


def test_a_report_survives_its_json_form() -> None:
    original = report(spot_trade=Y, expires=NOW + timedelta(days=30))
    assert report_from_dict(report_to_dict(original)) == original
    failed = CapabilityReport.failed(NOW, KeyRefusedAmbiguously(details={"checks": ["c"]}), 12)
    assert report_from_dict(report_to_dict(failed)) == failed


def test_a_secret_never_shows_itself() -> None:
    secret = Secret("abcdefghijklmnopqrstuvwxyz")
    assert "abcdef" not in repr(secret)
    assert "abcdef" not in str(secret)
    assert "abcdef" not in f"{secret}"
    assert secret.hint() == "abcd…wxyz"
    assert secret.reveal() == "abcdefghijklmnopqrstuvwxyz"
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_an_expired_trading_authority_does_not_concern_a_read_key() -> None:
    lapsed = report(spot_trade=N, expires=NOW - timedelta(days=1))
    assert judge(lapsed, KeyRole.READ, NOW).status is ConnectionStatus.CONNECTED
    soon = report(spot_trade=Y, expires=NOW + timedelta(days=1))
    assert judge(soon, KeyRole.READ, NOW).status is ConnectionStatus.CONNECTED
