"""Settings and security end to end: preferences, the password, two-factor sign-in, sessions and
API clients, through the dashboard's forms on the real app (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import time
from zoneinfo import ZoneInfo

import httpx
import pyotp

from tests.e2e.api.conftest import Api
from tests.e2e.web.conftest import PASSWORD, Browser, browser, signed_in, user_with_password
from tresor.domain.errors import InvalidTwoFactorCode, TwoFactorRequired

NEW_PASSWORD = "a different long passphrase"
_SECRET = re.compile(r'id="totp-secret">([A-Z2-7 ]+)<')
_CODE = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")
_CLIENT_ID = re.compile(r'id="client-id">([^<]+)<')
_CLIENT_SECRET = re.compile(r'id="client-secret">([^<]+)<')
_THIS_SESSION = re.compile(r'data-session="([0-9a-f]+)" class="this-session"')
_SESSION = re.compile(r'data-session="([0-9a-f]+)"')


async def another_browser(api: Api, name: str, password: str = PASSWORD, code: str = "") -> Browser:
    found = browser(api)
    answer = await found.sign_in(name, password, code)
    assert answer.status_code == 303, answer.text
    return found


async def sign_in_status(api: Api, name: str, password: str, code: str = "") -> httpx.Response:
    return await browser(api).sign_in(name, password, code)


def goes_to_login(answer: httpx.Response) -> bool:
    return answer.status_code == 303 and answer.headers["location"].startswith("/login")


async def turn_on_two_factor(b: Browser) -> tuple[pyotp.TOTP, list[str]]:
    """Set two-factor up through the pages; the app's TOTP and the recovery codes shown."""
    page = await b.post("/settings/2fa/begin", {"password": PASSWORD})
    assert page.status_code == 200, page.text
    found = _SECRET.search(page.text)
    assert found, page.text
    totp = pyotp.TOTP(found.group(1).replace(" ", ""))
    shown = await b.post("/settings/2fa/confirm", {"code": totp.now()})
    assert shown.status_code == 200, shown.text
    return totp, _CODE.findall(shown.text)


def next_code(totp: pyotp.TOTP) -> str:
    """The code of the next 30-second step: the current one was spent confirming."""
    return totp.at(time.time() + 30)


