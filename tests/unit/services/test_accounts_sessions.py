"""Dashboard sessions, password changes, preferences and a user's own API clients
(AccountService and AccessService on the in-memory store, with a fake clock)."""

from __future__ import annotations

import pytest

from tests.support.accounts import PASSWORD, Accounts
from tresor.domain.access import Scope
from tresor.domain.accounts import (
    Preferences,
    WebSession,
    check_csrf,
    csrf_token_for,
    session_principal,
)
from tresor.domain.errors import (
    InvalidClient,
    InvalidScope,
    InvalidToken,
    NotFound,
    SessionExpired,
    SignInFailed,
    TooManyAttempts,
    ValidationFailed,
    WeakPassword,
)
from tresor.domain.secrets import Secret

NEW = Secret("a brand new passphrase")


@pytest.fixture
def accounts() -> Accounts:
    return Accounts()


def stored_session(accounts: Accounts, session_id: str) -> WebSession:
    _, session = accounts.store.committed.accounts.sessions[session_id]
    return session


async def test_a_session_ends_after_thirty_idle_minutes(accounts: Accounts) -> None:
    await accounts.user()
    token = await accounts.sign_in()
    accounts.clock.advance(30 * 60)
    assert await accounts.service.session(token, "ip")  # exactly the idle time: still on
    accounts.clock.advance(30 * 60 + 1)
    with pytest.raises(SessionExpired) as caught:
        await accounts.service.session(token, "ip")
    assert caught.value.code == "session_expired"


async def test_a_session_ends_twelve_hours_after_sign_in_however_much_it_is_used(
    accounts: Accounts,
) -> None:
    await accounts.user()
    token = await accounts.sign_in()
    for _ in range(12 * 6 - 1):
        accounts.clock.advance(10 * 60)
        assert await accounts.service.session(token, "ip")
    accounts.clock.advance(10 * 60)
    with pytest.raises(SessionExpired):
        await accounts.service.session(token, "ip")


@pytest.mark.parametrize("token", ["", "garbage", "trw_" + "A" * 43, "tra_access-token"])
async def test_an_unknown_token_is_an_expired_session(accounts: Accounts, token: str) -> None:
    await accounts.user()
    await accounts.sign_in()
    with pytest.raises(SessionExpired):
        await accounts.service.session(token, "ip")


async def test_last_seen_is_written_at_most_once_a_minute(accounts: Accounts) -> None:
    await accounts.user()
    token = await accounts.sign_in(ip="192.0.2.1")
    signed_at = accounts.clock.now()
    session = await accounts.service.session(token, "192.0.2.2")
    for _ in range(5):
        accounts.clock.advance(10)
        session = await accounts.service.session(token, "192.0.2.2")
    stored = stored_session(accounts, session.id)
    assert (stored.last_seen_at, stored.ip) == (signed_at, "192.0.2.1")  # 50 s: not written
    accounts.clock.advance(10)
    session = await accounts.service.session(token, "192.0.2.3")
    stored = stored_session(accounts, session.id)
    assert stored == session
    assert (stored.last_seen_at, stored.ip) == (accounts.clock.now(), "192.0.2.3")


async def test_sign_out_ends_that_session_only(accounts: Accounts) -> None:
    await accounts.user()
    laptop, phone = await accounts.sign_in(), await accounts.sign_in()
    await accounts.service.sign_out(laptop)
    await accounts.service.sign_out(laptop)  # twice: no error
    await accounts.service.sign_out("nonsense")
    with pytest.raises(SessionExpired):
        await accounts.service.session(laptop, "ip")
    assert await accounts.service.session(phone, "ip")


async def test_sign_out_everywhere_ends_every_session_of_the_user(accounts: Accounts) -> None:
    alice = await accounts.user()
    await accounts.user("bob")
    tokens = [await accounts.sign_in() for _ in range(3)]
    bobs = await accounts.sign_in("bob")
    assert await accounts.service.sign_out_everywhere(alice) == 3
    assert await accounts.service.sign_out_everywhere(alice) == 0
    for token in tokens:
        with pytest.raises(SessionExpired):
            await accounts.service.session(token, "ip")
    assert await accounts.service.session(bobs, "ip")


