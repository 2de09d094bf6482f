"""Keys, storage and time: the clock, the vault and key sealing, the repositories and the
unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from tresor.domain.access import ApiClient, TokenRecord, User
from tresor.domain.connections import (
    CapabilityReport,
    Connection,
    ConnectionStatus,
    Credentials,
    ExchangeTarget,
    KeyRole,
    SealedCredentials,
)
from tresor.domain.secrets import Secret
from tresor.services.ports.accounts import (
    PasswordRepository,
    PreferencesRepository,
    SessionRepository,
    TwoFactorRepository,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class ExchangeGateway(Protocol):
    """The only way to an exchange. It has an allow-list of read and trade calls and no path to
    withdrawals or transfers."""

    def supports(self, exchange: str) -> bool:
        """Whether ``exchange`` is a ccxt exchange id Tresor can connect to."""
        ...

    async def probe(self, target: ExchangeTarget, credentials: Credentials) -> CapabilityReport:
        """Authenticate with the key and report what it can do. Never raises for a bad key:
        failures are in the report's ``failure``."""
        ...


class Vault(Protocol):
    """Envelope encryption: each value under its own data key, wrapped by the master key, the
    ciphertext bound to ``context`` (table, row, field) so it cannot be moved elsewhere."""

    def encrypt(self, plaintext: bytes, *, context: str) -> bytes: ...

    def decrypt(self, blob: bytes, *, context: str) -> bytes:
        """Raises ``ValueError`` if the blob was tampered with or moved to another context."""
        ...

    def rewrap(self, blob: bytes, *, context: str) -> bytes:
        """The same value with its data key wrapped by the current master key."""
        ...


class TradeKeySealer(Protocol):
    """Seals trade-key fields to the trading worker's public key (any process can seal)."""

    def seal(self, plaintext: Secret, *, context: str) -> bytes: ...


class TradeKeyOpener(Protocol):
    """Opens sealed trade-key fields: only the trading worker holds one."""

    def open(self, sealed: bytes, *, context: str) -> Secret: ...


class SealedKeyVerifier(Protocol):
    """Verifies a sealed trade key where it can be opened (the trading worker) and returns the
    exchange's report; the caller never sees the clear key."""

    async def verify(
        self, target: ExchangeTarget, sealed: SealedCredentials, *, connection_id: str
    ) -> CapabilityReport | None:
        """The report, or None when verification is left to a worker (status verifying)."""
        ...


class UserRepository(Protocol):
    async def add(self, user: User) -> None: ...
    async def get(self, user_id: str) -> User | None: ...
    async def by_name(self, name: str) -> User | None: ...


class ClientRepository(Protocol):
    async def add(self, client: ApiClient) -> None: ...
    async def get(self, client_id: str) -> ApiClient | None: ...
    async def for_user(self, user_id: str) -> Sequence[ApiClient]: ...
    async def disable(self, client_id: str, user_id: str) -> bool:
        """Disable the client if it belongs to ``user_id``; whether it does."""
        ...


class TokenRepository(Protocol):
    async def add(self, token: TokenRecord) -> None: ...
    async def get(self, token_hash: str) -> TokenRecord | None: ...
    async def revoke_family(self, family: str, at: datetime) -> int: ...
    async def revoke(self, token_hash: str, at: datetime) -> bool: ...
    async def revoke_for_client(self, client_id: str, at: datetime) -> int:
        """Revoke every token of the client not revoked yet; how many."""
        ...

    async def purge_expired(self, before: datetime) -> int: ...


class AttemptRepository(Protocol):
    """Failed authentication attempts, for throttling (by client id and by IP)."""

    async def record_failure(self, key: str, at: datetime) -> None: ...
    async def failures_since(self, key: str, since: datetime) -> int: ...
    async def clear(self, key: str) -> None: ...


class ConnectionRepository(Protocol):
    async def add(self, connection: Connection) -> None: ...
    async def get(self, connection_id: str, user_id: str) -> Connection | None:
        """The connection if it exists *and belongs to* ``user_id``; otherwise None."""
        ...

    async def for_user(self, user_id: str) -> Sequence[Connection]: ...
    async def by_label(self, user_id: str, label: str) -> Connection | None: ...
    async def count_for_user(self, user_id: str) -> int: ...
    async def update(self, connection: Connection) -> None:
        """Replace the stored connection (and its keys) with ``connection``."""
        ...

    async def delete(self, connection_id: str, user_id: str) -> bool: ...
    async def owner_of(self, connection_id: str) -> str | None:
        """The user a connection belongs to (for jobs that start from a connection id)."""
        ...

    async def all_ids(self) -> Sequence[tuple[str, str]]:
        """Every (connection id, user id): for maintenance such as key rotation."""
        ...

    async def with_key_status(
        self, role: KeyRole, status: ConnectionStatus
    ) -> Sequence[tuple[str, str]]:
        """(connection id, user id) of every connection whose ``role`` key has ``status``,
        ordered by connection id (the worker's pending trade keys: one query, not one read per
        connection)."""
        ...


class UnitOfWork(Protocol):
    """One transaction: ``async with uow: ...; await uow.commit()``. Leaving the block without
    committing rolls back."""

    users: UserRepository
    clients: ClientRepository
    tokens: TokenRepository
    attempts: AttemptRepository
    connections: ConnectionRepository
    passwords: PasswordRepository
    sessions: SessionRepository
    two_factor: TwoFactorRepository
    preferences: PreferencesRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        """A new unit of work. ``read_only``: it will not write, so it need not wait for other
        writers (on SQLite, where a unit of work that may write takes the write lock first)."""
        ...
