"""The SQLAlchemy repository of connections and their keys.

Ownership is part of every query that takes an id: another user's connection is not found,
exactly like one that does not exist. Errors:

- a label the user already uses for another connection: ``DuplicateLabel``;
- ``update`` of a connection that does not exist or is not the user's: ``NotFound``;
- a duplicate id, an unknown user, two keys with one role, a naive datetime: ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tresor.adapters.db.convert import (
    ordered_keys,
    report_from_json,
    report_to_json,
    utc,
    utc_or_none,
    warnings_from_json,
    warnings_to_json,
)
from tresor.adapters.db.repositories import insert_row
from tresor.adapters.db.tables import ConnectionKeyRow, ConnectionRow
from tresor.domain.connections import Connection, ConnectionStatus, KeyRole, StoredKey
from tresor.domain.errors import DuplicateLabel, NotFound


def _key_row(connection_id: str, key: StoredKey) -> ConnectionKeyRow:
    return ConnectionKeyRow(
        connection_id=connection_id,
        role=key.role.value,
        hint=key.hint,
        api_key_ct=bytes(key.api_key_ct),
        secret_ct=bytes(key.secret_ct),
        passphrase_ct=None if key.passphrase_ct is None else bytes(key.passphrase_ct),
        sealed=key.sealed,
        status=key.status.value,
        report=report_to_json(key.report),
        warnings=warnings_to_json(key.warnings),
        verified_at=utc_or_none(key.verified_at, "verified_at"),
    )


def _key(row: ConnectionKeyRow) -> StoredKey:
    return StoredKey(
        role=KeyRole(row.role),
        hint=row.hint,
        api_key_ct=bytes(row.api_key_ct),
        secret_ct=bytes(row.secret_ct),
        passphrase_ct=None if row.passphrase_ct is None else bytes(row.passphrase_ct),
        sealed=row.sealed,
        status=ConnectionStatus(row.status),
        report=report_from_json(row.report),
        warnings=warnings_from_json(row.warnings),
        verified_at=row.verified_at,
    )


def _connection(row: ConnectionRow) -> Connection:
    return Connection(
        id=row.id,
        user_id=row.user_id,
        exchange=row.exchange,
        endpoint=row.endpoint,
        label=row.label,
        status=ConnectionStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        keys=tuple(_key(k) for k in sorted(row.keys, key=lambda k: k.role)),
    )


def _set_fields(row: ConnectionRow, connection: Connection) -> None:
    row.exchange = connection.exchange
    row.endpoint = connection.endpoint
    row.label = connection.label
    row.status = connection.status.value
    row.created_at = utc(connection.created_at, "created_at")
    row.updated_at = utc(connection.updated_at, "updated_at")


class SqlConnectionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, connection: Connection) -> None:
        """Raises: DuplicateLabel; ValueError (duplicate id, unknown user, bad keys)."""
        keys = ordered_keys(connection.keys)
        row = ConnectionRow(id=connection.id, user_id=connection.user_id)
        _set_fields(row, connection)
        row.keys = [_key_row(connection.id, k) for k in keys]
        if await insert_row(self._session, row):
            return
        if await self._label_taken(connection):
            raise DuplicateLabel()
        raise ValueError(
            f"connection {connection.id!r}: the id is taken or the user does not exist"
        )

    async def get(self, connection_id: str, user_id: str) -> Connection | None:
        row = await self._row(connection_id, user_id)
        return None if row is None else _connection(row)

    async def for_user(self, user_id: str) -> Sequence[Connection]:
        """The user's connections, oldest first."""
        rows = await self._session.scalars(
            select(ConnectionRow)
            .where(ConnectionRow.user_id == user_id)
            .order_by(ConnectionRow.created_at, ConnectionRow.id)
            .execution_options(populate_existing=True)
        )
        return [_connection(row) for row in rows]

    async def by_label(self, user_id: str, label: str) -> Connection | None:
        row = await self._session.scalar(
            select(ConnectionRow)
            .where(ConnectionRow.user_id == user_id, ConnectionRow.label == label)
            .execution_options(populate_existing=True)
        )
        return None if row is None else _connection(row)

    async def count_for_user(self, user_id: str) -> int:
        count = await self._session.scalar(
            select(func.count()).select_from(ConnectionRow).where(ConnectionRow.user_id == user_id)
        )
        return int(count or 0)

    async def update(self, connection: Connection) -> None:
        """Replace the stored connection and all its keys (keys not in ``connection`` are
        deleted). The id and the owner cannot change.

        Raises: NotFound if the user has no such connection; DuplicateLabel; ValueError.
        """
        keys = ordered_keys(connection.keys)
        row = await self._row(connection.id, connection.user_id)
        if row is None:
            raise NotFound()
        try:
            async with self._session.begin_nested():
                _set_fields(row, connection)
                row.keys = [_key_row(connection.id, k) for k in keys]
                await self._session.flush()
        except IntegrityError as e:
            if await self._label_taken(connection):
                raise DuplicateLabel() from None
            raise ValueError(f"connection {connection.id!r} could not be updated") from e

    async def delete(self, connection_id: str, user_id: str) -> bool:
        """Delete the connection and its keys. False if the user has no such connection."""
        row = await self._row(connection_id, user_id)
        if row is None:
            return False
        # Through the session, so the identity map forgets the key rows too; the database's
        # ON DELETE CASCADE covers deletes that do not go through here.
        await self._session.delete(row)
        await self._session.flush()
        return True

    async def owner_of(self, connection_id: str) -> str | None:
        return await self._session.scalar(
            select(ConnectionRow.user_id).where(ConnectionRow.id == connection_id)
        )

    async def all_ids(self) -> Sequence[tuple[str, str]]:
        """Every (connection id, user id), ordered by connection id."""
        rows = await self._session.execute(
            select(ConnectionRow.id, ConnectionRow.user_id).order_by(ConnectionRow.id)
        )
        return [(connection_id, user_id) for connection_id, user_id in rows]

    async def with_key_status(
        self, role: KeyRole, status: ConnectionStatus
    ) -> Sequence[tuple[str, str]]:
        rows = await self._session.execute(
            select(ConnectionRow.id, ConnectionRow.user_id)
            .join(ConnectionKeyRow, ConnectionKeyRow.connection_id == ConnectionRow.id)
            .where(ConnectionKeyRow.role == role.value, ConnectionKeyRow.status == status.value)
            .order_by(ConnectionRow.id)
        )
        return [(connection_id, user_id) for connection_id, user_id in rows]

    async def _row(self, connection_id: str, user_id: str) -> ConnectionRow | None:
        return await self._session.scalar(
            select(ConnectionRow)
            .where(ConnectionRow.id == connection_id, ConnectionRow.user_id == user_id)
            .execution_options(populate_existing=True)
        )

    async def _label_taken(self, connection: Connection) -> bool:
        other = await self._session.scalar(
            select(ConnectionRow.id).where(
                ConnectionRow.user_id == connection.user_id,
                ConnectionRow.label == connection.label,
                ConnectionRow.id != connection.id,
            )
        )
        return other is not None
