"""Builders of the domain objects the storage contract suite stores."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tresor.domain.access import ApiClient, Scope, TokenKind, TokenRecord, User
from tresor.domain.connections import (
    RIGHTS,
    Ability,
    CapabilityReport,
    Connection,
    ConnectionStatus,
    KeyRole,
    Problem,
    StoredKey,
)
from tresor.domain.errors import KeyRefusedAmbiguously

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
# Every byte value, NUL first: ciphertexts are arbitrary bytes.
ALL_BYTES = bytes(range(256))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def user(user_id: str = "u1", name: str | None = None) -> User:
    return User(id=user_id, name=name or f"name-{user_id}", created_at=T0)


def client(client_id: str = "c1", user_id: str = "u1", **changes: Any) -> ApiClient:
    default = ApiClient(
        id=client_id,
        user_id=user_id,
        name=f"client {client_id}",
        secret_hash="scrypt$16384$8$1$c2FsdA==$aGFzaA==",
        scopes=frozenset({Scope.READ, Scope.TRADE}),
        ip_allowlist=("10.0.0.0/8", "2001:db8::1"),
        created_at=T0,
    )
    return replace(default, **changes)


def token(
    token_hash: str,
    *,
    family: str = "f1",
    kind: TokenKind = TokenKind.ACCESS,
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
) -> TokenRecord:
    return TokenRecord(
        token_hash=token_hash,
        kind=kind,
        client_id="c1",
        user_id="u1",
        scopes=frozenset({Scope.READ, Scope.ADMIN}),
        issued_at=T0,
        expires_at=expires_at or at(86_400),
        revoked_at=revoked_at,
        family=family,
    )


def report(*, failed: bool = False) -> CapabilityReport:
    if failed:
        error = KeyRefusedAmbiguously(details={"checks": ["the key", "the IP 203.0.113.7"]})
        return CapabilityReport.failed(at(5), error, clock_offset_ms=-120)
    rights = dict.fromkeys(RIGHTS, Ability.NO) | {"read": Ability.YES, "spot_trade": Ability.YES}
    rights["futures"] = Ability.UNKNOWN
    return CapabilityReport(
        checked_at=at(5),
        authenticates=Ability.YES,
        rights=rights,
        clock_offset_ms=42,
        ip_restricted=Ability.YES,
        expires_at=at(30 * 86_400),
        account_type="SPOT",
        unknown_reasons={"futures": "the exchange does not say"},
    )


WARNING = Problem(
    code="right_unknown",
    message="The exchange does not say whether this key can withdraw.",
    remedy="Check on the exchange that withdrawals are disabled for this key.",
    checks=("one", "two"),
)


def key(role: KeyRole = KeyRole.READ, **changes: Any) -> StoredKey:
    default = StoredKey(
        role=role,
        hint="abcd…wxyz",
        api_key_ct=b"\x00api-key-ct" + ALL_BYTES,
        secret_ct=ALL_BYTES[::-1],
        passphrase_ct=None,
        sealed=role is KeyRole.TRADE,
        status=ConnectionStatus.CONNECTED,
        report=report(),
        warnings=(WARNING,),
        verified_at=at(6),
    )
    return replace(default, **changes)


def connection(connection_id: str = "k1", user_id: str = "u1", **changes: Any) -> Connection:
    default = Connection(
        id=connection_id,
        user_id=user_id,
        exchange="binance",
        endpoint="sim",
        label=f"label {connection_id}",
        status=ConnectionStatus.CONNECTED,
        created_at=T0,
        updated_at=T0,
        keys=(key(KeyRole.READ), key(KeyRole.TRADE)),
    )
    return replace(default, **changes)
