"""The routing service on fakes (the order desk, the books, the stores): which connections
take part and why the others do not, how deep books are read, and that executing a quote
places every leg once, at once, as a limit IOC at its limit price, whatever happens to the
other legs, and never again for the same key, after expiry, or under another key."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from tests.contract.storage import data
from tests.support.clock import FakeClock
from tresor.adapters.db.memory import MemoryStore
from tresor.domain.connections import Connection, ConnectionStatus, KeyRole
from tresor.domain.errors import (
    IdempotencyKeyReused,
    InsufficientFunds,
    NotFound,
    TresorError,
    UnknownEndpoint,
    UnknownSymbol,
    ValidationFailed,
)
from tresor.domain.market import MarketAnswer, OrderBook
from tresor.domain.order_rules import MarketRules
from tresor.domain.orders import OrderRequest, OrderState, PlacedOrder
from tresor.domain.routing_errors import NoRoute, QuoteAlreadyExecuted, QuoteExpired
from tresor.services.ports import KeyClaim, KeyRecord, RouteQuote
from tresor.services.routing import RoutingPolicy, RoutingService
from tresor.services.trading import Placement

D = Decimal
USER = "u1"


def rules(symbol: str = "BTC/USDT", fee: str = "0.001") -> MarketRules:
    base, quote = symbol.split("/")
    return MarketRules(
        exchange="binance",
        symbol=symbol,
        base=base,
        quote=quote,
        trading=True,
        amount_step=D("0.001"),
        price_tick=D("0.01"),
        min_amount=D("0.001"),
        max_amount=None,
        market_min_amount=None,
        market_max_amount=None,
        min_price=None,
        max_price=None,
        min_notional=D("5"),
        max_notional=None,
        maker_fee=D(fee),
        taker_fee=D(fee),
    )


def kept(value: Decimal) -> Decimal:
    """To the 18 decimals the database keeps."""
    return value.quantize(D("1e-18"))


def book(*asks: tuple[str, str]) -> OrderBook:
    return OrderBook("binance", "BTC/USDT", 0, (), tuple((D(p), D(a)) for p, a in asks))


class FakeDesk:
    """The order service as the router uses it: rules and free balances per connection, and
    placements that fill at once (at the limit price plus ``fill_offset``), idempotent per
    key. ``gate`` holds every placement until it is set."""

    def __init__(self) -> None:
        self.markets: dict[str, MarketRules] = {}
        self.free: dict[str, Decimal] = {}
        self.refuse: dict[str, TresorError] = {}
        self.asked: list[tuple[str, str, str]] = []
        self.placed: list[tuple[OrderRequest, str, str]] = []
        self.by_key: dict[str, PlacedOrder] = {}
        self.orders: dict[str, PlacedOrder] = {}
        self.fill_offset = D(0)
        self.gate: asyncio.Event | None = None
        self.waiting = 0

    async def rules_and_free(
        self, user_id: str, connection_id: str, symbol: str, asset: str
    ) -> tuple[MarketRules, Decimal]:
        self.asked.append((connection_id, symbol, asset))
        market = self.markets.get(connection_id)
        if market is None or market.symbol != symbol:
            raise UnknownSymbol(details={"symbol": symbol})
        return market, self.free.get(connection_id, D(10) ** 9)

    async def place(
        self, user_id: str, request: OrderRequest, *, idempotency_key: str, source: str = "api"
    ) -> Placement:
        if idempotency_key in self.by_key:
            return Placement(self.by_key[idempotency_key], replayed=True)
        self.placed.append((request, idempotency_key, source))
        if self.gate is not None:
            self.waiting += 1
            await self.gate.wait()
        refused = self.refuse.get(request.connection_id)
        if refused is not None:
            raise refused
        assert request.price is not None
        price = request.price + self.fill_offset
        order = PlacedOrder(
            id=f"ord_{len(self.orders) + 1}",
            user_id=user_id,
            request=request,
            exchange_client_id=f"tr{len(self.orders) + 1}",
            state=OrderState.CLOSED,
            created_ms=0,
            updated_ms=0,
            filled=request.amount,
            cost=request.amount * price,
            average=price,
        )
        self.by_key[idempotency_key] = self.orders[order.id] = order
        return Placement(order)

    async def get(self, user_id: str, order_id: str, *, refresh: bool = True) -> PlacedOrder:
        order = self.orders.get(order_id)
        if order is None or order.user_id != user_id:
            raise NotFound("There is no such order.")
        return order


class FakeBooks:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.books: dict[str, OrderBook] = {}
        self.depths: list[tuple[str, int]] = []

    async def order_book(self, endpoint: str, symbol: str, depth: int) -> MarketAnswer[OrderBook]:
        self.depths.append((endpoint, depth))
        if endpoint not in self.books:
            raise UnknownEndpoint()
        now = int(self.clock.seconds() * 1000)
        return MarketAnswer(endpoint, self.books[endpoint].top(depth), now, 0, False)


class FakeQuotes:
    def __init__(self) -> None:
        self.quotes: dict[str, RouteQuote] = {}

    async def add_quote(self, quote: RouteQuote) -> None:
        self.quotes[quote.id] = quote

    async def quote(self, quote_id: str, user_id: str) -> RouteQuote | None:
        found = self.quotes.get(quote_id)
        return found if found is not None and found.user_id == user_id else None

    async def mark_executed(self, quote_id: str, *, key: str, now_ms: int) -> bool:
        found = self.quotes[quote_id]
        if found.executed_key is not None:
            return False
        self.quotes[quote_id] = replace(found, executed_key=key, executed_ms=now_ms)
        return True


class FakeKeys:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], KeyRecord] = {}

    async def claim_key(
        self, user_id: str, key: str, fingerprint: str, *, now_ms: int, lock_ms: int
    ) -> KeyClaim:
        known = self.records.get((user_id, key))
        if known is not None:
            return KeyClaim(owned=False, record=known)
        record = KeyRecord(user_id, key, fingerprint, False, now_ms + lock_ms)
        self.records[(user_id, key)] = record
        return KeyClaim(owned=True, record=record)

    async def finish_key(
        self,
        user_id: str,
        key: str,
        *,
        status: int,
        body: dict[str, Any] | None = None,
        resource_id: str | None = None,
    ) -> None:
        record = self.records[(user_id, key)]
        self.records[(user_id, key)] = replace(
            record, done=True, status=status, body=body, resource_id=resource_id
        )


class Router:
    """A routing service on fakes, and the fakes."""

    def __init__(self, policy: RoutingPolicy | None = None) -> None:
        self.clock = FakeClock()
        self.db = MemoryStore()
        self.desk = FakeDesk()
        self.books = FakeBooks(self.clock)
        self.quotes = FakeQuotes()
        self.keys = FakeKeys()
        self.service = RoutingService(
            uow=self.db.uow,
            store=self.quotes,
            keys=self.keys,
            orders=self.desk,
            books=self.books,
            clock=self.clock,
            policy=policy,
        )

    async def connect(
        self,
        connection_id: str,
        *,
        endpoint: str | None = None,
        direct: bool = False,
        asks: tuple[tuple[str, str], ...] = (),
        free: str | None = None,
        user_id: str = USER,
        **changes: Any,
    ) -> Connection:
        """A connection; with ``asks``, a BTC/USDT market on its endpoint (named after it unless
        given); ``direct``: no endpoint (it goes to the exchange itself)."""
        endpoint = endpoint or f"ep-{connection_id}"
        connection = data.connection(
            connection_id, user_id, endpoint=None if direct else endpoint, **changes
        )
        async with self.db.uow() as uow:
            if await uow.users.get(user_id) is None:
                await uow.users.add(data.user(user_id))
            await uow.connections.add(connection)
            await uow.commit()
        if asks:
            self.desk.markets[connection_id] = rules()
            self.books.books[endpoint] = book(*asks)
        if free is not None:
            self.desk.free[connection_id] = D(free)
        return connection

    async def quote(self, amount: str, side: str = "buy", **kwargs: Any) -> Any:
        """A quote with no price allowance (limits exactly at the worst level), unless given."""
        kwargs.setdefault("allowance", D(0))
        return await self.service.quote(
            USER, side=side, base="BTC", quote="USDT", amount=D(amount), **kwargs
        )


@pytest.fixture
def router() -> Router:
    return Router()


async def test_the_cheaper_venue_is_chosen_and_every_other_connection_says_why_not(
    router: Router,
) -> None:
    await router.connect("a", asks=(("100", "1"),))
    await router.connect("b", asks=(("101", "1"),))
    await router.connect("c", keys=(data.key(KeyRole.READ),))
    await router.connect("d", direct=True, asks=(("90", "1"),))
    await router.connect("e", endpoint="ep-e")  # no such market there
    await router.connect("f", asks=(("90", "1"),), status=ConnectionStatus.DISABLED)
    quoted = await router.quote("0.5")

    q = quoted.quote
    assert [(leg.connection_id, leg.amount, leg.limit_price) for leg in q.legs] == [
        ("a", D("0.5"), D("100"))
    ]
    assert (q.filled, q.gross, q.fee, q.net) == (D("0.5"), D("50"), D("0.05"), D("50.05"))
    assert q.shortfall is None
    assert q.expires_ms - q.created_ms == 30_000
    assert quoted.best_single == q.legs[0]
    assert router.quotes.quotes[q.id] == q
    roles = {v.connection_id: (v.role, v.code) for v in quoted.venues}
    assert roles == {
        "a": ("leg", None),
        "b": ("unused", None),
        "c": ("skipped", "trade_key_required"),
        "d": ("skipped", "no_market_data"),
        "e": ("skipped", "unknown_symbol"),
        "f": ("skipped", "connection_disabled"),
    }
    b = next(v for v in quoted.venues if v.connection_id == "b")
    assert b.alone is not None
    assert b.alone.average_price == D("101")
    assert all(v.note for v in quoted.venues if v.role == "skipped")
    assert ("a", "BTC/USDT", "USDT") in router.desk.asked  # a buy spends the quote asset


async def test_an_amount_deeper_than_one_book_is_split(router: Router) -> None:
    await router.connect("a", asks=(("100", "1"),))
    await router.connect("b", asks=(("101", "1"),))
    q = (await router.quote("1.5")).quote
    assert [(leg.connection_id, leg.amount) for leg in q.legs] == [
        ("a", D("1")),
        ("b", D("0.5")),
    ]
    assert q.average_price == kept(D("150.5") / D("1.5"))


async def test_a_sell_spends_the_base_asset_and_walks_the_bids(router: Router) -> None:
    await router.connect("a")
    router.desk.markets["a"] = rules()
    router.books.books["ep-a"] = OrderBook(
        "binance", "BTC/USDT", 0, ((D("99"), D("2")),), ((D("100"), D("2")),)
    )
    router.desk.free["a"] = D("0.4")
    q = (await router.quote("1", side="sell")).quote
    assert ("a", "BTC/USDT", "BTC") in router.desk.asked
    assert [(leg.side, leg.amount, leg.limit_price) for leg in q.legs] == [
        ("sell", D("0.4"), D("99"))
    ]
    assert q.shortfall == "balance"


async def test_a_deeper_book_is_read_only_when_the_first_depth_does_not_cover_the_amount() -> None:
    router = Router(RoutingPolicy(book_depths=(2, 10)))
    await router.connect("a", asks=tuple((str(100 + i), "1") for i in range(5)))
    await router.quote("1.5")
    assert router.books.depths == [("ep-a", 2)]
    router.books.depths.clear()
    q = (await router.quote("4")).quote
    assert router.books.depths == [("ep-a", 2), ("ep-a", 10)]
    assert q.filled == D("4")


async def test_connections_on_one_endpoint_plan_on_their_book_once(router: Router) -> None:
    await router.connect("a", endpoint="shared", asks=(("100", "1"),), free="1000")
    await router.connect("b", endpoint="shared", asks=(("100", "1"),), free="5000")
    quoted = await router.quote("1.5")
    assert quoted.quote.filled == D("1")
    assert quoted.quote.shortfall == "depth"
    roles = {v.connection_id: (v.role, v.code) for v in quoted.venues}
    assert roles == {"a": ("skipped", "same_order_book"), "b": ("leg", None)}


async def test_no_connection_able_to_fill_is_no_route_with_each_reason(router: Router) -> None:
    await router.connect("c", keys=(data.key(KeyRole.READ),))
    with pytest.raises(NoRoute) as raised:
        await router.quote("1")
    assert raised.value.details["venues"] == [
        {
            "connection_id": "c",
            "code": "trade_key_required",
            "reason": "It has no trade key (a read key never trades).",
        }
    ]
    assert router.quotes.quotes == {}


async def test_a_named_connection_of_another_user_is_not_found(router: Router) -> None:
    await router.connect("a", asks=(("100", "1"),))
    await router.connect("theirs", asks=(("90", "1"),), user_id="u2")
    with pytest.raises(NotFound):
        await router.quote("0.5", connection_ids=["a", "theirs"])
    only = await router.quote("0.5", connection_ids=["a"])
    assert [v.connection_id for v in only.venues] == ["a"]


@pytest.mark.parametrize(
    ("side", "base", "quote", "amount"),
    [
        ("hold", "BTC", "USDT", "1"),
        ("buy", "BTC", "USDT", "0"),
        ("buy", "BTC", "USDT", "NaN"),
        ("buy", "BTC", "USDT", "0.0000000000000000001"),
        ("buy", "BTC", "BTC", "1"),
        ("buy", "", "USDT", "1"),
    ],
)
async def test_a_bad_request_is_refused_before_any_exchange_is_asked(
    router: Router, side: str, base: str, quote: str, amount: str
) -> None:
    await router.connect("a", asks=(("100", "1"),))
    with pytest.raises(ValidationFailed):
        await router.service.quote(USER, side=side, base=base, quote=quote, amount=D(amount))
    assert router.desk.asked == []


# -- execution ---------------------------------------------------------------------------------
async def split_quote(router: Router) -> RouteQuote:
    await router.connect("a", asks=(("100", "1"),))
    await router.connect("b", asks=(("101", "1"),))
    return (await router.quote("1.5")).quote


async def test_every_leg_is_placed_at_once_as_an_ioc_at_its_limit_under_its_own_key(
    router: Router,
) -> None:
    q = await split_quote(router)
    router.desk.gate = asyncio.Event()
    router.desk.fill_offset = D("-0.5")  # the book moved in the buyer's favour
    running = asyncio.create_task(router.service.execute(USER, q.id, idempotency_key="k"))
    async with asyncio.timeout(2):  # both legs are in flight before either is answered
        while router.desk.waiting < 2:
            await asyncio.sleep(0)
    router.desk.gate.set()
    execution = await running

    sent = sorted(router.desk.placed, key=lambda p: p[1])
    assert [(r.connection_id, r.type, r.time_in_force, r.amount, r.price) for r, _, _ in sent] == [
        ("a", "limit", "IOC", D("1"), D("100")),
        ("b", "limit", "IOC", D("0.5"), D("101")),
    ]
    assert [(key, source) for _, key, source in sent] == [("k:leg0", "route"), ("k:leg1", "route")]
    assert [r.client_order_id for r, _, _ in sent] == [f"{q.id}:0", f"{q.id}:1"]
    assert [r.state for r in execution.legs] == ["closed", "closed"]
    assert execution.filled == D("1.5")
    assert execution.cost == D("99.5") + D("50.25")
    assert execution.average_price == kept(D("149.75") / D("1.5"))
    assert q.average_price == kept(D("150.5") / D("1.5"))
    assert execution.slippage == (execution.average_price - q.average_price) / q.average_price
    assert execution.slippage is not None
    assert execution.slippage < 0
    assert not execution.replayed


async def test_the_same_key_again_places_nothing_more_and_gives_the_same_answer(
    router: Router,
) -> None:
    q = await split_quote(router)
    first = await router.service.execute(USER, q.id, idempotency_key="k")
    router.clock.advance(3600)  # long expired: the answer is the first one's all the same
    again = await router.service.execute(USER, q.id, idempotency_key="k")
    assert len(router.desk.placed) == 2
    assert again.replayed
    assert [r.order for r in again.legs] == [r.order for r in first.legs]
    assert again.filled == first.filled == D("1.5")


async def test_a_failed_leg_is_reported_and_does_not_hide_the_other(router: Router) -> None:
    q = await split_quote(router)
    router.desk.refuse["b"] = InsufficientFunds(details={"asset": "USDT"})
    execution = await router.service.execute(USER, q.id, idempotency_key="k")
    a, b = execution.legs
    assert (a.state, a.error) == ("closed", None)
    assert b.state == "not_placed"
    assert b.order is None
    assert b.error is not None
    assert b.error.code == "insufficient_funds"
    assert execution.filled == D("1")
    assert execution.average_price == D("100")
    again = await router.service.execute(USER, q.id, idempotency_key="k")
    assert [r.state for r in again.legs] == ["closed", "not_placed"]
    assert again.legs[1].error is not None
    assert again.legs[1].error.code == "insufficient_funds"
    assert len(router.desk.placed) == 2


async def test_a_quote_executed_under_one_key_is_refused_under_another(router: Router) -> None:
    q = await split_quote(router)
    await router.service.execute(USER, q.id, idempotency_key="k")
    for _ in range(2):  # the refusal is kept for the second key
        with pytest.raises(QuoteAlreadyExecuted):
            await router.service.execute(USER, q.id, idempotency_key="other")
    assert len(router.desk.placed) == 2


async def test_an_expired_quote_is_refused_and_nothing_is_placed(router: Router) -> None:
    q = await split_quote(router)
    router.clock.advance(30.001)
    with pytest.raises(QuoteExpired):
        await router.service.execute(USER, q.id, idempotency_key="k")
    assert router.desk.placed == []
    assert router.quotes.quotes[q.id].executed_key is None


async def test_another_users_quote_is_not_found_and_its_key_stays_unused(router: Router) -> None:
    q = await split_quote(router)
    with pytest.raises(NotFound):
        await router.service.execute("u2", q.id, idempotency_key="k")
    assert router.keys.records == {}
    assert router.desk.placed == []


async def test_one_key_for_two_quotes_is_refused(router: Router) -> None:
    first = await split_quote(router)
    second = (await router.quote("0.5")).quote
    await router.service.execute(USER, first.id, idempotency_key="k")
    with pytest.raises(IdempotencyKeyReused):
        await router.service.execute(USER, second.id, idempotency_key="k")
    assert len(router.desk.placed) == 2


@pytest.mark.parametrize("key", ["", "x" * 241, "bad\nkey"])
async def test_a_bad_idempotency_key_is_refused(router: Router, key: str) -> None:
    q = await split_quote(router)
    with pytest.raises(ValidationFailed):
        await router.service.execute(USER, q.id, idempotency_key=key)
    assert router.desk.placed == []
