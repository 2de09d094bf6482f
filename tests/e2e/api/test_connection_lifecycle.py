"""A connection's life through the API: labels and the per-user limit, testing again after
the exchange changed the key, rotating a key (the new one is tested first), and disconnecting
(the encrypted key fields are destroyed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.api.conftest import Api, ApiFactory, Tenant, assert_problem

READ_ONLY = {"enableReading": True}
TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}


def hint(key: dict[str, str]) -> str:
    return f"{key['api_key'][:4]}…{key['api_key'][-4:]}"


def key_of(connection: dict[str, Any], role: str) -> dict[str, Any]:
    (found,) = [k for k in connection["keys"] if k["role"] == role]
    return found


async def added(api: Api, headers: dict[str, str], label: str = "main", **keys: Any) -> dict:
    answer = await api.add(headers, label, **keys)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def blobs(api: Api, connection_id: str) -> list[bytes]:
    rows = await api.rows(
        "SELECT api_key_ct, secret_ct FROM connection_keys WHERE connection_id = :id",
        id=connection_id,
    )
    return [bytes(row[name]) for row in rows for name in ("api_key_ct", "secret_ct")]


async def test_a_label_is_unique_per_user_but_not_across_users(api: Api, alice: Tenant) -> None:
    headers = await alice.headers()
    await added(api, headers, "main", read=api.key(READ_ONLY))
    answer = await api.add(headers, "main", read=api.key(READ_ONLY))
    body = assert_problem(answer, 409, "duplicate_label")
    assert "main" in body["detail"]
    bob = await api.tenant("bob")
    await added(api, await bob.headers(), "main", read=api.key(READ_ONLY))


async def test_the_eleventh_connection_is_refused_by_default(api: Api, alice: Tenant) -> None:
    headers = await alice.headers()
    for n in range(10):
        await added(api, headers, f"account-{n}", read=api.key(READ_ONLY))
    answer = await api.add(headers, "account-10", read=api.key(READ_ONLY))
    body = assert_problem(answer, 409, "connection_limit_reached")
    assert "Remove a connection" in body["remedy"]
    listed = await api.http.get("/v1/connections", headers=headers)
    assert len(listed.json()["items"]) == 10


async def test_the_connection_limit_comes_from_the_settings(api_factory: ApiFactory) -> None:
    api = await api_factory(max_connections_per_user=2)
    headers = await (await api.tenant("alice")).headers()
    for label in ("one", "two"):
        await added(api, headers, label, read=api.key(READ_ONLY))
    assert_problem(await api.add(headers, "three", read=api.key()), 409, "connection_limit_reached")
    # removing one makes room again
    first = (await api.http.get("/v1/connections", headers=headers)).json()["items"][0]
    removed = await api.http.delete(f"/v1/connections/{first['id']}", headers=headers)
    assert removed.status_code == 204
    assert (await api.add(headers, "three", read=api.key(READ_ONLY))).status_code == 201


async def test_testing_again_after_the_key_was_deleted_on_the_exchange_changes_the_status(
    api: Api, alice: Tenant
) -> None:
    headers = await alice.headers()
    read, trade = api.key(READ_ONLY), api.key(TRADE)
    connection = await added(api, headers, read=read, trade=trade)
    url = f"/v1/connections/{connection['id']}"
    healthy = await api.http.post(f"{url}/test", headers=headers)
    assert healthy.status_code == 200
    assert healthy.json()["status"] == "connected"
    first_check = key_of(healthy.json(), "trade")["verified_at"]
    api.sim.revoke(trade["api_key"])
    answer = await api.http.post(f"{url}/test", headers=headers)
    assert answer.status_code == 200, answer.text
    tested = answer.json()
    assert tested["status"] == "invalid_credentials"
    assert key_of(tested, "read")["status"] == "connected"
    broken = key_of(tested, "trade")
    assert broken["status"] == "invalid_credentials"
    assert broken["verified_at"] > first_check
    assert broken["report"]["authenticates"] == "no"
    assert broken["report"]["failure"]["code"] == "key_refused"
    (warning,) = [w for w in broken["warnings"] if w["code"] == "key_refused"]
    assert warning["remedy"]
    assert len(warning["checks"]) == 4
    # the finding is stored: every later read shows it
    stored = (await api.http.get(url, headers=headers)).json()
    assert stored == tested


async def test_testing_during_exchange_maintenance_reports_the_exchange_not_the_key(
    api: Api, alice: Tenant
) -> None:
    headers = await alice.headers()
    connection = await added(api, headers, read=api.key(READ_ONLY))
    api.sim.faults(maintenance=True)
    answer = await api.http.post(f"/v1/connections/{connection['id']}/test", headers=headers)
    api.sim.clear_faults()
    assert answer.status_code == 200
    assert answer.json()["status"] == "exchange_unavailable"
    after = await api.http.post(f"/v1/connections/{connection['id']}/test", headers=headers)
    assert after.json()["status"] == "connected"


async def test_rotation_to_a_refused_key_keeps_the_old_key_working(api: Api, alice: Tenant) -> None:
    headers = await alice.headers()
    old = api.key(TRADE)
    connection = await added(api, headers, trade=old)
    url = f"/v1/connections/{connection['id']}"
    before = await blobs(api, connection["id"])
    for bad, code in [
        ({**api.key(TRADE), "secret": "0" * 64}, "invalid_credentials"),
        (api.key(READ_ONLY), "trade_permission_missing"),
        (api.key({**TRADE, "enableWithdrawals": True}), "withdraw_permission_enabled"),
    ]:
        api.secrets.update(bad.values())
        answer = await api.http.put(f"{url}/keys/trade", json=bad, headers=headers)
        assert_problem(answer, 422, code)
    assert await blobs(api, connection["id"]) == before
    tested = await api.http.post(f"{url}/test", headers=headers)
    assert tested.json()["status"] == "connected"
    assert key_of(tested.json(), "trade")["hint"] == hint(old)


async def test_rotation_to_a_good_key_replaces_and_destroys_the_old_one(
    api: Api, alice: Tenant
) -> None:
    headers = await alice.headers()
    old_read, old_trade = api.key(READ_ONLY), api.key(TRADE)
    connection = await added(api, headers, read=old_read, trade=old_trade)
    url = f"/v1/connections/{connection['id']}"
    before = await blobs(api, connection["id"])
    new_read, new_trade = api.key(READ_ONLY), api.key(TRADE)
    for role, new in [("read", new_read), ("trade", new_trade)]:
        answer = await api.http.put(f"{url}/keys/{role}", json=new, headers=headers)
        assert answer.status_code == 200, answer.text
        assert key_of(answer.json(), role)["hint"] == hint(new)
        assert key_of(answer.json(), role)["status"] == "connected"
    after = await blobs(api, connection["id"])
    assert len(after) == 4
    assert not set(before) & set(after)
    # the old keys are no longer used: revoking them on the exchange changes nothing
    api.sim.revoke(old_read["api_key"])
    api.sim.revoke(old_trade["api_key"])
    tested = await api.http.post(f"{url}/test", headers=headers)
    assert tested.json()["status"] == "connected"
    assert [k["hint"] for k in tested.json()["keys"]] == [hint(new_read), hint(new_trade)]


async def test_rotation_can_add_the_missing_key_of_a_connection(api: Api, alice: Tenant) -> None:
    headers = await alice.headers()
    connection = await added(api, headers, trade=api.key(TRADE))
    answer = await api.http.put(
        f"/v1/connections/{connection['id']}/keys/read", json=api.key(READ_ONLY), headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert [k["role"] for k in answer.json()["keys"]] == ["read", "trade"]


async def test_disconnecting_destroys_the_keys(
    api: Api, alice: Tenant, tmp_path: Path, database_url: str | None
) -> None:
    headers = await alice.headers()
    connection = await added(api, headers, read=api.key(READ_ONLY), trade=api.key(TRADE))
    keep = await added(api, headers, "keep", read=api.key(READ_ONLY))
    url = f"/v1/connections/{connection['id']}"
    gone = await blobs(api, connection["id"])
    assert len(gone) == 4
    answer = await api.http.delete(url, headers=headers)
    assert answer.status_code == 204
    assert answer.content == b""
    for method in ("GET", "DELETE"):
        assert_problem(await api.http.request(method, url, headers=headers), 404, "not_found")
    assert_problem(await api.http.post(f"{url}/test", headers=headers), 404, "not_found")
    left = "SELECT role FROM connection_keys WHERE connection_id = :id"
    assert await api.rows(left, id=connection["id"]) == []
    listed = await api.http.get("/v1/connections", headers=headers)
    assert [c["id"] for c in listed.json()["items"]] == [keep["id"]]
    everything = b"".join(
        bytes(row["api_key_ct"]) + bytes(row["secret_ct"])
        for row in await api.rows("SELECT api_key_ct, secret_ct FROM connection_keys")
    )
    assert not [blob for blob in gone if blob in everything]
    if database_url is None:
        # nor in the SQLite files once Tresor has stopped (the WAL is checkpointed into the
        # database, whose freed space SQLite overwrites with secure_delete)
        await api.runtime.aclose()
        files = b"".join(f.read_bytes() for f in (tmp_path / "data").glob("tresor.db*"))
        assert not [blob for blob in gone if blob in files]


async def test_text_with_a_nul_character_is_a_validation_error_on_every_database(
    api: Api, alice: Tenant
) -> None:
    # PostgreSQL refuses NUL in text; found by the schemathesis run as a 500
    headers = await alice.headers()
    answer = await api.add(headers, "\x00", read=api.key())
    assert_problem(answer, 422, "validation_failed")
    answer = await api.http.get("/v1/connections/a%00b", headers=headers)
    assert answer.status_code in (404, 422), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