async def test_the_settings_page_shows_this_session_the_preferences_and_no_inline_style(
    api: Api,
) -> None:
    alice = await signed_in(api, "alice")
    page = await alice.get("/settings")
    assert page.status_code == 200
    assert "This session" in page.text
    assert '<option value="USD" selected>' in page.text
    assert '<option value="UTC" selected>' in page.text
    assert '<option value="Europe/Paris">' in page.text
    assert "No API client yet." in page.text
    assert 'id="two-factor-status"><span class="badge off">' in page.text
    assert " style=" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_preferences_change_the_overviews_quote_and_the_time_zone_of_times_shown(
    api: Api,
) -> None:
    alice = await signed_in(api, "alice")
    saved = await alice.post(
        "/settings/preferences", {"quote": "EUR", "quote_other": "", "timezone": "Asia/Kathmandu"}
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/settings?done=preferences#preferences"
    overview = await alice.get("/")
    assert re.search(r'id="net-worth"[^>]*>[^<]*<span class="unit">EUR</span>', overview.text)
    page = await alice.get(saved.headers["location"])
    assert "Preferences saved." in page.text
    assert '<option value="Asia/Kathmandu" selected>' in page.text
    (session,) = await api.runtime.container.accounts.sessions(alice.user_id)
    local = session.created_at.astimezone(ZoneInfo("Asia/Kathmandu"))  # UTC+05:45
    assert local.strftime("%Y-%m-%d %H:%M") in page.text

    other = await alice.post(
        "/settings/preferences", {"quote": "USD", "quote_other": "dai", "timezone": "UTC"}
    )
    assert other.status_code == 303
    assert (await api.runtime.container.accounts.preferences(alice.user_id)).quote == "DAI"


async def test_a_bad_time_zone_or_currency_is_refused_with_its_message(api: Api) -> None:
    alice = await signed_in(api, "alice")
    zone = await alice.post("/settings/preferences", {"quote": "EUR", "timezone": "Mars/Olympus"})
    assert zone.status_code == 422
    assert "Mars/Olympus" in zone.text
    assert "is not a time zone" in zone.text
    assert "validation_failed" in zone.text
    money = await alice.post("/settings/preferences", {"quote_other": "U$D", "timezone": "UTC"})
    assert money.status_code == 422
    assert "is not a currency code" in money.text
    kept = await api.runtime.container.accounts.preferences(alice.user_id)
    assert (kept.quote, kept.timezone) == ("USD", "UTC")


async def test_changing_the_password_ends_the_other_sessions_and_only_the_new_one_signs_in(
    api: Api,
) -> None:
    alice = await signed_in(api, "alice")
    elsewhere = await another_browser(api, "alice")
    changed = await alice.post(
        "/settings/password", {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD}
    )
    assert changed.status_code == 303
    assert "Password changed" in (await alice.get(changed.headers["location"])).text
    assert goes_to_login(await elsewhere.get("/"))
    assert (await alice.get("/")).status_code == 200
    assert (await sign_in_status(api, "alice", PASSWORD)).status_code == 401
    assert (await sign_in_status(api, "alice", NEW_PASSWORD)).status_code == 303


async def test_a_wrong_current_password_or_differing_or_short_new_ones_are_refused_inline(
    api: Api,
) -> None:
    alice = await signed_in(api, "alice")
    wrong = await alice.post(
        "/settings/password",
        {"current": "not my password", "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
    )
    assert wrong.status_code == 422
    assert "The current password is wrong." in wrong.text
    differ = await alice.post(
        "/settings/password", {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": "something"}
    )
    assert differ.status_code == 422
    assert "The two new passwords differ." in differ.text
    short = await alice.post(
        "/settings/password", {"current": PASSWORD, "new": "short", "repeat": "short"}
    )
    assert short.status_code == 422
    assert "password_too_weak" in short.text
    assert (await alice.get("/")).status_code == 200
    assert (await sign_in_status(api, "alice", PASSWORD)).status_code == 303


async def test_two_factor_set_up_makes_sign_in_ask_for_a_code_and_a_recovery_code_works_once(
    api: Api,
) -> None:
    alice = await signed_in(api, "alice")
    page = await alice.post("/settings/2fa/begin", {"password": PASSWORD})
    assert '<svg role="img" viewBox=' in page.text
    assert " style=" not in page.text
    secret = _SECRET.search(page.text)
    assert secret
    totp = pyotp.TOTP(secret.group(1).replace(" ", ""))
    shown = await alice.post("/settings/2fa/confirm", {"code": totp.now()})
    assert shown.status_code == 200
    codes = _CODE.findall(shown.text)
    assert len(codes) == 10
    assert 'class="secret-once recovery-codes"' in shown.text

    settings = await alice.get("/settings")
    assert "<strong>10</strong> recovery codes left" in settings.text
    assert not any(code in settings.text for code in codes)
    assert secret.group(1) not in settings.text

    without = await sign_in_status(api, "alice", PASSWORD)
    assert without.status_code == 401
    assert TwoFactorRequired.default_message in without.text
    assert (await sign_in_status(api, "alice", PASSWORD, next_code(totp))).status_code == 303
    assert (await sign_in_status(api, "alice", PASSWORD, codes[0])).status_code == 303
    again = await sign_in_status(api, "alice", PASSWORD, codes[0])
    assert again.status_code == 401
    assert InvalidTwoFactorCode.default_message in again.text
    assert "<strong>9</strong> recovery codes left" in (await alice.get("/settings")).text


async def test_a_wrong_confirmation_code_asks_again_without_showing_the_secret_twice(
    api: Api,
) -> None:
    alice = await signed_in(api, "alice")
    page = await alice.post("/settings/2fa/begin", {"password": PASSWORD})
    secret = _SECRET.search(page.text)
    assert secret
    totp = pyotp.TOTP(secret.group(1).replace(" ", ""))
    now = time.time()
    near = {totp.at(now + step * 30) for step in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in near)
    refused = await alice.post("/settings/2fa/confirm", {"code": wrong})
    assert refused.status_code == 422
    assert "two_factor_invalid" in refused.text
    assert secret.group(1) not in refused.text
    assert "<svg" not in refused.text
    assert not await api.runtime.container.accounts.two_factor_enabled(alice.user_id)
    confirmed = await alice.post("/settings/2fa/confirm", {"code": totp.now()})
    assert confirmed.status_code == 200
    assert len(_CODE.findall(confirmed.text)) == 10


async def test_turning_two_factor_off_needs_the_password(api: Api) -> None:
    alice = await signed_in(api, "alice")
    await turn_on_two_factor(alice)
    wrong = await alice.post("/settings/2fa/disable", {"password": "not my password"})
    assert wrong.status_code == 422
    assert "The current password is wrong." in wrong.text
    assert await api.runtime.container.accounts.two_factor_enabled(alice.user_id)
    off = await alice.post("/settings/2fa/disable", {"password": PASSWORD})
    assert off.status_code == 303
    assert "Two-factor sign-in is off." in (await alice.get(off.headers["location"])).text
    assert (await sign_in_status(api, "alice", PASSWORD)).status_code == 303


async def test_new_recovery_codes_replace_the_old_ones(api: Api) -> None:
    alice = await signed_in(api, "alice")
    _, old = await turn_on_two_factor(alice)
    renewed = await alice.post("/settings/2fa/recovery-codes", {"password": PASSWORD})
    assert renewed.status_code == 200
    new = _CODE.findall(renewed.text)
    assert len(new) == 10
    assert not set(new) & set(old)
    assert (await sign_in_status(api, "alice", PASSWORD, old[0])).status_code == 401
    assert (await sign_in_status(api, "alice", PASSWORD, new[0])).status_code == 303


async def test_sessions_are_listed_and_ending_one_signs_that_browser_out(api: Api) -> None:
    alice = await signed_in(api, "alice")
    elsewhere = await another_browser(api, "alice")
    page = await alice.get("/settings")
    this = _THIS_SESSION.search(page.text)
    assert this
    listed = _SESSION.findall(page.text)
    assert len(listed) == 2
    (other,) = [s for s in listed if s != this.group(1)]
    ended = await alice.post(f"/settings/sessions/{other}/end")
    assert ended.status_code == 303
    assert ended.headers["location"] == "/settings?done=session#sessions"
    assert goes_to_login(await elsewhere.get("/settings"))
    assert _SESSION.findall((await alice.get("/settings")).text) == [this.group(1)]

    mine = await alice.post(f"/settings/sessions/{this.group(1)}/end")
    assert goes_to_login(mine)
    assert goes_to_login(await alice.get("/"))


async def test_signing_out_everywhere_ends_every_session_this_one_too(api: Api) -> None:
    alice = await signed_in(api, "alice")
    elsewhere = await another_browser(api, "alice")
    answer = await alice.post("/settings/sessions/end-all")
    assert goes_to_login(answer)
    assert goes_to_login(await alice.get("/"))
    assert goes_to_login(await elsewhere.get("/"))
    assert await api.runtime.container.accounts.sessions(alice.user_id) == []


async def test_an_api_client_secret_is_shown_once_gets_a_token_and_revoking_ends_the_token(
    api: Api,
) -> None:
    alice = await signed_in(api, "alice")
    made = await alice.post("/settings/clients", {"name": "tax export", "scopes": ["read"]})
    assert made.status_code == 200
    client_id = _CLIENT_ID.search(made.text)
    secret = _CLIENT_SECRET.search(made.text)
    assert client_id
    assert secret
    settings = await alice.get("/settings")
    assert client_id.group(1) in settings.text
    assert "tax export" in settings.text
    assert secret.group(1) not in settings.text

    form = {
        "grant_type": "client_credentials",
        "client_id": client_id.group(1),
        "client_secret": secret.group(1),
    }
    token = await api.http.post("/v1/auth/token", data=form)
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "read"
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert (await api.http.get("/v1/portfolio", headers=bearer)).status_code == 200

    revoked = await alice.post(f"/settings/clients/{client_id.group(1)}/revoke")
    assert revoked.status_code == 303
    assert (await api.http.get("/v1/portfolio", headers=bearer)).status_code == 401
    assert (await api.http.post("/v1/auth/token", data=form)).status_code == 401
    assert client_id.group(1) not in (await alice.get("/settings")).text


async def test_a_client_without_a_scope_or_with_an_unknown_one_is_refused(api: Api) -> None:
    alice = await signed_in(api, "alice")
    none = await alice.post("/settings/clients", {"name": "bot"})
    assert none.status_code == 422
    assert "A client needs at least one scope." in none.text
    assert 'value="bot"' in none.text
    unknown = await alice.post("/settings/clients", {"name": "bot", "scopes": ["root"]})
    assert unknown.status_code == 422
    assert await api.runtime.container.access.clients_of(alice.user_id) == []


async def test_another_users_session_and_client_are_not_found(api: Api) -> None:
    alice = await signed_in(api, "alice")
    bob = await signed_in(api, "bob")
    made = await bob.post("/settings/clients", {"name": "bob's", "scopes": ["read"]})
    bobs_client = _CLIENT_ID.search(made.text)
    assert bobs_client
    (bobs_session,) = await api.runtime.container.accounts.sessions(bob.user_id)
    ended = await alice.post(f"/settings/sessions/{bobs_session.id}/end")
    assert ended.status_code == 404
    assert "not_found" in ended.text
    revoked = await alice.post(f"/settings/clients/{bobs_client.group(1)}/revoke")
    assert revoked.status_code == 404
    assert (await bob.get("/settings")).status_code == 200
    assert bobs_client.group(1) in (await bob.get("/settings")).text


async def test_every_settings_form_refuses_a_post_without_the_csrf_token(api: Api) -> None:
    alice = await signed_in(api, "alice")
    (session,) = await api.runtime.container.accounts.sessions(alice.user_id)
    forms = {
        "/settings/preferences": {"quote": "EUR", "timezone": "UTC"},
        "/settings/password": {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
        "/settings/2fa/begin": {"password": PASSWORD},
        "/settings/2fa/confirm": {"code": "123456"},
        "/settings/2fa/disable": {"password": PASSWORD},
        "/settings/2fa/recovery-codes": {"password": PASSWORD},
        f"/settings/sessions/{session.id}/end": {},
        "/settings/sessions/end-all": {},
        "/settings/clients": {"name": "bot", "scopes": ["read"]},
        "/settings/clients/trc_0123/revoke": {},
    }
    for url, form in forms.items():
        answer = await alice.post(url, form, csrf=False)
        assert answer.status_code == 403, url
        assert "csrf_failed" in answer.text
    foreign = await alice.post(
        "/settings/sessions/end-all", headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert (await alice.get("/")).status_code == 200
    assert (await api.runtime.container.accounts.preferences(alice.user_id)).quote == "USD"
    assert await api.runtime.container.access.clients_of(alice.user_id) == []


async def test_a_user_with_a_password_but_no_session_is_sent_to_sign_in(api: Api) -> None:
    await user_with_password(api, "alice")
    answer = await browser(api).get("/settings")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/settings"


async def test_turning_two_factor_on_needs_the_password_and_a_wrong_one_shows_no_secret(
    api: Api,
) -> None:
    alice = await signed_in(api, "alice")
    refused = await alice.post("/settings/2fa/begin", {"password": "not the password"})
    assert refused.status_code == 422
    assert "The current password is wrong." in refused.text
    assert _SECRET.search(refused.text) is None
    assert not await api.runtime.container.accounts.two_factor_enabled(alice.user_id)
    missing = await alice.post("/settings/2fa/begin", {})
    assert missing.status_code == 422
    assert _SECRET.search(missing.text) is None
