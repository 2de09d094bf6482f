"""Password hashes: Argon2id at OWASP's 46 MiB / 1 pass / 1 lane, and a hash made under other
parameters (argon2-cffi's defaults, which Tresor used before) still verifies and is replaced."""

from __future__ import annotations

import argon2

from tresor.adapters.crypto.passwords import Argon2Passwords


def test_a_password_is_hashed_at_the_chosen_parameters_and_verifies() -> None:
    passwords = Argon2Passwords()
    stored = passwords.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=47104,t=1,p=1$")
    assert passwords.verify("correct horse battery staple", stored) == (True, None)
    assert passwords.verify("wrong", stored) == (False, None)
    assert passwords.verify("anything", "not a hash") == (False, None)


def test_a_hash_under_older_parameters_verifies_and_comes_back_replaced() -> None:
    older = argon2.PasswordHasher(time_cost=3, memory_cost=65_536, parallelism=4)
    stored = older.hash("correct horse battery staple")
    ok, replacement = Argon2Passwords().verify("correct horse battery staple", stored)
    assert ok
    assert replacement is not None
    assert replacement.startswith("$argon2id$v=19$m=47104,t=1,p=1$")
    assert Argon2Passwords().verify("wrong", stored) == (False, None)
