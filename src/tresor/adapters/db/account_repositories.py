"""SQLAlchemy repositories of the dashboard's sign-in: password hashes, web sessions,
two-factor state and recovery codes, preferences. As in ``repositories``: rows never leave,
refused writes raise ``ValueError`` (a bug in the caller), naive datetimes ``ValueError``.

"Store or replace" writes read the row first and then insert or update it: the unit of work
holds SQLite's write lock from its start, and on PostgreSQL two writers of one user's row at
the same time are not a case the services have (the last one wins, as with a replace).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tresor.adapters.db.convert import utc, utc_or_none
from tresor.adapters.db.repositories import insert_row, rowcount
from tresor.adapters.db.tables_accounts import (
    RecoveryCodeRow,
    TwoFactorRow,
    UserPasswordRow,
    UserPreferencesRow,
    WebSessionRow,
)
from tresor.domain.accounts import Preferences, TwoFactor, WebSession


def _bytes(value: bytes | None) -> bytes | None:
    return None if value is None else bytes(value)


# -- passwords ---------------------------------------------------------------------------------
class SqlPasswordRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: str) -> str | None:
        row = await self._session.get(UserPasswordRow, user_id)
        return None if row is None else row.password_hash

    async def set(self, user_id: str, password_hash: str, at: datetime) -> None:
        at = utc(at, "at")
        row = await self._session.get(UserPasswordRow, user_id)
        if row is not None:
            row.password_hash, row.updated_at = password_hash, at
            await self._session.flush()
            return
        new = UserPasswordRow(user_id=user_id, password_hash=password_hash, updated_at=at)
        if not await insert_row(self._session, new):
            raise ValueError(f"password of {user_id!r}: the user does not exist")


# -- web sessions ------------------------------------------------------------------------------
def _web_session(row: WebSessionRow) -> WebSession:
    return WebSession(
        id=row.id,
        user_id=row.user_id,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        ip=row.ip,
        user_agent=row.user_agent,
        ended_at=row.ended_at,
    )


class SqlSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, session: WebSession, token_hash: str) -> None:
        row = WebSessionRow(
            id=session.id,
            token_hash=token_hash,
            user_id=session.user_id,
            created_at=utc(session.created_at, "created_at"),
            last_seen_at=utc(session.last_seen_at, "last_seen_at"),
            expires_at=utc(session.expires_at, "expires_at"),
            ip=session.ip,
            user_agent=session.user_agent,
            ended_at=utc_or_none(session.ended_at, "ended_at"),
        )
        if not await insert_row(self._session, row):
            raise ValueError(
                f"session {session.id!r}: the id or token is taken or the user does not exist"
            )

    async def by_token(self, token_hash: str) -> WebSession | None:
        row = await self._session.scalar(
            select(WebSessionRow).where(WebSessionRow.token_hash == token_hash)
        )
        return None if row is None else _web_session(row)

    async def get(self, session_id: str, user_id: str) -> WebSession | None:
        row = await self._session.get(WebSessionRow, session_id)
        return None if row is None or row.user_id != user_id else _web_session(row)

    async def touch(self, session_id: str, at: datetime, ip: str) -> None:
        await self._session.execute(
            update(WebSessionRow)
            .where(WebSessionRow.id == session_id)
            .values(last_seen_at=utc(at, "at"), ip=ip)
        )

    async def end(self, session_id: str, at: datetime) -> bool:
        result = await self._session.execute(
            update(WebSessionRow)
            .where(WebSessionRow.id == session_id, WebSessionRow.ended_at.is_(None))
            .values(ended_at=utc(at, "at"))
        )
        return rowcount(result) > 0

    async def end_all(self, user_id: str, at: datetime, *, keep: str | None = None) -> int:
        statement = update(WebSessionRow).where(
            WebSessionRow.user_id == user_id, WebSessionRow.ended_at.is_(None)
        )
        if keep is not None:
            statement = statement.where(WebSessionRow.id != keep)
        result = await self._session.execute(statement.values(ended_at=utc(at, "at")))
        return rowcount(result)

    async def active(
        self, user_id: str, *, now: datetime, seen_since: datetime
    ) -> Sequence[WebSession]:
        rows = await self._session.scalars(
            select(WebSessionRow)
            .where(
                WebSessionRow.user_id == user_id,
                WebSessionRow.ended_at.is_(None),
                WebSessionRow.expires_at > utc(now, "now"),
                WebSessionRow.last_seen_at >= utc(seen_since, "seen_since"),
            )
            .order_by(WebSessionRow.created_at.desc(), WebSessionRow.id.desc())
        )
        return [_web_session(row) for row in rows]

    async def purge(self, before: datetime) -> int:
        before = utc(before, "before")
        result = await self._session.execute(
            delete(WebSessionRow).where(
                or_(WebSessionRow.expires_at < before, WebSessionRow.ended_at < before)
            )
        )
        return rowcount(result)


# -- two-factor --------------------------------------------------------------------------------
def _two_factor(row: TwoFactorRow) -> TwoFactor:
    return TwoFactor(
        user_id=row.user_id,
        updated_at=row.updated_at,
        secret_ct=_bytes(row.secret_ct),
        pending_ct=_bytes(row.pending_ct),
        last_counter=row.last_counter,
    )


class SqlTwoFactorRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: str) -> TwoFactor | None:
        row = await self._session.get(TwoFactorRow, user_id)
        return None if row is None else _two_factor(row)

    async def save(self, state: TwoFactor) -> None:
        values = {
            "secret_ct": _bytes(state.secret_ct),
            "pending_ct": _bytes(state.pending_ct),
            "last_counter": state.last_counter,
            "updated_at": utc(state.updated_at, "updated_at"),
        }
        row = await self._session.get(TwoFactorRow, state.user_id)
        if row is not None:
            for name, value in values.items():
                setattr(row, name, value)
            await self._session.flush()
            return
        if not await insert_row(self._session, TwoFactorRow(user_id=state.user_id, **values)):
            raise ValueError(f"two-factor of {state.user_id!r}: the user does not exist")

    async def delete(self, user_id: str) -> bool:
        await self._session.execute(
            delete(RecoveryCodeRow).where(RecoveryCodeRow.user_id == user_id)
        )
        result = await self._session.execute(
            delete(TwoFactorRow).where(TwoFactorRow.user_id == user_id)
        )
        return rowcount(result) > 0

    async def use_counter(self, user_id: str, counter: int) -> bool:
        # one conditional UPDATE: of two sign-ins with the same code, one moves the counter
        result = await self._session.execute(
            update(TwoFactorRow)
            .where(
                TwoFactorRow.user_id == user_id,
                TwoFactorRow.secret_ct.is_not(None),
                or_(TwoFactorRow.last_counter.is_(None), TwoFactorRow.last_counter < counter),
            )
            .values(last_counter=counter)
        )
        return rowcount(result) > 0

    async def set_recovery_codes(self, user_id: str, code_hashes: Sequence[str]) -> None:
        await self._session.execute(
            delete(RecoveryCodeRow).where(RecoveryCodeRow.user_id == user_id)
        )
        for code_hash in dict.fromkeys(code_hashes):
            row = RecoveryCodeRow(user_id=user_id, code_hash=code_hash)
            if not await insert_row(self._session, row):
                raise ValueError(f"recovery codes of {user_id!r}: the user does not exist")

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        result = await self._session.execute(
            delete(RecoveryCodeRow).where(
                RecoveryCodeRow.user_id == user_id, RecoveryCodeRow.code_hash == code_hash
            )
        )
        return rowcount(result) > 0

    async def recovery_codes_left(self, user_id: str) -> int:
        count = await self._session.scalar(
            select(func.count())
            .select_from(RecoveryCodeRow)
            .where(RecoveryCodeRow.user_id == user_id)
        )
        return int(count or 0)

    async def user_ids(self) -> Sequence[str]:
        rows = await self._session.scalars(
            select(TwoFactorRow.user_id).order_by(TwoFactorRow.user_id)
        )
        return list(rows)


# -- preferences -------------------------------------------------------------------------------
class SqlPreferencesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: str) -> Preferences | None:
        row = await self._session.get(UserPreferencesRow, user_id)
        return None if row is None else Preferences(quote=row.quote, timezone=row.timezone)

    async def set(self, user_id: str, preferences: Preferences) -> None:
        row = await self._session.get(UserPreferencesRow, user_id)
        if row is not None:
            row.quote, row.timezone = preferences.quote, preferences.timezone
            await self._session.flush()
            return
        new = UserPreferencesRow(
            user_id=user_id, quote=preferences.quote, timezone=preferences.timezone
        )
        if not await insert_row(self._session, new):
            raise ValueError(f"preferences of {user_id!r}: the user does not exist")
