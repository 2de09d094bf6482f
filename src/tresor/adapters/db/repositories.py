"""SQLAlchemy repositories of users, API clients, tokens and failed attempts. They take the
unit of work's session, convert rows to the domain's dataclasses and never return a row.

Writes are flushed at once inside a SAVEPOINT, so a refused write raises here (not later at
commit) and leaves the transaction usable. Errors:

- a duplicate user name: ``ValidationFailed``;
- any other refused write (a duplicate id, an unknown user id): ``ValueError``, a bug in the
  caller;
- a naive datetime: ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tresor.adapters.db.convert import scopes_from_text, scopes_to_text, utc, utc_or_none
from tresor.adapters.db.tables import ApiClientRow, AuthAttemptRow, Base, TokenRow, UserRow
from tresor.domain.access import ApiClient, TokenKind, TokenRecord, User
from tresor.domain.errors import ValidationFailed


async def insert_row(session: AsyncSession, row: Base) -> bool:
    """Insert ``row`` now, in a savepoint. False if a constraint refused it; the transaction
    is then as it was before."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    return True


def rowcount(result: Any) -> int:
    """The number of rows an UPDATE or DELETE statement matched."""
    return cast(CursorResult[Any], result).rowcount


# -- users -------------------------------------------------------------------------------------
def _user(row: UserRow) -> User:
    return User(id=row.id, name=row.name, created_at=row.created_at)


class SqlUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, user: User) -> None:
        """Raises: ValidationFailed if the name is taken; ValueError if the id is."""
        row = UserRow(id=user.id, name=user.name, created_at=utc(user.created_at, "created_at"))
        if await insert_row(self._session, row):
            return
        if await self.by_name(user.name) is not None:
            raise ValidationFailed(
                f"There is already a user named {user.name!r}.", remedy="Choose another name."
            )
        raise ValueError(f"user id {user.id!r} already exists")

    async def get(self, user_id: str) -> User | None:
        row = await self._session.get(UserRow, user_id)
        return None if row is None else _user(row)

    async def by_name(self, name: str) -> User | None:
        row = await self._session.scalar(select(UserRow).where(UserRow.name == name))
        return None if row is None else _user(row)


# -- API clients -------------------------------------------------------------------------------
def _client(row: ApiClientRow) -> ApiClient:
    return ApiClient(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        secret_hash=row.secret_hash,
        scopes=scopes_from_text(row.scopes),
        ip_allowlist=tuple(row.ip_allowlist),
        created_at=row.created_at,
        disabled=row.disabled,
    )


class SqlClientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, client: ApiClient) -> None:
        """Raises: ValueError if the id is taken or the user does not exist."""
        row = ApiClientRow(
            id=client.id,
            user_id=client.user_id,
            name=client.name,
            secret_hash=client.secret_hash,
            scopes=scopes_to_text(client.scopes),
            ip_allowlist=list(client.ip_allowlist),
            created_at=utc(client.created_at, "created_at"),
            disabled=client.disabled,
        )
        if not await insert_row(self._session, row):
            raise ValueError(f"client {client.id!r}: the id is taken or the user does not exist")

    async def get(self, client_id: str) -> ApiClient | None:
        row = await self._session.get(ApiClientRow, client_id)
        return None if row is None else _client(row)

    async def for_user(self, user_id: str) -> Sequence[ApiClient]:
        rows = await self._session.scalars(
            select(ApiClientRow)
            .where(ApiClientRow.user_id == user_id)
            .order_by(ApiClientRow.created_at, ApiClientRow.id)
        )
        return [_client(row) for row in rows]

    async def disable(self, client_id: str, user_id: str) -> bool:
        """Disable the client if it belongs to ``user_id`` (disabled already or not)."""
        result = await self._session.execute(
            update(ApiClientRow)
            .where(ApiClientRow.id == client_id, ApiClientRow.user_id == user_id)
            .values(disabled=True)
        )
        return rowcount(result) > 0


# -- tokens ------------------------------------------------------------------------------------
def _token(row: TokenRow) -> TokenRecord:
    return TokenRecord(
        token_hash=row.token_hash,
        kind=TokenKind(row.kind),
        client_id=row.client_id,
        user_id=row.user_id,
        scopes=scopes_from_text(row.scopes),
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        family=row.family,
    )


class SqlTokenRepository:
    """Tokens by hash. Revoking keeps the first revocation time; revoked tokens stay until they
    expire (so a reused refresh token is recognised), then ``purge_expired`` deletes them."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token: TokenRecord) -> None:
        """Raises: ValueError if a token with this hash exists."""
        row = TokenRow(
            token_hash=token.token_hash,
            kind=token.kind.value,
            client_id=token.client_id,
            user_id=token.user_id,
            scopes=scopes_to_text(token.scopes),
            issued_at=utc(token.issued_at, "issued_at"),
            expires_at=utc(token.expires_at, "expires_at"),
            revoked_at=utc_or_none(token.revoked_at, "revoked_at"),
            family=token.family,
        )
        if not await insert_row(self._session, row):
            raise ValueError("a token with this hash already exists")

    async def get(self, token_hash: str) -> TokenRecord | None:
        row = await self._session.get(TokenRow, token_hash)
        return None if row is None else _token(row)

    async def revoke(self, token_hash: str, at: datetime) -> bool:
        """True if this call revoked the token; False if it is unknown or already revoked."""
        result = await self._session.execute(
            update(TokenRow)
            .where(TokenRow.token_hash == token_hash, TokenRow.revoked_at.is_(None))
            .values(revoked_at=utc(at, "at"))
        )
        return rowcount(result) > 0

    async def revoke_family(self, family: str, at: datetime) -> int:
        """Revoke every token of ``family`` not revoked yet; how many. The empty family (tokens
        issued without one) is not a family: nothing is revoked."""
        if not family:
            return 0
        result = await self._session.execute(
            update(TokenRow)
            .where(TokenRow.family == family, TokenRow.revoked_at.is_(None))
            .values(revoked_at=utc(at, "at"))
        )
        return rowcount(result)

    async def revoke_for_client(self, client_id: str, at: datetime) -> int:
        """Revoke every token of the client not revoked yet; how many."""
        result = await self._session.execute(
            update(TokenRow)
            .where(TokenRow.client_id == client_id, TokenRow.revoked_at.is_(None))
            .values(revoked_at=utc(at, "at"))
        )
        return rowcount(result)

    async def purge_expired(self, before: datetime) -> int:
        """Delete the tokens that expired before ``before`` (revoked or not); how many."""
        result = await self._session.execute(
            delete(TokenRow).where(TokenRow.expires_at < utc(before, "before"))
        )
        return rowcount(result)


# -- failed authentication attempts ------------------------------------------------------------
class SqlAttemptRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record_failure(self, key: str, at: datetime) -> None:
        await self._session.execute(insert(AuthAttemptRow).values(key=key, at=utc(at, "at")))

    async def failures_since(self, key: str, since: datetime) -> int:
        """Failures recorded for ``key`` at or after ``since``."""
        count = await self._session.scalar(
            select(func.count())
            .select_from(AuthAttemptRow)
            .where(AuthAttemptRow.key == key, AuthAttemptRow.at >= utc(since, "since"))
        )
        return int(count or 0)

    async def clear(self, key: str) -> None:
        await self._session.execute(delete(AuthAttemptRow).where(AuthAttemptRow.key == key))
