"""Every refusal of an order, placed for real through ``ExchangeClient.create_order`` and
``cancel_order`` against the simulator, arrives as the domain error with its stable code (and,
for an invalid order, the rule it broke)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from tests.contract.exchange.conftest import FUNDS, credentials, target
from tests.support.simclient import TRADE, SimAdmin, binance
from tresor.adapters.exchange import CcxtGateway, ExchangeClient
from tresor.adapters.exchange.errors import SentOrder, translate
from tresor.adapters.exchange.market_rules import rules_from_market
from tresor.domain.errors import (
    Conflict,
    InsufficientFunds,
    InvalidCredentials,
    InvalidOrder,
    KeyRefusedAmbiguously,
    MarketClosed,
    OrderNotOpen,
    RateLimited,
    TresorError,
    UnknownSymbol,
)
from tresor.sim.server import SimConfig

SYMBOL = "BTC/USDT"
D = Decimal


def set_status(sim: SimAdmin, symbol: str, status: str) -> None:
    sim.http.post("/_sim/symbols", json={"symbol": symbol, "status": status}).raise_for_status()


@pytest.fixture
async def trader(sim: SimAdmin, gateway: CcxtGateway) -> AsyncIterator[ExchangeClient]:
    key = sim.key(sim.account(FUNDS), TRADE)
    async with gateway.connect(target(sim), credentials(key)) as client:
        await client.load_markets()
        yield client


async def best(client: ExchangeClient, symbol: str = SYMBOL) -> tuple[Decimal, Decimal]:
    book = await client.fetch_order_book(symbol, 5)
    return D(str(book["bids"][0][0])), D(str(book["asks"][0][0]))


async def resting_price(client: ExchangeClient, symbol: str = SYMBOL) -> Decimal:
    bid, _ = await best(client, symbol)
    return (bid * D("0.97")).quantize(D("0.01"))


def filters(client: ExchangeClient, symbol: str = SYMBOL) -> dict[str, dict[str, str]]:
    return {f["filterType"]: f for f in client.markets()[symbol]["info"]["filters"]}


async def refused(client: ExchangeClient, **order: Any) -> TresorError:
    order = {"symbol": SYMBOL, "side": "buy", "order_type": "limit", **order}
    with pytest.raises(TresorError) as caught:
        await client.create_order(**order)
    return caught.value


async def test_an_order_beyond_the_free_balance_is_insufficient_funds(
    trader: ExchangeClient,
) -> None:
    error = await refused(trader, amount=D("2"), price=await resting_price(trader))
    assert type(error) is InsufficientFunds
    assert error.code == "insufficient_funds"
    assert "insufficient balance" in str(error.details["exchange_message"])


async def test_an_order_on_a_halted_market_is_market_closed(
    sim: SimAdmin, trader: ExchangeClient
) -> None:
    price = await resting_price(trader)
    set_status(sim, "BTCUSDT", "HALT")
    error = await refused(trader, amount=D("0.001"), price=price)
    assert type(error) is MarketClosed
    assert error.code == "market_closed"
    assert "Market is closed." in str(error.details["exchange_message"])
    set_status(sim, "BTCUSDT", "TRADING")
    placed = await trader.create_order(
        symbol=SYMBOL, side="buy", order_type="limit", amount=D("0.001"), price=price
    )
    assert placed["status"] == "open"


async def test_the_pre_trade_rules_see_a_halted_market_after_a_reload(
    sim: SimAdmin, trader: ExchangeClient
) -> None:
    set_status(sim, "ETHUSDT", "BREAK")
    markets = await trader.load_markets(reload=True)
    assert not rules_from_market(markets["ETH/USDT"], "binance").trading
    assert rules_from_market(markets[SYMBOL], "binance").trading


async def test_an_unknown_unified_symbol_is_unknown_symbol(trader: ExchangeClient) -> None:
    error = await refused(trader, symbol="NOPE/USDT", amount=D("1"), price=D("1"))
    assert type(error) is UnknownSymbol
    assert error.code == "unknown_symbol"


async def test_a_symbol_the_exchange_does_not_list_is_unknown_symbol(
    sim_factory: Callable[[SimConfig], SimAdmin], gateway: CcxtGateway
) -> None:
    """Markets loaded elsewhere (stale): ccxt sends the order and Binance answers -1121."""
    small = sim_factory(SimConfig(seed=7, symbols=["BTCUSDT"]))
    full = sim_factory(SimConfig(seed=7))
    holder = binance(full.url)
    holder.load_markets()
    key = small.key(small.account({"USDT": "1000"}), TRADE)
    async with gateway.connect(target(small), credentials(key)) as client:
        client.adopt_markets(holder)
        error = await refused(client, symbol="ETH/USDT", amount=D("0.01"), price=D("3000"))
    assert type(error) is UnknownSymbol
    assert error.details["exchange_code"] == "-1121"


@pytest.mark.parametrize(
    ("case", "rule", "exchange_filter"),
    [
        ("above the lot maximum", "amount_precision", "LOT_SIZE"),
        ("above the market-order maximum", "max_amount", "MARKET_LOT_SIZE"),
        ("above the maximum price", "price_precision", "PRICE_FILTER"),
        ("far from the market", "price_band", "PERCENT_PRICE_BY_SIDE"),
        ("worth too little", "min_notional", "NOTIONAL"),
        ("a market order worth too little", "min_notional", "NOTIONAL"),
    ],
)
async def test_each_filter_failure_is_an_invalid_order_naming_its_rule(
    trader: ExchangeClient, case: str, rule: str, exchange_filter: str
) -> None:
    order = await breaking(trader, case)
    error = await refused(trader, **order)
    assert type(error) is InvalidOrder
    assert (error.code, error.rule, error.details["filter"]) == (
        "invalid_order",
        rule,
        exchange_filter,
    )
    assert f"Filter failure: {exchange_filter}" in str(error.details["exchange_message"])


async def breaking(client: ExchangeClient, case: str) -> dict[str, Any]:
    """An order that breaks one of BTC/USDT's filters, with the prices of now."""
    f = filters(client)
    _, ask = await best(client)
    price = await resting_price(client)
    if case == "above the lot maximum":
        return {"amount": D(f["LOT_SIZE"]["maxQty"]) * 2, "price": price}
    if case == "above the market-order maximum":
        return {
            "side": "sell",
            "order_type": "market",
            "amount": D(f["MARKET_LOT_SIZE"]["maxQty"]) * 2,
        }
    if case == "above the maximum price":
        return {"side": "sell", "amount": D("0.001"), "price": D(f["PRICE_FILTER"]["maxPrice"]) * 2}
    if case == "far from the market":
        return {"side": "sell", "amount": D("0.001"), "price": (ask * 10).quantize(D("0.01"))}
    if case == "worth too little":
        return {"amount": D("0.00002"), "price": price}
    assert case == "a market order worth too little"
    return {"side": "sell", "order_type": "market", "amount": D("0.00002")}


