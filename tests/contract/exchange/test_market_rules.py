"""The rules Tresor checks orders against equal the simulator's published filters exactly,
for every listed symbol, read through ccxt and the gateway's client."""

from __future__ import annotations

from decimal import Decimal

from tests.contract.exchange.conftest import FUNDS, credentials, target
from tests.support.simclient import SimAdmin
from tresor.adapters.exchange import CcxtGateway
from tresor.adapters.exchange.market_rules import rules_from_market


def exact(text: str) -> Decimal | None:
    """A filter value as the rule it sets: 0 means none."""
    value = Decimal(text)
    return value if value > 0 else None


async def test_every_symbols_rules_equal_its_filters_exactly(
    sim: SimAdmin, gateway: CcxtGateway
) -> None:
    info = sim.http.get("/api/v3/exchangeInfo").json()
    published = {s["symbol"]: s for s in info["symbols"]}
    key = sim.key(sim.account(FUNDS))
    async with gateway.connect(target(sim), credentials(key)) as client:
        markets = await client.load_markets()
        precision_mode = client.precision_mode
    assert len(markets) == len(published) > 400
    for market in markets.values():
        symbol = published[market["id"]]
        f = {x["filterType"]: x for x in symbol["filters"]}
        rules = rules_from_market(market, "binance", precision_mode=precision_mode)
        assert rules.symbol == f"{symbol['baseAsset']}/{symbol['quoteAsset']}"
        assert (rules.base, rules.quote) == (symbol["baseAsset"], symbol["quoteAsset"])
        assert rules.trading is (symbol["status"] == "TRADING")
        assert rules.price_tick == exact(f["PRICE_FILTER"]["tickSize"])
        assert rules.min_price == exact(f["PRICE_FILTER"]["minPrice"])
        assert rules.max_price == exact(f["PRICE_FILTER"]["maxPrice"])
        assert rules.amount_step == exact(f["LOT_SIZE"]["stepSize"])
        assert rules.min_amount == exact(f["LOT_SIZE"]["minQty"])
        assert rules.max_amount == exact(f["LOT_SIZE"]["maxQty"])
        assert rules.market_min_amount == exact(f["MARKET_LOT_SIZE"]["minQty"])
        assert rules.market_max_amount == exact(f["MARKET_LOT_SIZE"]["maxQty"])
        assert rules.min_notional == exact(f["NOTIONAL"]["minNotional"])
        assert rules.max_notional == exact(f["NOTIONAL"]["maxNotional"])
        for value in (rules.price_tick, rules.amount_step, rules.min_notional):
            assert type(value) is Decimal


async def test_a_halted_symbol_reads_as_closed(sim: SimAdmin, gateway: CcxtGateway) -> None:
    sim.http.post("/_sim/symbols", json={"symbol": "SOLUSDT", "status": "HALT"})
    key = sim.key(sim.account(FUNDS))
    async with gateway.connect(target(sim), credentials(key)) as client:
        markets = await client.load_markets()
    closed = [s for s, m in markets.items() if not rules_from_market(m, "binance").trading]
    assert closed == ["SOL/USDT"]
