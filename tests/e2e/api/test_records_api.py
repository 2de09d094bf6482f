"""Trades, orders, transfers, the request log, events and gaps through the API: keyset pages
that walk everything exactly once, filters, ownership, and cursors that cannot be forged into
a crash."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.e2e.api.conftest import Api, Tenant, assert_problem
from tests.e2e.api.synced import T0, connect, order, save, snapshot, trade, transfer, user_id
from tresor.domain.records import Cursor, Dataset, ExchangeCall, FlatRecords, Gap
from tresor.domain.sync import Event, EventKind, Severity

KEYS = {
    "trades": ("time_ms", "connection_id", "symbol", "trade_id"),
    "orders": ("created_ms", "connection_id", "symbol", "order_id"),
    "transfers": ("time_ms", "connection_id", "kind", "transfer_id"),
}


async def walk(
    api: Api, path: str, headers: dict[str, str], limit: int, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a listing, page by page."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = await api.http.get(path, params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the pages never ended")


async def two_connections_with_records(api: Api, alice: Tenant) -> tuple[dict[str, str], str, str]:
    headers, a = await connect(api, alice, "alpha")
    _, b = await connect(api, alice, "beta")
    for cid in (a, b):
        await save(api, Dataset.TRADES, [trade(cid, n) for n in range(13)])
        await save(
            api, Dataset.TRADES, [trade(cid, n, symbol="ETH/BTC") for n in range(5)], "ETH/BTC"
        )
        await save(api, Dataset.ORDERS, [order(cid, n) for n in range(17)])
        await save(api, Dataset.DEPOSITS, [transfer(cid, n) for n in range(11)])
    return headers, a, b


@pytest.mark.parametrize("listing", ["trades", "orders", "transfers"])
async def test_pages_walk_every_record_exactly_once_newest_first(
    api: Api, alice: Tenant, listing: str
) -> None:
    headers, _, _ = await two_connections_with_records(api, alice)
    whole = await walk(api, f"/v1/{listing}", headers, limit=1000)
    paged = await walk(api, f"/v1/{listing}", headers, limit=4)

    keys = [tuple(item[k] for k in KEYS[listing]) for item in paged]
    assert len(whole) == {"trades": 36, "orders": 34, "transfers": 22}[listing]
    assert paged == whole
    assert len(set(keys)) == len(keys)
    assert keys == sorted(keys, reverse=True)
    # only first pages are kept: a listing walked to its end (an export) is not held in memory
    kept = api.runtime.container.portfolio._listings
    assert len(kept) == 2  # the first page at each limit


async def test_the_page_that_ends_the_listing_has_no_next_cursor(api: Api, alice: Tenant) -> None:
    headers, a = await connect(api, alice)
    await save(api, Dataset.TRADES, [trade(a, n) for n in range(6)])
    first = (await api.http.get("/v1/trades?limit=3", headers=headers)).json()
    second = (
        await api.http.get(f"/v1/trades?limit=3&cursor={first['next_cursor']}", headers=headers)
    ).json()
    assert len(second["items"]) == 3
    assert second["next_cursor"] is None


async def test_record_filters_narrow_the_listing(api: Api, alice: Tenant) -> None:
    headers, a, b = await two_connections_with_records(api, alice)

    async def items(path: str, **params: Any) -> list[dict[str, Any]]:
        return await walk(api, path, headers, limit=5, **params)

    only_a = await items("/v1/trades", connection_id=a)
    assert {t["connection_id"] for t in only_a} == {a}
    assert len(only_a) == 18
    eth = await items("/v1/trades", symbol="ETH/BTC")
    assert {t["symbol"] for t in eth} == {"ETH/BTC"}
    assert len(eth) == 10
    assert len(await items("/v1/trades", asset="BTC")) == 36  # either side of the symbol
    assert len(await items("/v1/trades", asset="USDT")) == 26
    sells = await items("/v1/trades", side="sell", connection_id=b)
    assert {t["side"] for t in sells} == {"sell"}
    assert len(sells) == 7 + 3
    window = await items("/v1/trades", since="2023-11-14T22:13:21Z", until="2023-11-14T22:13:23Z")
    assert {t["time_ms"] for t in window} == {T0 + 1000, T0 + 2000}
    assert len(window) == 2 * (6 + 2)  # per connection: BTC/USDT n=3..8, ETH/BTC n=3..4
    canceled = await items("/v1/orders", status="canceled")
    assert {o["status"] for o in canceled} == {"canceled"}
    assert len(canceled) == 6
    deposits = await items("/v1/transfers", kind="deposit", asset="USDT", status="ok")
    assert len(deposits) == 2 * 3  # per connection: n = 1, 5, 7
    assert all((t["kind"], t["asset"], t["status"]) == ("deposit", "USDT", "ok") for t in deposits)
    first = only_a[0]
    assert first["price"] == "60000.5"
    assert first["fee"] == "0.00000075"
    assert first["time"].endswith("Z")


async def test_the_request_log_pages_and_filters_the_users_calls_only(
    api: Api, alice: Tenant
) -> None:
    headers, a = await connect(api, alice)
    bob = await api.tenant("bob")
    bob_headers, b = await connect(api, bob)
    calls = [
        ExchangeCall(T0 + n, a, "sim", "GET", f"/api/v3/myTrades?symbol=S{n}", 200, 1.5, 10, None)
        for n in range(9)
    ]
    calls += [
        ExchangeCall(T0 + 20, a, "sim", "GET", "/api/v3/account", 429, 3.0, 20, "-1003"),
        ExchangeCall(T0 + 21, a, "sim", "POST", "/api/v3/order", None, 10_000.0, 1, None),
        ExchangeCall(T0 + 22, b, "sim", "GET", "/api/v3/account", 200, 2.0, 20, None),
    ]
    await api.runtime.store.add_calls(calls)
    old = {"until": "2023-11-15T00:00:00Z"}  # not the requests the test's connections made

    mine = await walk(api, "/v1/logs", headers, limit=4, connection_id=a, **old)
    assert [c["at_ms"] for c in mine] == [T0 + 21, T0 + 20, *(T0 + n for n in range(8, -1, -1))]
    assert mine[0]["latency_ms"] == 10_000.0
    assert mine[0]["status"] is None
    every = await walk(api, "/v1/logs", headers, limit=3)
    assert {c["connection_id"] for c in every} == {a}
    failed = await walk(api, "/v1/logs", headers, limit=3, errors_only="true", **old)
    assert [(c["status"], c["error_code"]) for c in failed] == [(None, None), (429, "-1003")]
    assert len(await walk(api, "/v1/logs", headers, limit=50, status=429, **old)) == 1
    assert len(await walk(api, "/v1/logs", headers, limit=50, method="post", **old)) == 1
    trades = await walk(api, "/v1/logs", headers, limit=2, path_prefix="/api/v3/myTrades", **old)
    assert len(trades) == 9
    window = await walk(
        api,
        "/v1/logs",
        headers,
        limit=50,
        since="2023-11-14T22:13:20.003Z",
        until="2023-11-14T22:13:20.005Z",
    )
    assert [c["at_ms"] for c in window] == [T0 + 4, T0 + 3]
    bobs = await walk(api, "/v1/logs", bob_headers, limit=50, **old)
    assert [c["connection_id"] for c in bobs] == [b]


async def test_another_user_sees_none_of_the_data_and_404_for_the_connection(
    api: Api, alice: Tenant
) -> None:
    headers, a, _ = await two_connections_with_records(api, alice)
    alice_id = await user_id(api, headers)
    await snapshot(api, a, T0, {"USDT": ("10", "0")}, {"USDT": "1"})
    await api.runtime.store.add_event(
        Event(alice_id, a, T0, EventKind.SYNC_FAILING, Severity.WARNING, "failing")
    )
    await api.runtime.store.save_page(
        Cursor(a, Dataset.TRADES, "BTC/USDT", None, T0, 0),
        FlatRecords(),
        [Gap(a, Dataset.TRADES, "BTC/USDT", 0, T0, "retention")],
    )
    await api.runtime.store.add_calls([ExchangeCall(T0, a, "sim", "GET", "/x", 200, 1.0, 1, None)])
    bob = await api.tenant("bob", "read")
    bob_headers = await bob.headers()

    for path in ["/v1/trades", "/v1/orders", "/v1/transfers", "/v1/logs", "/v1/events"]:
        assert (await walk(api, path, bob_headers, limit=10)) == [], path
    assert (await api.http.get("/v1/sync/gaps", headers=bob_headers)).json() == {"items": []}
    portfolio = (await api.http.get("/v1/portfolio", headers=bob_headers)).json()
    assert (portfolio["connections"], portfolio["total"]) == ([], "0")
    for path in [
        "/v1/portfolio",
        "/v1/portfolio/history",
        "/v1/trades",
        "/v1/orders",
        "/v1/transfers",
        "/v1/logs",
        "/v1/sync/gaps",
    ]:
        answer = await api.http.get(path, params={"connection_id": a}, headers=bob_headers)
        assert_problem(answer, 404, "not_found")
    # alice still sees hers
    assert len((await api.http.get("/v1/events", headers=headers)).json()["items"]) == 1
    gaps = (await api.http.get(f"/v1/sync/gaps?connection_id={a}", headers=headers)).json()
    assert [(g["dataset"], g["start_ms"], g["reason"]) for g in gaps["items"]] == [
        ("trades", 0, "retention")
    ]


async def test_events_are_listed_newest_first_a_page_at_a_time(api: Api, alice: Tenant) -> None:
    headers, a = await connect(api, alice)
    alice_id = await user_id(api, headers)
    for n in range(7):
        await api.runtime.store.add_event(
            Event(alice_id, a, T0 + n, EventKind.SYNC_STALE, Severity.INFO, f"event {n}", {"n": n})
        )
    events = await walk(api, "/v1/events", headers, limit=3)
    assert [e["details"]["n"] for e in events] == [6, 5, 4, 3, 2, 1, 0]
    assert events[0]["kind"] == "sync_stale"
    assert events[0]["severity"] == "info"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "abc",
        "!!notbase64",
        _b64(b"not json"),
        _b64(b"{}"),
        _b64(json.dumps(["orders", T0, "a", "b", "c"]).encode()),  # another listing's
        _b64(json.dumps(["trades", "x", "a", "b", "c"]).encode()),
        _b64(json.dumps(["trades", 2**70, "a", "b", "c"]).encode()),
        _b64(json.dumps(["trades", T0, "a\u0000", "b", "c"]).encode()),
        _b64(b'["trades", 1, "\\ud800", "b", "c"]'),
        _b64(json.dumps(["trades", T0, "a", "b"]).encode()),
        "A" * 2000,
    ],
)
async def test_a_malformed_cursor_is_a_validation_problem(
    api: Api, alice: Tenant, cursor: str
) -> None:
    headers = await alice.headers()
    answer = await api.http.get("/v1/trades", params={"cursor": cursor}, headers=headers)
    assert_problem(answer, 422, "validation_failed")
    for path in ["/v1/logs", "/v1/events"]:
        other = await api.http.get(path, params={"cursor": cursor}, headers=headers)
        assert_problem(other, 422, "validation_failed")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/trades", {"limit": 0}),
        ("/v1/trades", {"limit": 1001}),
        ("/v1/trades", {"side": "long"}),
        ("/v1/trades", {"symbol": "BTC\u0000/USDT"}),
        ("/v1/orders", {"status": "done"}),
        ("/v1/transfers", {"kind": "transfer"}),
        ("/v1/logs", {"status": 10**12}),
        ("/v1/logs", {"path_prefix": "/api\u0000"}),
        ("/v1/trades", {"connection_id": "not/an/id"}),
        ("/v1/trades", {"since": "0001-01-01T00:00:00+01:00"}),
    ],
)
async def test_bad_filters_are_validation_problems(
    api: Api, alice: Tenant, path: str, params: dict[str, Any]
) -> None:
    headers = await alice.headers()
    answer = await api.http.get(path, params=params, headers=headers)
    assert_problem(answer, 422, "validation_failed")
