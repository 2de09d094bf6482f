"""Smart order routing through ``/v1/route`` against two simulated venues whose prices differ
(each venue's seed deviates from the shared world path), on SQLite and PostgreSQL: the router
picks the better venue, splits an amount deeper than either venue's book, the executed average
price stays within the books' movement of the quoted one, an execution is never repeated for
its Idempotency-Key, and expired or foreign quotes are refused.

The market is EOS/USDT, thin enough that a whole book is an affordable order. The simulator
fills a taker order from its best 50 levels only (``MARKET_DEPTH_LEVELS`` in sim/rules.py), so
the router is told to read no deeper: a plan never counts on liquidity the venue will not give.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.api.conftest import EGRESS_IP, Api, Tenant, assert_problem
from tests.support.simclient import READ_ONLY, TRADE, SimAdmin
from tresor.config import Settings
from tresor.services.routing import RoutingPolicy
from tresor.sim.rules import MARKET_DEPTH_LEVELS
from tresor.sim.server import SimConfig, serve_in_thread

SYMBOL = "EOS/USDT"
SIM_SYMBOL = "EOSUSDT"
MATCHED_LEVELS = 50  # the levels the simulator fills a taker order from
FUNDS = {"USDT": "1000000"}
D = Decimal


@pytest.fixture(scope="module")
def venues() -> Iterator[dict[str, SimAdmin]]:
    """Two venues with different seeds: the same world prices, each with its own deviation."""
    running = {
        name: serve_in_thread(
            SimConfig(seed=seed, symbols=["BTCUSDT", SIM_SYMBOL], weight_per_minute=1_000_000)
        )
        for name, seed in (("north", 11), ("south", 12))
    }
    admins = {name: SimAdmin(r) for name, r in running.items()}
    yield admins
    for name, admin in admins.items():
        admin.close()
        running[name].stop()


@pytest.fixture
def settings(tmp_path: Path, venues: dict[str, SimAdmin], database_url: str | None) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        master_key=None,
        endpoints={name: {"exchange": "binance", "url": v.url} for name, v in venues.items()},
        egress_ips=[EGRESS_IP],
    )


@pytest.fixture
def routed(api: Api) -> Api:
    """The API with the router reading the levels the simulator fills from, and order books
    cached a minute, so a test reads, through /v1/markets, the very books a quote was made
    from (each quote names its books' fetch times, and the tests check they match)."""
    container = api.runtime.container
    container.routing.policy = RoutingPolicy(book_depths=(MATCHED_LEVELS,))
    container.market.policy = replace(container.market.policy, book_ttl_s=60.0)
    return api


@dataclass
class Account:
    venue: str
    sim: SimAdmin
    account_id: int
    connection_id: str

    def truth(self) -> dict[str, Any]:
        return self.sim.truth(self.account_id)


async def connect(
    api: Api, headers: dict[str, str], venues: dict[str, SimAdmin], venue: str, *, trade: bool
) -> Account:
    """A new funded account on ``venue``, connected with a read key (and a trade key)."""
    sim = venues[venue]
    account = sim.account(FUNDS)
    keys = {"read": sim.key(account, READ_ONLY)}
    if trade:
        keys["trade"] = sim.key(account, TRADE)
    for key in keys.values():
        api.secrets.update({key["api_key"], key["secret"]})
    body = {role: {"api_key": k["api_key"], "secret": k["secret"]} for role, k in keys.items()}
    label = f"{venue}-{secrets.token_hex(3)}"
    answer = await api.add(headers, label, endpoint=venue, **body)
    assert answer.status_code == 201, answer.text
    return Account(venue, sim, account, answer.json()["id"])


async def two_venues(
    api: Api, tenant: Tenant, venues: dict[str, SimAdmin]
) -> tuple[dict[str, str], dict[str, Account]]:
    headers = await tenant.headers()
    accounts = {name: await connect(api, headers, venues, name, trade=True) for name in venues}
    return headers, accounts


async def quote(api: Api, headers: dict[str, str], amount: str, **extra: Any) -> dict[str, Any]:
    """A quote; with no price allowance (limits at the worst level quoted) unless given."""
    body = {
        "side": "buy",
        "base": "EOS",
        "quote": "USDT",
        "amount": amount,
        "allowance": "0",
        **extra,
    }
    answer = await api.http.post("/v1/route/quote", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def execute(api: Api, headers: dict[str, str], quote_id: str, key: str) -> Any:
    return await api.http.post(
        "/v1/route/execute",
        json={"quote_id": quote_id},
        headers={**headers, "Idempotency-Key": key},
    )


async def books(api: Api, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each venue's book as /v1/markets serves it (from the cache the router filled)."""
    found = {}
    for venue in ("north", "south"):
        answer = await api.http.get(
            f"/v1/markets/{venue}/order_book",
            params={"symbol": SYMBOL, "depth": MATCHED_LEVELS},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        found[venue] = answer.json()
    return found


def asks_depth(book: dict[str, Any]) -> Decimal:
    return sum((D(size) for _, size in book["asks"]), D(0))


def by_connection(quote: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["connection_id"]: v for v in quote["venues"]}


async def test_by_default_a_legs_limit_allows_a_little_past_the_worst_level_quoted(
    routed: Api, alice: Tenant, venues: dict[str, SimAdmin]
) -> None:
    api = routed
    headers, _ = await two_venues(api, alice, venues)
    exact = await quote(api, headers, "100")
    body = {"side": "buy", "base": "EOS", "quote": "USDT", "amount": "100"}
    answer = await api.http.post("/v1/route/quote", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    allowed = answer.json()
    assert [(g["connection_id"], g["amount"]) for g in allowed["legs"]] == [
        (g["connection_id"], g["amount"]) for g in exact["legs"]
    ]
    for leg, worst in zip(allowed["legs"], exact["legs"], strict=True):
        worst_price = D(worst["limit_price"])
        assert worst_price < D(leg["limit_price"]) <= worst_price * D("1.002")
        assert leg["average_price"] == worst["average_price"]  # the same book walk
    too_far = await api.http.post(
        "/v1/route/quote", json={**body, "allowance": "0.5"}, headers=headers
    )
    assert too_far.status_code == 422


async def test_the_router_picks_the_venue_with_the_better_price(
    routed: Api, alice: Tenant, venues: dict[str, SimAdmin]
) -> None:
    api = routed
    headers, accounts = await two_venues(api, alice, venues)
    watch = await connect(api, headers, venues, "north", trade=False)
    quoted = await quote(api, headers, "100")  # far less than either best level

    seen = await books(api, headers)
    venue_of = {a.connection_id: name for name, a in accounts.items()}
    views = by_connection(quoted)
    for connection_id, venue in venue_of.items():  # the books the quote was made from
        assert views[connection_id]["book"]["fetched_ms"] == seen[venue]["fetched_ms"]
    # same exchange, same listing: the same taker fee, so the better price net of fees is the
    # lower best ask (ties go to the lower connection id, as domain/routing.py says)
    best_ask = {venue: D(book["asks"][0][0]) for venue, book in seen.items()}
    winner = min(accounts.values(), key=lambda a: (best_ask[a.venue], a.connection_id))
    loser = next(a for a in accounts.values() if a is not winner)

    assert [(leg["connection_id"], leg["amount"]) for leg in quoted["legs"]] == [
        (winner.connection_id, "100")
    ]
    leg = quoted["legs"][0]
    assert D(leg["average_price"]) == D(leg["limit_price"]) == best_ask[winner.venue]
    assert D(leg["fee"]) == D(leg["gross"]) * D("0.001")
    assert quoted["best_single"] == leg
    assert views[winner.connection_id]["role"] == "leg"
    assert views[loser.connection_id]["role"] == "unused"
    assert D(views[loser.connection_id]["alone"]["average_price"]) == best_ask[loser.venue]
    assert views[watch.connection_id]["role"] == "skipped"
    assert views[watch.connection_id]["code"] == "trade_key_required"
    assert quoted["expires_ms"] - quoted["created_ms"] == 30_000
    assert winner.truth()["orders"] == loser.truth()["orders"] == []  # a quote places nothing


async def test_an_amount_deeper_than_either_book_is_split_and_executes_within_its_movement(
    routed: Api, alice: Tenant, venues: dict[str, SimAdmin]
) -> None:
    api = routed
    headers, accounts = await two_venues(api, alice, venues)
    before = await books(api, headers)  # cached: the quote plans on these very books
    depth = {venue: asks_depth(book) for venue, book in before.items()}
    amount = (max(depth.values()) * D("1.4")).to_integral_value(rounding=ROUND_FLOOR)
    assert amount < sum(depth.values())  # both books together hold it
    quoted = await quote(api, headers, str(amount))

    legs = {leg["connection_id"]: leg for leg in quoted["legs"]}
    assert set(legs) == {a.connection_id for a in accounts.values()}
    assert D(quoted["filled"]) == amount
    assert quoted["shortfall"] is None
    for account in accounts.values():
        assert D(legs[account.connection_id]["amount"]) <= depth[account.venue]
    assert D(quoted["best_single"]["amount"]) < amount  # no venue alone could fill it

    answer = await execute(api, headers, quoted["id"], "split-1")
    assert answer.status_code == 201, answer.text
    executed = answer.json()
    assert all(leg["state"] in ("closed", "expired") for leg in executed["legs"])  # IOC: final
    filled = D(executed["filled"])
    assert D(0) < filled <= amount
    # what the venues say they did is what Tresor reports
    trades = [t for a in accounts.values() for t in a.truth()["trades"]]
    assert sum((D(t["qty"]) for t in trades), D(0)) == filled
    assert sum((D(t["quoteQty"]) for t in trades), D(0)) == D(executed["cost"])
    # Each venue executed exactly its leg as quoted: its amount, up to its limit (an IOC), on
    # its book as it stood at that moment (the simulator's own market model, walked again
    # here). So all that separates the executed average from the quoted one is the books'
    # movement between the quote and the execution.
    for account in accounts.values():
        leg = legs[account.connection_id]
        taken = fills(account)
        assert taken, f"the leg on {account.venue} placed nothing"
        (when,) = {t["time"] for t in taken}  # one IOC order, one moment
        qty, cost = walk_asks(account, when, D(leg["amount"]), D(leg["limit_price"]))
        assert sum((D(t["qty"]) for t in taken), D(0)) == qty
        assert sum((D(t["quoteQty"]) for t in taken), D(0)) == cost
    # Every fill took a level of its venue's book as it was when it filled (from the best ask
    # then) and never beyond its leg's limit (an IOC); the quote walked the books from their
    # best ask quoted to those limits. So the executed and the quoted average differ by at
    # most the span from the lower of those best asks to the highest limit: how far the books
    # moved, plus the depth the plan walks.
    for account in accounts.values():
        limit = D(legs[account.connection_id]["limit_price"])
        for fill in fills(account):
            assert best_ask_at(account, fill["time"]) <= D(fill["price"]) <= limit
    quoted_best = min(D(v["book"]["best_price"]) for v in quoted["venues"] if v["book"])
    filled_best = min(best_ask_at(a, t["time"]) for a in accounts.values() for t in fills(a))
    worst_limit = max(D(leg["limit_price"]) for leg in quoted["legs"])
    quoted_average = D(quoted["average_price"])
    tolerance = (worst_limit - min(quoted_best, filled_best)) / quoted_average
    assert D(executed["quoted_average_price"]) == quoted_average
    assert abs(D(executed["slippage"])) <= tolerance


def fills(account: Account) -> list[dict[str, Any]]:
    return list(account.truth()["trades"])


def walk_asks(account: Account, time_ms: int, amount: Decimal, limit: Decimal) -> tuple[D, D]:
    """What a buy of ``amount`` up to ``limit`` takes of the venue's book at ``time_ms`` (the
    simulator's own model, at the depth its engine fills from): (quantity, cost)."""
    _, asks = account.sim.app.sim.venue.market.book(SIM_SYMBOL, time_ms, MARKET_DEPTH_LEVELS)
    qty = cost = D(0)
    for price, level in asks:
        if price > limit or qty >= amount:
            break
        take = min(level, amount - qty)
        qty, cost = qty + take, cost + take * price
    return qty, cost


def best_ask_at(account: Account, time_ms: int) -> Decimal:
    """The venue's best ask at ``time_ms``, from the simulator's own market model."""
    _, asks = account.sim.app.sim.venue.market.book(SIM_SYMBOL, time_ms, 1)
    return D(asks[0][0])


async def test_executing_again_with_the_same_key_places_nothing_more(
    routed: Api, alice: Tenant, venues: dict[str, SimAdmin]
) -> None:
    api = routed
    headers, accounts = await two_venues(api, alice, venues)
    quoted = await quote(api, headers, "100")
    first = await execute(api, headers, quoted["id"], "once")
    assert first.status_code == 201, first.text
    orders = {name: a.truth()["orders"] for name, a in accounts.items()}
    assert sum(len(o) for o in orders.values()) == 1

    again = await execute(api, headers, quoted["id"], "once")
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.json() == first.json()
    other = await execute(api, headers, quoted["id"], "another")
    assert_problem(other, 409, "quote_already_executed")
    assert {name: a.truth()["orders"] for name, a in accounts.items()} == orders


async def test_concurrent_executions_of_one_quote_place_each_leg_once(
    routed: Api, alice: Tenant, venues: dict[str, SimAdmin]
) -> None:
    api = routed
    headers, accounts = await two_venues(api, alice, venues)
    quoted = await quote(api, headers, "100")
    answers = await asyncio.gather(
        *(execute(api, headers, quoted["id"], key) for key in ["k1"] * 4 + ["k2"] * 4)
    )
    done = [a for a in answers if a.status_code == 201]
    assert done, [a.text for a in answers]
    assert len({leg["order_id"] for a in done for leg in a.json()["legs"]}) == 1
    for answer in answers:
        if answer.status_code != 201:
            assert answer.json()["code"] in ("idempotency_in_progress", "quote_already_executed")
    assert sum(len(a.truth()["orders"]) for a in accounts.values()) == 1


async def test_an_expired_quote_is_refused_and_nothing_is_placed(
    routed: Api, alice: Tenant, venues: dict[str, SimAdmin]
) -> None:
    api = routed
    headers, accounts = await two_venues(api, alice, venues)
    api.runtime.container.routing.policy = RoutingPolicy(
        quote_ttl_s=0.2, book_depths=(MATCHED_LEVELS,)
    )
    quoted = await quote(api, headers, "100")
    await asyncio.sleep(0.3)
    answer = await execute(api, headers, quoted["id"], "late")
    problem = assert_problem(answer, 409, "quote_expired")
    assert "new quote" in problem["remedy"]
    assert all(a.truth()["orders"] == [] for a in accounts.values())


async def test_another_users_quote_and_connections_are_not_found(
    routed: Api, alice: Tenant, venues: dict[str, SimAdmin]
) -> None:
    api = routed
    headers, accounts = await two_venues(api, alice, venues)
    quoted = await quote(api, headers, "100")
    bob = await api.tenant("bob", "read,trade")
    bob_headers = await bob.headers()
    answer = await execute(api, bob_headers, quoted["id"], "bobs")
    assert_problem(answer, 404, "not_found")
    theirs = [a.connection_id for a in accounts.values()]
    answer = await api.http.post(
        "/v1/route/quote",
        json={
            "side": "buy",
            "base": "EOS",
            "quote": "USDT",
            "amount": "1",
            "connection_ids": theirs,
        },
        headers=bob_headers,
    )
    assert_problem(answer, 404, "not_found")
    nothing = await api.http.post(
        "/v1/route/quote",
        json={"side": "buy", "base": "EOS", "quote": "USDT", "amount": "100"},
        headers=bob_headers,
    )
    problem = assert_problem(nothing, 422, "no_route")
    assert problem["venues"] == []
    assert all(a.truth()["orders"] == [] for a in accounts.values())
    mine = await execute(api, headers, quoted["id"], "alices")  # still alice's to execute
    assert mine.status_code == 201, mine.text


async def test_bad_requests_are_problems_with_a_remedy(
    routed: Api, alice: Tenant, venues: dict[str, SimAdmin]
) -> None:
    api = routed
    headers, accounts = await two_venues(api, alice, venues)
    for body in [
        {"side": "buy", "base": "EOS", "quote": "EOS", "amount": "1"},
        {"side": "hold", "base": "EOS", "quote": "USDT", "amount": "1"},
        {"side": "buy", "base": "EOS", "quote": "USDT", "amount": "0"},
        {"side": "buy", "base": "EOS", "quote": "USDT", "amount": "1e3"},
        {"side": "buy", "base": "EOS", "quote": "USDT", "amount": "1", "connection_ids": []},
    ]:
        answer = await api.http.post("/v1/route/quote", json=body, headers=headers)
        assert_problem(answer, 422, "validation_failed")
    quoted = await quote(api, headers, "100")
    answer = await api.http.post(
        "/v1/route/execute", json={"quote_id": quoted["id"]}, headers=headers
    )
    assert_problem(answer, 422, "validation_failed")  # no Idempotency-Key
    missing = await execute(api, headers, "rq_" + "0" * 20, "k")
    assert_problem(missing, 404, "not_found")
    nowhere = await quote_problem(api, headers, base="NOPE")
    assert_problem(nowhere, 422, "no_route")
    assert {v["code"] for v in nowhere.json()["venues"]} == {"unknown_symbol"}
    assert all(a.truth()["orders"] == [] for a in accounts.values())


async def quote_problem(api: Api, headers: dict[str, str], **body: str) -> Any:
    return await api.http.post(
        "/v1/route/quote",
        json={"side": "buy", "base": "EOS", "quote": "USDT", "amount": "100", **body},
        headers=headers,
    )
