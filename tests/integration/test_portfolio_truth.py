"""The portfolio's totals equal a valuation computed independently from the simulator's ground
truth and the simulator's own prices.

Balances go the real way: the simulator's account, Tresor's sync (``tresor sync`` or
``SyncService``) over HTTP, the store, ``PortfolioService`` (what ``GET /v1/portfolio`` calls).
The expected figures are computed here from first principles, without Tresor's valuation code:
amounts from ``/_sim/accounts/{id}/truth``, prices from the venue's own market model
(``Market.price(symbol, t)``, what its ``/api/v3/ticker/price`` serves at ``t``).

To know ``t``, the venue's clock is held still while a connection syncs: every price it serves
then is the price at that one instant. The clock is held a few seconds ahead of real time,
inside the window Binance's signature check allows (a timestamp may be up to ``recvWindow``,
10 s for ccxt, behind the server's clock and less than 1 s ahead of it), so signed calls pass.

How a price in USD is chosen (docs/portfolio.md, "How things are valued"), in order:

1. the asset *is* the quote: USD and its stablecoins USDT, USDC, FDUSD, TUSD, BUSD, DAI are each
   exactly 1, whatever their own markets say;
2. a direct market ``ASSET/S``, S one of those stablecoins;
3. an inverse one ``S/ASSET``: 1 / its price;
4. a bridge ``ASSET/B * B/S`` through B in BTC, ETH, BNB, USDT, USDC;
5. none: the asset is listed without a value and counts in no total.

Every price here is a product of exchange prices (decimals of at most 8 places) and every amount
has at most 8 places, so the expected values are computed with ``Inexact`` trapped: they are
exact, and the portfolio must equal them digit for digit. The one division, an inverse market,
has its own test below.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal, Inexact, localcontext
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.integration.conftest import WEIGHT
from tests.support.rawclient import signed
from tests.support.simclient import READ_ONLY, TRADE, SimAdmin
from tresor.bootstrap import Runtime, build_runtime
from tresor.config import Settings
from tresor.domain.connections import Credentials
from tresor.domain.portfolio import Portfolio
from tresor.domain.secrets import Secret
from tresor.entrypoints.api.app import create_app
from tresor.entrypoints.cli.main import app as cli_app
from tresor.sim.market import Market
from tresor.sim.server import SimConfig, serve_in_thread

D = Decimal
ONE = D(1)
STABLECOINS = ("USDT", "USDC", "FDUSD", "TUSD", "BUSD", "DAI")  # docs/portfolio.md, in order
BRIDGES = ("BTC", "ETH", "BNB", "USDT", "USDC")
AHEAD_MS = 8_000  # the held clock's lead on real time: signed calls pass for about 9 s

# A listing where assets reach USD every way the rule allows. No DOGE, ADA, SOL or TRY market
# against USDT; the stablecoins have markets of their own, which must be ignored.
LISTING = [
    "BTCUSDT", "ETHUSDT", "EURUSDT", "ETHBTC",
    "SOLUSDC",             # direct, through USDC
    "DOGEBTC",             # a bridge through BTC
    "ADAETH",              # a bridge through ETH
    "USDCUSDT", "FDUSDUSDT",
    "USDTTRY",             # inverse
]  # fmt: skip

# (what the rule must choose, per asset): "one", ("direct", S), ("inverse", S),
# ("bridge", B, S) or None (no price)
Route = tuple[str, ...] | None
EXPECTED_ROUTES: dict[str, Route] = {
    "BTC": ("direct", "USDT"),
    "ETH": ("direct", "USDT"),
    "EUR": ("direct", "USDT"),
    "SOL": ("direct", "USDC"),
    "DOGE": ("bridge", "BTC", "USDT"),
    "ADA": ("bridge", "ETH", "USDT"),
    "TRY": ("inverse", "USDT"),
    "USDT": ("one",),
    "USDC": ("one",),
    "FDUSD": ("one",),
    "DAI": ("one",),  # no market at all, and still 1 USD
    "XYZ": None,  # listed nowhere
}

# alpha: a bit of everything, 0.25 BTC of it locked by an open order
ALPHA = {
    "BTC": "1.5",
    "ETH": "12.3456789",
    "EUR": "700",
    "SOL": "33.5",
    "DOGE": "15000",
    "USDT": "2500.5",
    "USDC": "1000.25",
    "XYZ": "42",
}
# beta: dust (one satoshi, a few units of the eighth place), a pegged coin without a market
BETA = {
    "BTC": "0.00000001",
    "ETH": "0.5",
    "ADA": "2500",
    "DOGE": "0.00000003",
    "USDT": "0.00000001",
    "FDUSD": "300",
    "DAI": "125.75",
}
LOCKED_BTC = D("0.25")


class HeldClock:
    """The venue's clock: real time, or one instant while held."""

    def __init__(self) -> None:
        self.held: int | None = None

    def __call__(self) -> int:
        return self.held if self.held is not None else int(time.time() * 1000)

    def hold(self) -> int:
        self.held = int(time.time() * 1000) + AHEAD_MS
        return self.held

    def release(self) -> None:
        self.held = None


