"""OAuth2 at ``/v1/auth``: the client-credentials and refresh-token grants, revocation,
expiry, throttling and the client IP allow-list, through the real app and database."""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.api.conftest import PROBLEM, Api, ApiFactory, Tenant, assert_problem

TOKEN = "/v1/auth/token"
REVOKE = "/v1/auth/revoke"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def can_list(api: Api, token: str, client: httpx.AsyncClient | None = None) -> int:
    answer = await (client or api.http).get("/v1/connections", headers=bearer(token))
    return answer.status_code


async def test_client_credentials_in_the_form_give_a_bearer_token_with_every_client_scope(
    api: Api, alice: Tenant
) -> None:
    answer = await api.http.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": alice.client_id,
            "client_secret": alice.client_secret,
        },
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 86_400
    assert body["scope"] == "admin read trade"
    assert body["access_token"].startswith("tra_")
    assert body["refresh_token"].startswith("trr_")
    assert answer.headers["cache-control"] == "no-store"
    assert await can_list(api, body["access_token"]) == 200


async def test_client_credentials_in_http_basic_are_accepted(api: Api, alice: Tenant) -> None:
    answer = await api.http.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": alice.basic()},
    )
    assert answer.status_code == 200, answer.text
    assert await can_list(api, answer.json()["access_token"]) == 200


async def test_a_malformed_basic_header_is_an_invalid_client(api: Api) -> None:
    answer = await api.http.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic not-base64!"},
    )
    body = assert_problem(answer, 401, "invalid_client")
    assert body["error"] == "invalid_client"


async def test_a_token_can_be_narrowed_to_fewer_scopes(api: Api, alice: Tenant) -> None:
    tokens = await alice.token("read")
    assert tokens["scope"] == "read"
    assert await can_list(api, tokens["access_token"]) == 200
    answer = await api.add(bearer(tokens["access_token"]), read=api.key())
    assert_problem(answer, 403, "insufficient_scope")


async def test_a_scope_the_client_does_not_have_is_refused(api: Api) -> None:
    reader = await api.tenant("bob", "read")
    answer = await api.http.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": reader.client_id,
            "client_secret": reader.client_secret,
            "scope": "read admin",
        },
    )
    body = assert_problem(answer, 400, "invalid_scope")
    assert body["error"] == "invalid_scope"
    assert "admin" in body["detail"]
    assert "access_token" not in answer.text


async def test_a_wrong_secret_or_unknown_client_is_an_invalid_client(
    api: Api, alice: Tenant
) -> None:
    for client_id, secret in [(alice.client_id, "trs_wrong"), ("trc_nobody", "trs_x")]:
        answer = await api.http.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        body = assert_problem(answer, 401, "invalid_client")
        assert body["error"] == "invalid_client"


async def test_an_unsupported_grant_type_is_refused_in_oauth_terms(api: Api) -> None:
    answer = await api.http.post(TOKEN, data={"grant_type": "password"})
    body = assert_problem(answer, 400, "unsupported_grant_type")
    assert body["error"] == "unsupported_grant_type"


async def test_a_token_request_without_a_grant_type_is_a_validation_problem(api: Api) -> None:
    answer = await api.http.post(TOKEN, data={"client_id": "trc_x"})
    body = assert_problem(answer, 422, "validation_failed")
    assert any("grant_type" in e["location"] for e in body["errors"])


async def test_refresh_rotates_the_pair_and_the_used_refresh_token_is_refused(
    api: Api, alice: Tenant
) -> None:
    first = await alice.token()
    answer = await api.http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert answer.status_code == 200, answer.text
    second = answer.json()
    api.secrets.update({second["access_token"], second["refresh_token"]})
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == first["scope"]
    assert await can_list(api, second["access_token"]) == 200
    again = await api.http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    body = assert_problem(again, 400, "invalid_grant")
    assert body["error"] == "invalid_grant"


async def test_reusing_a_refresh_token_revokes_its_whole_family(api: Api, alice: Tenant) -> None:
    first = await alice.token()
    rotated = await api.http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    second = rotated.json()
    api.secrets.update({second["access_token"], second["refresh_token"]})
    replay = await api.http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert_problem(replay, 400, "invalid_grant")
    # the thief's replay ends the family: the legitimate new pair is dead too
    assert await can_list(api, second["access_token"]) == 401
    after = await api.http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
    )
    assert_problem(after, 400, "invalid_grant")


async def test_a_refresh_may_narrow_but_not_widen_the_scopes(api: Api, alice: Tenant) -> None:
    narrow = await alice.token("read")
    wider = await api.http.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": narrow["refresh_token"],
            "scope": "read admin",
        },
    )
    assert_problem(wider, 400, "invalid_scope")


async def test_a_revoked_access_token_is_refused(api: Api, alice: Tenant) -> None:
    tokens = await alice.token()
    answer = await api.http.post(REVOKE, data={"token": tokens["access_token"]})
    assert answer.status_code == 200
    assert answer.json() == {"revoked": True}
    assert await can_list(api, tokens["access_token"]) == 401


