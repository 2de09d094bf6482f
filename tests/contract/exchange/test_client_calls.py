"""The allow-listed calls of ``ExchangeClient`` against the simulator: each works, and each
failure arrives as the domain error that says what to do."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.contract.exchange.conftest import FUNDS, UtcClock, credentials, target
from tests.support.simclient import READ_ONLY, TRADE, SimAdmin
from tresor.adapters.exchange import CcxtGateway, ExchangeClient
from tresor.domain.errors import (
    InsufficientFunds,
    InvalidCredentials,
    KeyRefusedAmbiguously,
    NotFound,
    OrderNotOpen,
    ValidationFailed,
)

SYMBOL = "BTC/USDT"


@pytest.fixture
async def trader(sim: SimAdmin, gateway: CcxtGateway) -> AsyncIterator[ExchangeClient]:
    key = sim.key(sim.account(FUNDS), TRADE)
    async with gateway.connect(target(sim), credentials(key)) as client:
        yield client


async def below_market(client: ExchangeClient) -> Decimal:
    ticker = await client.fetch_ticker(SYMBOL)
    return (Decimal(str(ticker["bid"])) * Decimal("0.98")).quantize(Decimal("0.01"))


async def test_market_data_calls_answer(trader: ExchangeClient) -> None:
    markets = await trader.load_markets()
    assert SYMBOL in markets
    assert abs(await trader.fetch_time() - datetime.now(UTC).timestamp() * 1000) < 5000
    book = await trader.fetch_order_book(SYMBOL, 5)
    assert len(book["bids"]) == 5
    candles = await trader.fetch_ohlcv(SYMBOL, "1m", limit=3)
    assert len(candles) == 3


async def test_balance_reads_the_funded_account(trader: ExchangeClient) -> None:
    balance = await trader.fetch_balance()
    assert balance["total"]["USDT"] == pytest.approx(100_000)
    assert balance["total"]["BTC"] == pytest.approx(2)


async def test_an_order_is_placed_found_listed_and_cancelled(trader: ExchangeClient) -> None:
    price = await below_market(trader)
    order = await trader.create_order(
        symbol=SYMBOL,
        side="buy",
        order_type="limit",
        amount=Decimal("0.00123456"),
        price=price,
        client_order_id="tresor-test-1",
    )
    assert order["status"] == "open"
    assert order["info"]["origQty"] == "0.00123000"  # truncated to the lot step, not via float
    assert order["clientOrderId"] == "tresor-test-1"
    assert (await trader.fetch_order(order["id"], SYMBOL))["id"] == order["id"]
    assert [o["id"] for o in await trader.fetch_open_orders()] == [order["id"]]
    since = datetime.now(UTC) - timedelta(hours=1)
    assert [o["id"] for o in await trader.fetch_orders(SYMBOL, since=since)] == [order["id"]]
    cancelled = await trader.cancel_order(order["id"], SYMBOL)
    assert cancelled["status"] == "canceled"
    assert await trader.fetch_open_orders(SYMBOL) == []


async def test_history_calls_answer_lists(sim: SimAdmin, gateway: CcxtGateway) -> None:
    account = sim.account(FUNDS)
    sim.history(account, days=3, trades=20, symbols=["BTCUSDT"], open_orders=0)
    async with gateway.connect(target(sim), credentials(sim.key(account))) as client:
        trades = await client.fetch_my_trades(SYMBOL, limit=1000)
        assert trades
        assert all(t["symbol"] == SYMBOL for t in trades)
        assert isinstance(await client.fetch_deposits(), list)
        assert isinstance(await client.fetch_withdrawals(), list)


async def test_trading_with_a_read_only_key_is_refused_not_rate_limited(
    sim: SimAdmin, gateway: CcxtGateway
) -> None:
    """After a successful private call ccxt raises Binance's -2015 as DDoSProtection (its guess
    at a temporary ban); Tresor still says the key was refused, with the checks."""
    key = sim.key(sim.account(FUNDS), READ_ONLY)
    async with gateway.connect(target(sim), credentials(key)) as client:
        await client.fetch_balance()
        price = await below_market(client)
        with pytest.raises(KeyRefusedAmbiguously) as caught:
            await client.create_order(
                symbol=SYMBOL, side="buy", order_type="limit", amount=Decimal("0.001"), price=price
            )
    checks = caught.value.details["checks"]
    assert "'Enable Spot & Margin Trading'" in checks[3]
    assert caught.value.details["exchange_error"] == "DDoSProtection"


async def test_an_order_beyond_the_balance_is_insufficient_funds(
    sim: SimAdmin, gateway: CcxtGateway
) -> None:
    key = sim.key(sim.account({"USDT": "10"}), TRADE)
    async with gateway.connect(target(sim), credentials(key)) as client:
        price = await below_market(client)
        with pytest.raises(InsufficientFunds) as caught:
            await client.create_order(
                symbol=SYMBOL, side="buy", order_type="limit", amount=Decimal("1"), price=price
            )
    assert caught.value.code == "insufficient_funds"


async def test_an_unknown_order_is_not_found_and_cannot_be_cancelled(
    trader: ExchangeClient,
) -> None:
    with pytest.raises(NotFound):
        await trader.fetch_order("987654321", SYMBOL)
    with pytest.raises(OrderNotOpen):  # Binance -2011: no open order with that id
        await trader.cancel_order("987654321", SYMBOL)


async def test_an_unknown_symbol_is_a_validation_failure(trader: ExchangeClient) -> None:
    await trader.load_markets()
    with pytest.raises(ValidationFailed):
        await trader.fetch_ticker("NOPE/USDT")


async def test_a_wrong_secret_fails_a_read_with_invalid_credentials(
    sim: SimAdmin, gateway: CcxtGateway
) -> None:
    key = {**sim.key(sim.account(FUNDS)), "secret": "0" * 64}
    async with gateway.connect(target(sim), credentials(key)) as client:
        with pytest.raises(InvalidCredentials):
            await client.fetch_balance()


async def test_a_closed_client_refuses_calls_and_closing_twice_is_harmless(
    trader: ExchangeClient,
) -> None:
    await trader.close()
    await trader.close()
    assert trader.closed
    with pytest.raises(RuntimeError, match="closed"):
        await trader.fetch_time()


async def test_aclose_closes_clients_left_open(sim: SimAdmin) -> None:
    gateway = CcxtGateway(egress_ips=(), clock=UtcClock())
    client = gateway.connect(target(sim), credentials(sim.key(sim.account(FUNDS))))
    await client.fetch_balance()
    await gateway.aclose()
    assert client.closed
    assert gateway.redactor not in logging.getLogger("ccxt").filters
