"""In-memory implementations of the storage ports, for fast service tests.

``MemoryStore`` holds the committed state; each ``MemoryUnitOfWork`` works on its own copy of
it, taken when the block is entered. ``commit`` merges what this unit of work changed (row by
row, like a database) into the committed state and checks the constraints the SQL schema has;
leaving without commit, or ``rollback``, throws the copy away. Values go through the same
conversions as the SQL repositories (``convert``), so what comes back is the same: UTC times,
JSON-shaped reports, keys ordered by role. The shared contract suite
(tests/contract/storage) runs against this fake and both databases.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

from tresor.adapters.db.convert import (
    stored_client,
    stored_connection,
    stored_token,
    stored_user,
    utc,
)
from tresor.adapters.db.memory_accounts import (
    AccountTables,
    MemoryPasswordRepository,
    MemoryPreferencesRepository,
    MemorySessionRepository,
    MemoryTwoFactorRepository,
)
from tresor.domain.access import ApiClient, TokenRecord, User
from tresor.domain.connections import Connection, ConnectionStatus, KeyRole
from tresor.domain.errors import DuplicateLabel, NotFound, ValidationFailed
from tresor.services.ports import (
    AttemptRepository,
    ClientRepository,
    ConnectionRepository,
    PasswordRepository,
    PreferencesRepository,
    SessionRepository,
    TokenRepository,
    TwoFactorRepository,
    UserRepository,
)

if TYPE_CHECKING:
    from tresor.services.ports import UnitOfWorkFactory

_K = TypeVar("_K")
_V = TypeVar("_V")


@dataclass
class _Tables:
    users: dict[str, User] = field(default_factory=dict)
    clients: dict[str, ApiClient] = field(default_factory=dict)
    tokens: dict[str, TokenRecord] = field(default_factory=dict)
    attempts: dict[int, tuple[str, datetime]] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    accounts: AccountTables = field(default_factory=AccountTables)  # passwords, sessions ...

    def copy(self) -> _Tables:
        return _Tables(
            dict(self.users),
            dict(self.clients),
            dict(self.tokens),
            dict(self.attempts),
            dict(self.connections),
            self.accounts.copy(),
        )

    def reset_to(self, other: _Tables) -> None:
        """Become a copy of ``other``, in place (the repositories keep their dicts)."""
        _refill(self.users, other.users)
        _refill(self.clients, other.clients)
        _refill(self.tokens, other.tokens)
        _refill(self.attempts, other.attempts)
        _refill(self.connections, other.connections)
        for mine, theirs in zip(self.accounts.tables(), other.accounts.tables(), strict=True):
            _refill(mine, theirs)

    def check(self) -> None:
        """The schema's constraints: unique user names, unique labels per user, owners exist."""
        names = [u.name for u in self.users.values()]
        if len(set(names)) != len(names):
            raise ValidationFailed("There is already a user with that name.")
        labels = [(c.user_id, c.label) for c in self.connections.values()]
        if len(set(labels)) != len(labels):
            raise DuplicateLabel()
        owners = [c.user_id for c in self.clients.values()]
        owners += [c.user_id for c in self.connections.values()]
        if not set(owners) | self.accounts.owners() <= self.users.keys():
            raise ValueError("a row belongs to a user that does not exist")


def _refill(target: dict[_K, _V], source: dict[_K, _V]) -> None:
    target.clear()
    target.update(source)


def _merge(committed: dict[_K, _V], base: dict[_K, _V], work: dict[_K, _V]) -> dict[_K, _V]:
    """``committed`` with the rows that changed between ``base`` and ``work`` applied."""
    merged = dict(committed)
    for key in base.keys() | work.keys():
        before, after = base.get(key), work.get(key)
        if before is after:
            continue
        if key in work:
            merged[key] = work[key]
        else:
            merged.pop(key, None)
    return merged


class MemoryStore:
    """The committed state; ``uow`` is a ``UnitOfWorkFactory``."""

    def __init__(self) -> None:
        self.committed = _Tables()
        self.attempt_ids = itertools.count(1)

    def uow(self, *, read_only: bool = False) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)