@dataclass
class Venue:
    sim: SimAdmin
    clock: HeldClock

    @property
    def market(self) -> Market:
        market: Market = self.sim.app.sim.venue.market
        return market


@pytest.fixture
def venue() -> Iterator[Venue]:
    clock = HeldClock()
    running = serve_in_thread(
        SimConfig(seed=23, symbols=LISTING, weight_per_minute=WEIGHT, clock=clock)
    )
    admin = SimAdmin(running)
    yield Venue(admin, clock)
    admin.close()
    running.stop()


@pytest.fixture
async def runtime(tmp_path: Path, venue: Venue) -> AsyncIterator[Runtime]:
    rt = await build_runtime(
        Settings(data_dir=tmp_path / "data", endpoints=endpoints(venue), database_url=None)
    )
    yield rt
    await rt.aclose()


def endpoints(venue: Venue) -> dict[str, Any]:
    return {"sim": {"exchange": "binance", "url": venue.sim.url, "weight_per_minute": WEIGHT}}


async def connect(rt: Runtime, venue: Venue, user_id: str, label: str, account: int) -> str:
    key = venue.sim.key(account, READ_ONLY)
    connection = await rt.container.connections.add(
        user_id,
        exchange="binance",
        label=label,
        endpoint="sim",
        read_key=Credentials(Secret(key["api_key"]), Secret(key["secret"])),
    )
    return connection.id


def lock_btc(venue: Venue, account: int) -> None:
    """An open sell order far above the market, which holds ``LOCKED_BTC``."""
    key = venue.sim.key(account, TRADE)
    far = venue.market.price("BTCUSDT", int(time.time() * 1000)) * 3
    with httpx.Client(base_url=venue.sim.url) as http:
        answer = signed(
            http, key, "POST", "/api/v3/order",
            {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
             "quantity": str(LOCKED_BTC), "price": f"{far:f}"},
        )  # fmt: skip
    assert answer.status_code == 200, answer.text


# -- the independent valuation -----------------------------------------------------------------
def listed_pairs(market: Market) -> dict[tuple[str, str], str]:
    return {(p.base, p.quote): p.symbol for p in market.pairs.values()}


def route_of(asset: str, pairs: dict[tuple[str, str], str]) -> Route:
    """The documented rule, step by step (this module's docstring)."""
    if asset == "USD" or asset in STABLECOINS:
        return ("one",)
    for stable in STABLECOINS:
        if (asset, stable) in pairs:
            return ("direct", stable)
    for stable in STABLECOINS:
        if (stable, asset) in pairs:
            return ("inverse", stable)
    for bridge in BRIDGES:
        if bridge == asset or (asset, bridge) not in pairs:
            continue
        onward = route_of(bridge, pairs)  # a stablecoin bridge would have been direct
        if onward is not None and onward[0] == "direct":
            return ("bridge", bridge, onward[1])
    return None


def usd_price(asset: str, market: Market, t_ms: int) -> Decimal | None:
    """One unit of ``asset`` in USD from the venue's own prices at ``t_ms``."""
    pairs = listed_pairs(market)
    route = route_of(asset, pairs)
    assert route == EXPECTED_ROUTES[asset], (asset, route)  # the listing is what we meant
    if route is None:
        return None
    kind = route[0]
    if kind == "one":
        return ONE
    if kind == "direct":
        return market.price(pairs[(asset, route[1])], t_ms)
    if kind == "inverse":
        return ONE / market.price(pairs[(route[1], asset)], t_ms)
    leg = market.price(pairs[(asset, route[1])], t_ms)
    onward = market.price(pairs[(route[1], route[2])], t_ms)
    return leg * onward


