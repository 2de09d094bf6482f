"""Signing in to the web dashboard: browser sessions, their policy, CSRF tokens, two-factor
state and a user's preferences.

A web session is server-side: the browser holds an opaque random token (in a cookie), the
database holds only its SHA-256 hash and the session's times. Its CSRF token is derived from the
session token (``csrf_token_for``), so it needs no storage and cannot be computed without the
cookie. A signed-in browser acts for its user with every scope (``session_principal``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from tresor.domain.access import Principal, Scope
from tresor.domain.errors import ValidationFailed, WeakPassword
from tresor.domain.secrets import Secret

SESSION_CLIENT_PREFIX = "session:"
_CSRF_LABEL = b"tresor/web/csrf/v1"
_QUOTE = re.compile(r"[A-Z0-9]{2,10}")


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser. ``ip`` is the address it was last seen from."""

    id: str
    user_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str
    user_agent: str
    ended_at: datetime | None = None

    def usable(self, now: datetime, idle: timedelta) -> bool:
        """Not ended, not past its absolute end, not idle for longer than ``idle``."""
        return self.ended_at is None and now < self.expires_at and now - self.last_seen_at <= idle


@dataclass(frozen=True)
class Preferences:
    quote: str = "USD"  # the currency values are shown in
    timezone: str = "UTC"  # an IANA zone name, for showing times


@dataclass(frozen=True)
class SignedIn:
    """What a successful sign-in gives the browser: the session token (for the cookie, shown
    nowhere else), its CSRF token and the session."""

    token: Secret
    csrf_token: str
    session: WebSession


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=30)  # a session unused this long has ended
    absolute: timedelta = timedelta(hours=12)  # and every session ends this long after sign-in
    touch_every: timedelta = timedelta(seconds=60)  # last_seen_at is written at most this often
    max_failures_per_account: int = 5
    max_failures_per_ip: int = 20
    failure_window: timedelta = timedelta(minutes=15)
    password_min_length: int = 10
    password_max_length: int = 1024
    recovery_codes: int = 10


@dataclass(frozen=True)
class TwoFactor:
    """A user's TOTP two-factor state. Secrets are vault ciphertexts (context
    ``totp_context(user_id)``): ``secret_ct`` is the confirmed secret (two-factor is on),
    ``pending_ct`` one being set up and not confirmed yet. ``last_counter`` is the 30-second
    step of the last accepted code: a code of that step or an earlier one is refused (replay).
    Recovery codes are kept by the storage beside this, as hashes."""

    user_id: str
    updated_at: datetime
    secret_ct: bytes | None = None
    pending_ct: bytes | None = None
    last_counter: int | None = None

    @property
    def enabled(self) -> bool:
        return self.secret_ct is not None


def totp_context(user_id: str) -> str:
    """The vault context a user's TOTP secret is bound to."""
    return f"user:{user_id}:totp"


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 keyed by the session token over a fixed label,
    in hex."""
    return hmac.new(session_token.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def check_csrf(session_token: str, presented: str) -> bool:
    """Whether ``presented`` is the CSRF token of ``session_token`` (in constant time)."""
    return hmac.compare_digest(csrf_token_for(session_token).encode(), presented.encode())


def all_scopes() -> frozenset[Scope]:
    return frozenset(Scope)


def session_principal(session: WebSession) -> Principal:
    """Who a signed-in browser is: its user, with every scope."""
    return Principal(
        user_id=session.user_id,
        client_id=SESSION_CLIENT_PREFIX + session.id,
        scopes=all_scopes(),
    )


def check_password(password: Secret, policy: SessionPolicy) -> None:
    """Raises: WeakPassword for a password shorter than the policy's minimum, longer than its
    maximum, or of white space only."""
    value = password.reveal()
    if len(value) > policy.password_max_length:
        raise WeakPassword(
            f"A password may have at most {policy.password_max_length} characters.",
            remedy="Choose a shorter passphrase.",
        )
    if len(value) < policy.password_min_length or not value.strip():
        raise WeakPassword(
            f"A password needs at least {policy.password_min_length} characters.",
            remedy=(
                f"Choose a passphrase of {policy.password_min_length} characters or more, "
                "for example a few unrelated words; a password manager can make one."
            ),
        )


def checked_preferences(*, quote: str, timezone: str) -> Preferences:
    """Raises: ValidationFailed for a quote that is not 2 to 10 capital letters or digits, or a
    time zone that is not an IANA zone name."""
    quote = quote.strip()
    timezone = timezone.strip()
    if not _QUOTE.fullmatch(quote):
        raise ValidationFailed(
            f"{quote[:20]!r} is not a currency code.",
            remedy="Give 2 to 10 capital letters or digits, for example USD, EUR or USDT.",
        )
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationFailed(
            f"{timezone[:64]!r} is not a time zone.",
            remedy="Give an IANA time zone name, e.g. UTC, Europe/Paris or America/New_York.",
        ) from None
    return Preferences(quote=quote, timezone=timezone)
