"""The leak scan: one end-to-end run (tokens, keys added, tested, rotated, listed, refused;
orders placed, read, cancelled and refused, a batch, a routed trade, a rebalancing rule),
with every logger at DEBUG and ccxt's verbose output on, then a search for every secret the
run used in the database (the SQLite files themselves, or every row on PostgreSQL), the data
directory, the logs, the process output and every response. None may be found: API keys
appear only as their hint, client secrets and tokens only as hashes."""

from __future__ import annotations

import hashlib
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect

from tests.e2e.api.conftest import Api, Tenant

READ_ONLY = {"enableReading": True}
TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}
LOGGERS = (
    "",
    "ccxt",
    "ccxt.base.exchange",
    "tresor",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "httpx",
    "httpcore",
    "aiohttp",
    "sqlalchemy.engine",
    "aiosqlite",
    "asyncpg",
    "alembic",
)


async def run_everything(api: Api, alice: Tenant) -> None:
    """Every kind of request the API takes, successes and failures."""
    tokens = await alice.token()
    refreshed = await api.http.post(
        "/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == 200
    api.secrets.update({refreshed.json()["access_token"], refreshed.json()["refresh_token"]})
    basic = await api.http.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": alice.basic()},
    )
    assert basic.status_code == 200
    api.secrets.update({basic.json()["access_token"], basic.json()["refresh_token"]})
    headers = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}

    added = await api.add(headers, read=api.key(READ_ONLY), trade=api.key(TRADE))
    assert added.status_code == 201, added.text
    url = f"/v1/connections/{added.json()['id']}"
    assert (await api.http.post(f"{url}/test", headers=headers)).status_code == 200
    for role, permissions in [("read", READ_ONLY), ("trade", TRADE)]:
        new_key = api.key(permissions)
        rotated = await api.http.put(f"{url}/keys/{role}", json=new_key, headers=headers)
        assert rotated.status_code == 200, rotated.text
    assert (await api.http.get("/v1/connections", headers=headers)).status_code == 200
    assert (await api.http.get(url, headers=headers)).status_code == 200
    assert (await api.http.get("/v1/me", headers=headers)).status_code == 200

    withdraw = api.key({**TRADE, "enableWithdrawals": True})
    wrong_secret = {**api.key(TRADE), "secret": "w" * 64}
    unknown = {"api_key": "U" * 32 + "k" * 32, "secret": "V" * 64}
    api.secrets.update({*wrong_secret.values(), *unknown.values()})
    for label, keys in [
        ("refused-1", {"trade": withdraw}),
        ("refused-2", {"read": wrong_secret}),
        ("refused-3", {"trade": unknown}),
        ("main", {"read": api.key(READ_ONLY)}),  # duplicate label
    ]:
        refused = await api.add(headers, label, **keys)
        assert refused.status_code in (409, 422), refused.text
    refused = await api.http.put(f"{url}/keys/trade", json=withdraw, headers=headers)
    assert refused.status_code == 422
    await trade_everything(api, headers, added.json()["id"])
    for bad in ({"Authorization": "Bearer tra_nope"}, {}):
        assert (await api.http.get(url, headers=bad)).status_code == 401
    wrong_client = {"grant_type": "client_credentials", "client_id": alice.client_id}
    denied = await api.http.post(
        "/v1/auth/token", data={**wrong_client, "client_secret": alice.client_secret + "x"}
    )
    assert denied.status_code == 401
    revoked = await api.http.post("/v1/auth/revoke", data={"token": tokens["access_token"]})
    assert revoked.status_code == 200


