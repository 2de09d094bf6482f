"""An ``AccountService`` on the in-memory store with a fake clock, a cheap Argon2 and a real
vault, and the TOTP codes an authenticator app would show."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pyotp

from tests.support.clock import FakeClock
from tresor.adapters.crypto import EnvelopeVault, Keyring, MasterKey
from tresor.adapters.crypto.one_time_codes import TotpCodes
from tresor.adapters.crypto.passwords import Argon2Passwords
from tresor.adapters.db.memory import MemoryStore
from tresor.domain.accounts import SessionPolicy
from tresor.domain.secrets import Secret
from tresor.services.access import AccessPolicy, AccessService
from tresor.services.accounts import AccountService

PASSWORD = Secret("correct horse battery staple")


class CountingHasher:
    """A cheap Argon2 that counts its calls (every sign-in attempt should verify once)."""

    def __init__(self, **params: int) -> None:
        self.inner = Argon2Passwords(
            time_cost=params.get("time_cost", 1),
            memory_cost=params.get("memory_cost", 8),
            parallelism=1,
        )
        self.verified = 0

    def hash(self, password: str) -> str:
        return self.inner.hash(password)

    def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        self.verified += 1
        return self.inner.verify(password, password_hash)


@dataclass
class Accounts:
    store: MemoryStore = field(default_factory=MemoryStore)
    clock: FakeClock = field(default_factory=FakeClock)
    hasher: CountingHasher = field(default_factory=CountingHasher)
    vault: EnvelopeVault = field(
        default_factory=lambda: EnvelopeVault(Keyring(MasterKey.generate()))
    )
    policy: SessionPolicy = field(default_factory=SessionPolicy)

    def __post_init__(self) -> None:
        self.service = AccountService(
            uow=self.store.uow,
            clock=self.clock,
            hasher=self.hasher,
            codes=TotpCodes(),
            vault=self.vault,
            policy=self.policy,
        )
        self.access = AccessService(self.store.uow, self.clock, AccessPolicy())

    async def user(self, name: str = "alice", password: Secret | None = PASSWORD) -> str:
        """A new user's id, with ``password`` set (None: no password)."""
        user = await self.access.create_user(name)
        if password is not None:
            await self.service.set_password(user.id, password)
        return user.id

    async def sign_in(
        self,
        name: str = "alice",
        password: Secret = PASSWORD,
        code: str | None = None,
        ip: str = "192.0.2.10",
    ) -> str:
        """Sign in; the session token."""
        signed = await self.service.sign_in(
            name=name, password=password, code=code, ip=ip, user_agent="pytest"
        )
        return signed.token.reveal()

    async def with_two_factor(self, user_id: str) -> tuple[pyotp.TOTP, list[str]]:
        """Turn two-factor on; the app's generator and the recovery codes. The clock moves on
        a step, so the confirming code is not the next sign-in's."""
        secret, _ = await self.service.begin_two_factor(user_id, "alice", password=PASSWORD)
        app = pyotp.TOTP(secret.reveal())
        codes = await self.service.confirm_two_factor(user_id, app.at(self.clock.now()))
        self.clock.advance(30)
        return app, codes

    def code(self, app: pyotp.TOTP, at: datetime | None = None) -> str:
        return app.at(at or self.clock.now())
