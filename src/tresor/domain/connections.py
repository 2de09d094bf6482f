"""Connections to exchange accounts, their keys, what those keys can do, and the policy that
decides whether a key is accepted and what status the connection shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from tresor.domain.errors import (
    ClockSkew,
    ExchangeUnavailable,
    InvalidCredentials,
    IpNotAllowed,
    KeyExpired,
    KeyRefusedAmbiguously,
    RateLimited,
    TradePermissionMissing,
    TresorError,
    WithdrawPermissionEnabled,
)
from tresor.domain.secrets import Secret

EXPIRY_WARNING = timedelta(days=7)


class KeyRole(StrEnum):
    READ = "read"  # data only
    TRADE = "trade"  # read + trade; also serves reading when it is the only key


class ConnectionStatus(StrEnum):
    CONNECTED = "connected"
    VERIFYING = "verifying"
    INVALID_CREDENTIALS = "invalid_credentials"
    INSUFFICIENT_PERMISSIONS = "insufficient_permissions"
    WITHDRAWAL_ENABLED = "withdrawal_enabled"
    IP_NOT_ALLOWED = "ip_not_allowed"
    EXCHANGE_UNAVAILABLE = "exchange_unavailable"
    RATE_LIMITED = "rate_limited"
    EXPIRING = "expiring"
    DISABLED = "disabled"


class Ability(StrEnum):
    """Whether a key has a right: the exchange said yes, said no, or cannot tell."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


RIGHTS = ("read", "spot_trade", "margin", "futures", "withdraw", "internal_transfer")


@dataclass(frozen=True)
class Credentials:
    api_key: Secret
    secret: Secret
    passphrase: Secret | None = None

    def hint(self) -> str:
        return self.api_key.hint()


@dataclass(frozen=True)
class Problem:
    """A finding about a key: an error that refuses it or a warning that does not."""

    code: str
    message: str
    remedy: str
    checks: tuple[str, ...] = ()

    @classmethod
    def of(cls, error: TresorError) -> Problem:
        checks = tuple(str(c) for c in error.details.get("checks", ()))
        return cls(code=error.code, message=error.message, remedy=error.remedy, checks=checks)


@dataclass(frozen=True)
class CapabilityReport:
    """What the exchange says a key can do, as of ``checked_at``.

    ``failure`` is set when the key could not be used at all (it did not authenticate, the
    exchange was down...); the rights are then UNKNOWN. ``unknown_reasons`` says, for each right
    marked UNKNOWN on a working key, why the exchange could not tell.
    """

    checked_at: datetime
    authenticates: Ability
    rights: dict[str, Ability]
    clock_offset_ms: int | None = None
    ip_restricted: Ability = Ability.UNKNOWN
    expires_at: datetime | None = None
    account_type: str | None = None
    unknown_reasons: dict[str, str] = field(default_factory=dict)
    failure: Problem | None = None

    def right(self, name: str) -> Ability:
        return self.rights.get(name, Ability.UNKNOWN)

    @classmethod
    def failed(
        cls, checked_at: datetime, error: TresorError, clock_offset_ms: int | None = None
    ) -> CapabilityReport:
        authenticates = (
            Ability.UNKNOWN
            if isinstance(error, ExchangeUnavailable | RateLimited | ClockSkew)
            else Ability.NO
        )
        return cls(
            checked_at=checked_at,
            authenticates=authenticates,
            rights=dict.fromkeys(RIGHTS, Ability.UNKNOWN),
            clock_offset_ms=clock_offset_ms,
            unknown_reasons=dict.fromkeys(RIGHTS, "the key could not be checked: " + error.code),
            failure=Problem.of(error),
        )


