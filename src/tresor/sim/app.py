"""The simulator's ASGI application: a small, fast request pipeline in front of the handlers.

For every exchange request, in this order: route lookup, injected maintenance, parameter
parsing, the IP's request-weight charge (418 ban / 429), authentication for SIGNED endpoints,
the /sapi buckets, injected faults that strike before execution (hang, latency, 5xx), the
handler, and injected faults that strike after it (the lost answer). Every answer carries
``X-MBX-USED-WEIGHT-1M``. ``/_sim/`` requests go to the admin API and bypass all of it.

No framework: the pipeline is a few dictionary look-ups, which keeps the simulator far faster
than anything it is used to benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from tresor.sim import admin, api_exchange_info, api_history, api_orders, api_public, auth
from tresor.sim import errors as e
from tresor.sim.context import Ctx, Endpoint, Headers, RawJSON, Simulator
from tresor.sim.params import Params, split_pairs

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON_HEADERS: Headers = [(b"content-type", b"application/json;charset=UTF-8")]
_HTML_503 = (
    b"<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)
SETTLE_EVERY_S = 1.0


def build_routes() -> dict[tuple[str, str], Endpoint]:
    routes = {}
    for ep in (
        api_public.ENDPOINTS
        + api_exchange_info.ENDPOINTS
        + api_orders.ENDPOINTS
        + api_history.ENDPOINTS
    ):
        routes[(ep.method, ep.path)] = ep
    return routes


class SimApp:
    """ASGI callable for one simulated venue."""

    def __init__(self, sim: Simulator, *, trust_forwarded_for: bool = False) -> None:
        self.sim = sim
        self.routes = build_routes()
        self.paths = {path for _, path in self.routes}
        self.trust_forwarded_for = trust_forwarded_for
        self._settler: asyncio.Task[None] | None = None

    def now(self) -> int:
        base = self.sim.clock() if self.sim.clock else int(time.time() * 1000)
        return base + self.sim.faults.clock_offset_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # -- lifespan: the background matcher ------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._settler = asyncio.create_task(self._settle_loop())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._settler is not None:
                    self._settler.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._settler
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _settle_loop(self) -> None:
        while True:
            await asyncio.sleep(SETTLE_EVERY_S)
            self.sim.venue.settle_all(self.now())

    # -- http ----------------------------------------------------------------------------------
    def client_ip(self, scope: Scope) -> str:
        if self.trust_forwarded_for:
            for name, value in scope["headers"]:
                if name == b"x-forwarded-for":
                    return str(value.decode().split(",")[0].strip())
        client = scope.get("client")
        return str(client[0]) if client else "127.0.0.1"

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        body = b""
        if method in ("POST", "PUT", "DELETE", "PATCH"):
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
        if path.startswith("/_sim/") or path == "/_sim":
            status, payload = admin.handle(self, method, path, scope, body)
            await respond(send, status, orjson.dumps(payload), JSON_HEADERS)
            return
        endpoint = self.routes.get((method, path))
        if endpoint is None:
            if path in self.paths:
                await respond(send, 405, b"", JSON_HEADERS)
            else:
                await respond(send, 404, b"", JSON_HEADERS)
            return
        await self._exchange(endpoint, scope, body, send)

    async def _exchange(self, ep: Endpoint, scope: Scope, body: bytes, send: Send) -> None:
        faults = self.sim.faults
        headers: Headers = []
        faulty = (faults.raw != {}) and faults.applies(ep.path)
        try:
            ctx = self._admit(ep, scope, body, headers, faulty)
            if faulty:
                await self._before(faults)
            result = ep.handler(ctx)
            ctx.params.check_all_read(ep.params)
        except e.SimError as err:
            await respond(send, err.http_status, error_body(err), error_headers(err, headers))
            return
        if faulty and faults.roll(faults.lost_share):
            # executed, but the answer never reaches the client
            if faults.lost_mode == "timeout":
                await asyncio.sleep(faults.lost_seconds)
            lost = e.err(e.INTERNAL, 500)
            await respond(send, 500, error_body(lost), headers + JSON_HEADERS)
            return
        data = result.data if isinstance(result, RawJSON) else orjson.dumps(result)
        await respond(send, 200, data, headers + JSON_HEADERS)

    def _admit(
        self, ep: Endpoint, scope: Scope, body: bytes, headers: Headers, faulty: bool
    ) -> Ctx:
        """Everything before the handler: maintenance, parameters, weight, authentication."""
        sim = self.sim
        now = self.now()
        ip = self.client_ip(scope)
        if faulty and sim.faults.maintenance and ep.path != "/sapi/v1/system/status":
            raise e.SimError(503, -1016, "System is under maintenance.")
        query = scope["query_string"].decode("latin-1")
        form = body.decode("latin-1") if body else ""
        params, parse_error = parse_params(query, form)
        # the weight is charged even for a request that turns out to be malformed
        weight = ep.weight(params) if params is not None else 1
        if ep.bucket == "api":
            used = sim.limits.charge_ip(ip, weight, now, sim.faults.weight_limit)
            headers.append((b"x-mbx-used-weight", str(used).encode()))
            headers.append((b"x-mbx-used-weight-1m", str(used).encode()))
        if params is None:
            raise parse_error or e.err(e.UNKNOWN)
        ctx = Ctx(sim=sim, params=params, now=now, ip=ip, headers=headers)
        if ep.security != "NONE":
            ctx.key = auth.check_signed(
                keys=sim.venue.keys,
                api_key=header(scope, b"x-mbx-apikey"),
                params=params,
                query=query,
                body=form,
                now=now,
                ip=ip,
                trade=ep.security == "TRADE",
            )
            ctx.account = sim.venue.accounts[ctx.key.account_id]
            sim.venue.settle_account(ctx.account, now)
        if ep.bucket != "api":
            uid = ctx.account.uid if ctx.account is not None else None
            name, used = sim.limits.charge_sapi(
                ip,
                uid,
                weight if ep.bucket == "sapi_ip" else 0,
                weight if ep.bucket == "sapi_uid" else 0,
                now,
            )
            headers.append((name.encode(), str(used).encode()))
        return ctx

    @staticmethod
    async def _before(faults: Any) -> None:
        if faults.roll(faults.hang_share):
            await asyncio.sleep(faults.hang_seconds)
            raise e.SimError(504, -1007, e.TIMEOUT[1])
        if faults.roll(faults.latency_share):
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.roll(faults.error_5xx_share):
            raise e.err(e.INTERNAL, 500)
        if faults.roll(faults.error_503_share):
            raise _Html503()


class _Html503(e.SimError):
    def __init__(self) -> None:
        super().__init__(503, 0, "")


def parse_params(query: str, form: str) -> tuple[Params | None, e.SimError | None]:
    try:
        params = Params(split_pairs(query), split_pairs(form))
    except e.SimError as bad:
        return None, bad
    return params, None


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def error_body(err: e.SimError) -> bytes:
    if isinstance(err, _Html503):
        return _HTML_503
    return orjson.dumps({"code": err.code, "msg": err.msg})


def error_headers(err: e.SimError, headers: Headers) -> Headers:
    out = list(headers) + list(err.headers)
    if isinstance(err, _Html503):
        out.append((b"content-type", b"text/html"))
    else:
        out.extend(JSON_HEADERS)
    if err.retry_after is not None:
        out.append((b"retry-after", str(err.retry_after).encode()))
    return out


async def respond(send: Send, status: int, body: bytes, headers: Headers) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
