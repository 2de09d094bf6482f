"""Value conversions shared by the SQL repositories and the in-memory fake, so both store and
return exactly the same thing (standard library and domain only: no SQLAlchemy here).

- Times must be timezone-aware (a naive time is a bug and raises ``ValueError``); they come
  back in UTC.
- Capability reports and warnings are stored as JSON documents (``report_to_dict``), so what
  comes back is what survives JSON.
- A connection's keys come back ordered by role; two keys with the same role are refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from tresor.domain.access import ApiClient, Scope, TokenRecord, User, format_scopes
from tresor.domain.connections import (
    CapabilityReport,
    Connection,
    Problem,
    StoredKey,
    problem_from_dict,
    problem_to_dict,
    report_from_dict,
    report_to_dict,
)


def utc(value: datetime, what: str) -> datetime:
    """``value`` in UTC. Raises ``ValueError`` for a naive datetime."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} is a naive datetime: pass a timezone-aware time")
    return value.astimezone(UTC)


def utc_or_none(value: datetime | None, what: str) -> datetime | None:
    return None if value is None else utc(value, what)


def scopes_to_text(scopes: frozenset[Scope]) -> str:
    return format_scopes(scopes)


def scopes_from_text(text: str) -> frozenset[Scope]:
    return frozenset(Scope(name) for name in text.split())


def report_to_json(report: CapabilityReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    document: dict[str, Any] = json.loads(json.dumps(report_to_dict(report)))
    return document


def report_from_json(document: dict[str, Any] | None) -> CapabilityReport | None:
    return None if document is None else report_from_dict(document)


def warnings_to_json(warnings: Iterable[Problem]) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = json.loads(json.dumps([problem_to_dict(w) for w in warnings]))
    return documents


def warnings_from_json(documents: Iterable[dict[str, Any]]) -> tuple[Problem, ...]:
    return tuple(problem_from_dict(d) for d in documents)


def ordered_keys(keys: Iterable[StoredKey]) -> tuple[StoredKey, ...]:
    """The keys ordered by role. Raises ``ValueError`` if a role appears twice."""
    ordered = tuple(sorted(keys, key=lambda k: k.role.value))
    roles = [k.role for k in ordered]
    if len(set(roles)) != len(roles):
        raise ValueError("a connection has at most one key per role")
    return ordered


# -- what a stored object looks like when it comes back (used by the in-memory fake) ----------
def stored_user(user: User) -> User:
    return replace(user, created_at=utc(user.created_at, "created_at"))


def stored_client(client: ApiClient) -> ApiClient:
    return replace(
        client,
        scopes=scopes_from_text(scopes_to_text(client.scopes)),
        ip_allowlist=tuple(client.ip_allowlist),
        created_at=utc(client.created_at, "created_at"),
    )


def stored_token(token: TokenRecord) -> TokenRecord:
    return replace(
        token,
        scopes=scopes_from_text(scopes_to_text(token.scopes)),
        issued_at=utc(token.issued_at, "issued_at"),
        expires_at=utc(token.expires_at, "expires_at"),
        revoked_at=utc_or_none(token.revoked_at, "revoked_at"),
    )


def stored_key(key: StoredKey) -> StoredKey:
    return replace(
        key,
        api_key_ct=bytes(key.api_key_ct),
        secret_ct=bytes(key.secret_ct),
        passphrase_ct=None if key.passphrase_ct is None else bytes(key.passphrase_ct),
        report=report_from_json(report_to_json(key.report)),
        warnings=warnings_from_json(warnings_to_json(key.warnings)),
        verified_at=utc_or_none(key.verified_at, "verified_at"),
    )


def stored_connection(connection: Connection) -> Connection:
    return replace(
        connection,
        created_at=utc(connection.created_at, "created_at"),
        updated_at=utc(connection.updated_at, "updated_at"),
        keys=tuple(stored_key(k) for k in ordered_keys(connection.keys)),
    )
