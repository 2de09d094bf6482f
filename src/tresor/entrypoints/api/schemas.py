"""The API's shapes: ``XCreate`` / ``XUpdate`` in, ``XPublic`` out. Nothing here ever holds a
secret on the way out; keys appear only as hints (``abcd…wxyz``)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from tresor.domain.connections import (
    RIGHTS,
    CapabilityReport,
    Connection,
    Credentials,
    Problem,
    StoredKey,
)
from tresor.domain.secrets import Secret

_KEY_TEXT = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (the OAuth2 token type, not a secret)
    expires_in: int
    refresh_token: str
    scope: str


class KeyCreate(Strict):
    api_key: SecretStr = Field(min_length=4, max_length=512)
    secret: SecretStr = Field(min_length=4, max_length=4096)
    passphrase: SecretStr | None = Field(default=None, min_length=1, max_length=512)

    @field_validator("api_key", "secret", "passphrase")
    @classmethod
    def _printable(cls, value: SecretStr | None) -> SecretStr | None:
        # keys are printable ASCII; a space or a line break is a copy-and-paste accident
        if value is not None and not _KEY_TEXT.match(value.get_secret_value()):
            raise ValueError("must be printable ASCII without spaces (check the copy and paste)")
        return value

    def credentials(self) -> Credentials:
        return Credentials(
            api_key=Secret(self.api_key.get_secret_value()),
            secret=Secret(self.secret.get_secret_value()),
            passphrase=Secret(self.passphrase.get_secret_value())
            if self.passphrase is not None
            else None,
        )


class ConnectionCreate(Strict):
    exchange: str = Field(
        min_length=2, max_length=40, pattern=r"^[a-z0-9_]+$", examples=["binance"]
    )
    label: str = Field(min_length=1, max_length=64, examples=["binance-main"])
    endpoint: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$"
    )
    read_key: KeyCreate | None = None
    trade_key: KeyCreate | None = None


class ProblemPublic(BaseModel):
    code: str
    message: str
    remedy: str
    checks: list[str] = []

    @classmethod
    def of(cls, p: Problem) -> ProblemPublic:
        return cls(code=p.code, message=p.message, remedy=p.remedy, checks=list(p.checks))


Right = Literal["yes", "no", "unknown"]


class ReportPublic(BaseModel):
    checked_at: datetime
    authenticates: Right
    rights: dict[str, Right]
    clock_offset_ms: int | None
    ip_restricted: Right
    expires_at: datetime | None
    account_type: str | None
    unknown_reasons: dict[str, str]
    failure: ProblemPublic | None

    @classmethod
    def of(cls, r: CapabilityReport) -> ReportPublic:
        return cls(
            checked_at=r.checked_at,
            authenticates=r.authenticates.value,
            rights={name: r.right(name).value for name in RIGHTS},
            clock_offset_ms=r.clock_offset_ms,
            ip_restricted=r.ip_restricted.value,
            expires_at=r.expires_at,
            account_type=r.account_type,
            unknown_reasons=dict(r.unknown_reasons),
            failure=ProblemPublic.of(r.failure) if r.failure else None,
        )


class KeyPublic(BaseModel):
    role: Literal["read", "trade"]
    hint: str
    status: str
    sealed: bool
    verified_at: datetime | None
    report: ReportPublic | None
    warnings: list[ProblemPublic]

    @classmethod
    def of(cls, k: StoredKey) -> KeyPublic:
        return cls(
            role=k.role.value,
            hint=k.hint,
            status=k.status.value,
            sealed=k.sealed,
            verified_at=k.verified_at,
            report=ReportPublic.of(k.report) if k.report else None,
            warnings=[ProblemPublic.of(w) for w in k.warnings],
        )


class ConnectionPublic(BaseModel):
    id: str
    exchange: str
    endpoint: str | None
    label: str
    status: str
    created_at: datetime
    updated_at: datetime
    keys: list[KeyPublic]

    @classmethod
    def of(cls, c: Connection) -> ConnectionPublic:
        return cls(
            id=c.id,
            exchange=c.exchange,
            endpoint=c.endpoint,
            label=c.label,
            status=c.status.value,
            created_at=c.created_at,
            updated_at=c.updated_at,
            keys=[KeyPublic.of(k) for k in c.keys],
        )


class ConnectionList(BaseModel):
    items: list[ConnectionPublic]
    egress_ips: list[str] = Field(
        description="The addresses to allow on your exchange keys' IP allow-lists."
    )
