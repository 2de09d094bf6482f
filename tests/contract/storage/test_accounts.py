"""Contract of the dashboard's sign-in repositories (passwords, web sessions, two-factor with
recovery codes, preferences) and of revoking an API client, on every backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from tests.contract.storage import data
from tests.contract.storage.conftest import Backend
from tresor.domain.accounts import Preferences, TwoFactor, WebSession

ALICE, BOB = "u1", "u2"


def web_session(
    session_id: str = "s1", user_id: str = ALICE, *, created: float = 0, **changes: Any
) -> WebSession:
    default = WebSession(
        id=session_id,
        user_id=user_id,
        created_at=data.at(created),
        last_seen_at=data.at(created),
        expires_at=data.at(created + 3_600),
        ip="2001:db8::7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0 ünïcode",
    )
    return replace(default, **changes)


def two_factor(user_id: str = ALICE, **changes: Any) -> TwoFactor:
    default = TwoFactor(
        user_id=user_id, updated_at=data.at(0), secret_ct=data.ALL_BYTES, last_counter=41
    )
    return replace(default, **changes)


@pytest.fixture
async def users(backend: Backend) -> Backend:
    await backend.given(
        lambda uow: uow.users.add(data.user(ALICE, "alice")),
        lambda uow: uow.users.add(data.user(BOB, "bob")),
    )
    return backend


# -- passwords ---------------------------------------------------------------------------------
async def test_a_password_hash_is_stored_replaced_and_read_per_user(users: Backend) -> None:
    await users.given(lambda uow: uow.passwords.set(ALICE, "$argon2id$first", data.at(0)))
    async with users.uow() as uow:
        assert await uow.passwords.get(ALICE) == "$argon2id$first"
        await uow.passwords.set(ALICE, "$argon2id$second", data.at(1))
        await uow.commit()
    async with users.uow() as uow:
        assert await uow.passwords.get(ALICE) == "$argon2id$second"
        assert await uow.passwords.get(BOB) is None


async def test_a_password_of_an_unknown_user_is_a_value_error(users: Backend) -> None:
    async with users.uow() as uow:
        with pytest.raises(ValueError, match="ghost"):
            await uow.passwords.set("ghost", "$argon2id$x", data.at(0))


# -- web sessions ------------------------------------------------------------------------------
async def test_a_session_round_trips_and_is_found_by_its_token_hash(users: Backend) -> None:
    original = web_session()
    await users.given(lambda uow: uow.sessions.add(original, "hash-1"))
    async with users.uow() as uow:
        assert await uow.sessions.by_token("hash-1") == original
        assert await uow.sessions.by_token("hash-2") is None
        assert await uow.sessions.get("s1", ALICE) == original


async def test_another_users_session_is_not_found_by_id(users: Backend) -> None:
    await users.given(lambda uow: uow.sessions.add(web_session(), "hash-1"))
    async with users.uow() as uow:
        assert await uow.sessions.get("s1", BOB) is None
        assert await uow.sessions.get("s2", ALICE) is None


@pytest.mark.parametrize(
    ("session_id", "token_hash", "user_id"),
    [("s1", "hash-2", ALICE), ("s2", "hash-1", ALICE), ("s2", "hash-2", "ghost")],
)
async def test_a_taken_id_or_token_hash_or_an_unknown_user_is_a_value_error(
    users: Backend, session_id: str, token_hash: str, user_id: str
) -> None:
    await users.given(lambda uow: uow.sessions.add(web_session(), "hash-1"))
    async with users.uow() as uow:
        with pytest.raises(ValueError, match="session"):
            await uow.sessions.add(web_session(session_id, user_id), token_hash)


async def test_touch_moves_last_seen_and_the_ip_and_is_seen_at_once(users: Backend) -> None:
    await users.given(lambda uow: uow.sessions.add(web_session(), "hash-1"))
    async with users.uow() as uow:
        assert await uow.sessions.by_token("hash-1") == web_session()
        await uow.sessions.touch("s1", data.at(60), "192.0.2.9")
        touched = web_session(last_seen_at=data.at(60), ip="192.0.2.9")
        assert await uow.sessions.by_token("hash-1") == touched
        await uow.commit()
    async with users.uow() as uow:
        assert await uow.sessions.get("s1", ALICE) == touched


async def test_end_marks_a_session_once_and_keeps_the_first_time(users: Backend) -> None:
    await users.given(lambda uow: uow.sessions.add(web_session(), "hash-1"))
    async with users.uow() as uow:
        assert await uow.sessions.end("s1", data.at(10)) is True
        assert await uow.sessions.end("s1", data.at(20)) is False
        assert await uow.sessions.end("unknown", data.at(20)) is False
        await uow.commit()
    async with users.uow() as uow:
        assert await uow.sessions.get("s1", ALICE) == web_session(ended_at=data.at(10))


async def test_end_all_ends_the_users_open_sessions_but_the_one_kept(users: Backend) -> None:
    await users.given(
        lambda uow: uow.sessions.add(web_session("a1"), "h-a1"),
        lambda uow: uow.sessions.add(web_session("a2"), "h-a2"),
        lambda uow: uow.sessions.add(web_session("a3", ended_at=data.at(5)), "h-a3"),
        lambda uow: uow.sessions.add(web_session("keep"), "h-keep"),
        lambda uow: uow.sessions.add(web_session("b1", BOB), "h-b1"),
    )
    async with users.uow() as uow:
        assert await uow.sessions.end_all(ALICE, data.at(50), keep="keep") == 2
        assert await uow.sessions.end_all(ALICE, data.at(60), keep="keep") == 0
        await uow.commit()
    async with users.uow() as uow:
        ended: dict[str, datetime | None] = {}
        for session_id, owner in [("a1", ALICE), ("a2", ALICE), ("a3", ALICE), ("keep", ALICE)]:
            found = await uow.sessions.get(session_id, owner)
            assert found is not None
            ended[session_id] = found.ended_at
        bobs = await uow.sessions.get("b1", BOB)
    assert ended == {"a1": data.at(50), "a2": data.at(50), "a3": data.at(5), "keep": None}
    assert bobs is not None
    assert bobs.ended_at is None


async def test_active_lists_live_recently_seen_sessions_newest_first(users: Backend) -> None:
    await users.given(
        lambda uow: uow.sessions.add(web_session("old", created=0), "h1"),
        lambda uow: uow.sessions.add(web_session("new", created=100), "h2"),
        lambda uow: uow.sessions.add(web_session("mid", created=50), "h3"),
        lambda uow: uow.sessions.add(web_session("ended", ended_at=data.at(1)), "h4"),
        lambda uow: uow.sessions.add(
            web_session("expired", created=-4_000, last_seen_at=data.at(10)), "h5"
        ),
        lambda uow: uow.sessions.add(web_session("idle", created=-100), "h6"),
        lambda uow: uow.sessions.add(web_session("bobs", BOB, created=100), "h7"),
    )
    async with users.uow() as uow:
        found = await uow.sessions.active(ALICE, now=data.at(200), seen_since=data.at(0))
    assert [s.id for s in found] == ["new", "mid", "old"]


async def test_purge_deletes_sessions_expired_or_ended_before_the_time(users: Backend) -> None:
    await users.given(
        lambda uow: uow.sessions.add(web_session("expired", created=-3_700), "h1"),
        lambda uow: uow.sessions.add(web_session("ended", ended_at=data.at(10)), "h2"),
        lambda uow: uow.sessions.add(web_session("ended-late", ended_at=data.at(30)), "h3"),
        lambda uow: uow.sessions.add(web_session("live"), "h4"),
    )
    async with users.uow() as uow:
        assert await uow.sessions.purge(data.at(20)) == 2
        assert await uow.sessions.by_token("h1") is None  # seen in the same unit of work
        await uow.commit()
    async with users.uow() as uow:
        left = [h for h in ("h1", "h2", "h3", "h4") if await uow.sessions.by_token(h)]
    assert left == ["h3", "h4"]


# -- two-factor --------------------------------------------------------------------------------
async def test_a_two_factor_state_round_trips_and_is_replaced(users: Backend) -> None:
    pending = two_factor(secret_ct=None, pending_ct=b"\x00pending", last_counter=None)
    await users.given(lambda uow: uow.two_factor.save(pending))
    async with users.uow() as uow:
        assert await uow.two_factor.get(ALICE) == pending
        assert await uow.two_factor.get(BOB) is None
        await uow.two_factor.save(two_factor())
        await uow.commit()
    async with users.uow() as uow:
        state = await uow.two_factor.get(ALICE)
    assert state == two_factor()
    assert state is not None
    assert state.enabled


async def test_a_two_factor_state_of_an_unknown_user_is_a_value_error(users: Backend) -> None:
    async with users.uow() as uow:
        with pytest.raises(ValueError, match="ghost"):
            await uow.two_factor.save(two_factor("ghost"))


async def test_a_counter_is_accepted_only_above_the_last_one(users: Backend) -> None:
    await users.given(lambda uow: uow.two_factor.save(two_factor(last_counter=41)))
    async with users.uow() as uow:
        assert await uow.two_factor.use_counter(ALICE, 41) is False  # replayed
        assert await uow.two_factor.use_counter(ALICE, 40) is False  # older
        assert await uow.two_factor.use_counter(ALICE, 42) is True
        assert await uow.two_factor.use_counter(ALICE, 42) is False
        await uow.commit()
    async with users.uow() as uow:
        state = await uow.two_factor.get(ALICE)
        assert await uow.two_factor.use_counter(BOB, 50) is False  # no state at all
    assert state is not None
    assert state.last_counter == 42


async def test_a_first_counter_is_accepted_only_once_two_factor_is_on(users: Backend) -> None:
    await users.given(
        lambda uow: uow.two_factor.save(two_factor(last_counter=None)),
        lambda uow: uow.two_factor.save(
            two_factor(BOB, secret_ct=None, pending_ct=b"p", last_counter=None)
        ),
    )
    async with users.uow() as uow:
        assert await uow.two_factor.use_counter(ALICE, 7) is True
        assert await uow.two_factor.use_counter(BOB, 7) is False  # only being set up


async def test_each_recovery_code_is_used_once_and_a_new_set_replaces_the_old(
    users: Backend,
) -> None:
    await users.given(
        lambda uow: uow.two_factor.save(two_factor()),
        lambda uow: uow.two_factor.set_recovery_codes(ALICE, ["r1", "r2", "r3"]),
        lambda uow: uow.two_factor.set_recovery_codes(BOB, ["r1"]),
    )
    async with users.uow() as uow:
        assert await uow.two_factor.recovery_codes_left(ALICE) == 3
        assert await uow.two_factor.use_recovery_code(ALICE, "r2") is True
        assert await uow.two_factor.use_recovery_code(ALICE, "r2") is False
        assert await uow.two_factor.use_recovery_code(ALICE, "nope") is False
        await uow.commit()
    async with users.uow() as uow:
        assert await uow.two_factor.recovery_codes_left(ALICE) == 2
        assert await uow.two_factor.recovery_codes_left(BOB) == 1
        await uow.two_factor.set_recovery_codes(ALICE, ["n1", "n2"])
        assert await uow.two_factor.use_recovery_code(ALICE, "r1") is False
        await uow.commit()
    async with users.uow() as uow:
        assert await uow.two_factor.recovery_codes_left(ALICE) == 2
        assert await uow.two_factor.use_recovery_code(ALICE, "n1") is True


async def test_deleting_two_factor_forgets_its_recovery_codes_too(users: Backend) -> None:
    await users.given(
        lambda uow: uow.two_factor.save(two_factor()),
        lambda uow: uow.two_factor.set_recovery_codes(ALICE, ["r1", "r2"]),
        lambda uow: uow.two_factor.save(two_factor(BOB)),
    )
    async with users.uow() as uow:
        assert await uow.two_factor.delete(ALICE) is True
        assert await uow.two_factor.delete(ALICE) is False
        await uow.commit()
    async with users.uow() as uow:
        assert await uow.two_factor.get(ALICE) is None
        assert await uow.two_factor.recovery_codes_left(ALICE) == 0
        assert await uow.two_factor.user_ids() == [BOB]


# -- preferences -------------------------------------------------------------------------------
async def test_preferences_are_stored_replaced_and_read_per_user(users: Backend) -> None:
    await users.given(lambda uow: uow.preferences.set(ALICE, Preferences("EUR", "Europe/Paris")))
    async with users.uow() as uow:
        assert await uow.preferences.get(ALICE) == Preferences("EUR", "Europe/Paris")
        await uow.preferences.set(ALICE, Preferences("USDT", "Asia/Tokyo"))
        await uow.commit()
    async with users.uow() as uow:
        assert await uow.preferences.get(ALICE) == Preferences("USDT", "Asia/Tokyo")
        assert await uow.preferences.get(BOB) is None
        with pytest.raises(ValueError, match="ghost"):
            await uow.preferences.set("ghost", Preferences())


async def test_nothing_of_the_accounts_is_kept_without_a_commit(users: Backend) -> None:
    async with users.uow() as uow:
        await uow.passwords.set(ALICE, "$argon2id$x", data.at(0))
        await uow.sessions.add(web_session(), "hash-1")
        await uow.two_factor.save(two_factor())
        await uow.two_factor.set_recovery_codes(ALICE, ["r1"])
        await uow.preferences.set(ALICE, Preferences("EUR"))
    async with users.uow() as uow:
        assert await uow.passwords.get(ALICE) is None
        assert await uow.sessions.by_token("hash-1") is None
        assert await uow.two_factor.get(ALICE) is None
        assert await uow.two_factor.recovery_codes_left(ALICE) == 0
        assert await uow.preferences.get(ALICE) is None


# -- revoking an API client --------------------------------------------------------------------
async def test_disable_applies_to_the_owners_client_only(users: Backend) -> None:
    await users.given(lambda uow: uow.clients.add(data.client("c1", ALICE)))
    async with users.uow() as uow:
        assert await uow.clients.disable("c1", BOB) is False
        assert await uow.clients.disable("c9", ALICE) is False
        assert await uow.clients.disable("c1", ALICE) is True
        await uow.commit()
    async with users.uow() as uow:
        assert await uow.clients.get("c1") == data.client("c1", ALICE, disabled=True)


async def test_revoke_for_client_revokes_that_clients_live_tokens_only(users: Backend) -> None:
    await users.given(
        lambda uow: uow.tokens.add(data.token("t1")),
        lambda uow: uow.tokens.add(data.token("t2", family="f2")),
        lambda uow: uow.tokens.add(data.token("t3", revoked_at=data.at(1))),
        lambda uow: uow.tokens.add(replace(data.token("t4"), client_id="c2")),
    )
    async with users.uow() as uow:
        assert await uow.tokens.revoke_for_client("c1", data.at(50)) == 2
        assert await uow.tokens.revoke_for_client("c1", data.at(60)) == 0
        await uow.commit()
    async with users.uow() as uow:
        revoked = {h: (await uow.tokens.get(h)) for h in ("t1", "t2", "t3", "t4")}
    assert {h: t.revoked_at if t else "gone" for h, t in revoked.items()} == {
        "t1": data.at(50),
        "t2": data.at(50),
        "t3": data.at(1),
        "t4": None,
    }