async def test_the_sessions_listed_are_the_live_ones_newest_first(accounts: Accounts) -> None:
    alice = await accounts.user()
    idle = await accounts.sign_in()
    accounts.clock.advance(20 * 60)
    ended = await accounts.sign_in()
    accounts.clock.advance(60)
    older = await accounts.service.session(await accounts.sign_in(), "ip")
    accounts.clock.advance(60)
    newer = await accounts.service.session(await accounts.sign_in(), "ip")
    await accounts.service.sign_out(ended)
    accounts.clock.advance(15 * 60)  # the first is idle for 37 minutes now
    assert await accounts.service.sessions(alice) == [newer, older]
    with pytest.raises(SessionExpired):
        await accounts.service.session(idle, "ip")


async def test_a_user_ends_one_of_their_sessions_but_never_another_users(
    accounts: Accounts,
) -> None:
    alice = await accounts.user()
    bob = await accounts.user("bob")
    alices = await accounts.service.session(await accounts.sign_in(), "ip")
    bobs_token = await accounts.sign_in("bob")
    bobs = await accounts.service.session(bobs_token, "ip")
    with pytest.raises(NotFound):
        await accounts.service.end_session(alice, bobs.id)
    with pytest.raises(NotFound):
        await accounts.service.end_session(alice, "no-such-session")
    assert await accounts.service.session(bobs_token, "ip")
    await accounts.service.end_session(alice, alices.id)
    assert await accounts.service.sessions(alice) == []
    with pytest.raises(NotFound):  # ended already
        await accounts.service.end_session(alice, alices.id)
    assert [s.id for s in await accounts.service.sessions(bob)] == [bobs.id]


async def test_changing_the_password_ends_every_other_session(accounts: Accounts) -> None:
    alice = await accounts.user()
    here_token, elsewhere = await accounts.sign_in(), await accounts.sign_in()
    here = await accounts.service.session(here_token, "ip")
    await accounts.service.change_password(
        alice, current=PASSWORD, new=NEW, keep_session_id=here.id
    )
    assert await accounts.service.session(here_token, "ip")
    with pytest.raises(SessionExpired):
        await accounts.service.session(elsewhere, "ip")
    with pytest.raises(SignInFailed):
        await accounts.sign_in(password=PASSWORD)
    assert await accounts.sign_in(password=NEW)


async def test_changing_the_password_needs_the_current_one_and_a_strong_new_one(
    accounts: Accounts,
) -> None:
    alice = await accounts.user()
    token = await accounts.sign_in()
    with pytest.raises(SignInFailed):
        await accounts.service.change_password(
            alice, current=Secret("wrong password!"), new=NEW, keep_session_id=None
        )
    with pytest.raises(WeakPassword):
        await accounts.service.change_password(
            alice, current=PASSWORD, new=Secret("short"), keep_session_id=None
        )
    assert await accounts.service.session(token, "ip")  # nothing changed
    assert await accounts.sign_in(password=PASSWORD)


async def test_wrong_current_passwords_are_throttled_like_sign_ins(accounts: Accounts) -> None:
    alice = await accounts.user()
    for _ in range(5):
        with pytest.raises(SignInFailed):
            await accounts.service.change_password(
                alice, current=Secret("wrong password!"), new=NEW, keep_session_id=None
            )
    with pytest.raises(TooManyAttempts):
        await accounts.service.change_password(
            alice, current=PASSWORD, new=NEW, keep_session_id=None
        )
    with pytest.raises(TooManyAttempts):
        await accounts.sign_in(password=PASSWORD)


async def test_the_operator_setting_a_password_ends_every_session(accounts: Accounts) -> None:
    alice = await accounts.user()
    token = await accounts.sign_in()
    await accounts.service.set_password(alice, NEW)
    with pytest.raises(SessionExpired):
        await accounts.service.session(token, "ip")
    with pytest.raises(NotFound):
        await accounts.service.set_password("ghost", NEW)


def test_the_csrf_token_belongs_to_its_session_token_only() -> None:
    token, other = "trw_first", "trw_second"
    assert check_csrf(token, csrf_token_for(token))
    assert not check_csrf(other, csrf_token_for(token))
    assert not check_csrf(token, "")
    assert len(csrf_token_for(token)) == 64


async def test_a_session_acts_for_its_user_with_every_scope(accounts: Accounts) -> None:
    alice = await accounts.user()
    session = await accounts.service.session(await accounts.sign_in(), "ip")
    principal = session_principal(session)
    assert principal.user_id == alice
    assert principal.client_id == f"session:{session.id}"
    assert principal.scopes == frozenset({Scope.READ, Scope.TRADE, Scope.ADMIN})


