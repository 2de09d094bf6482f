"""The unmodified async ccxt binance class (aiohttp) against the venue: the same answers and the
same exception classes as the sync class. Every client is closed at the end of its test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import ccxt
import ccxt.async_support as accxt
import pytest

from tests.contract.conftest import RICH
from tests.support.simclient import SimAdmin, async_binance


@pytest.fixture
async def aex(sim: SimAdmin) -> AsyncIterator[accxt.binance]:
    key = sim.key(sim.account(RICH))
    ex = async_binance(sim.url, key, timeout=1000)
    try:
        await ex.load_markets()
        yield ex
    finally:
        await ex.close()


async def test_async_client_reads_market_data_concurrently(aex: accxt.binance) -> None:
    symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "ETH/BTC"]
    tickers = await asyncio.gather(*(aex.fetch_ticker(s) for s in symbols))
    assert [t["symbol"] for t in tickers] == symbols
    assert all(0 < t["bid"] < t["ask"] for t in tickers)
    book, candles = await asyncio.gather(
        aex.fetch_order_book("BTC/USDT", 10), aex.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    )
    assert len(book["bids"]) == 10
    assert len(candles) == 5
    assert abs(await aex.fetch_time() - int(time.time() * 1000)) < 5000


async def test_async_client_trades_and_reads_its_account(aex: accxt.binance) -> None:
    bid = (await aex.fetch_order_book("ETH/USDT", 5))["bids"][0][0]
    resting = await aex.create_order(
        "ETH/USDT",
        "limit",
        "buy",
        1,
        aex.price_to_precision("ETH/USDT", bid * 0.9),
        {"clientOrderId": "async-1"},
    )
    assert resting["status"] == "open"
    filled = await aex.create_order("ETH/USDT", "market", "buy", 2)
    assert filled["status"] == "closed"
    found = await aex.fetch_order(None, "ETH/USDT", {"clientOrderId": "async-1"})
    assert found["id"] == resting["id"]
    assert (await aex.cancel_order(resting["id"], "ETH/USDT"))["status"] == "canceled"
    trades = await aex.fetch_my_trades("ETH/USDT")
    assert {t["order"] for t in trades} == {filled["id"]}
    balance = await aex.fetch_balance()
    assert balance["ETH"]["total"] == pytest.approx(500 + 2 * 0.999)
    assert await aex.sapi_get_account_status() == {"data": "Normal"}


async def test_async_client_maps_errors_like_the_sync_client(
    sim: SimAdmin, aex: accxt.binance
) -> None:
    cases: list[tuple[type[Exception], Any]] = [
        (ccxt.BadSymbol, lambda: aex.public_get_ticker_price({"symbol": "NOPEUSDT"})),
        (ccxt.InsufficientFunds, lambda: aex.create_market_buy_order_with_cost("BTC/USDT", 10**9)),
        (ccxt.OrderNotFound, lambda: aex.fetch_order("42", "BTC/USDT")),
        (ccxt.BadRequest, lambda: aex.fetch_balance({"colour": "blue"})),
    ]
    for error, call in cases:
        with pytest.raises(error):
            await call()
    sim.faults(maintenance=True)
    with pytest.raises(ccxt.OnMaintenance):
        await aex.fetch_balance()
    assert (await aex.fetch_status())["status"] == "maintenance"
    sim.faults(error_503_html={"share": 1.0})
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await aex.fetch_time()
    sim.faults(hang={"share": 1.0, "seconds": 2})
    with pytest.raises(ccxt.RequestTimeout):
        await aex.fetch_time()
    sim.clear_faults()
    await asyncio.sleep(1.2)  # let the hung request finish on the venue


async def test_async_client_sees_a_revoked_key_as_authentication_then_ban(
    sim: SimAdmin,
) -> None:
    key = sim.key(sim.account({"USDT": "10"}))
    fresh, used = async_binance(sim.url, key), async_binance(sim.url, key)
    try:
        await used.fetch_balance()
        sim.revoke(key["api_key"])
        with pytest.raises(ccxt.AuthenticationError) as first:
            await fresh.fetch_balance()
        assert first.type is ccxt.AuthenticationError
        with pytest.raises(ccxt.DDoSProtection):
            await used.fetch_balance()
    finally:
        await fresh.close()
        await used.close()
