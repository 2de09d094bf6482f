"""The tables, as SQLAlchemy ``Mapped[]`` rows. Rows never leave ``adapters/db``: the
repositories turn them into the domain's frozen dataclasses.

Conventions:

- Every timestamp is a ``UtcDateTime``: stored in UTC and always read back timezone-aware, on
  SQLite too (which has no time zone type).
- Enumerations (``Scope``, ``KeyRole``, ``ConnectionStatus`` ...) are stored as their string
  values in plain text columns, so adding a value needs no migration.
- Strings have no length limit in the schema: input lengths are the API's business, and a limit
  only PostgreSQL enforces would make the two backends behave differently.
- Constraint names follow ``NAMING_CONVENTION`` so migrations can refer to them.
- Money columns, when they come, are ``Numeric``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC.

    Naive datetimes are refused (they are a bug: the clock gives aware UTC times). PostgreSQL
    stores ``timestamptz``; SQLite stores the UTC wall time as text (always with microseconds,
    so text order is time order) and the value read back gets its UTC zone again.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy's declarative hook)
        datetime: UtcDateTime(),
        bytes: LargeBinary(),
    }


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    created_at: Mapped[datetime]


class ApiClientRow(Base):
    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str]
    secret_hash: Mapped[str]
    scopes: Mapped[str]  # space-separated, as in OAuth2 (``format_scopes``)
    ip_allowlist: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    disabled: Mapped[bool]


class TokenRow(Base):
    """An issued token, by the hash of its value (the value is never stored)."""

    __tablename__ = "tokens"

    token_hash: Mapped[str] = mapped_column(primary_key=True)
    kind: Mapped[str]
    client_id: Mapped[str] = mapped_column(index=True)  # revoke_for_client
    user_id: Mapped[str]
    scopes: Mapped[str]
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)  # purge_expired
    revoked_at: Mapped[datetime | None]
    family: Mapped[str] = mapped_column(index=True)  # revoke_family


class AuthAttemptRow(Base):
    """One failed authentication attempt; ``key`` is a client id or an IP address."""

    __tablename__ = "auth_attempts"
    __table_args__ = (Index("ix_auth_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    key: Mapped[str]
    at: Mapped[datetime]


class ConnectionRow(Base):
    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("user_id", "label"),)

    id: Mapped[str] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    exchange: Mapped[str]
    endpoint: Mapped[str | None]
    label: Mapped[str]
    status: Mapped[str]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    keys: Mapped[list[ConnectionKeyRow]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,  # the database deletes the keys (ON DELETE CASCADE)
        order_by="ConnectionKeyRow.role",
        lazy="selectin",
    )


class ConnectionKeyRow(Base):
    """One key of a connection: vault ciphertexts (bound to connection, role and field) and
    the latest capability report. Deleted with its connection by the database itself."""

    __tablename__ = "connection_keys"

    connection_id: Mapped[str] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(primary_key=True)
    hint: Mapped[str]
    api_key_ct: Mapped[bytes]
    secret_ct: Mapped[bytes]
    passphrase_ct: Mapped[bytes | None]
    sealed: Mapped[bool]
    status: Mapped[str]
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    verified_at: Mapped[datetime | None]


# The accounts, sync, trading, routing and rules tables live in their own modules; importing
# them here registers them on ``Base.metadata`` wherever the schema is used (migrations, the
# schema test).
from tresor.adapters.db import tables_accounts as _accounts_tables  # noqa: E402, F401
from tresor.adapters.db import tables_routing as _routing_tables  # noqa: E402, F401
from tresor.adapters.db import tables_rules as _rules_tables  # noqa: E402, F401
from tresor.adapters.db import tables_sync as _sync_tables  # noqa: E402, F401
from tresor.adapters.db import tables_trading as _trading_tables  # noqa: E402, F401
