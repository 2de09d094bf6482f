"""``Argon2Passwords``: the ``PasswordHasher`` port on pwdlib's Argon2id.

Hashes are PHC strings (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``) that carry their own
parameters, so raising the parameters later needs no migration: a hash made under older ones
still verifies, and ``verify`` returns its replacement under the current ones for the service
to store. Both calls take tens of milliseconds of CPU with the default parameters (argon2-cffi's
RFC 9106 "low memory" profile: 64 MiB, 3 passes); the service runs them on a thread.
"""

from __future__ import annotations

import argon2
from pwdlib import PasswordHash, exceptions
from pwdlib.hashers.argon2 import Argon2Hasher


class Argon2Passwords:
    """``time_cost``/``memory_cost`` (KiB)/``parallelism`` default to argon2-cffi's; tests may
    pass cheap ones."""

    def __init__(
        self,
        *,
        time_cost: int = argon2.DEFAULT_TIME_COST,
        memory_cost: int = argon2.DEFAULT_MEMORY_COST,
        parallelism: int = argon2.DEFAULT_PARALLELISM,
    ) -> None:
        hasher = Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        self._hash = PasswordHash((hasher,))

    def hash(self, password: str) -> str:
        return self._hash.hash(password)

    def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        try:
            return self._hash.verify_and_update(password, password_hash)
        except (exceptions.UnknownHashError, exceptions.HashVerificationError):
            return False, None  # not an Argon2 hash, or a damaged one: it matches nothing
