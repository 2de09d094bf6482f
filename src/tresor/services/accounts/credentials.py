"""Passwords and the throttling of attempts to sign in with them.

Hashing and verifying take tens of milliseconds of CPU (Argon2): they run on a thread, never
on the event loop, and never inside a unit of work (which, on SQLite, holds the write lock).
A name no user has is verified against a dummy hash all the same, so an answer's timing does
not tell which names exist. Failures are counted per account name and per client IP in the
``attempts`` repository (``login:user:<name>``, ``login:ip:<ip>``); enough of either within the
policy's window refuses further attempts before any password is looked at.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence

from tresor.domain.accounts import SessionPolicy, check_password
from tresor.domain.errors import NotFound, SignInFailed, TooManyAttempts
from tresor.domain.secrets import Secret
from tresor.services.ports import Clock, PasswordHasher, UnitOfWork, UnitOfWorkFactory


def account_key(name: str) -> str:
    return f"login:user:{name}"


def ip_key(ip: str) -> str:
    return f"login:ip:{ip}"


class Credentials:
    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, hasher: PasswordHasher, policy: SessionPolicy
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._hasher = hasher
        self._policy = policy
        self._dummy: str | None = None

    async def new_hash(self, password: Secret) -> str:
        """The hash to store for a new password. Raises: WeakPassword."""
        check_password(password, self._policy)
        return await asyncio.to_thread(self._hasher.hash, password.reveal())

    async def verify(self, stored: str | None, password: Secret) -> tuple[bool, str | None]:
        """Whether ``password`` matches ``stored`` (None: there is no password, which matches
        nothing but takes as long), and the hash to store instead when it was made under older
        parameters."""
        candidate = password.reveal()
        too_long = len(candidate) > self._policy.password_max_length
        if stored is None or too_long:
            await asyncio.to_thread(self._hasher.verify, candidate[:64], await self._dummy_hash())
            return False, None
        return await asyncio.to_thread(self._hasher.verify, candidate, stored)

    async def throttle(self, uow: UnitOfWork, keys: Sequence[str]) -> None:
        """Raises: TooManyAttempts if any of ``keys`` (``account_key``, ``ip_key``) has had its
        maximum of failures within the window."""
        policy = self._policy
        since = self._clock.now() - policy.failure_window
        for key in keys:
            is_ip = key.startswith(ip_key(""))
            limit = policy.max_failures_per_ip if is_ip else policy.max_failures_per_account
            if await uow.attempts.failures_since(key, since) >= limit:
                raise TooManyAttempts(
                    int(policy.failure_window.total_seconds()),
                    message="Too many failed attempts to sign in.",
                    remedy="Wait a few minutes before trying again; check the name and password.",
                )

    async def fail(self, keys: Sequence[str]) -> None:
        """Count a failure against each of ``keys`` (in a unit of work of its own)."""
        now = self._clock.now()
        async with self._uow() as uow:
            for key in keys:
                await uow.attempts.record_failure(key, now)
            await uow.commit()

    async def check_current(self, user_id: str, password: Secret) -> None:
        """Check a signed-in user's password again (before changing it or turning two-factor
        off), throttled and counted like a sign-in to the account.

        Raises: NotFound, TooManyAttempts, SignInFailed."""
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise NotFound("There is no such user.")
            keys = [account_key(user.name)]
            await self.throttle(uow, keys)
            stored = await uow.passwords.get(user_id)
        ok, new_hash = await self.verify(stored, password)
        if not ok:
            await self.fail(keys)
            raise SignInFailed(
                "The current password is wrong.", remedy="Enter the password you sign in with."
            )
        if new_hash is not None:
            async with self._uow() as uow:
                await uow.passwords.set(user_id, new_hash, self._clock.now())
                await uow.commit()

    async def _dummy_hash(self) -> str:
        # made once per process, on first need
        if self._dummy is None:
            self._dummy = await asyncio.to_thread(self._hasher.hash, secrets.token_urlsafe(16))
        return self._dummy
