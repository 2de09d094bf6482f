"""The in-memory fake of the dashboard's sign-in repositories (see ``memory``: each unit of
work works on a copy of these tables, merged row by row at commit). The same contract suite
(tests/contract/storage/test_accounts.py) runs against these and the SQL repositories."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tresor.adapters.db.convert import utc, utc_or_none
from tresor.domain.accounts import Preferences, TwoFactor, WebSession


@dataclass
class AccountTables:
    passwords: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    sessions: dict[str, tuple[str, WebSession]] = field(default_factory=dict)  # id: (hash, it)
    two_factor: dict[str, TwoFactor] = field(default_factory=dict)
    recovery_codes: dict[tuple[str, str], bool] = field(default_factory=dict)
    preferences: dict[str, Preferences] = field(default_factory=dict)

    def tables(self) -> tuple[dict[Any, Any], ...]:
        return (
            self.passwords,
            self.sessions,
            self.two_factor,
            self.recovery_codes,
            self.preferences,
        )

    def copy(self) -> AccountTables:
        return AccountTables(*(dict(t) for t in self.tables()))

    def owners(self) -> set[str]:
        """Every user a row belongs to."""
        owners = set(self.passwords) | set(self.two_factor) | set(self.preferences)
        owners |= {s.user_id for _, s in self.sessions.values()}
        return owners | {user_id for user_id, _ in self.recovery_codes}

    @staticmethod
    def merged(
        committed: AccountTables,
        base: AccountTables,
        work: AccountTables,
        merge: Callable[[dict[Any, Any], dict[Any, Any], dict[Any, Any]], dict[Any, Any]],
    ) -> AccountTables:
        return AccountTables(
            *(
                merge(c, b, w)
                for c, b, w in zip(committed.tables(), base.tables(), work.tables(), strict=True)
            )
        )


def _stored_session(session: WebSession) -> WebSession:
    return replace(
        session,
        created_at=utc(session.created_at, "created_at"),
        last_seen_at=utc(session.last_seen_at, "last_seen_at"),
        expires_at=utc(session.expires_at, "expires_at"),
        ended_at=utc_or_none(session.ended_at, "ended_at"),
    )


class _Repository:
    def __init__(self, tables: AccountTables, users: dict[str, Any]) -> None:
        self._t = tables
        self._users = users

    def _user_must_exist(self, user_id: str, what: str) -> None:
        if user_id not in self._users:
            raise ValueError(f"{what} of {user_id!r}: the user does not exist")


class MemoryPasswordRepository(_Repository):
    async def get(self, user_id: str) -> str | None:
        found = self._t.passwords.get(user_id)
        return None if found is None else found[0]

    async def set(self, user_id: str, password_hash: str, at: datetime) -> None:
        self._user_must_exist(user_id, "password")
        self._t.passwords[user_id] = (password_hash, utc(at, "at"))


class MemorySessionRepository(_Repository):
    async def add(self, session: WebSession, token_hash: str) -> None:
        session = _stored_session(session)
        taken = session.id in self._t.sessions or any(
            h == token_hash for h, _ in self._t.sessions.values()
        )
        if taken or session.user_id not in self._users:
            raise ValueError(
                f"session {session.id!r}: the id or token is taken or the user does not exist"
            )
        self._t.sessions[session.id] = (token_hash, session)

    async def by_token(self, token_hash: str) -> WebSession | None:
        return next((s for h, s in self._t.sessions.values() if h == token_hash), None)

    async def get(self, session_id: str, user_id: str) -> WebSession | None:
        found = self._t.sessions.get(session_id)
        return None if found is None or found[1].user_id != user_id else found[1]

    async def touch(self, session_id: str, at: datetime, ip: str) -> None:
        at = utc(at, "at")
        found = self._t.sessions.get(session_id)
        if found is not None:
            self._t.sessions[session_id] = (found[0], replace(found[1], last_seen_at=at, ip=ip))

    async def end(self, session_id: str, at: datetime) -> bool:
        at = utc(at, "at")
        found = self._t.sessions.get(session_id)
        if found is None or found[1].ended_at is not None:
            return False
        self._t.sessions[session_id] = (found[0], replace(found[1], ended_at=at))
        return True

    async def end_all(self, user_id: str, at: datetime, *, keep: str | None = None) -> int:
        at = utc(at, "at")
        ids = [
            i
            for i, (_, s) in self._t.sessions.items()
            if s.user_id == user_id and s.ended_at is None and i != keep
        ]
        for session_id in ids:
            await self.end(session_id, at)
        return len(ids)

    async def active(
        self, user_id: str, *, now: datetime, seen_since: datetime
    ) -> Sequence[WebSession]:
        now, seen_since = utc(now, "now"), utc(seen_since, "seen_since")
        mine = [
            s
            for _, s in self._t.sessions.values()
            if s.user_id == user_id
            and s.ended_at is None
            and s.expires_at > now
            and s.last_seen_at >= seen_since
        ]
        return sorted(mine, key=lambda s: (s.created_at, s.id), reverse=True)

    async def purge(self, before: datetime) -> int:
        before = utc(before, "before")
        old = [
            i
            for i, (_, s) in self._t.sessions.items()
            if s.expires_at < before or (s.ended_at is not None and s.ended_at < before)
        ]
        for session_id in old:
            del self._t.sessions[session_id]
        return len(old)


class MemoryTwoFactorRepository(_Repository):
    async def get(self, user_id: str) -> TwoFactor | None:
        return self._t.two_factor.get(user_id)

    async def save(self, state: TwoFactor) -> None:
        self._user_must_exist(state.user_id, "two-factor")
        self._t.two_factor[state.user_id] = replace(
            state,
            updated_at=utc(state.updated_at, "updated_at"),
            secret_ct=None if state.secret_ct is None else bytes(state.secret_ct),
            pending_ct=None if state.pending_ct is None else bytes(state.pending_ct),
        )

    async def delete(self, user_id: str) -> bool:
        await self.set_recovery_codes(user_id, ())
        return self._t.two_factor.pop(user_id, None) is not None

    async def use_counter(self, user_id: str, counter: int) -> bool:
        state = self._t.two_factor.get(user_id)
        if state is None or not state.enabled:
            return False
        if state.last_counter is not None and state.last_counter >= counter:
            return False
        self._t.two_factor[user_id] = replace(state, last_counter=counter)
        return True

    async def set_recovery_codes(self, user_id: str, code_hashes: Sequence[str]) -> None:
        for key in [k for k in self._t.recovery_codes if k[0] == user_id]:
            del self._t.recovery_codes[key]
        if code_hashes:
            self._user_must_exist(user_id, "recovery codes")
        for code_hash in code_hashes:
            self._t.recovery_codes[(user_id, code_hash)] = True

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        return self._t.recovery_codes.pop((user_id, code_hash), None) is not None

    async def recovery_codes_left(self, user_id: str) -> int:
        return sum(1 for owner, _ in self._t.recovery_codes if owner == user_id)

    async def user_ids(self) -> Sequence[str]:
        return sorted(self._t.two_factor)


class MemoryPreferencesRepository(_Repository):
    async def get(self, user_id: str) -> Preferences | None:
        return self._t.preferences.get(user_id)

    async def set(self, user_id: str, preferences: Preferences) -> None:
        self._user_must_exist(user_id, "preferences")
        self._t.preferences[user_id] = preferences
