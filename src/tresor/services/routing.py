"""Smart order routing (issue 5): the best plan to buy or sell an amount of one asset across the
user's connections, quoted, then executed with each leg placed once.

``quote``::

    the user's connections (or the ones named: another user's is NotFound)
      each at once; skipped, with the reason, when it is disabled, has no trade key, goes to an
      exchange without an operator endpoint (Tresor reads order books only from those), has no
      such market, or its key or exchange cannot be used now; otherwise
        the market's rules and the free balance of what the order spends
            (OrderService.rules_and_free: the trade key, as placing the order will)
        the order book, deep enough for the amount (MarketDataService: the first of
            ``book_depths`` whose levels cover it, or the deepest); a stale copy is not used
      connections on one endpoint share one book: the one with the most free balance stands
          for them, so the book is never counted twice
    domain.routing.plan_route --- no leg ---> NoRoute (each connection's reason in the details)
    stored with an id and an expiry (``quote_ttl_s``, 30 s) and returned

``execute`` under an Idempotency-Key::

    the quote (another user's: NotFound)
    claim the key ---- used for another request ----> IdempotencyKeyReused
       |          \\--- still being handled ----------> IdempotencyInProgress
       |           \\-- handled -----------------------> the same answer (the orders read again)
       v
    executed under another key: QuoteAlreadyExecuted; expired: QuoteExpired (kept for the key)
    the quote marked executed under the key (atomically: one key per quote)
    every leg at once through OrderService.place: a limit IOC at the leg's limit price, under
        the key "<key>:leg<i>" (never placed twice, as any order), source "route"; a leg that
        fails is reported with its error and does not stop the others
    the answer kept for the key: each leg's order id or error

Figures are ``Decimal`` kept to 18 decimal places, what the database stores, so a quote reads
the same when made, when stored and from either database.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, Literal, Protocol

from tresor.domain.connections import Connection, ConnectionStatus, KeyRole
from tresor.domain.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    NotFound,
    TradeKeyRequired,
    TresorError,
    ValidationFailed,
    error_from_dict,
    error_to_dict,
)
from tresor.domain.market import MarketAnswer, OrderBook
from tresor.domain.order_rules import MarketRules
from tresor.domain.orders import OrderRequest, PlacedOrder, fingerprint
from tresor.domain.routing import (
    Leg,
    RouteRequest,
    Side,
    Venue,
    VenueQuote,
    plan_route,
    slippage,
)
from tresor.domain.routing_errors import NoRoute, QuoteAlreadyExecuted, QuoteExpired
from tresor.services.ports import (
    Clock,
    IdempotencyKeys,
    KeyRecord,
    RouteQuote,
    RoutingStore,
    UnitOfWorkFactory,
)
from tresor.services.trading import (
    ROOM_FOR_DERIVED_KEYS,
    Placement,
    check_idempotency_key,
)

# how far past the worst level quoted a leg's limit goes by default (0.2 %), and at most (5 %)
DEFAULT_ALLOWANCE = Decimal("0.002")
MAX_ALLOWANCE = Decimal("0.05")

KEPT = Decimal("1e-18")  # the decimals the database keeps (NUMERIC(38, 18))
KEY_LOCK_MS = 120_000  # an execution's handler that holds its key longer is taken for dead
Role = Literal["leg", "unused", "skipped"]


@dataclass(frozen=True)
class RoutingPolicy:
    quote_ttl_s: float = 30.0  # how long a quote may be executed
    # how long a quote never executed is kept after it expired (executing it meanwhile
    # answers quote_expired, not not_found); executed quotes are kept
    keep_expired_s: float = 86_400.0
    # levels of each book read, deeper only when the amount needs it (Binance: 100 levels
    # weigh 5, 1,000 weigh 50)
    book_depths: tuple[int, ...] = (100, 1000)

    def __post_init__(self) -> None:
        if not self.book_depths or min(self.book_depths) < 1:
            raise ValueError("book_depths needs at least one depth of one level or more")


class OrderDesk(Protocol):
    """What the router needs of ``OrderService``."""

    async def rules_and_free(
        self, user_id: str, connection_id: str, symbol: str, asset: str
    ) -> tuple[MarketRules, Decimal]: ...

    async def place(
        self, user_id: str, request: OrderRequest, *, idempotency_key: str, source: str = "api"
    ) -> Placement: ...

    async def get(self, user_id: str, order_id: str, *, refresh: bool = True) -> PlacedOrder: ...


class BookSource(Protocol):
    """What the router needs of ``MarketDataService``."""

    async def order_book(
        self, endpoint: str, symbol: str, depth: int
    ) -> MarketAnswer[OrderBook]: ...


@dataclass(frozen=True, slots=True)
class VenueView:
    """One connection as the router saw it: ``role`` is ``leg`` (it has a leg in the plan),
    ``unused`` (considered, not needed) or ``skipped`` (``code`` and ``note`` say why)."""

    connection_id: str
    label: str
    exchange: str
    endpoint: str | None
    role: Role
    available: Decimal | None  # free balance of what the order spends: quote (buy), base (sell)
    book: MarketAnswer[OrderBook] | None
    alone: Leg | None  # what it could do alone
    code: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class Quoted:
    """A stored quote, the best single venue for comparison, and every connection's part."""

    quote: RouteQuote
    best_single: Leg | None
    venues: tuple[VenueView, ...]