class MemoryUnitOfWork:
    users: UserRepository
    clients: ClientRepository
    tokens: TokenRepository
    attempts: AttemptRepository
    connections: ConnectionRepository
    passwords: PasswordRepository
    sessions: SessionRepository
    two_factor: TwoFactorRepository
    preferences: PreferencesRepository

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._base = store.committed.copy()
        self._work = self._base.copy()
        self._active = False
        self.users = MemoryUserRepository(self._work)
        self.clients = MemoryClientRepository(self._work)
        self.tokens = MemoryTokenRepository(self._work)
        self.attempts = MemoryAttemptRepository(self._work, store)
        self.connections = MemoryConnectionRepository(self._work)
        accounts, users = self._work.accounts, self._work.users
        self.passwords = MemoryPasswordRepository(accounts, users)
        self.sessions = MemorySessionRepository(accounts, users)
        self.two_factor = MemoryTwoFactorRepository(accounts, users)
        self.preferences = MemoryPreferencesRepository(accounts, users)

    async def __aenter__(self) -> Self:
        if self._active:
            raise RuntimeError("this unit of work is already in use")
        self._active = True
        self._restart()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._active = False
        self._restart()

    async def commit(self) -> None:
        committed, base, work = self._store.committed, self._base, self._work
        merged = _Tables(
            _merge(committed.users, base.users, work.users),
            _merge(committed.clients, base.clients, work.clients),
            _merge(committed.tokens, base.tokens, work.tokens),
            _merge(committed.attempts, base.attempts, work.attempts),
            _merge(committed.connections, base.connections, work.connections),
            AccountTables.merged(committed.accounts, base.accounts, work.accounts, _merge),
        )
        merged.check()
        self._store.committed = merged
        self._restart()

    async def rollback(self) -> None:
        self._restart()

    def _restart(self) -> None:
        """Start a new transaction on the committed state."""
        self._base = self._store.committed.copy()
        self._work.reset_to(self._base)


class MemoryUserRepository:
    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    async def add(self, user: User) -> None:
        user = stored_user(user)
        if any(u.name == user.name for u in self._t.users.values()):
            raise ValidationFailed(
                f"There is already a user named {user.name!r}.", remedy="Choose another name."
            )
        if user.id in self._t.users:
            raise ValueError(f"user id {user.id!r} already exists")
        self._t.users[user.id] = user

    async def get(self, user_id: str) -> User | None:
        return self._t.users.get(user_id)

    async def by_name(self, name: str) -> User | None:
        return next((u for u in self._t.users.values() if u.name == name), None)


class MemoryClientRepository:
    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    async def add(self, client: ApiClient) -> None:
        client = stored_client(client)
        if client.id in self._t.clients or client.user_id not in self._t.users:
            raise ValueError(f"client {client.id!r}: the id is taken or the user does not exist")
        self._t.clients[client.id] = client

    async def get(self, client_id: str) -> ApiClient | None:
        return self._t.clients.get(client_id)

    async def for_user(self, user_id: str) -> Sequence[ApiClient]:
        mine = [c for c in self._t.clients.values() if c.user_id == user_id]
        return sorted(mine, key=lambda c: (c.created_at, c.id))

    async def disable(self, client_id: str, user_id: str) -> bool:
        client = self._t.clients.get(client_id)
        if client is None or client.user_id != user_id:
            return False
        self._t.clients[client_id] = replace(client, disabled=True)
        return True


