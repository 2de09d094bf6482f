"""Nothing a browser can send makes the dashboard fail: every route, its form fields, query
parameters and path ids filled with hostile values (huge, empty, NUL and other control
characters, unicode, numbers out of range, markup, SQL, path tricks), on SQLite and
PostgreSQL, answers a page or a redirect: never a 5xx, never an unescaped echo.

The routes and their fields are read from the app itself, so a new route or field is fuzzed
without changing this file. The values are drawn from a seeded generator (reproducible)."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

from fastapi.routing import APIRoute

from tests.e2e.api.conftest import Api
from tests.e2e.web.conftest import Browser, signed_in
from tests.e2e.web.test_signin_pages import tenant_of
from tests.support.routes import _walk

ROUNDS = 10
MARKUP = '<script>alert("x")</script>'
HOSTILE = [
    "",
    " ",
    "0",
    "-1",
    "1e999",
    "NaN",
    "-0.00000000000000000000001",
    "99999999999999999999999999999999999999",
    "0x10",
    "1,5",
    "\x00",
    "a\x00b",
    "\u202e\u0000\ufeff",
    "😀" * 50,
    "x" * 5000,
    MARKUP,
    "' OR 1=1 --",
    "../../etc/passwd",
    "//evil.example/",
    "BTC/USDT",
    "buy",
    "limit",
    "read",
    "true",
    "2026-13-45",
    "2026-01-01T00:00:00Z",
    "Europe/Paris",
    "USD",
]


def _fields(route: APIRoute) -> tuple[list[str], list[str]]:
    """The route's form fields and query parameters (its dependencies' too)."""
    body = [p.name for p in route.dependant.body_params]
    query = [p.name for p in route.dependant.query_params]
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        body += [p.name for p in dependency.body_params]
        query += [p.name for p in dependency.query_params]
        pending += dependency.dependencies
    return body, query


def _value(rng: random.Random, known: list[str]) -> str:
    return rng.choice(HOSTILE + known)


async def _fresh(api: Api, n: int) -> Browser:
    return await signed_in(api, f"fuzz{n}")


async def test_no_hostile_input_makes_a_dashboard_route_fail(api: Api) -> None:
    rng = random.Random(20261207)
    b = await _fresh(api, 0)
    tenant = await tenant_of(api, "fuzz0")
    answer = await api.add(await tenant.headers(), "main", read=api.key())
    assert answer.status_code == 201, answer.text
    known = [answer.json()["id"]]
    users = 1
    tried = 0
    for path, route in _walk(api.app.routes, ""):
        if path.startswith("/v1") or not isinstance(route, APIRoute):
            continue
        body, query = _fields(route)
        for method in sorted(route.methods - {"HEAD"}):
            for _ in range(ROUNDS):
                url = path
                while "{" in url:
                    start, end = url.index("{"), url.index("}")
                    url = url[:start] + quote(_value(rng, known), safe="") + url[end + 1 :]
                params = {name: _value(rng, known) for name in query if rng.random() < 0.7}
                kwargs: dict[str, Any] = {"params": params}
                if method == "GET":
                    page = await b.http.get(url, **kwargs)
                else:
                    form = {name: _value(rng, known) for name in body if rng.random() < 0.8}
                    page = await b.post(url, form, **kwargs)
                tried += 1
                assert page.status_code < 500, (method, url, params, page.text[:500])
                assert MARKUP not in page.text, (method, url, "echoed unescaped")
                if page.status_code == 303 and page.headers["location"].startswith("/login"):
                    b = await _fresh(api, users)  # the fuzz signed itself out: go on as another
                    users += 1
    assert tried > 300
