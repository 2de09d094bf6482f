"""Users, API clients and their scopes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tresor.domain.errors import InsufficientScope, InvalidScope


class Scope(StrEnum):
    READ = "read"
    TRADE = "trade"
    ADMIN = "admin"


def parse_scopes(text: str | None, allowed: frozenset[Scope] | None = None) -> frozenset[Scope]:
    """``"read trade"`` or ``"read,trade"`` into scopes; unknown names are an error. With
    ``allowed``, asking for more than allowed is an error too; asking for nothing gives all of
    ``allowed``."""
    names = [n for n in (text or "").replace(",", " ").split() if n]
    try:
        scopes = frozenset(Scope(n) for n in names)
    except ValueError:
        raise InvalidScope(
            f"Unknown scope in {text!r}.", remedy="Use read, trade and/or admin."
        ) from None
    if allowed is not None:
        if not scopes:
            return allowed
        extra = scopes - allowed
        if extra:
            raise InvalidScope(
                f"This client may not have the scope(s): {', '.join(sorted(extra))}.",
                remedy=f"Ask only for: {', '.join(sorted(allowed))}.",
            )
    return scopes


def format_scopes(scopes: frozenset[Scope]) -> str:
    return " ".join(sorted(s.value for s in scopes))


@dataclass(frozen=True)
class User:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ApiClient:
    """An OAuth2 client of one user. ``secret_hash`` is a hash; the secret is shown once."""

    id: str
    user_id: str
    name: str
    secret_hash: str
    scopes: frozenset[Scope]
    ip_allowlist: tuple[str, ...]
    created_at: datetime
    disabled: bool = False


class TokenKind(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True)
class TokenRecord:
    """An issued token, stored by the hash of its value (the value itself is never stored)."""

    token_hash: str
    kind: TokenKind
    client_id: str
    user_id: str
    scopes: frozenset[Scope]
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    family: str = ""  # access and refresh tokens issued together share a family

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user a token acts for, its client and its scopes."""

    user_id: str
    client_id: str
    scopes: frozenset[Scope]

    def has(self, scope: Scope) -> bool:
        """Scopes are independent: ``admin`` does not imply ``trade``."""
        return scope in self.scopes

    def require(self, scope: Scope) -> None:
        """The one scope check of every caller, token or dashboard session.

        Raises: InsufficientScope."""
        if scope not in self.scopes:
            raise InsufficientScope(
                f"This needs the '{scope.value}' scope.",
                remedy=f"Request a token with scope '{scope.value}'.",
            )
