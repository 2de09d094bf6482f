"""Trading in the distributed mode, for real (PostgreSQL + Redis): an API-only process
(``TRESOR_PROCESS_ROLE=api``) cannot open trade keys, which are sealed to the worker; its
orders go over the trade desk (taskiq on a Redis Stream) to a worker, which places them. The
API process answers as in the embedded mode, and an order is still placed once per
Idempotency-Key."""

from __future__ import annotations

import asyncio
import secrets
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.integration.test_distributed import distributed, settings_for  # noqa: F401
from tests.support.simclient import SimAdmin
from tresor.bootstrap import build_runtime
from tresor.domain.connections import Credentials
from tresor.domain.errors import TradeKeyRequired
from tresor.domain.orders import OrderRequest
from tresor.domain.secrets import Secret
from tresor.entrypoints.api.app import create_app

TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}


async def test_an_api_only_process_trades_through_a_worker(
    venue: SimAdmin,
    distributed: dict[str, Any],  # noqa: F811
) -> None:
    worker = await build_runtime(settings_for(venue, distributed))
    api = await build_runtime(settings_for(venue, distributed, process_role="api"))
    try:
        await worker.container.access.create_user("alice")
        client, secret = await api.container.access.create_client("alice", "read,trade,admin")
        account = venue.account({"USDT": "100000", "BTC": "1"})
        key = venue.key(account, TRADE)
        user = await worker.container.access.find_user("alice")
        connection = await worker.container.connections.add(
            user.id,
            exchange="binance",
            label="main",
            endpoint="sim",
            trade_key=Credentials(Secret(key["api_key"]), Secret(key["secret"])),
        )
        request = OrderRequest(
            connection_id=connection.id,
            symbol="BTC/USDT",
            side="buy",
            type="market",
            amount=Decimal("0.01"),
        )
        # the API process's own order service cannot open the trade key...
        local = api.container.batches._orders._local  # type: ignore[attr-defined]
        with pytest.raises(TradeKeyRequired) as refused:
            await local.place(user.id, request, idempotency_key="direct")
        assert "worker" in refused.value.remedy
        # ...so its API hands orders to the worker, which serves the trade desk
        worker.start_background()
        app = create_app(api.container)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api"
        ) as http:
            form = {
                "grant_type": "client_credentials",
                "client_id": client.id,
                "client_secret": secret,
            }
            token = (await http.post("/v1/auth/token", data=form)).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(8)}
            body = {
                "connection_id": connection.id,
                "symbol": "BTC/USDT",
                "side": "buy",
                "type": "market",
                "amount": "0.01",
            }
            answers = await asyncio.gather(
                *(http.post("/v1/orders", json=body, headers=headers) for _ in range(3))
            )
            placed = [a for a in answers if a.status_code == 201]
            assert placed, [a.text for a in answers]
            assert {a.json()["id"] for a in placed} == {placed[0].json()["id"]}
            order = placed[0].json()
            assert order["state"] == "closed"
            assert order["filled"] == "0.01"
            read = await http.get(f"/v1/orders/{order['id']}", headers=headers)
            assert read.json()["state"] == "closed"
            again = await http.post("/v1/orders", json=body, headers=headers)
            assert again.json()["id"] == order["id"]
            # the router reads the market's rules and the free balance with the trade key: a
            # worker reads them; the plan's leg is placed by a worker too
            ask = {"side": "buy", "base": "BTC", "quote": "USDT", "amount": "0.02"}
            quoted = await http.post("/v1/route/quote", json=ask, headers=headers)
            assert quoted.status_code == 201, quoted.text
            plan = quoted.json()
            assert [leg["connection_id"] for leg in plan["legs"]] == [connection.id]
            done = await http.post(
                "/v1/route/execute",
                json={"quote_id": plan["id"]},
                headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
            )
            assert done.status_code in (200, 201), done.text
            assert done.json()["filled"] == "0.02"
        truth = venue.truth(account)
        assert len(truth["orders"]) == 2
        assert truth["orders"][0]["clientOrderId"] == order["exchange_client_order_id"]
    finally:
        await api.aclose()
        await worker.aclose()
