"""Halting a symbol: the admin route, exchangeInfo's status and ``symbolStatus`` filter, and a
halted market's resting orders, which do not fill while it is closed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.unit.sim.asgi_client import client, fixed_app
from tresor.sim.catalogue import pairs_for
from tresor.sim.engine import Venue
from tresor.sim.market import Market
from tresor.sim.rules import floor_step
from tresor.sim.state import Account, Order

START = 1_750_000_000_000


def statuses(info: dict[str, Any]) -> dict[str, str]:
    return {s["symbol"]: s["status"] for s in info["symbols"]}


async def test_a_halted_symbol_shows_its_status_and_reopens() -> None:
    app = fixed_app()
    async with client(app) as http:
        before = (await http.get("/api/v3/exchangeInfo")).json()  # cached by the venue
        halted = await http.post("/_sim/symbols", json={"symbol": "BTCUSDT", "status": "HALT"})
        during = (await http.get("/api/v3/exchangeInfo")).json()
        one = (await http.get("/api/v3/exchangeInfo", params={"symbol": "BTCUSDT"})).json()
        listed = (await http.get("/_sim/symbols")).json()
        only_halted = await http.get("/api/v3/exchangeInfo", params={"symbolStatus": "HALT"})
        only_trading = await http.get("/api/v3/exchangeInfo", params={"symbolStatus": "TRADING"})
        in_break = await http.get("/api/v3/exchangeInfo", params={"symbolStatus": "BREAK"})
        reopened = await http.post("/_sim/symbols", json={"symbol": "BTCUSDT", "status": "TRADING"})
        after = (await http.get("/api/v3/exchangeInfo")).json()
    assert set(statuses(before).values()) == {"TRADING"}
    assert (halted.status_code, halted.json()) == (200, {"symbol": "BTCUSDT", "status": "HALT"})
    assert statuses(during) == {"BTCUSDT": "HALT", "ETHUSDT": "TRADING", "ETHBTC": "TRADING"}
    assert statuses(one) == {"BTCUSDT": "HALT"}
    assert listed == {"statuses": {"BTCUSDT": "HALT"}}
    assert list(statuses(only_halted.json())) == ["BTCUSDT"]
    assert sorted(statuses(only_trading.json())) == ["ETHBTC", "ETHUSDT"]
    assert statuses(in_break.json()) == {}
    assert reopened.json() == {"symbol": "BTCUSDT", "status": "TRADING"}
    assert set(statuses(after).values()) == {"TRADING"}


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"symbol": "NOPEUSDT", "status": "HALT"}, 404, "no symbol 'NOPEUSDT'"),
        (
            {"symbol": "BTCUSDT", "status": "PAUSED"},
            400,
            "status must be one of TRADING, END_OF_DAY, HALT, BREAK",
        ),
        ({"symbol": "BTCUSDT"}, 400, 'the body must be {"symbol": "BTCUSDT", "status": "HALT"}'),
        (["BTCUSDT"], 400, 'the body must be {"symbol": "BTCUSDT", "status": "HALT"}'),
    ],
)
async def test_bad_status_changes_are_refused(payload: Any, status: int, message: str) -> None:
    app = fixed_app()
    async with client(app) as http:
        r = await http.post("/_sim/symbols", json=payload)
    assert (r.status_code, r.json()) == (status, {"error": message})
    assert app.sim.venue.symbol_status == {}


def resting_buy() -> tuple[Venue, Account, Order, int]:
    """A venue with a buy resting just under the price, and the first second the market
    crosses it."""
    pairs = pairs_for(["BTCUSDT"])
    venue = Venue(Market(pairs, 7))
    account = venue.create_account({"USDT": Decimal("100000")}, START)
    pair = pairs[0]
    limit = floor_step(venue.market.price("BTCUSDT", START) * Decimal("0.9995"), pair.tick_size)
    order, fills = venue.place_order(
        account,
        pair,
        side="BUY",
        type_="LIMIT",
        tif="GTC",
        qty=Decimal("0.01"),
        quote_qty=None,
        price=limit,
        client_id=None,
        now=START,
    )
    assert (order.status, fills) == ("NEW", [])
    crossing = next(
        t
        for t in range(START + 1000, START + 86_400_000, 1000)
        if venue.market.mid("BTCUSDT", t) <= float(limit)
    )
    return venue, account, order, crossing


def test_a_resting_order_fills_when_the_trading_market_crosses_it() -> None:
    venue, account, order, crossing = resting_buy()
    venue.settle_account(account, crossing + 60_000)
    assert order.executed_qty > 0
    assert START < account.trades["BTCUSDT"][0].time <= crossing + 60_000


def test_resting_orders_do_not_fill_while_their_market_is_closed() -> None:
    """The same order and crossing as above, with the market halted first: nothing fills;
    after the reopening only crossings from then on can fill it."""
    venue, account, order, crossing = resting_buy()
    venue.set_status("BTCUSDT", "HALT", START + 500)
    venue.settle_account(account, crossing + 60_000)
    assert (order.status, order.executed_qty) == ("NEW", 0)
    assert account.trades == {}
    reopen = crossing + 120_000
    venue.set_status("BTCUSDT", "TRADING", reopen)
    venue.settle_account(account, reopen + 3_600_000)
    assert all(t.time > reopen for t in account.trades.get("BTCUSDT", []))


def test_an_unknown_status_is_refused_by_the_venue() -> None:
    venue = Venue(Market(pairs_for(["BTCUSDT"]), 7))
    with pytest.raises(ValueError, match="unknown symbol status"):
        venue.set_status("BTCUSDT", "PAUSED", START)
