"""A client given another instance's markets (``adopt_markets``) answers ``load_markets`` with
them, also when it held markets before: the gateway keeps clients between syncs and gives
them the endpoint's markets again after the hourly reload (no network)."""

from __future__ import annotations

from typing import Any

from tresor.adapters.exchange import ExchangeClient
from tresor.adapters.exchange.client import build_ccxt
from tresor.domain.connections import Credentials, ExchangeTarget
from tresor.domain.secrets import Secret

SIM = ExchangeTarget(exchange="binance", endpoint="sim", url="http://127.0.0.1:8900")
CREDS = Credentials(api_key=Secret("k" * 64), secret=Secret("s" * 64))
NO_KEY = Credentials(api_key=Secret(""), secret=Secret(""))


def holder(*pairs: tuple[str, str]) -> Any:
    """A keyless instance holding spot markets of ``pairs`` (base, quote)."""
    ex = build_ccxt(SIM, NO_KEY)
    ex.set_markets(
        [
            {
                "id": base + quote,
                "symbol": f"{base}/{quote}",
                "base": base,
                "quote": quote,
                "baseId": base,
                "quoteId": quote,
                "spot": True,
                "type": "spot",
                "active": True,
            }
            for base, quote in pairs
        ]
    )
    return ex


async def test_a_client_answers_load_markets_with_the_markets_it_adopted_last() -> None:
    first, second = holder(("BTC", "USDT")), holder(("BTC", "USDT"), ("ETH", "USDT"))
    client = ExchangeClient.open(SIM, CREDS)
    try:
        client.adopt_markets(first)
        assert set(await client.load_markets()) == {"BTC/USDT"}
        client.adopt_markets(second)  # after the endpoint's markets were reloaded
        assert set(await client.load_markets()) == {"BTC/USDT", "ETH/USDT"}
        assert set(client.markets()) == {"BTC/USDT", "ETH/USDT"}
    finally:
        await client.close()
        for ex in (first, second):
            await ex.close()
