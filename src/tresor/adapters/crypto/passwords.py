"""``Argon2Passwords``: the ``PasswordHasher`` port on pwdlib's Argon2id.

Hashes are PHC strings (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``) that carry their own
parameters, so raising the parameters later needs no migration: a hash made under older ones
still verifies, and ``verify`` returns its replacement under the current ones for the service
to store.

The parameters are one of OWASP's recommended Argon2id configurations (Password Storage Cheat
Sheet): 46 MiB, 1 pass, 1 lane, about 100 ms of one core on the benchmark's machine. argon2-cffi's
default (RFC 9106's "low memory" profile: 64 MiB, 3 passes, 4 lanes) took 206 ms of both of its
cores, and under load a sign-in took half a second of the second the dashboard has to show the
overview in (docs/benchmarks.md, issue 13). The service runs both calls on a thread.
"""

from __future__ import annotations

from pwdlib import PasswordHash, exceptions
from pwdlib.hashers.argon2 import Argon2Hasher

TIME_COST = 1
MEMORY_COST_KIB = 47_104  # 46 MiB
PARALLELISM = 1


class Argon2Passwords:
    """``time_cost``/``memory_cost`` (KiB)/``parallelism``: see the module docstring; tests may
    pass cheap ones."""

    def __init__(
        self,
        *,
        time_cost: int = TIME_COST,
        memory_cost: int = MEMORY_COST_KIB,
        parallelism: int = PARALLELISM,
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
