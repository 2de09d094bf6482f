"""Signing in to the dashboard: password hashing, one-time codes, and the repositories of
passwords, web sessions, two-factor state and preferences (part of the ``UnitOfWork``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from tresor.domain.accounts import Preferences, TwoFactor, WebSession


class PasswordHasher(Protocol):
    """A slow, salted password hash (Argon2). Both calls take CPU time: run them off the event
    loop."""

    def hash(self, password: str) -> str: ...

    def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """Whether ``password`` matches, and a new hash to store when the match was made under
        other parameters than the current ones (else None). A hash it does not recognise does
        not match."""
        ...


class OneTimeCodes(Protocol):
    """TOTP (RFC 6238): 6 digits, 30-second steps."""

    def new_secret(self) -> str:
        """A new random secret (base32), for an authenticator app."""
        ...

    def provisioning_uri(self, secret: str, account: str, issuer: str) -> str:
        """The ``otpauth://`` URI an authenticator app reads (as a QR code)."""
        ...

    def verify(self, secret: str, code: str, at: datetime) -> int | None:
        """The 30-second step (counter) whose code ``code`` is, within one step of ``at``
        either way; None if it is none of them."""
        ...


class PasswordRepository(Protocol):
    """Password hashes by user."""

    async def get(self, user_id: str) -> str | None: ...

    async def set(self, user_id: str, password_hash: str, at: datetime) -> None:
        """Store (or replace) the user's hash. Raises ``ValueError`` for an unknown user."""
        ...


class SessionRepository(Protocol):
    """Web sessions, found by the SHA-256 hash of their token (the token is never stored)."""

    async def add(self, session: WebSession, token_hash: str) -> None:
        """Raises ``ValueError`` if the id or the token hash is taken, or the user unknown."""
        ...

    async def by_token(self, token_hash: str) -> WebSession | None: ...

    async def get(self, session_id: str, user_id: str) -> WebSession | None:
        """The session if it exists *and belongs to* ``user_id``."""
        ...

    async def touch(self, session_id: str, at: datetime, ip: str) -> None:
        """Record that the session was seen at ``at`` from ``ip``."""
        ...

    async def end(self, session_id: str, at: datetime) -> bool:
        """End the session (if it has not ended yet); whether this call ended it."""
        ...

    async def end_all(self, user_id: str, at: datetime, *, keep: str | None = None) -> int:
        """End every session of the user not ended yet, except ``keep``; how many."""
        ...

    async def active(
        self, user_id: str, *, now: datetime, seen_since: datetime
    ) -> Sequence[WebSession]:
        """The user's sessions not ended, not expired at ``now`` and seen at or after
        ``seen_since``, newest first."""
        ...

    async def purge(self, before: datetime) -> int:
        """Delete the sessions that expired or ended before ``before``; how many."""
        ...


class TwoFactorRepository(Protocol):
    """Two-factor state and recovery codes (stored as hashes, each usable once)."""

    async def get(self, user_id: str) -> TwoFactor | None: ...

    async def save(self, state: TwoFactor) -> None:
        """Store (or replace) the user's state. Raises ``ValueError`` for an unknown user."""
        ...

    async def delete(self, user_id: str) -> bool:
        """Forget the state and the recovery codes; whether there was a state."""
        ...

    async def use_counter(self, user_id: str, counter: int) -> bool:
        """Move ``last_counter`` to ``counter`` if it is higher (or unset) and two-factor is
        on; False (and nothing changed) otherwise: that step's code was already used."""
        ...

    async def set_recovery_codes(self, user_id: str, code_hashes: Sequence[str]) -> None:
        """Replace the user's recovery codes."""
        ...

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        """Delete the code if the user has it; whether they had it."""
        ...

    async def recovery_codes_left(self, user_id: str) -> int: ...

    async def user_ids(self) -> Sequence[str]:
        """Every user with a two-factor state, ordered (for key rotation)."""
        ...


class PreferencesRepository(Protocol):
    async def get(self, user_id: str) -> Preferences | None: ...

    async def set(self, user_id: str, preferences: Preferences) -> None:
        """Store (or replace) them. Raises ``ValueError`` for an unknown user."""
        ...
