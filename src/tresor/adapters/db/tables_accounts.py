"""The dashboard's sign-in tables: password hashes, web sessions (by the hash of their token),
two-factor state with its recovery codes (hashes), and preferences. Each row belongs to a
user and goes with it (``ON DELETE CASCADE``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from tresor.adapters.db.tables import Base


def _owner(*, primary_key: bool = False) -> Mapped[str]:
    return mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=primary_key)


class UserPasswordRow(Base):
    __tablename__ = "user_passwords"

    user_id: Mapped[str] = _owner(primary_key=True)
    password_hash: Mapped[str]
    updated_at: Mapped[datetime]


class WebSessionRow(Base):
    """A signed-in browser; ``token_hash`` is the SHA-256 of its cookie's token."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        Index("ix_web_sessions_user_created", "user_id", "created_at"),
        Index("ix_web_sessions_expires", "expires_at"),  # purge
    )

    id: Mapped[str] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(unique=True)
    user_id: Mapped[str] = _owner()
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ip: Mapped[str]
    user_agent: Mapped[str]
    ended_at: Mapped[datetime | None]


class TwoFactorRow(Base):
    """TOTP secrets as vault ciphertexts (bound to ``user:<id>:totp``)."""

    __tablename__ = "two_factor"

    user_id: Mapped[str] = _owner(primary_key=True)
    secret_ct: Mapped[bytes | None]
    pending_ct: Mapped[bytes | None]
    last_counter: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class RecoveryCodeRow(Base):
    """One unused recovery code, by its hash; deleted when used."""

    __tablename__ = "recovery_codes"

    user_id: Mapped[str] = _owner(primary_key=True)
    code_hash: Mapped[str] = mapped_column(primary_key=True)


class UserPreferencesRow(Base):
    __tablename__ = "user_preferences"

    user_id: Mapped[str] = _owner(primary_key=True)
    quote: Mapped[str]
    timezone: Mapped[str]