@dataclass(frozen=True, slots=True)
class LegResult:
    """One leg of an execution: its order, or the error that kept it from being placed."""

    position: int
    leg: Leg
    order: PlacedOrder | None
    error: TresorError | None

    @property
    def state(self) -> str:
        return "not_placed" if self.order is None else self.order.state.value


@dataclass(frozen=True, slots=True)
class Execution:
    quote: RouteQuote
    legs: tuple[LegResult, ...]
    replayed: bool = False

    @property
    def filled(self) -> Decimal:
        return sum((r.order.filled for r in self.legs if r.order is not None), Decimal(0))

    @property
    def cost(self) -> Decimal:
        """What the fills cost (buy) or brought (sell) in the quote asset, before fees."""
        return sum((r.order.cost for r in self.legs if r.order is not None), Decimal(0))

    @property
    def average_price(self) -> Decimal | None:
        filled = self.filled
        return _kept(self.cost / filled) if filled else None

    @property
    def slippage(self) -> Decimal | None:
        """How much worse the executed average is than the quoted one, as a fraction of it
        (negative: better)."""
        executed, quoted = self.average_price, self.quote.average_price
        if executed is None or quoted is None:
            return None
        return slippage(side=self.quote.side, quoted=quoted, executed=executed)

    @property
    def settled(self) -> bool:
        """Whether every leg's outcome is known (placed and answered, or refused)."""
        return all(r.order is None or r.order.state.settled for r in self.legs)


@dataclass(frozen=True, slots=True)
class _Survey:
    connection: Connection
    venue: Venue | None = None
    book: MarketAnswer[OrderBook] | None = None
    code: str | None = None
    note: str | None = None


def new_quote_id() -> str:
    return "rq_" + secrets.token_hex(10)