async def trade_everything(api: Api, headers: dict[str, str], connection: str) -> None:
    """Orders, a batch, a routed trade and a rule on the connection's trade key: placed,
    read, cancelled, refused by Tresor's checks and by the exchange."""
    n = iter(range(1000))

    async def post(path: str, body: dict[str, Any]) -> httpx.Response:
        keyed = {**headers, "Idempotency-Key": f"leak-scan-{next(n)}"}
        return await api.http.post(path, json=body, headers=keyed)

    book = await api.http.get(
        "/v1/markets/sim/ticker", params={"symbol": "BTC/USDT"}, headers=headers
    )
    assert book.status_code == 200, book.text
    low = str((Decimal(book.json()["bid"]) * Decimal("0.7")).quantize(Decimal(1)))
    order = {"connection_id": connection, "symbol": "BTC/USDT", "side": "buy"}
    market = {**order, "type": "market", "amount": "0.001"}
    resting = {**order, "type": "limit", "amount": "0.001", "price": low}
    placed = await post("/v1/orders", market)
    assert placed.status_code == 201, placed.text
    rests = await post("/v1/orders", resting)
    assert rests.status_code == 201, rests.text
    for refused in (
        {**market, "amount": "1000"},  # more than the account holds
        {**market, "symbol": "NOPE/USDT"},
        {**resting, "price": "0.00000001"},  # the exchange's price band
    ):
        assert (await post("/v1/orders", refused)).status_code in (404, 422), refused
    for path in (f"/v1/orders/{placed.json()['id']}", "/v1/orders/open", "/v1/orders"):
        assert (await api.http.get(path, headers=headers)).status_code == 200, path
    cancelled = await api.http.delete(f"/v1/orders/{rests.json()['id']}", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    operations = [
        {"op": "create_order", "order": resting},
        {"op": "create_order", "order": {**market, "amount": "1000"}},
        {"op": "cancel_order", "order_id": rests.json()["id"]},
    ]
    assert (await post("/v1/batch", {"operations": operations})).status_code == 200
    ask = {"side": "buy", "base": "BTC", "quote": "USDT", "amount": "0.002"}
    quoted = await post("/v1/route/quote", ask)
    assert quoted.status_code == 201, quoted.text
    executed = await post("/v1/route/execute", {"quote_id": quoted.json()["id"]})
    assert executed.status_code == 201, executed.text
    targets = {"BTC": "40", "USDT": "60"}
    rule = await post("/v1/rules", {"targets": targets, "drift_pp": "5", "mode": "execute"})
    assert rule.status_code == 201, rule.text
    for path in ("plan", "log"):
        answer = await api.http.get(f"/v1/rules/{rule.json()['id']}/{path}", headers=headers)
        assert answer.status_code in (200, 409, 422), answer.text
    await api.runtime.container.rules.check_due()


async def database_dump(api: Api) -> bytes:
    """Every value of every table, as bytes (bytea/BLOB columns raw, the rest as text)."""
    async with api.runtime.database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    parts: list[bytes] = []
    for table in tables:
        for row in await api.rows(f'SELECT * FROM "{table}"'):  # noqa: S608 (our own tables)
            for value in row.values():
                parts.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(parts)


def leaks(secrets: set[str], places: dict[str, bytes]) -> list[str]:
    """Where each secret was found, naming it by a hint only."""
    found = []
    for secret in secrets:
        forms = {secret.encode(), secret.encode().hex().encode()}
        for place, content in places.items():
            if any(form in content for form in forms):
                found.append(f"{secret[:4]}…{secret[-4:]} in {place}")
    return sorted(found)


async def test_no_secret_appears_in_the_database_logs_output_or_responses(
    api: Api,
    alice: Tenant,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    api.runtime.gateway.verbose = True  # ccxt's own request and response dumps, too
    await run_everything(api, alice)

    places: dict[str, bytes] = {"database rows": await database_dump(api)}
    for path in sorted((tmp_path / "data").iterdir()):  # SQLite, its WAL and SHM, key files
        places[f"file {path.name}"] = path.read_bytes()
    await api.runtime.aclose()  # SQLite checkpoints its WAL into the database file on close
    for path in sorted((tmp_path / "data").glob("tresor.db*")):
        places[f"file {path.name} (closed)"] = path.read_bytes()
    places["log messages"] = "\n".join(r.getMessage() for r in caplog.records).encode()
    places["formatted logs"] = caplog.text.encode()
    output = capfd.readouterr()
    places["stdout"], places["stderr"] = output.out.encode(), output.err.encode()
    for n, answer in enumerate(api.responses):
        content = answer.content
        if answer.request.url.path == "/v1/auth/token" and answer.status_code == 200:
            # the one place a token may appear: the answer that issues it
            issued = answer.json()
            for name in ("access_token", "refresh_token"):
                content = content.replace(issued[name].encode(), b"<issued>")
        places[f"response {n} {answer.request.url.path}"] = content
        places[f"response {n} headers"] = "\n".join(
            f"{k}: {v}" for k, v in answer.headers.multi_items()
        ).encode()

    # the scan can find what it looks for: the run was logged in detail and hashes are stored
    ccxt_lines = [r.getMessage() for r in caplog.records if r.name.startswith("ccxt")]
    assert any("/api/v3/account" in line for line in ccxt_lines)
    assert any("/api/v3/order" in line for line in ccxt_lines)
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    client_secret_hash = hashlib.sha256(alice.client_secret.encode()).hexdigest()
    assert client_secret_hash.encode() in places["database rows"]
    assert len(api.responses) >= 18
    assert len(api.secrets) >= 20
    assert any("…".encode() in answer.content for answer in api.responses)  # key hints

    assert leaks(api.secrets, places) == []
