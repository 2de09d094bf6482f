"""Signing in to the dashboard (AccountService on the in-memory store): passwords, throttling
per account and per IP, two-factor codes (TOTP without replays, recovery codes once)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.support.accounts import PASSWORD, Accounts, CountingHasher
from tresor.adapters.crypto import EnvelopeVault, Keyring, MasterKey
from tresor.domain.accounts import check_csrf, totp_context
from tresor.domain.errors import (
    Conflict,
    InvalidTwoFactorCode,
    SessionExpired,
    SignInFailed,
    TooManyAttempts,
    TwoFactorRequired,
    TwoFactorUnreadable,
    ValidationFailed,
    WeakPassword,
)
from tresor.domain.secrets import Secret
from tresor.services.access import digest
from tresor.services.rewrap import KeyRewrap

WRONG = Secret("not the password at all")


@pytest.fixture
def accounts() -> Accounts:
    return Accounts()


async def test_the_right_password_signs_in_with_a_token_and_its_csrf_token(
    accounts: Accounts,
) -> None:
    alice = await accounts.user()
    signed = await accounts.service.sign_in(
        name="alice", password=PASSWORD, code=None, ip="192.0.2.1", user_agent="Firefox"
    )
    assert signed.session.user_id == alice
    assert (signed.session.ip, signed.session.user_agent) == ("192.0.2.1", "Firefox")
    assert signed.session.expires_at == accounts.clock.now() + timedelta(hours=12)
    assert check_csrf(signed.token.reveal(), signed.csrf_token)
    assert await accounts.service.session(signed.token.reveal(), "192.0.2.1") == signed.session


async def test_a_wrong_password_and_an_unknown_name_give_the_same_error_and_work(
    accounts: Accounts,
) -> None:
    await accounts.user()
    refusals = []
    for name, password in [("alice", WRONG), ("mallory", PASSWORD), ("", PASSWORD)]:
        before = accounts.hasher.verified
        with pytest.raises(SignInFailed) as caught:
            await accounts.sign_in(name, password)
        assert accounts.hasher.verified == before + 1  # a hash verified every time
        refusals.append((caught.value.code, caught.value.message, caught.value.remedy))
    assert len(set(refusals)) == 1
    assert refusals[0][0] == "sign_in_failed"


async def test_a_user_without_a_password_cannot_sign_in(accounts: Accounts) -> None:
    await accounts.user(password=None)
    with pytest.raises(SignInFailed):
        await accounts.sign_in("alice", PASSWORD)


async def test_failures_are_throttled_per_account_even_for_the_right_password(
    accounts: Accounts,
) -> None:
    await accounts.user()
    for n in range(5):
        with pytest.raises(SignInFailed):
            await accounts.sign_in("alice", WRONG, ip=f"198.51.100.{n}")
    verified = accounts.hasher.verified
    with pytest.raises(TooManyAttempts) as caught:
        await accounts.sign_in("alice", PASSWORD, ip="203.0.113.99")
    assert caught.value.retry_after == 15 * 60
    assert accounts.hasher.verified == verified  # refused before any hashing
    accounts.clock.advance(15 * 60 + 1)
    assert await accounts.sign_in("alice", PASSWORD)


async def test_failures_are_throttled_per_ip_across_account_names(accounts: Accounts) -> None:
    await accounts.user()
    for n in range(20):
        with pytest.raises(SignInFailed):
            await accounts.sign_in(f"guess{n}", WRONG, ip="203.0.113.7")
    with pytest.raises(TooManyAttempts):
        await accounts.sign_in("alice", PASSWORD, ip="203.0.113.7")
    assert await accounts.sign_in("alice", PASSWORD, ip="203.0.113.8")


async def test_a_successful_sign_in_forgets_the_accounts_failures(accounts: Accounts) -> None:
    await accounts.user()
    for _ in range(4):
        with pytest.raises(SignInFailed):
            await accounts.sign_in("alice", WRONG)
    assert await accounts.sign_in("alice", PASSWORD)
    for _ in range(4):
        with pytest.raises(SignInFailed):
            await accounts.sign_in("alice", WRONG, ip="192.0.2.99")
    assert await accounts.sign_in("alice", PASSWORD)  # 4 + 4 failures, never 5 in a row


async def test_nothing_secret_is_stored(accounts: Accounts) -> None:
    alice = await accounts.user()
    with pytest.raises(SignInFailed):
        await accounts.sign_in("alice", WRONG)
    token = await accounts.sign_in()
    tables = accounts.store.committed
    stored_hash, _ = tables.accounts.passwords[alice]
    assert stored_hash.startswith("$argon2id$")
    assert PASSWORD.reveal() not in stored_hash
    assert sorted(key for key, _ in tables.attempts.values()) == [
        "login:ip:192.0.2.10"  # the account's failure was forgotten at sign-in
    ]
    [(token_hash, _)] = tables.accounts.sessions.values()
    assert token_hash == digest(token) != token
    assert WRONG.reveal() not in repr(tables)
    assert token not in repr(tables)


async def test_weak_passwords_are_refused(accounts: Accounts) -> None:
    alice = await accounts.user(password=None)
    for weak in ["short", " " * 12, "x" * 1025]:
        with pytest.raises(WeakPassword) as caught:
            await accounts.service.set_password(alice, Secret(weak))
        assert caught.value.code == "password_too_weak"
    assert not await accounts.service.has_password(alice)
    await accounts.service.set_password(alice, Secret("ten chars!"))
    assert await accounts.service.has_password(alice)


async def test_an_overlong_password_at_sign_in_is_refused_like_a_wrong_one(
    accounts: Accounts,
) -> None:
    await accounts.user()
    with pytest.raises(SignInFailed):
        await accounts.sign_in("alice", Secret("x" * 100_000))


async def test_a_hash_under_old_parameters_is_replaced_at_sign_in(accounts: Accounts) -> None:
    alice = await accounts.user()
    old_hash, _ = accounts.store.committed.accounts.passwords[alice]
    stronger = CountingHasher(time_cost=2, memory_cost=16)
    upgraded = Accounts(store=accounts.store, clock=accounts.clock, hasher=stronger)
    assert await upgraded.sign_in()
    new_hash, _ = accounts.store.committed.accounts.passwords[alice]
    assert new_hash != old_hash
    assert "m=16,t=2" in new_hash
    assert await upgraded.sign_in()  # and it still verifies


# -- two-factor --------------------------------------------------------------------------------
async def test_with_two_factor_a_missing_code_asks_for_one_and_is_not_a_failure(
    accounts: Accounts,
) -> None:
    alice = await accounts.user()
    app, _ = await accounts.with_two_factor(alice)
    assert await accounts.service.two_factor_enabled(alice)
    for _ in range(6):  # more than the account's failures allowed
        with pytest.raises(TwoFactorRequired) as caught:
            await accounts.sign_in(code="  ")
        assert caught.value.code == "two_factor_required"
    assert await accounts.sign_in(code=accounts.code(app))


async def test_the_password_is_checked_before_the_code_is_asked_for(accounts: Accounts) -> None:
    alice = await accounts.user()
    await accounts.with_two_factor(alice)
    with pytest.raises(SignInFailed):
        await accounts.sign_in("alice", WRONG, code=None)


async def test_a_wrong_code_is_refused_and_counted_as_a_failure(accounts: Accounts) -> None:
    alice = await accounts.user()
    app, _ = await accounts.with_two_factor(alice)
    wrong = f"{(int(accounts.code(app)) + 1) % 1_000_000:06d}"
    for _ in range(5):
        with pytest.raises(InvalidTwoFactorCode):
            await accounts.sign_in(code=wrong)
    with pytest.raises(TooManyAttempts):
        await accounts.sign_in(code=accounts.code(app))


async def test_a_code_of_the_previous_or_next_step_is_accepted_not_further(
    accounts: Accounts,
) -> None:
    alice = await accounts.user()
    app, _ = await accounts.with_two_factor(alice)
    accounts.clock.advance(60)  # two steps past the confirming code's
    now = accounts.clock.now()
    with pytest.raises(InvalidTwoFactorCode):  # a step after the confirming code's, too old
        await accounts.sign_in(code=accounts.code(app, now - timedelta(seconds=60)))
    assert await accounts.sign_in(code=accounts.code(app, now - timedelta(seconds=30)))
    assert await accounts.sign_in(code=accounts.code(app, now + timedelta(seconds=30)))


async def test_a_totp_code_cannot_be_used_twice_nor_an_earlier_one_after_it(
    accounts: Accounts,
) -> None:
    alice = await accounts.user()
    app, _ = await accounts.with_two_factor(alice)
    code = accounts.code(app)
    assert await accounts.sign_in(code=code)
    with pytest.raises(InvalidTwoFactorCode):
        await accounts.sign_in(code=code)  # overheard and replayed
    earlier = accounts.code(app, accounts.clock.now() - timedelta(seconds=30))
    with pytest.raises(InvalidTwoFactorCode):
        await accounts.sign_in(code=earlier)
    accounts.clock.advance(30)
    assert await accounts.sign_in(code=accounts.code(app))


async def test_a_recovery_code_works_once_whatever_its_case_and_dashes(
    accounts: Accounts,
) -> None:
    alice = await accounts.user()
    _, codes = await accounts.with_two_factor(alice)
    assert len(codes) == len(set(codes)) == 10
    assert all(len(c) == 14 and c.count("-") == 2 for c in codes)
    assert await accounts.service.recovery_codes_left(alice) == 10
    assert await accounts.sign_in(code=f" {codes[3].upper().replace('-', '')} ")
    assert await accounts.service.recovery_codes_left(alice) == 9
    with pytest.raises(InvalidTwoFactorCode):
        await accounts.sign_in(code=codes[3])
    with pytest.raises(InvalidTwoFactorCode):
        await accounts.sign_in(code="aaaa-bbbb-cccc")
    assert await accounts.sign_in(code=codes[4])


async def test_setting_up_keeps_the_secret_encrypted_and_pending_until_confirmed(
    accounts: Accounts,
) -> None:
    alice = await accounts.user()
    secret, uri = await accounts.service.begin_two_factor(alice, "alice@tresor", password=PASSWORD)
    assert uri.startswith("otpauth://totp/Tresor:alice%40tresor?")
    assert f"secret={secret.reveal()}" in uri
    state = accounts.store.committed.accounts.two_factor[alice]
    assert state.pending_ct is not None
    assert state.secret_ct is None
    assert secret.reveal().encode() not in state.pending_ct
    clear = accounts.vault.decrypt(state.pending_ct, context=totp_context(alice))
    assert clear == secret.reveal().encode()
    assert not await accounts.service.two_factor_enabled(alice)
    assert await accounts.sign_in()  # pending: signing in needs no code yet


async def test_confirming_needs_a_right_code_of_the_pending_secret(accounts: Accounts) -> None:
    alice = await accounts.user()
    with pytest.raises(ValidationFailed):
        await accounts.service.confirm_two_factor(alice, "123456")
    await accounts.service.begin_two_factor(alice, "alice", password=PASSWORD)
    with pytest.raises(InvalidTwoFactorCode):
        await accounts.service.confirm_two_factor(alice, "000000")
    assert not await accounts.service.two_factor_enabled(alice)


async def test_two_factor_cannot_be_set_up_again_while_it_is_on(accounts: Accounts) -> None:
    alice = await accounts.user()
    await accounts.with_two_factor(alice)
    with pytest.raises(Conflict):
        await accounts.service.begin_two_factor(alice, "alice", password=PASSWORD)


async def test_turning_two_factor_off_needs_the_password(accounts: Accounts) -> None:
    alice = await accounts.user()
    await accounts.with_two_factor(alice)
    with pytest.raises(SignInFailed):
        await accounts.service.disable_two_factor(alice, WRONG)
    assert await accounts.service.two_factor_enabled(alice)
    await accounts.service.disable_two_factor(alice, PASSWORD)
    assert not await accounts.service.two_factor_enabled(alice)
    assert await accounts.service.recovery_codes_left(alice) == 0
    assert await accounts.sign_in()


async def test_new_recovery_codes_replace_the_old_ones(accounts: Accounts) -> None:
    alice = await accounts.user()
    _, old = await accounts.with_two_factor(alice)
    new = await accounts.service.renew_recovery_codes(alice, PASSWORD)
    assert not set(old) & set(new)
    with pytest.raises(InvalidTwoFactorCode):
        await accounts.sign_in(code=old[0])
    assert await accounts.sign_in(code=new[0])


async def test_a_two_factor_secret_moved_to_another_user_does_not_decrypt(
    accounts: Accounts,
) -> None:
    alice = await accounts.user()
    bob = await accounts.user("bob")
    await accounts.with_two_factor(alice)
    await accounts.service.begin_two_factor(bob, "bob", password=PASSWORD)
    tables = accounts.store.committed.accounts
    stolen = tables.two_factor[alice].secret_ct
    tables.two_factor[bob] = replace(tables.two_factor[bob], secret_ct=stolen, pending_ct=None)
    with pytest.raises(TwoFactorUnreadable) as refused:  # a clear answer, not a crash
        await accounts.sign_in("bob", code="123456")
    assert "reset-two-factor" in refused.value.remedy


async def test_with_a_damaged_two_factor_secret_a_recovery_code_still_signs_in(
    accounts: Accounts,
) -> None:
    alice = await accounts.user()
    app, codes = await accounts.with_two_factor(alice)
    tables = accounts.store.committed.accounts
    damaged = bytes(tables.two_factor[alice].secret_ct or b"")[:-1] + b"?"
    tables.two_factor[alice] = replace(tables.two_factor[alice], secret_ct=damaged)
    with pytest.raises(TwoFactorUnreadable):
        await accounts.sign_in(code=accounts.code(app))
    assert await accounts.sign_in(code=codes[0])


async def test_two_factor_secrets_follow_a_master_key_rotation(accounts: Accounts) -> None:
    alice = await accounts.user()
    bob = await accounts.user("bob")
    app, _ = await accounts.with_two_factor(alice)
    await accounts.service.begin_two_factor(
        bob, "bob", password=PASSWORD
    )  # pending: re-wrapped too
    new_key = MasterKey.generate()
    rotated = EnvelopeVault(accounts.vault.keyring.with_current(new_key))
    assert await KeyRewrap(accounts.store.uow, rotated).run() == 2
    only_new = Accounts(
        store=accounts.store, clock=accounts.clock, vault=EnvelopeVault(Keyring(new_key))
    )
    assert await only_new.sign_in(code=only_new.code(app))


async def test_the_operator_can_reset_two_factor_for_a_user_who_lost_it(
    accounts: Accounts,
) -> None:
    alice = await accounts.user()
    await accounts.with_two_factor(alice)
    token = await accounts.sign_in(
        code=(await accounts.service.renew_recovery_codes(alice, PASSWORD))[0]
    )
    assert await accounts.service.reset_two_factor(alice) is True
    assert await accounts.service.reset_two_factor(alice) is False
    assert not await accounts.service.two_factor_enabled(alice)
    with pytest.raises(SessionExpired):
        await accounts.service.session(token, "ip")
    assert await accounts.sign_in()  # the password alone again


async def test_turning_two_factor_on_asks_for_the_password_again(accounts: Accounts) -> None:
    alice = await accounts.user()
    with pytest.raises(SignInFailed):
        await accounts.service.begin_two_factor(alice, "alice", password=Secret("not it at all"))
    assert not await accounts.service.two_factor_enabled(alice)
    tables = accounts.store.committed.accounts
    assert alice not in tables.two_factor  # nothing pending either