class MemoryTokenRepository:
    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    async def add(self, token: TokenRecord) -> None:
        token = stored_token(token)
        if token.token_hash in self._t.tokens:
            raise ValueError("a token with this hash already exists")
        self._t.tokens[token.token_hash] = token

    async def get(self, token_hash: str) -> TokenRecord | None:
        return self._t.tokens.get(token_hash)

    async def revoke(self, token_hash: str, at: datetime) -> bool:
        at = utc(at, "at")
        token = self._t.tokens.get(token_hash)
        if token is None or token.revoked_at is not None:
            return False
        self._t.tokens[token_hash] = replace(token, revoked_at=at)
        return True

    async def revoke_family(self, family: str, at: datetime) -> int:
        at = utc(at, "at")
        if not family:
            return 0
        hashes = [
            t.token_hash
            for t in self._t.tokens.values()
            if t.family == family and t.revoked_at is None
        ]
        for token_hash in hashes:
            self._t.tokens[token_hash] = replace(self._t.tokens[token_hash], revoked_at=at)
        return len(hashes)

    async def revoke_for_client(self, client_id: str, at: datetime) -> int:
        at = utc(at, "at")
        hashes = [
            t.token_hash
            for t in self._t.tokens.values()
            if t.client_id == client_id and t.revoked_at is None
        ]
        for token_hash in hashes:
            self._t.tokens[token_hash] = replace(self._t.tokens[token_hash], revoked_at=at)
        return len(hashes)

    async def purge_expired(self, before: datetime) -> int:
        before = utc(before, "before")
        expired = [t.token_hash for t in self._t.tokens.values() if t.expires_at < before]
        for token_hash in expired:
            del self._t.tokens[token_hash]
        return len(expired)


class MemoryAttemptRepository:
    def __init__(self, tables: _Tables, store: MemoryStore) -> None:
        self._t = tables
        self._store = store

    async def record_failure(self, key: str, at: datetime) -> None:
        self._t.attempts[next(self._store.attempt_ids)] = (key, utc(at, "at"))

    async def failures_since(self, key: str, since: datetime) -> int:
        since = utc(since, "since")
        return sum(1 for k, at in self._t.attempts.values() if k == key and at >= since)

    async def clear(self, key: str) -> None:
        for attempt_id in [i for i, (k, _) in self._t.attempts.items() if k == key]:
            del self._t.attempts[attempt_id]


class MemoryConnectionRepository:
    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    async def add(self, connection: Connection) -> None:
        connection = stored_connection(connection)
        if self._label_taken(connection):
            raise DuplicateLabel()
        if connection.id in self._t.connections or connection.user_id not in self._t.users:
            raise ValueError(
                f"connection {connection.id!r}: the id is taken or the user does not exist"
            )
        self._t.connections[connection.id] = connection

    async def get(self, connection_id: str, user_id: str) -> Connection | None:
        connection = self._t.connections.get(connection_id)
        return connection if connection is not None and connection.user_id == user_id else None

    async def for_user(self, user_id: str) -> Sequence[Connection]:
        mine = [c for c in self._t.connections.values() if c.user_id == user_id]
        return sorted(mine, key=lambda c: (c.created_at, c.id))

    async def by_label(self, user_id: str, label: str) -> Connection | None:
        return next(
            (c for c in self._t.connections.values() if c.user_id == user_id and c.label == label),
            None,
        )

    async def count_for_user(self, user_id: str) -> int:
        return sum(1 for c in self._t.connections.values() if c.user_id == user_id)

    async def update(self, connection: Connection) -> None:
        connection = stored_connection(connection)
        if await self.get(connection.id, connection.user_id) is None:
            raise NotFound()
        if self._label_taken(connection):
            raise DuplicateLabel()
        self._t.connections[connection.id] = connection

    async def delete(self, connection_id: str, user_id: str) -> bool:
        if await self.get(connection_id, user_id) is None:
            return False
        del self._t.connections[connection_id]
        return True

    async def owner_of(self, connection_id: str) -> str | None:
        found = self._t.connections.get(connection_id)
        return None if found is None else found.user_id

    async def all_ids(self) -> Sequence[tuple[str, str]]:
        return sorted((c.id, c.user_id) for c in self._t.connections.values())

    async def with_key_status(
        self, role: KeyRole, status: ConnectionStatus
    ) -> Sequence[tuple[str, str]]:
        return sorted(
            (c.id, c.user_id)
            for c in self._t.connections.values()
            if (key := c.key(role)) is not None and key.status is status
        )

    def _label_taken(self, connection: Connection) -> bool:
        return any(
            c.user_id == connection.user_id
            and c.label == connection.label
            and c.id != connection.id
            for c in self._t.connections.values()
        )


if TYPE_CHECKING:

    def _conforms(store: MemoryStore) -> UnitOfWorkFactory:
        return store.uow