# -- preferences -------------------------------------------------------------------------------
async def test_preferences_default_to_usd_and_utc_and_are_kept(accounts: Accounts) -> None:
    alice = await accounts.user()
    assert await accounts.service.preferences(alice) == Preferences("USD", "UTC")
    saved = await accounts.service.set_preferences(alice, quote="EUR", timezone="Europe/Paris")
    assert saved == Preferences("EUR", "Europe/Paris")
    assert await accounts.service.preferences(alice) == saved


@pytest.mark.parametrize(
    ("quote", "timezone"),
    [
        ("usd", "UTC"),
        ("U", "UTC"),
        ("ABCDEFGHIJK", "UTC"),
        ("US D", "UTC"),
        ("USD", "Mars/Olympus"),
        ("USD", "../../etc/passwd"),
        ("USD", ""),
    ],
)
async def test_preferences_refuse_a_bad_quote_or_an_unknown_time_zone(
    accounts: Accounts, quote: str, timezone: str
) -> None:
    alice = await accounts.user()
    with pytest.raises(ValidationFailed):
        await accounts.service.set_preferences(alice, quote=quote, timezone=timezone)
    assert await accounts.service.preferences(alice) == Preferences()


# -- a user's own API clients ------------------------------------------------------------------
async def test_a_user_creates_lists_and_revokes_their_api_clients(accounts: Accounts) -> None:
    alice = await accounts.user()
    access = accounts.access
    first, secret = await access.create_client_for(alice, name=" tax export ", scopes="read")
    accounts.clock.advance(1)  # listed oldest first
    second, _ = await access.create_client_for(alice, name="bot", scopes="read,trade")
    assert first.name == "tax export"
    assert first.scopes == frozenset({Scope.READ})
    assert [c.id for c in await access.clients_of(alice)] == [first.id, second.id]
    issued = await access.client_credentials(first.id, secret, None, "ip")
    assert (await access.authenticate(issued.access_token, "ip")).client_id == first.id
    await access.revoke_client(alice, first.id)
    assert [c.id for c in await access.clients_of(alice)] == [second.id]
    with pytest.raises(InvalidToken):  # at once, despite the validated-token cache
        await access.authenticate(issued.access_token, "ip")
    with pytest.raises(InvalidClient):
        await access.client_credentials(first.id, secret, None, "ip")


async def test_another_users_api_client_cannot_be_revoked(accounts: Accounts) -> None:
    alice = await accounts.user()
    bob = await accounts.user("bob")
    bobs, _ = await accounts.access.create_client_for(bob, name="bot", scopes="read")
    with pytest.raises(NotFound):
        await accounts.access.revoke_client(alice, bobs.id)
    with pytest.raises(NotFound):
        await accounts.access.revoke_client(alice, "trc_nonexistent")
    assert [c.id for c in await accounts.access.clients_of(bob)] == [bobs.id]
    assert await accounts.access.clients_of(alice) == []


@pytest.mark.parametrize(
    ("name", "scopes", "error"),
    [
        ("bot", "", ValidationFailed),
        ("bot", "read,withdraw", InvalidScope),
        ("", "read", ValidationFailed),
        ("x" * 65, "read", ValidationFailed),
    ],
)
async def test_an_api_client_needs_a_name_and_known_scopes(
    accounts: Accounts, name: str, scopes: str, error: type[Exception]
) -> None:
    alice = await accounts.user()
    with pytest.raises(error):
        await accounts.access.create_client_for(alice, name=name, scopes=scopes)
    assert await accounts.access.clients_of(alice) == []


async def test_sessions_ended_or_expired_over_a_day_ago_are_purged(accounts: Accounts) -> None:
    await accounts.user()
    ended = await accounts.sign_in()
    await accounts.service.sign_out(ended)
    await accounts.sign_in()  # expires 12 hours after sign-in
    accounts.clock.advance(11 * 3600)
    live = await accounts.sign_in()
    accounts.clock.advance(13 * 3600 + 1)  # the first ended 24 h ago, the second expired 12 h ago
    assert await accounts.service.purge_sessions() == 1
    accounts.clock.advance(12 * 3600)
    assert await accounts.service.purge_sessions() == 1
    assert len(accounts.store.committed.accounts.sessions) == 1
    with pytest.raises(SessionExpired):
        await accounts.service.session(live, "ip")