@dataclass(frozen=True)
class Verdict:
    """The policy's decision on one key: its status, the error refusing it (if any) and
    warnings that do not."""

    status: ConnectionStatus
    refusal: TresorError | None
    warnings: tuple[Problem, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.refusal is None


_FAILURE_STATUS: dict[str, ConnectionStatus] = {
    InvalidCredentials.code: ConnectionStatus.INVALID_CREDENTIALS,
    KeyRefusedAmbiguously.code: ConnectionStatus.INVALID_CREDENTIALS,
    IpNotAllowed.code: ConnectionStatus.IP_NOT_ALLOWED,
    KeyExpired.code: ConnectionStatus.INSUFFICIENT_PERMISSIONS,
    ExchangeUnavailable.code: ConnectionStatus.EXCHANGE_UNAVAILABLE,
    RateLimited.code: ConnectionStatus.RATE_LIMITED,
    ClockSkew.code: ConnectionStatus.EXCHANGE_UNAVAILABLE,
}
_FAILURE_ERROR: dict[str, type[TresorError]] = {
    cls.code: cls
    for cls in (
        InvalidCredentials,
        KeyRefusedAmbiguously,
        IpNotAllowed,
        KeyExpired,
        ExchangeUnavailable,
        RateLimited,
        ClockSkew,
    )
}

LEAST_PRIVILEGE = Problem(
    code="read_key_can_trade",
    message="This read key can also trade. Tresor will only use it to read.",
    remedy="For least privilege, disable trading on this key on the exchange.",
)
RIGHT_UNKNOWN = "right_unknown"


def judge(report: CapabilityReport, role: KeyRole, now: datetime) -> Verdict:
    """Decide whether a key in ``role`` is accepted, and the status it gives the connection.

    - A key that can withdraw is refused, whatever else is true, with no override.
    - A trade key that cannot trade is refused; a read key that can trade is accepted with a
      least-privilege warning.
    - A key that failed to authenticate is refused with the failure found.
    - A trade key whose trading rights expire within a week is accepted with status
      ``expiring``; one whose rights have expired is refused. A read key is not concerned.
    """
    if report.failure is not None:
        code = report.failure.code
        error_cls = _FAILURE_ERROR.get(code, KeyRefusedAmbiguously)
        # by keyword: RateLimited's first positional parameter is retry_after
        error = error_cls(
            message=report.failure.message,
            remedy=report.failure.remedy,
            details={"checks": list(report.failure.checks)},
        )
        return Verdict(_FAILURE_STATUS.get(code, ConnectionStatus.INVALID_CREDENTIALS), error)
    if report.right("withdraw") is Ability.YES:
        return Verdict(ConnectionStatus.WITHDRAWAL_ENABLED, WithdrawPermissionEnabled())
    warnings: list[Problem] = []
    trade = report.right("spot_trade")
    if role is KeyRole.TRADE and trade is Ability.NO:
        return Verdict(ConnectionStatus.INSUFFICIENT_PERMISSIONS, TradePermissionMissing())
    if role is KeyRole.TRADE and trade is Ability.UNKNOWN:
        warnings.append(
            Problem(
                code=RIGHT_UNKNOWN,
                message="The exchange does not say whether this key can trade.",
                remedy="Make sure spot trading is enabled on the key; orders will fail otherwise.",
            )
        )
    if role is KeyRole.READ and trade is Ability.YES:
        warnings.append(LEAST_PRIVILEGE)
    if report.right("withdraw") is Ability.UNKNOWN:
        warnings.append(
            Problem(
                code=RIGHT_UNKNOWN,
                message="The exchange does not say whether this key can withdraw.",
                remedy="Check on the exchange that withdrawals are disabled for this key.",
            )
        )
    # the expiry is of the key's *trading* rights (Binance's trading authority): it ends what a
    # trade key is for, but a read key reads on
    if report.expires_at is not None and role is KeyRole.TRADE:
        if report.expires_at <= now:
            return Verdict(ConnectionStatus.INSUFFICIENT_PERMISSIONS, KeyExpired())
        if report.expires_at - now <= EXPIRY_WARNING:
            warnings.append(
                Problem(
                    code="key_expiring",
                    message=f"The key's trading rights expire on {report.expires_at:%Y-%m-%d}.",
                    remedy="Renew it on the exchange before then, or rotate to a new key.",
                )
            )
            return Verdict(ConnectionStatus.EXPIRING, None, tuple(warnings))
    return Verdict(ConnectionStatus.CONNECTED, None, tuple(warnings))


def combine(statuses: list[ConnectionStatus]) -> ConnectionStatus:
    """One status for a connection with several keys: the most serious one wins."""
    order = [
        ConnectionStatus.DISABLED,
        ConnectionStatus.WITHDRAWAL_ENABLED,
        ConnectionStatus.INVALID_CREDENTIALS,
        ConnectionStatus.IP_NOT_ALLOWED,
        ConnectionStatus.INSUFFICIENT_PERMISSIONS,
        ConnectionStatus.EXCHANGE_UNAVAILABLE,
        ConnectionStatus.RATE_LIMITED,
        ConnectionStatus.VERIFYING,
        ConnectionStatus.EXPIRING,
        ConnectionStatus.CONNECTED,
    ]
    if not statuses:
        return ConnectionStatus.VERIFYING
    return min(statuses, key=order.index)


@dataclass(frozen=True)
class ExchangeTarget:
    """Where a connection's requests go: a ccxt exchange id and, for an operator-configured
    endpoint (a simulator or a testnet), its base URL."""

    exchange: str
    endpoint: str | None = None
    url: str | None = None
    weight_per_minute: int | None = None  # the request-weight limit, when not the exchange's own
    orders_per_10s: int | None = None  # the order-rate limit per account, likewise


@dataclass(frozen=True)
class StoredKey:
    """One key of a connection as stored: encrypted fields and the latest findings.

    ``api_key_ct``/``secret_ct``/``passphrase_ct`` are vault ciphertexts bound to the
    connection, the role and the field. A trade key's fields are sealed to the trading worker
    first (``sealed``), so a process without the worker's private key cannot read them.
    """

    role: KeyRole
    hint: str
    api_key_ct: bytes
    secret_ct: bytes
    passphrase_ct: bytes | None
    sealed: bool
    status: ConnectionStatus
    report: CapabilityReport | None = None
    warnings: tuple[Problem, ...] = ()
    verified_at: datetime | None = None


@dataclass(frozen=True)
class Connection:
    id: str
    user_id: str
    exchange: str
    endpoint: str | None
    label: str
    status: ConnectionStatus
    created_at: datetime
    updated_at: datetime
    keys: tuple[StoredKey, ...] = ()

    def key(self, role: KeyRole) -> StoredKey | None:
        return next((k for k in self.keys if k.role is role), None)

    @property
    def reading_key(self) -> StoredKey | None:
        """The key used to read: the read key, or the trade key when it is the only one."""
        return self.key(KeyRole.READ) or self.key(KeyRole.TRADE)


def problem_to_dict(problem: Problem) -> dict[str, object]:
    return {
        "code": problem.code,
        "message": problem.message,
        "remedy": problem.remedy,
        "checks": list(problem.checks),
    }


def problem_from_dict(data: dict[str, object]) -> Problem:
    checks = data.get("checks") or []
    return Problem(
        code=str(data["code"]),
        message=str(data["message"]),
        remedy=str(data["remedy"]),
        checks=tuple(str(c) for c in checks) if isinstance(checks, list) else (),
    )


def report_to_dict(report: CapabilityReport) -> dict[str, object]:
    """A JSON-ready form of a report (for storage and for the API)."""
    return {
        "checked_at": report.checked_at.isoformat(),
        "authenticates": report.authenticates.value,
        "rights": {name: report.right(name).value for name in RIGHTS},
        "clock_offset_ms": report.clock_offset_ms,
        "ip_restricted": report.ip_restricted.value,
        "expires_at": report.expires_at.isoformat() if report.expires_at else None,
        "account_type": report.account_type,
        "unknown_reasons": dict(report.unknown_reasons),
        "failure": problem_to_dict(report.failure) if report.failure else None,
    }


def report_from_dict(data: dict[str, object]) -> CapabilityReport:
    rights = data.get("rights")
    reasons = data.get("unknown_reasons")
    failure = data.get("failure")
    offset = data.get("clock_offset_ms")
    expires = data.get("expires_at")
    account_type = data.get("account_type")
    return CapabilityReport(
        checked_at=datetime.fromisoformat(str(data["checked_at"])),
        authenticates=Ability(str(data["authenticates"])),
        rights={str(k): Ability(str(v)) for k, v in rights.items()}
        if isinstance(rights, dict)
        else {},
        clock_offset_ms=int(offset) if isinstance(offset, int) else None,
        ip_restricted=Ability(str(data.get("ip_restricted", "unknown"))),
        expires_at=datetime.fromisoformat(expires) if isinstance(expires, str) else None,
        account_type=str(account_type) if account_type is not None else None,
        unknown_reasons={str(k): str(v) for k, v in reasons.items()}
        if isinstance(reasons, dict)
        else {},
        failure=problem_from_dict(failure) if isinstance(failure, dict) else None,
    )


@dataclass(frozen=True)
class SealedCredentials:
    """Trade-key fields sealed to the trading worker: readable only where its private key is."""

    api_key: bytes
    secret: bytes
    passphrase: bytes | None = None


def field_context(connection_id: str, role: KeyRole, field_name: str) -> str:
    """What a stored key field's ciphertext is bound to: its connection, role and field."""
    return f"connection:{connection_id}:{role.value}:{field_name}"