async def test_with_the_order_sent_a_filter_failure_names_the_exact_rule(
    sim: SimAdmin, trader: ExchangeClient
) -> None:
    """The same refusals, translated with the order and the market's rules (``SentOrder``):
    the rule within the filter, with the exchange's limit in the details."""
    rules = rules_from_market(trader.markets()[SYMBOL], "binance")
    raw = binance(sim.url, sim.key(sim.account(FUNDS), TRADE))
    raw.load_markets()
    expected = {
        "above the lot maximum": ("max_amount", "max_amount", rules.max_amount),
        "above the maximum price": ("max_price", "max_price", rules.max_price),
        "above the market-order maximum": ("max_amount", "max_amount", rules.market_max_amount),
        "worth too little": ("min_notional", "min_notional", rules.min_notional),
    }
    for case, (rule, name, limit) in expected.items():
        order = await breaking(trader, case)
        sent = SentOrder(
            rules,
            side=order.get("side", "buy"),
            order_type=order.get("order_type", "limit"),
            amount=order["amount"],
            price=order.get("price"),
        )
        with pytest.raises(ccxt.ExchangeError) as caught:  # the exchange's own answer
            raw.create_order(
                SYMBOL,
                sent.order_type,
                sent.side,
                str(sent.amount),
                None if sent.price is None else str(sent.price),
            )
        error = translate(caught.value, exchange="binance", trading=True, order=sent)
        assert isinstance(error, InvalidOrder), case
        assert (error.rule, D(error.details[name])) == (rule, limit), case


