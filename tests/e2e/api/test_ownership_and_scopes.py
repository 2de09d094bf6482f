"""Every route checks scope and ownership. The routes are a table, and the table is checked
against the app: a new route with an id, or a new route behind a bearer token, that is not in
the table fails ``test_the_route_table_covers_every_protected_route``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.api.conftest import Api, Tenant, assert_problem, resting_order
from tests.support.routes import every_route

TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}
SCOPES = {"read", "trade", "admin"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the template, as in app.routes
    scope: str | None  # None: any valid token
    # "connection", "key", "order" (an order on the connection), "quote" (a route quote over
    # the connection) or "execute" (the quote its owner made over it)
    body: str | None = None
    values: tuple[tuple[str, str], ...] = ()  # fixed path parameters besides the id
    query_id: bool = False  # takes the connection id as the ``connection_id`` query filter
    query: str = ""  # fixed query parameters

    @property
    def takes_id(self) -> bool:
        return (
            "{connection_id}" in self.path
            or "{order_id}" in self.path
            or self.query_id
            or self.body in ("order", "quote", "execute", "rule")
            or "{rule_id}" in self.path
        )

    def url(
        self, connection_id: str, order_id: str = "{order_id}", rule_id: str = "{rule_id}"
    ) -> str:
        url = self.path.replace("{connection_id}", connection_id)
        url = url.replace("{order_id}", order_id).replace("{rule_id}", rule_id)
        for name, value in self.values:
            url = url.replace("{" + name + "}", value)
        if self.query_id:
            return f"{url}?connection_id={connection_id}"
        return f"{url}?{self.query}" if self.query else url

    def __str__(self) -> str:
        return f"{self.method} {self.url('{id}')}"


ROUTES = [
    Route("GET", "/v1/me", None),
    Route("POST", "/v1/connections", "admin", body="connection"),
    Route("GET", "/v1/connections", "read"),
    Route("GET", "/v1/connections/{connection_id}", "read"),
    Route("POST", "/v1/connections/{connection_id}/test", "read"),
    *(
        Route("PUT", "/v1/connections/{connection_id}/keys/{role}", "admin", "key", (("role", r),))
        for r in ("read", "trade")
    ),
    Route("POST", "/v1/connections/{connection_id}/disable", "admin"),
    Route("POST", "/v1/connections/{connection_id}/enable", "admin"),
    Route("DELETE", "/v1/connections/{connection_id}", "admin"),
    *(
        Route("GET", path, "read", query_id=True)
        for path in (
            "/v1/portfolio",
            "/v1/portfolio/history",
            "/v1/trades",
            "/v1/orders",
            "/v1/transfers",
            "/v1/logs",
            "/v1/sync/gaps",
        )
    ),
    Route("POST", "/v1/orders", "trade", body="order"),
    # a batch answers 200 with each operation's own 404 (tests/e2e/api/test_batch_api.py)
    Route("POST", "/v1/batch", "trade", body="batch"),
    Route("GET", "/v1/orders/open", "trade", query_id=True),
    Route("GET", "/v1/orders/{order_id}", "trade"),
    Route("DELETE", "/v1/orders/{order_id}", "trade"),
    Route("POST", "/v1/route/quote", "trade", body="quote"),
    Route("POST", "/v1/route/execute", "trade", body="execute"),
    # rules: a rule on the connection, and the rule its owner made on it
    Route("POST", "/v1/rules", "trade", body="rule"),
    Route("GET", "/v1/rules", "read"),
    Route("GET", "/v1/rules/{rule_id}", "read"),
    Route("PATCH", "/v1/rules/{rule_id}", "trade", body="rule_change"),
    Route("DELETE", "/v1/rules/{rule_id}", "trade"),
    Route("GET", "/v1/rules/{rule_id}/plan", "read"),
    Route("GET", "/v1/rules/{rule_id}/log", "read"),
    Route("GET", "/v1/events", "read"),
    Route("GET", "/v1/schemas", "read"),
    Route("GET", "/v1/schemas/{name}", "read", values=(("name", "trade"),)),
    Route("GET", "/v1/markets", "read"),
    *(
        Route(
            "GET",
            f"/v1/markets/{{endpoint}}/{data}",
            "read",
            values=(("endpoint", "sim"),),
            query=q,
        )
        for data, q in (
            ("symbols", ""),
            ("ticker", "symbol=BTC/USDT"),
            ("order_book", "symbol=BTC/USDT&depth=5"),
            ("candles", "symbol=BTC/USDT&timeframe=1m&limit=2"),
        )
    ),
]
WITH_ID = [r for r in ROUTES if r.takes_id]
SCOPED = [r for r in ROUTES if r.scope is not None]


async def call(
    api: Api, route: Route, connection_id: str, headers: dict[str, str]
) -> httpx.Response:
    """``route`` called on the connection (or on an order placed on it by its owner)."""
    body: dict[str, Any] | None = None
    headers = dict(headers)
    if route.body == "connection":
        body = {"exchange": "binance", "label": "other", "endpoint": "sim", "read_key": api.key()}
    elif route.body == "key":
        body = api.key(TRADE)
    elif route.body == "batch":
        body = {"operations": [{"op": "cancel_order", "order_id": "ord_1"}]}
        headers["Idempotency-Key"] = secrets.token_hex(8)
    elif route.body == "order":
        body = await resting_order(api, connection_id)
        headers["Idempotency-Key"] = secrets.token_hex(8)
    elif route.body == "quote":
        body = {**QUOTE, "connection_ids": [connection_id]}
    elif route.body == "execute":
        body = {"quote_id": OWNERS_QUOTES.get(connection_id) or "rq_" + "0" * 20}
        headers["Idempotency-Key"] = secrets.token_hex(8)
    elif route.body == "rule":
        body = {**RULE, "connection_ids": [connection_id]}
    elif route.body == "rule_change":
        body = {"enabled": False}
    order_id = "0" * 24
    if "{order_id}" in route.path:
        order_id = OWNERS_ORDERS.get(connection_id) or order_id
    rule_id = OWNERS_RULES.get(connection_id) or "rul_" + "0" * 20
    return await api.http.request(
        route.method, route.url(connection_id, order_id, rule_id), json=body, headers=headers
    )


# the order its owner placed, and the route quote it made, on each connection of
# ``connection_of`` (by connection id)
OWNERS_ORDERS: dict[str, str] = {}
OWNERS_QUOTES: dict[str, str] = {}
OWNERS_RULES: dict[str, str] = {}
RULE = {"targets": {"BTC": "50", "USDT": "50"}, "drift_pp": "5"}
QUOTE = {"side": "buy", "base": "BTC", "quote": "USDT", "amount": "0.001"}


async def connection_of(api: Api, tenant: Tenant) -> tuple[dict[str, str], dict[str, Any]]:
    """A connection of ``tenant`` (with a read and a trade key), an open order on it, a route
    quote over it and a rebalancing rule on it."""
    headers = await tenant.headers()
    answer = await api.add(headers, "main", read=api.key(), trade=api.key(TRADE))
    assert answer.status_code == 201, answer.text
    connection = answer.json()
    placed = await api.http.post(
        "/v1/orders",
        json=await resting_order(api, connection["id"]),
        headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert placed.status_code == 201, placed.text
    OWNERS_ORDERS[connection["id"]] = placed.json()["id"]
    quoted = await api.http.post(
        "/v1/route/quote", json={**QUOTE, "connection_ids": [connection["id"]]}, headers=headers
    )
    assert quoted.status_code == 201, quoted.text
    OWNERS_QUOTES[connection["id"]] = quoted.json()["id"]
    ruled = await api.http.post(
        "/v1/rules", json={**RULE, "connection_ids": [connection["id"]]}, headers=headers
    )
    assert ruled.status_code == 201, ruled.text
    OWNERS_RULES[connection["id"]] = ruled.json()["id"]
    return headers, connection


async def test_the_route_table_covers_every_protected_route(api: Api) -> None:
    table = {(r.method, r.path) for r in ROUTES}
    # the dashboard's routes have their own table (tests/e2e/web/test_web_ownership.py)
    with_parameters = {
        (method, path)
        for method, path in every_route(api.app)
        if "{" in path and path.startswith("/v1/")
    }
    assert len(with_parameters) >= 10, "the walk finds the routes of the included routers"
    assert with_parameters <= table, with_parameters - table
    document = api.app.openapi()
    protected = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    }
    assert protected <= table, protected - table
    assert table <= protected, table - protected


async def test_another_users_token_gets_404_on_every_route_that_takes_an_id(
    api: Api, alice: Tenant
) -> None:
    alice_headers, connection = await connection_of(api, alice)
    bob = await api.tenant("bob", "read,trade,admin")
    bob_headers = await bob.headers()
    for route in WITH_ID:
        answer = await call(api, route, connection["id"], bob_headers)
        body = assert_problem(answer, 404, "not_found")
        # the same answer as for an id that does not exist: nothing tells bob it does
        missing = await call(api, route, "0" * 32, bob_headers)
        assert {**missing.json(), "instance": body["instance"]} == body, route
    untouched = await api.http.get(f"/v1/connections/{connection['id']}", headers=alice_headers)
    assert untouched.json() == connection


async def test_another_user_never_sees_the_first_users_connections_in_lists(
    api: Api, alice: Tenant
) -> None:
    await connection_of(api, alice)
    bob = await api.tenant("bob", "read,trade,admin")
    bob_headers, bobs = await connection_of(api, bob)
    listed = await api.http.get("/v1/connections", headers=bob_headers)
    assert [c["id"] for c in listed.json()["items"]] == [bobs["id"]]
    empty = await api.tenant("carol", "read")
    listed = await api.http.get("/v1/connections", headers=await empty.headers())
    assert listed.json()["items"] == []


@pytest.mark.parametrize("route", SCOPED, ids=str)
async def test_a_token_without_the_routes_scope_gets_403(
    api: Api, alice: Tenant, route: Route
) -> None:
    assert route.scope is not None
    headers, connection = await connection_of(api, alice)
    without = await alice.headers(" ".join(sorted(SCOPES - {route.scope})))
    answer = await call(api, route, connection["id"], without)
    body = assert_problem(answer, 403, "insufficient_scope")
    assert route.scope in body["detail"]
    assert body["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]
    still = await api.http.get(f"/v1/connections/{connection['id']}", headers=headers)
    assert still.json() == connection
    only = await alice.headers(route.scope)
    allowed = await call(api, route, connection["id"], only)
    assert allowed.status_code < 300, allowed.text


@pytest.mark.parametrize("route", ROUTES, ids=str)
async def test_no_token_or_a_bad_one_gets_401_invalid_token(
    api: Api, alice: Tenant, route: Route
) -> None:
    headers, connection = await connection_of(api, alice)
    refresh = (await alice.token())["refresh_token"]
    for bad in [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer tra_" + "x" * 43},
        {"Authorization": f"Bearer {refresh}"},  # a refresh token is not an access token
        {"Authorization": alice.basic()},
    ]:
        answer = await call(api, route, connection["id"], bad)
        body = assert_problem(answer, 401, "invalid_token")
        assert body["error"] == "invalid_token"
        assert answer.headers["www-authenticate"].startswith("Bearer"), bad
    still = await api.http.get(f"/v1/connections/{connection['id']}", headers=headers)
    assert still.json() == connection