class RoutingService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        store: RoutingStore,
        keys: IdempotencyKeys,
        orders: OrderDesk,
        books: BookSource,
        clock: Clock,
        policy: RoutingPolicy | None = None,
    ) -> None:
        self._uow = uow
        self._store = store
        self._keys = keys
        self._orders = orders
        self._books = books
        self._clock = clock
        self.policy = policy or RoutingPolicy()

    def _now(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    async def purge_quotes(self) -> int:
        """Remove the quotes never executed that expired more than ``keep_expired_s`` ago
        (a worker's chore); how many."""
        before = self._now() - int(self.policy.keep_expired_s * 1000)
        return await self._store.purge_quotes(expired_before_ms=before)

    # -- quoting ------------------------------------------------------------------------------
    async def quote(
        self,
        user_id: str,
        *,
        side: str,
        base: str,
        quote: str,
        amount: Decimal,
        connection_ids: Sequence[str] | None = None,
        allowance: Decimal = DEFAULT_ALLOWANCE,
    ) -> Quoted:
        """The best plan to ``side`` ``amount`` of ``base`` for ``quote`` over the user's
        connections (all of them, or ``connection_ids``), stored until it expires.

        ``allowance`` (a fraction, at most ``MAX_ALLOWANCE``) moves each leg's limit that far
        past the worst level quoted, so a book that moved a tick before execution still fills.

        Raises: ValidationFailed (side, amount, assets, allowance), NotFound (a named
        connection), NoRoute (no connection can fill any of it).
        """
        request = _request(side, base, quote, amount, allowance)
        connections = await self._connections(user_id, connection_ids)
        surveys = await asyncio.gather(*(self._survey(user_id, c, request) for c in connections))
        surveys = _one_per_book(list(surveys))
        plan = plan_route(request, [s.venue for s in surveys if s.venue is not None])
        used = {leg.connection_id for leg in plan.legs}
        planned = {v.connection_id: v for v in plan.venues}
        views = tuple(_view(s, used, planned.get(s.connection.id)) for s in surveys)
        if not plan.legs:
            raise NoRoute(
                f"None of your connections can {request.side} {request.amount} {request.base} "
                f"for {request.quote}.",
                details={
                    "venues": [
                        {"connection_id": v.connection_id, "code": v.code, "reason": v.note}
                        for v in views
                    ]
                },
            )
        now = self._now()
        stored = RouteQuote(
            id=new_quote_id(),
            user_id=user_id,
            side=request.side,
            base=request.base,
            quote=request.quote,
            amount=request.amount,
            legs=tuple(_kept_leg(leg) for leg in plan.legs),
            filled=plan.filled,
            gross=_kept(plan.gross),
            fee=_kept(plan.fee),
            net=_kept(plan.net),
            average_price=_maybe_kept(plan.average_price),
            net_price=_maybe_kept(plan.net_price),
            shortfall=plan.shortfall,
            created_ms=now,
            expires_ms=now + int(self.policy.quote_ttl_s * 1000),
        )
        await self._store.add_quote(stored)
        best = plan.best_single
        return Quoted(stored, None if best is None else _kept_leg(best), views)

    async def _connections(
        self, user_id: str, connection_ids: Sequence[str] | None
    ) -> list[Connection]:
        async with self._uow(read_only=True) as uow:
            if connection_ids is None:
                return list(await uow.connections.for_user(user_id))
            found = []
            for connection_id in dict.fromkeys(connection_ids):
                connection = await uow.connections.get(connection_id, user_id)
                if connection is None:
                    raise NotFound("There is no such connection.")
                found.append(connection)
            return found

    async def _survey(self, user_id: str, connection: Connection, request: RouteRequest) -> _Survey:
        """The connection as a venue, or why it cannot be one."""
        if connection.status is ConnectionStatus.DISABLED:
            return _Survey(connection, code="connection_disabled", note="It is disabled.")
        if connection.key(KeyRole.TRADE) is None:
            return _Survey(
                connection,
                code=TradeKeyRequired.code,
                note="It has no trade key (a read key never trades).",
            )
        if connection.endpoint is None:
            return _Survey(
                connection,
                code="no_market_data",
                note=f"It goes to {connection.exchange} itself, and Tresor reads order books "
                "only from the operator's endpoints (TRESOR_ENDPOINTS).",
            )
        symbol = f"{request.base}/{request.quote}"
        spends = request.quote if request.side == "buy" else request.base
        try:
            rules, free = await self._orders.rules_and_free(user_id, connection.id, symbol, spends)
            book = await self._book(connection.endpoint, symbol, request)
        except TresorError as error:
            return _Survey(connection, code=error.code, note=error.message)
        if book.stale:
            return _Survey(
                connection,
                code="stale_book",
                note=f"Its order book could not be read just now (the last copy is "
                f"{book.age_ms / 1000:.0f} s old).",
            )
        return _Survey(connection, Venue(connection.id, rules, book.value, free), book)

    async def _book(
        self, endpoint: str, symbol: str, request: RouteRequest
    ) -> MarketAnswer[OrderBook]:
        """The book at the first of the policy's depths whose side covers the amount (or
        holds fewer levels than asked: the whole book), else at the deepest."""
        answer: MarketAnswer[OrderBook] | None = None
        for depth in self.policy.book_depths:
            answer = await self._books.order_book(endpoint, symbol, depth)
            side = answer.value.asks if request.side == "buy" else answer.value.bids
            if len(side) < depth or sum((a for _, a in side), Decimal(0)) >= request.amount:
                break
        assert answer is not None  # noqa: S101 (the policy has at least one depth)
        return answer

    # -- executing ----------------------------------------------------------------------------
    async def execute(
        self, user_id: str, quote_id: str, *, idempotency_key: str, source: str = "route"
    ) -> Execution:
        """Place every leg of the quote once for ``idempotency_key``; its orders say ``source``
        placed them ("rule" for a rebalancing rule's trade).

        Raises: ValidationFailed (the key), NotFound (the quote, also another user's),
        IdempotencyKeyReused, IdempotencyInProgress, QuoteExpired, QuoteAlreadyExecuted.
        A leg's own failure is not raised: it is in its ``LegResult``.
        """
        check_idempotency_key(idempotency_key, room=ROOM_FOR_DERIVED_KEYS)
        quote = await self._store.quote(quote_id, user_id)
        if quote is None:
            raise NotFound("There is no such quote.")
        asked = fingerprint({"route_execute": quote.id})
        now = self._now()
        claim = await self._keys.claim_key(
            user_id, idempotency_key, asked, now_ms=now, lock_ms=KEY_LOCK_MS
        )
        if not claim.owned:
            return await self._replay(user_id, quote, asked, claim.record)
        try:
            await self._take(quote, idempotency_key, now)
        except TresorError as error:
            await self._keys.finish_key(
                user_id, idempotency_key, status=409, body={"error": error_to_dict(error)}
            )
            raise
        results = await asyncio.gather(
            *(self._place(quote, i, idempotency_key, source) for i in range(len(quote.legs)))
        )
        execution = Execution(quote, tuple(results))
        await self._keys.finish_key(
            user_id,
            idempotency_key,
            status=201 if execution.settled else 202,
            body={"legs": [_kept_result(r) for r in results]},
            resource_id=quote.id,
        )
        return execution

    async def _take(self, quote: RouteQuote, key: str, now: int) -> None:
        """Mark the quote executed under ``key`` (already so when an earlier handler of the
        key died midway: its legs are placed again under their own keys, never twice)."""
        if quote.executed_key == key:
            return
        if quote.executed_key is not None:
            raise QuoteAlreadyExecuted(details={"quote_id": quote.id})
        if now > quote.expires_ms:
            raise QuoteExpired(details={"quote_id": quote.id, "expired_ms": quote.expires_ms})
        if not await self._store.mark_executed(quote.id, key=key, now_ms=now):
            raise QuoteAlreadyExecuted(details={"quote_id": quote.id})

    async def _place(self, quote: RouteQuote, position: int, key: str, source: str) -> LegResult:
        leg = quote.legs[position]
        request = OrderRequest(
            connection_id=leg.connection_id,
            symbol=leg.symbol,
            side=leg.side,
            type="limit",
            amount=leg.amount,
            price=leg.limit_price,
            time_in_force="IOC",
            client_order_id=f"{quote.id}:{position}",
        )
        try:
            placed = await self._orders.place(
                quote.user_id, request, idempotency_key=f"{key}:leg{position}", source=source
            )
        except TresorError as error:
            return LegResult(position, leg, None, error)
        return LegResult(position, leg, placed.order, None)

    async def _replay(
        self, user_id: str, quote: RouteQuote, asked: str, record: KeyRecord
    ) -> Execution:
        if record.fingerprint != asked:
            raise IdempotencyKeyReused(details={"idempotency_key": record.key})
        if not record.done:
            raise IdempotencyInProgress(details={"idempotency_key": record.key})
        body = record.body or {}
        if "error" in body:
            raise error_from_dict(body["error"])
        kept: list[dict[str, Any]] = list(body.get("legs") or [])

        async def again(position: int) -> LegResult:
            leg = quote.legs[position]
            result = kept[position] if position < len(kept) else {}
            order_id = result.get("order_id")
            if order_id is None:
                return LegResult(position, leg, None, error_from_dict(result.get("error") or {}))
            try:
                return LegResult(position, leg, await self._orders.get(user_id, order_id), None)
            except TresorError as error:
                return LegResult(position, leg, None, error)

        results = await asyncio.gather(*(again(i) for i in range(len(quote.legs))))
        return Execution(quote, tuple(results), replayed=True)


# -- helpers -----------------------------------------------------------------------------------
def _request(
    side: str, base: str, quote: str, amount: Decimal, allowance: Decimal = Decimal(0)
) -> RouteRequest:
    if side not in ("buy", "sell"):
        raise ValidationFailed(
            f"The side must be 'buy' or 'sell', not {side!r}.",
            remedy="Send side 'buy' or 'sell'.",
        )
    if not base or not quote or base == quote:
        raise ValidationFailed(
            f"The base and quote assets must be two different assets, not {base!r} and {quote!r}.",
            remedy="Name the asset to buy or sell (base) and the one to pay or be paid in "
            "(quote), e.g. BTC and USDT.",
        )
    if not amount.is_finite() or amount <= 0 or _kept(amount) != amount:
        raise ValidationFailed(
            f"The amount must be above zero, with at most 18 decimals, not {amount}.",
            remedy=f"Give the amount of {base} to {side}, above zero.",
        )
    if not allowance.is_finite() or not Decimal(0) <= allowance <= MAX_ALLOWANCE:
        raise ValidationFailed(
            f"The price allowance must be a fraction from 0 to {MAX_ALLOWANCE}, not {allowance}.",
            remedy="Give e.g. 0.002 to let each leg fill up to 0.2 % past the quoted price.",
        )
    chosen: Side = "buy" if side == "buy" else "sell"
    return RouteRequest(chosen, base, quote, amount, allowance)


def _one_per_book(surveys: list[_Survey]) -> list[_Survey]:
    """Connections on one endpoint read one book: only the one with the most free balance
    (then the first by id) keeps its venue, so no level of the book is planned twice."""
    ranked = sorted(
        (-s.venue.available, s.connection.id, i)
        for i, s in enumerate(surveys)
        if s.venue is not None
    )
    standing: dict[str, _Survey] = {}
    for _, _, i in ranked:
        standing.setdefault(surveys[i].connection.endpoint or "", surveys[i])
    kept = []
    for s in surveys:
        first = standing.get(s.connection.endpoint or "")
        if s.venue is not None and first is not None and first is not s:
            s = replace(
                s,
                venue=None,
                code="same_order_book",
                note=f"It trades on the same order book as connection {first.connection.label!r} "
                "(which has more free balance), and a book is planned on once.",
            )
        kept.append(s)
    return kept


def _view(survey: _Survey, used: set[str], planned: VenueQuote | None) -> VenueView:
    c = survey.connection
    role: Role = "skipped"
    note, alone = survey.note, None
    if survey.venue is not None:
        role = "leg" if c.id in used else "unused"
        if planned is not None:
            note = planned.note
            alone = None if planned.alone is None else _kept_leg(planned.alone)
    return VenueView(
        connection_id=c.id,
        label=c.label,
        exchange=c.exchange,
        endpoint=c.endpoint,
        role=role,
        available=None if survey.venue is None else survey.venue.available,
        book=survey.book if survey.venue is not None else None,
        alone=alone,
        code=survey.code,
        note=note,
    )


def _kept(value: Decimal) -> Decimal:
    """``value`` to the database's 18 decimal places."""
    with localcontext() as ctx:
        ctx.prec = 80
        return value.quantize(KEPT, rounding=ROUND_HALF_EVEN)


def _maybe_kept(value: Decimal | None) -> Decimal | None:
    return None if value is None else _kept(value)


def _kept_leg(leg: Leg) -> Leg:
    return replace(
        leg,
        average_price=_kept(leg.average_price),
        gross=_kept(leg.gross),
        fee=_kept(leg.fee),
        net=_kept(leg.net),
        reserved=_kept(leg.reserved),
    )


def _kept_result(result: LegResult) -> dict[str, Any]:
    if result.order is not None:
        return {"order_id": result.order.id}
    assert result.error is not None  # noqa: S101 (a leg has an order or an error)
    return {"error": error_to_dict(result.error)}