async def test_more_open_orders_than_the_symbol_allows_is_max_open_orders(
    sim_factory: Callable[[SimConfig], SimAdmin], gateway: CcxtGateway
) -> None:
    sim = sim_factory(SimConfig(seed=7, orders_per_10s=1000))
    key = sim.key(sim.account(FUNDS), TRADE)
    async with gateway.connect(target(sim), credentials(key)) as client:
        await client.load_markets()
        price = await resting_price(client, "ETH/USDT")
        allowed = int(filters(client, "ETH/USDT")["MAX_NUM_ORDERS"]["maxNumOrders"])
        for _ in range(allowed):
            await client.create_order(
                symbol="ETH/USDT", side="buy", order_type="limit", amount=D("0.01"), price=price
            )
        error = await refused(client, symbol="ETH/USDT", amount=D("0.01"), price=price)
    assert type(error) is InvalidOrder
    assert (error.rule, error.details["filter"]) == ("max_open_orders", "MAX_NUM_ORDERS")
    assert "Cancel" in error.remedy


async def test_too_many_new_orders_is_rate_limited_with_retry_after(
    sim: SimAdmin, trader: ExchangeClient
) -> None:
    price = await resting_price(trader)
    sim.faults(orders_per_10s=1)
    await trader.create_order(
        symbol=SYMBOL, side="buy", order_type="limit", amount=D("0.001"), price=price
    )
    error = await refused(trader, amount=D("0.001"), price=price)
    assert type(error) is RateLimited
    assert error.code == "rate_limited"
    assert error.retry_after is not None
    assert 0 < error.retry_after <= 10
    assert "-1015" in str(error.details["exchange_message"])


async def test_a_client_order_id_still_open_is_a_duplicate_conflict(trader: ExchangeClient) -> None:
    order = {"amount": D("0.001"), "price": await resting_price(trader), "client_order_id": "dup-1"}
    await trader.create_order(symbol=SYMBOL, side="buy", order_type="limit", **order)
    error = await refused(trader, **order)
    assert type(error) is Conflict
    assert (error.code, error.details["reason"]) == ("conflict", "duplicate_order")


async def test_cancelling_an_order_that_is_not_open_is_order_not_open(
    trader: ExchangeClient,
) -> None:
    placed = await trader.create_order(
        symbol=SYMBOL,
        side="buy",
        order_type="limit",
        amount=D("0.001"),
        price=await resting_price(trader),
    )
    await trader.cancel_order(placed["id"], SYMBOL)
    for order_id in (placed["id"], "987654321"):
        with pytest.raises(OrderNotOpen) as caught:
            await trader.cancel_order(order_id, SYMBOL)
        assert caught.value.code == "order_not_open"
        assert caught.value.details["exchange_code"] == "-2011"


async def test_a_cancel_on_a_halted_market_still_works(
    sim: SimAdmin, trader: ExchangeClient
) -> None:
    placed = await trader.create_order(
        symbol=SYMBOL,
        side="buy",
        order_type="limit",
        amount=D("0.001"),
        price=await resting_price(trader),
    )
    set_status(sim, "BTCUSDT", "HALT")
    assert (await trader.cancel_order(placed["id"], SYMBOL))["status"] == "canceled"


@pytest.mark.parametrize(
    ("spoil", "expected", "exchange_code"),
    [
        ({"secret": "0" * 64}, InvalidCredentials, "-1022"),
        ({"api_key": "not a key"}, InvalidCredentials, "-2014"),
        ({"api_key": "A" * 64}, KeyRefusedAmbiguously, "-2015"),
    ],
)
async def test_a_bad_key_on_a_trade_is_the_credential_error(
    sim: SimAdmin,
    gateway: CcxtGateway,
    spoil: dict[str, str],
    expected: type[TresorError],
    exchange_code: str,
) -> None:
    key = {**sim.key(sim.account(FUNDS), TRADE), **spoil}
    async with gateway.connect(target(sim), credentials(key)) as client:
        await client.load_markets()
        error = await refused(client, amount=D("0.001"), price=D("50000"))
    assert type(error) is expected
    assert error.details["exchange_code"] == exchange_code