@dataclass(frozen=True)
class Expected:
    """Per connection: each asset's price and value; across them: per asset and the total."""

    prices: dict[str, dict[str, Decimal | None]]  # connection -> asset -> price
    values: dict[str, dict[str, Decimal]]  # connection -> asset -> value (priced only)
    asset_totals: dict[str, Decimal]
    asset_values: dict[str, Decimal]
    total: Decimal


def expected(venue: Venue, truths: dict[str, dict[str, Any]], taken_at: dict[str, int]) -> Expected:
    """``truths``: each connection's ``/truth``; ``taken_at``: the instant its prices were
    taken. Computed with inexact results trapped: every figure here is exact."""
    prices: dict[str, dict[str, Decimal | None]] = {}
    values: dict[str, dict[str, Decimal]] = {}
    asset_totals: dict[str, Decimal] = {}
    asset_values: dict[str, Decimal] = {}
    with localcontext() as exact:
        exact.traps[Inexact] = True
        exact.prec = 60
        for cid, truth in truths.items():
            prices[cid], values[cid] = {}, {}
            for asset, balance in truth["balances"].items():
                amount = D(balance["free"]) + D(balance["locked"])
                if not amount:
                    continue
                price = usd_price(asset, venue.market, taken_at[cid])
                prices[cid][asset] = price
                asset_totals[asset] = asset_totals.get(asset, D(0)) + amount
                if price is not None:
                    values[cid][asset] = amount * price
                    asset_values[asset] = asset_values.get(asset, D(0)) + amount * price
        total = sum(asset_values.values(), D(0))
    return Expected(prices, values, asset_totals, asset_values, total)


def assert_portfolio_is(p: Portfolio, want: Expected, truths: dict[str, dict[str, Any]]) -> None:
    assert p.quote == "USD"
    assert {c.connection_id for c in p.connections} == set(truths)
    for c in p.connections:
        truth = truths[c.connection_id]["balances"]
        held = {a: b for a, b in truth.items() if D(b["free"]) + D(b["locked"])}
        assert {h.asset for h in c.holdings} == set(held)
        for h in c.holdings:
            assert (h.free, h.locked) == (D(held[h.asset]["free"]), D(held[h.asset]["locked"]))
            assert h.price == want.prices[c.connection_id][h.asset], h.asset
            assert h.value == want.values[c.connection_id].get(h.asset), h.asset
        assert c.value == sum(want.values[c.connection_id].values(), D(0))
    by_asset = {a.asset: a for a in p.assets}
    assert set(by_asset) == set(want.asset_totals)
    for asset, a in by_asset.items():
        assert a.total == want.asset_totals[asset], asset
        assert a.value == want.asset_values.get(asset), asset
    assert p.total == want.total
    # allocation: each priced asset's share of the total, to 4 places, adding up to 100
    shares = {a.asset: a.allocation for a in p.assets if a.value is not None}
    assert sum(s for s in shares.values() if s is not None) == 100
    for asset, share in shares.items():
        assert share is not None
        assert abs(share - want.asset_values[asset] * 100 / want.total) < D("0.0001"), asset
    assert all(a.allocation is None for a in p.assets if a.value is None)


async def sync_held(rt: Runtime, venue: Venue, connection_id: str) -> int:
    """Sync balances with the venue's clock held: the instant its prices were taken."""
    taken = venue.clock.hold()
    try:
        await rt.sync.sync(connection_id, history=False)
    finally:
        venue.clock.release()
    return taken