async def test_revoking_a_refresh_token_ends_it_and_its_access_token(
    api: Api, alice: Tenant
) -> None:
    tokens = await alice.token()
    answer = await api.http.post(REVOKE, data={"token": tokens["refresh_token"]})
    assert answer.status_code == 200
    refresh = await api.http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert_problem(refresh, 400, "invalid_grant")
    assert await can_list(api, tokens["access_token"]) == 401


async def test_revoking_an_unknown_token_is_not_an_error(api: Api) -> None:
    answer = await api.http.post(REVOKE, data={"token": "tra_never_issued"})
    assert answer.status_code == 200


async def test_an_expired_access_token_is_an_invalid_token(api_factory: ApiFactory) -> None:
    api = await api_factory(token_ttl_seconds=1)
    alice = await api.tenant("alice")
    tokens = await alice.token()
    assert tokens["expires_in"] == 1
    assert await can_list(api, tokens["access_token"]) == 200
    await asyncio.sleep(1.1)
    answer = await api.http.get("/v1/connections", headers=bearer(tokens["access_token"]))
    assert_problem(answer, 401, "invalid_token")
    assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_repeated_failures_are_throttled_with_retry_after(
    api_factory: ApiFactory,
) -> None:
    api = await api_factory(auth_max_failures=3, auth_failure_window_seconds=120)
    alice = await api.tenant("alice")
    wrong = {
        "grant_type": "client_credentials",
        "client_id": alice.client_id,
        "client_secret": "trs_wrong",
    }
    for _ in range(3):
        assert_problem(await api.http.post(TOKEN, data=wrong), 401, "invalid_client")
    right = {**wrong, "client_secret": alice.client_secret}
    answer = await api.http.post(TOKEN, data=right)
    body = assert_problem(answer, 429, "too_many_attempts")
    assert answer.headers["retry-after"] == "120"
    assert body["retry_after"] == 120
    # throttled per client, whatever the address ...
    elsewhere = api.client_from("198.51.100.20")
    assert_problem(await elsewhere.post(TOKEN, data=right), 429, "too_many_attempts")
    # ... and per address, whatever the client
    bob = await api.tenant("bob")
    answer = await api.http.post(
        TOKEN,
        data={**right, "client_id": bob.client_id, "client_secret": bob.client_secret},
    )
    assert_problem(answer, 429, "too_many_attempts")


async def test_a_client_with_an_ip_allow_list_works_only_from_those_addresses(
    api: Api,
) -> None:
    carol = await api.tenant("carol", ip_allowlist=("10.0.0.9",))
    form = {
        "grant_type": "client_credentials",
        "client_id": carol.client_id,
        "client_secret": carol.client_secret,
    }
    refused = await api.http.post(TOKEN, data=form)
    body = assert_problem(refused, 403, "client_ip_not_allowed")
    assert "access_token" not in body
    allowed = api.client_from("10.0.0.9")
    answer = await allowed.post(TOKEN, data=form)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    api.secrets.update({token, answer.json()["refresh_token"]})
    assert await can_list(api, token, allowed) == 200
    stolen = await api.http.get("/v1/connections", headers=bearer(token))
    assert_problem(stolen, 403, "client_ip_not_allowed")


async def test_every_auth_error_is_problem_json_with_a_remedy(api: Api) -> None:
    answers = [
        await api.http.post(TOKEN, data={"grant_type": "client_credentials"}),
        await api.http.post(TOKEN, data={"grant_type": "refresh_token"}),
        await api.http.post(
            TOKEN, data={"grant_type": "refresh_token", "refresh_token": "trr_nope"}
        ),
        await api.http.post(REVOKE, data={}),
        await api.http.get("/v1/connections"),
        await api.http.get("/v1/connections", headers=bearer("garbage")),
    ]
    assert [a.status_code for a in answers] == [401, 422, 400, 422, 401, 401]
    for answer in answers:
        assert answer.headers["content-type"].startswith(PROBLEM)
        body = answer.json()
        assert body["code"]
        assert body["detail"]
        assert body["remedy"]


async def test_fifty_concurrent_token_requests_all_succeed(api: Api, alice: Tenant) -> None:
    # Each grant reads the client and then writes a token: on SQLite a deferred transaction
    # that read before another one committed could not write ("database is locked", a 500).
    form = {
        "grant_type": "client_credentials",
        "client_id": alice.client_id,
        "client_secret": alice.client_secret,
    }
    answers = await asyncio.gather(*(api.http.post(TOKEN, data=form) for _ in range(50)))
    assert [a.status_code for a in answers] == [200] * 50
    tokens = {a.json()["access_token"] for a in answers}
    assert len(tokens) == 50
    for token in list(tokens)[:3]:
        assert await can_list(api, token) == 200
