"""Signing in to the dashboard, the session cookie, CSRF, and the overview's figures (the same
as ``GET /v1/portfolio``), through the real app on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.api.conftest import PROBLEM, Api, Tenant
from tests.e2e.api.synced import snapshot
from tests.e2e.web.conftest import PASSWORD, browser, signed_in, user_with_password
from tresor.entrypoints.web.render import money


async def tenant_of(api: Api, name: str) -> Tenant:
    """An API client with every scope for an existing user (the dashboard user's API side)."""
    client, secret = await api.runtime.container.access.create_client(name, "read,trade,admin")
    api.secrets.add(secret)
    return Tenant(api, name, client.id, secret)


async def test_the_sign_in_page_is_served_with_a_strict_content_security_policy(
    api: Api,
) -> None:
    page = await browser(api).get("/login")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text  # no inline script
    assert 'style="' not in page.text


async def test_a_page_without_a_session_leads_to_the_sign_in_form_and_back(api: Api) -> None:
    await user_with_password(api, "alice")
    b = browser(api)
    first = await b.get("/assets?q=btc")
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=/assets%3Fq%3Dbtc"
    form = await b.get(first.headers["location"])
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
    assert nonce
    answer = await b.post(
        "/login",
        {"name": "alice", "password": PASSWORD, "nonce": nonce.group(1), "next": "/assets?q=btc"},
        csrf=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/assets?q=btc"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
async def test_sign_in_never_redirects_to_another_site(api: Api, target: str) -> None:
    await user_with_password(api, "alice")
    b = browser(api)
    form = await b.get("/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
    assert nonce
    answer = await b.post(
        "/login",
        {"name": "alice", "password": PASSWORD, "nonce": nonce.group(1), "next": target},
        csrf=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(api: Api) -> None:
    await user_with_password(api, "alice")
    wrong = await browser(api).sign_in("alice", "not the password")
    unknown = await browser(api).sign_in("nobody", "not the password")
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert "The user name or the password is wrong." in answer.text
        assert "set-cookie" not in answer.headers or "tresor=" not in answer.headers.get(
            "set-cookie", ""
        )


async def test_repeated_failures_are_throttled_per_account(api: Api) -> None:
    await user_with_password(api, "alice")
    b = browser(api)
    statuses = [(await b.sign_in("alice", f"wrong {i}")).status_code for i in range(6)]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    # even the right password waits now
    assert (await b.sign_in("alice", PASSWORD)).status_code == 429


async def test_a_sign_in_form_without_its_nonce_cookie_is_refused(api: Api) -> None:
    await user_with_password(api, "alice")
    b = browser(api)
    answer = await b.post(
        "/login", {"name": "alice", "password": PASSWORD, "nonce": "forged"}, csrf=False
    )
    assert answer.status_code == 403
    assert "This sign-in form has expired." in answer.text


async def test_the_session_cookie_is_http_only_and_same_site_strict(api: Api) -> None:
    await user_with_password(api, "alice")
    b = browser(api)
    answer = await b.sign_in("alice", PASSWORD)
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("tresor="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    assert "Domain" not in cookie


async def test_a_post_without_the_csrf_token_or_from_another_origin_is_refused(
    api: Api,
) -> None:
    b = await signed_in(api, "alice")
    missing = await b.post("/logout", {"csrf_token": ""})
    assert missing.status_code == 403
    assert "csrf_failed" in missing.text
    elsewhere = await b.post("/logout", headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    # still signed in: neither request did anything
    assert (await b.get("/")).status_code == 200


async def test_signing_out_ends_the_session_on_the_server(api: Api) -> None:
    b = await signed_in(api, "alice")
    token = b.http.cookies.get("tresor")
    assert token
    answer = await b.post("/logout")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    # the old cookie presented again is not a session any more
    again = browser(api)
    again.http.cookies.set("tresor", token)
    assert (await again.get("/")).status_code == 303


async def test_the_dashboard_answers_unknown_paths_with_a_page_and_the_api_with_a_problem(
    api: Api,
) -> None:
    b = await signed_in(api, "alice")
    page = await b.get("/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "not_found" in page.text
    problem = await b.get("/v1/no-such-route")
    assert problem.status_code == 404
    assert problem.headers["content-type"].startswith(PROBLEM)


async def test_the_overview_shows_the_figures_of_get_v1_portfolio(api: Api) -> None:
    b = await signed_in(api, "alice")
    tenant = await tenant_of(api, "alice")
    headers = await tenant.headers()
    answer = await api.add(headers, "main", read=api.key())
    assert answer.status_code == 201, answer.text
    connection_id = answer.json()["id"]
    now = int(time.time() * 1000)
    await snapshot(
        api,
        connection_id,
        now - 3_600_000,
        {"BTC": ("1", "0"), "USDT": ("500", "0")},
        {"BTC": "60000", "USDT": "1"},
    )
    await snapshot(
        api,
        connection_id,
        now - 60_000,
        {"BTC": ("1.5", "0.25"), "USDT": ("1000", "0")},
        {"BTC": "65000.5", "USDT": "1"},
    )
    portfolio = (await api.http.get("/v1/portfolio", headers=headers)).json()
    page = await b.get("/")
    assert page.status_code == 200
    net = re.search(r'id="net-worth" data-value="([^"]+)"', page.text)
    assert net
    assert net.group(1) == portfolio["total"]
    assert money(portfolio["total"]) in page.text
    for asset in portfolio["assets"]:
        assert f'<th scope="row">{asset["asset"]}</th>' in page.text
        assert money(asset["value"]) in page.text
    # the change over the range: from the first point's value to the last
    change = re.search(r'id="net-worth-change">([^<]+)<', page.text)
    assert change
    assert change.group(1).startswith("+")
    # an hour of history in a week's range: the chart is drawn over the hour it knows
    assert "Net worth since " in page.text
    assert "<polyline" in page.text
    assert "main" in page.text
    assert "Connected" in page.text


async def test_another_users_connection_cannot_be_synced_from_the_dashboard(api: Api) -> None:
    owner = await signed_in(api, "owner")
    tenant = await tenant_of(api, "owner")
    answer = await api.add(await tenant.headers(), "main", read=api.key())
    connection_id = answer.json()["id"]
    bob = await signed_in(api, "bob")
    refused = await bob.post(f"/connections/{connection_id}/sync")
    assert refused.status_code == 404
    missing = await bob.post(f"/connections/{'0' * 32}/sync")
    assert missing.status_code == 404
    allowed = await owner.post(f"/connections/{connection_id}/sync")
    assert allowed.status_code == 303