# -- the proofs --------------------------------------------------------------------------------
async def test_one_connection_synced_by_tresor_sync_is_valued_exactly_as_truth_and_prices_say(
    runtime: Runtime, venue: Venue
) -> None:
    account = venue.sim.account(ALPHA)
    lock_btc(venue, account)
    user = await runtime.container.access.create_user("alice")
    alpha = await connect(runtime, venue, user.id, "alpha", account)

    env = {
        "TRESOR_DATA_DIR": str(runtime.settings.data_dir),
        "TRESOR_DATABASE_URL": None,
        "TRESOR_ENDPOINTS": json.dumps(endpoints(venue)),
    }
    taken = venue.clock.hold()
    try:  # the CLI builds its own runtime on the same database, as an operator would run it
        result = await asyncio.to_thread(
            CliRunner().invoke,
            cli_app,
            ["sync", "--user", "alice", "alpha", "--balances-only", "--json"],
            env=env,
        )
    finally:
        venue.clock.release()
    assert result.exit_code == 0, (result.output, result.exception)

    truths = {alpha: venue.sim.truth(account)}
    assert D(truths[alpha]["balances"]["BTC"]["locked"]) == LOCKED_BTC
    want = expected(venue, truths, {alpha: taken})
    portfolio = await runtime.container.portfolio.portfolio(user.id)

    assert_portfolio_is(portfolio, want, truths)
    assert want.asset_values["SOL"]  # reached without a SOL/USDT market
    assert want.asset_values["DOGE"]  # nor a DOGE/USDT one
    assert want.prices[alpha]["USDC"] == 1  # the peg, not the USDC/USDT market
    assert "XYZ" not in want.asset_values


async def test_two_connections_priced_at_their_own_instants_add_up_exactly(
    runtime: Runtime, venue: Venue
) -> None:
    first, second = venue.sim.account(ALPHA), venue.sim.account(BETA)
    lock_btc(venue, first)
    user = await runtime.container.access.create_user("alice")
    alpha = await connect(runtime, venue, user.id, "alpha", first)
    beta = await connect(runtime, venue, user.id, "beta", second)
    # an endpoint's prices are shared by the syncs of a few seconds (a fleet asks once): here
    # each sync asks for its own, so the two snapshots are priced at two instants
    runtime.gateway.prices_ttl_ms = 0

    taken = {alpha: await sync_held(runtime, venue, alpha)}
    await asyncio.sleep(1.5)  # a later instant: the venue's prices have moved
    taken[beta] = await sync_held(runtime, venue, beta)

    truths = {alpha: venue.sim.truth(first), beta: venue.sim.truth(second)}
    want = expected(venue, truths, taken)
    assert want.prices[alpha]["BTC"] != want.prices[beta]["BTC"]  # each at its own prices
    portfolio = await runtime.container.portfolio.portfolio(user.id)

    assert_portfolio_is(portfolio, want, truths)
    assert want.asset_totals["BTC"] == D("1.50000001")
    assert want.asset_values["DAI"] == D("125.75")

    # and through the API, as exact decimal strings
    client, secret = await runtime.container.access.create_client("alice", "read")
    transport = httpx.ASGITransport(app=create_app(runtime.container))
    async with httpx.AsyncClient(transport=transport, base_url="http://tresor.test") as http:
        form = {"grant_type": "client_credentials", "client_id": client.id}
        token = (await http.post("/v1/auth/token", data={**form, "client_secret": secret})).json()
        answer = await http.get(
            "/v1/portfolio", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
    body = answer.json()
    assert D(body["total"]) == want.total
    assert {a["asset"]: D(a["value"]) for a in body["assets"] if a["value"]} == {
        asset: value for asset, value in want.asset_values.items()
    }


async def test_an_inverse_market_is_the_one_division_rounded_to_28_significant_digits(
    runtime: Runtime, venue: Venue
) -> None:
    """TRY has only USDT/TRY: one TRY is 1 / that price, a quotient Decimal rounds to its
    default 28 significant digits, and the holding is worth amount * that price."""
    account = venue.sim.account({"TRY": "12345.67"})
    user = await runtime.container.access.create_user("alice")
    cid = await connect(runtime, venue, user.id, "lira", account)
    taken = await sync_held(runtime, venue, cid)

    usdt_in_try = venue.market.price("USDTTRY", taken)
    price = ONE / usdt_in_try  # the default context: 28 significant digits
    assert usd_price("TRY", venue.market, taken) == price
    portfolio = await runtime.container.portfolio.portfolio(user.id)

    (holding,) = portfolio.connections[0].holdings
    assert holding.price == price
    assert holding.value == D("12345.67") * price
    assert portfolio.total == holding.value
    assert abs(holding.value * usdt_in_try - D("12345.67")) < D("1e-20")
