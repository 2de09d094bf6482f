"""Placing, tracking and cancelling orders, never twice (issue 5).

``place`` under an Idempotency-Key::

    pre-trade checks (the market's rules, the free balance) -- refused --> kept as the key's
       v                                                                   answer (one write)
    one durable write: the key claimed, the order stored "pending" with its first send counted
       |               (its exchange client id derived from the user and the key)
       |--- the key is known (or was refused with it) -> claim it as below
       v
    send --- answered ----------------------> its state, its fills recorded as trades, the
       |                                      key's answer: one write
       |---- refused -----------------------> "rejected", kept as the answer
       |---- not sent (rate limit, budget) -> forgotten with the key: send it again
       \\--- no answer (timeout, 5xx) ------> "unknown": wait until the request has expired
                                              (its receive window), look it up by its client
                                              order id: found -> its state; not found -> sent
                                              again (same client order id); lookup failed ->
                                              left "unknown" for the tracker

A key that is known already is claimed as before (``claim_key``)::

    claim the key ----- used with another request ---------> IdempotencyKeyReused
       |           \\--- still being handled ----------------> IdempotencyInProgress
       |            \\-- handled ----------------------------> the same answer again
       v
    its handler died: the order it stored is taken on (looked up before any send), or, if it
    stored none, the steps above with the key held

The pre-trade checks are ``PreTradeChecks`` (services/pre_trade.py); sending, looking up and
the trade key (only a connection's trade key trades) are ``OrderExchange``
(services/order_exchange.py).

``track`` (run by the scheduler) follows every order that is not final: unknown ones are looked
up, open ones refreshed, fills recorded. When the exchange refuses the key, the orders keep
their last known state and tracking resumes with the next key.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from decimal import Decimal

from tresor.domain.connections import Connection
from tresor.domain.errors import (
    Conflict,
    ExchangeTrouble,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    KeyRejected,
    NotFound,
    OrderNotOpen,
    TradeKeyRequired,
    TresorError,
    ValidationFailed,
    error_from_dict,
    error_to_dict,
)
from tresor.domain.order_rules import MarketRules
from tresor.domain.orders import OrderRequest, OrderState, PlacedOrder
from tresor.domain.paging import Listing, decode_time_id, encode
from tresor.services.order_exchange import NOT_SENT, OrderExchange, answer_status
from tresor.services.ports import (
    Clock,
    KeyRecord,
    Trader,
    TradingStore,
    UnitOfWorkFactory,
)
from tresor.services.ports.trading import KeyAnswer, NewKey
from tresor.services.pre_trade import PreTradeChecks, new_order_id

KEY_LOCK_MS = 120_000  # a handler that holds a key longer is taken for dead
TRACK_INTERVAL_MS = 5_000  # how often an order that is not final is looked at
TRACK_PARALLEL = 8  # orders followed at once by one tracking round
RESEND_WITHIN_MS = 60_000  # an order the exchange never received is sent again until this old
REFRESH_AFTER_MS = 1_000  # GET /v1/orders/{id} asks the exchange at most this often per order
ORDERS_LISTING = "placed_orders"  # the tag of this listing's cursors
MAX_KEY_LENGTH = 255
# a request placing several orders (a batch, a route) places each under its key with a suffix
# ("#49", ":leg9"): its own key leaves this much room
ROOM_FOR_DERIVED_KEYS = 15

__all__ = ["KEY_LOCK_MS", "OrderService", "Placement", "check_idempotency_key", "new_order_id"]


@dataclass(frozen=True, slots=True)
class Placement:
    """The answer to a placement: the order, and whether it is an earlier answer again."""

    order: PlacedOrder
    replayed: bool = False


class OrderService:
    """Orders under Idempotency-Keys, on ``exchange`` (sending, looking up, the trade key)
    after ``checks`` (the market's rules, the free balance, the order budget)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        store: TradingStore,
        exchange: OrderExchange,
        checks: PreTradeChecks,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._store = store
        self._exchange = exchange
        self._checks = checks
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    # -- placing ----------------------------------------------------------------------------
    async def place(
        self, user_id: str, request: OrderRequest, *, idempotency_key: str, source: str = "api"
    ) -> Placement:
        """Place ``request`` once for ``idempotency_key``.

        Raises: IdempotencyKeyReused, IdempotencyInProgress, NotFound (the connection),
        TradeKeyRequired, OrderRefused kinds (InvalidOrder, InsufficientFunds, MarketClosed),
        UnknownSymbol, KeyRejected, ExchangeTrouble (nothing was placed: send it again),
        ValidationFailed (the key; a disabled connection).
        """
        check_idempotency_key(idempotency_key)
        fingerprint = request.fingerprint()
        owned = False
        not_sent: TresorError | None = None
        try:
            opened = self._exchange.trader(user_id, request.connection_id)
            async with opened as trader:
                order, spent = await self._checks.checked(
                    trader, opened.connection, request, key=idempotency_key, source=source
                )
                key = NewKey(
                    user_id=user_id,
                    key=idempotency_key,
                    fingerprint=fingerprint,
                    created_ms=order.created_ms,
                    locked_until_ms=order.created_ms + KEY_LOCK_MS,
                )
                owned = await self._store.open_order(order, key)
                if owned:
                    self._checks.spent(opened.connection.id, *spent)
                    return Placement(await self._send_new(trader, order, key))
        except ExchangeTrouble as error:  # the NOT_SENT kinds among them
            if owned:
                raise  # ``_send_new`` forgot the key (NOT_SENT) or kept the outcome with it
            # before the order was stored (a read of its market's rules, the free balance, a
            # price, or the budget): nothing was sent and nothing is kept, unless the key
            # answers already; a retry tries afresh
            not_sent = error
        except TresorError as error:
            if owned:
                raise  # kept with the key by ``_send_new``
            now = self._now()
            refused = NewKey(
                user_id=user_id,
                key=idempotency_key,
                fingerprint=fingerprint,
                created_ms=now,
                locked_until_ms=now,
            )
            if await self._store.refuse_key(
                KeyAnswer(refused, status=400, body={"error": error_to_dict(error)})
            ):
                raise
        # the key is known: an earlier request's (answered again), or one whose handler died
        return await self._claimed(
            user_id, request, idempotency_key, fingerprint, source, not_sent=not_sent
        )

    async def _send_new(self, trader: Trader, order: PlacedOrder, key: NewKey) -> PlacedOrder:
        """Send the order ``open_order`` stored (its first send counted); its outcome is kept
        as the key's answer, in the same write as the order's state when the exchange
        answered (or refused it).

        Raises: what the exchange refused the order with; NOT_SENT kinds (the order and the
        key are forgotten)."""
        try:
            order = await self._exchange.deliver(trader, order, key=key)
        except NOT_SENT:
            await self._store.release_key(key.user_id, key.key)  # ``_deliver`` removed the order
            raise
        except Conflict as error:  # passed on by ``_deliver`` as it came (a refusal is kept)
            await self._store.finish_key(
                key.user_id, key.key, status=400, body={"error": error_to_dict(error)}
            )
            raise
        if order.state.settled:
            return order
        try:  # the answer was lost: find out, never sending twice
            order = await self._exchange.resume(trader, order)
        except TresorError as error:
            await self._store.finish_key(
                key.user_id, key.key, status=400, body={"error": error_to_dict(error)}
            )
            raise
        await self._finish(key.user_id, key.key, order)
        return order

    async def _claimed(
        self,
        user_id: str,
        request: OrderRequest,
        idempotency_key: str,
        fingerprint: str,
        source: str,
        *,
        not_sent: TresorError | None = None,
    ) -> Placement:
        """``place`` for a key that is known: claimed first (``claim_key``). ``not_sent``: the
        checks just failed with nothing sent; raised again (the key forgotten) unless the key
        has an answer already or a stopped handler's order to take on."""
        claim = await self._store.claim_key(
            user_id,
            idempotency_key,
            fingerprint,
            now_ms=self._now(),
            lock_ms=KEY_LOCK_MS,
        )
        if not claim.owned:
            return await self._replay(user_id, request, claim.record)
        if not_sent is not None and claim.record.resource_id is None:
            await self._store.release_key(user_id, idempotency_key)
            raise not_sent
        if claim.record.resource_id is not None:  # its first handler died: finish its work
            order = await self._store.order(claim.record.resource_id, user_id)
            if order is not None:
                async with self._exchange.trader(user_id, order.request.connection_id) as trader:
                    order = await self._exchange.resume(trader, order)
                await self._finish(user_id, idempotency_key, order)
                return Placement(order)
        before_send: ExchangeTrouble | None = None
        try:
            opened = self._exchange.trader(user_id, request.connection_id)
            async with opened as trader:
                try:
                    new = await self._new(
                        trader, opened.connection, request, key=idempotency_key, source=source
                    )
                except ExchangeTrouble as error:  # a read before the order failed
                    before_send = error
                else:
                    placed = await self._exchange.resume(trader, new)
        except NOT_SENT:
            await self._store.release_key(user_id, idempotency_key)
            raise
        except TresorError as error:
            await self._store.finish_key(
                user_id, idempotency_key, status=400, body={"error": error_to_dict(error)}
            )
            raise
        if before_send is not None:  # nothing was stored or sent: the key is forgotten
            await self._store.release_key(user_id, idempotency_key)
            raise before_send
        await self._finish(user_id, idempotency_key, placed)
        return Placement(placed)

    async def rules_and_free(
        self, user_id: str, connection_id: str, symbol: str, asset: str
    ) -> tuple[MarketRules, Decimal]:
        """The market's rules and the free balance of ``asset`` now, read with the
        connection's trade key as ``place`` reads them (the router plans with them).

        Raises: NotFound (the connection), TradeKeyRequired, UnknownSymbol, KeyRejected,
        ExchangeTrouble.
        """
        async with self._exchange.trader(user_id, connection_id) as trader:
            rules = await trader.rules(symbol)
            return rules, await self._checks.free_balance(trader, connection_id, asset, fresh=True)

    async def _replay(self, user_id: str, request: OrderRequest, record: KeyRecord) -> Placement:
        if record.fingerprint != request.fingerprint():
            raise IdempotencyKeyReused(details={"idempotency_key": record.key})
        if not record.done:
            raise IdempotencyInProgress(details={"idempotency_key": record.key})
        if record.body is not None and "error" in record.body:
            raise error_from_dict(record.body["error"])
        order = (
            None
            if record.resource_id is None
            else await self._store.order(record.resource_id, user_id)
        )
        if order is None:
            raise NotFound("The order this key placed no longer exists.")
        if not order.state.settled and self._due(order, REFRESH_AFTER_MS):
            # its answer was lost (202): a client asking again learns what the exchange says
            # now, as GET /v1/orders/{id} would tell it
            order = await self._refresh(order)
        return Placement(order, replayed=True)

    async def _finish(self, user_id: str, key: str, order: PlacedOrder) -> None:
        await self._store.finish_key(
            user_id, key, status=answer_status(order), resource_id=order.id
        )

    async def _new(
        self,
        trader: Trader,
        connection: Connection,
        request: OrderRequest,
        *,
        key: str,
        source: str,
    ) -> PlacedOrder:
        """Check the order against the market's rules and the free balance, then store it
        (not sent yet)."""
        order, spent = await self._checks.checked(
            trader, connection, request, key=key, source=source
        )
        order = replace(order, attempts=0, sent_ms=None)
        self._checks.spent(connection.id, *spent)
        await self._store.add_order(order, key=key)
        return order

    async def get(self, user_id: str, order_id: str, *, refresh: bool = True) -> PlacedOrder:
        """The order, refreshed from the exchange while it is not final.

        Raises: NotFound (also for another user's order)."""
        order = await self._owned(user_id, order_id)
        if refresh and not order.state.final and self._due(order, REFRESH_AFTER_MS):
            order = await self._refresh(order)
        return order

    async def list(
        self,
        user_id: str,
        *,
        states: tuple[OrderState, ...] = (),
        connection_id: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Listing[PlacedOrder]:
        """A page of the user's orders, newest first (in ``states`` when given), from
        ``cursor`` (the previous page's ``next_cursor``).

        Raises: NotFound (``connection_id`` is not one of the user's connections),
        ValidationFailed (a cursor this listing did not give)."""
        before = None if cursor is None else decode_time_id(ORDERS_LISTING, cursor)
        if connection_id is not None:
            async with self._uow(read_only=True) as uow:
                if await uow.connections.get(connection_id, user_id) is None:
                    raise NotFound("There is no such connection.")
        found = await self._store.orders(
            user_id, states=states, connection_id=connection_id, before=before, limit=limit + 1
        )
        if len(found) <= limit:
            return Listing(tuple(found), None)
        last = found[limit - 1]
        return Listing(tuple(found[:limit]), encode(ORDERS_LISTING, last.created_ms, last.id))

    async def cancel(self, user_id: str, order_id: str) -> PlacedOrder:
        """Cancel an open order.

        Raises: NotFound, OrderNotOpen (already final), TradeKeyRequired, KeyRejected,
        ExchangeTrouble."""
        order = await self._owned(user_id, order_id)
        if order.state.final:
            raise OrderNotOpen(details={"state": order.state.value})
        async with self._exchange.trader(user_id, order.request.connection_id) as trader:
            if not order.state.settled:
                order = await self._exchange.resume(trader, order)
                if order.state.final:
                    raise OrderNotOpen(details={"state": order.state.value})
                if not order.state.settled:
                    raise ExchangeTrouble(
                        "The order's outcome is not known yet, so it cannot be cancelled now.",
                        remedy="Try again in a few seconds.",
                    )
            assert order.exchange_order_id is not None  # noqa: S101 (settled orders have one)
            try:
                answer, records = await trader.cancel(order.request.symbol, order.exchange_order_id)
            except OrderNotOpen:
                try:
                    order = await self._exchange.refresh_with(trader, order)
                except ExchangeTrouble:
                    pass
                raise OrderNotOpen(details={"state": order.state.value}) from None
            return await self._exchange.adopt(trader, order, answer, records)

    async def track(self, *, limit: int = 100) -> int:
        """Follow every order that is not final and was not looked at lately (run by the
        scheduler every few seconds); the number looked at.

        - open orders are refreshed (fills recorded);
        - unknown orders are looked up; one the exchange never received is sent again while
          it is young (``RESEND_WITHIN_MS``), else marked rejected (``not_placed``);
        - a pending order whose handler died before sending it is never sent late: rejected
          (``not_sent``).
        """
        now = self._now()
        orders = await self._store.to_track(checked_before_ms=now - TRACK_INTERVAL_MS, limit=limit)
        slots = asyncio.Semaphore(TRACK_PARALLEL)

        async def follow(order: PlacedOrder) -> None:
            async with slots:
                await self._follow(order, now)

        await asyncio.gather(*(follow(o) for o in orders))
        return len(orders)

    async def _follow(self, order: PlacedOrder, now: int) -> None:
        if order.state is OrderState.PENDING:
            if now - order.updated_ms < KEY_LOCK_MS:
                return  # its handler is still at work
            if order.attempts == 0:
                await self._exchange.mark(
                    order,
                    OrderState.REJECTED,
                    error=("not_sent", "Tresor stopped before sending the order."),
                )
                return
        try:
            async with self._exchange.trader(order.user_id, order.request.connection_id) as trader:
                if order.state is OrderState.OPEN:
                    await self._exchange.refresh_with(trader, order)
                elif now - order.created_ms < RESEND_WITHIN_MS:
                    await self._exchange.resume(trader, order)
                else:
                    await self._exchange.settle_late(trader, order)
        except (ExchangeTrouble, KeyRejected, TradeKeyRequired, NotFound, ValidationFailed):
            # the exchange or the key cannot be used now (or the connection is disabled): the
            # order keeps its last known state
            await self._store.save_order(replace(order, checked_ms=self._now()))

    async def _refresh(self, order: PlacedOrder) -> PlacedOrder:
        """Ask the exchange about the order (never sending it); when it cannot be asked, what
        is known."""
        if not order.state.settled and order.lookup_after_ms() > self._now():
            return order  # a lookup could not tell yet whether it arrived
        try:
            async with self._exchange.trader(order.user_id, order.request.connection_id) as trader:
                return await self._exchange.refresh_with(trader, order)
        except (ExchangeTrouble, KeyRejected, TradeKeyRequired, NotFound, ValidationFailed):
            order = replace(order, checked_ms=self._now())
            await self._store.save_order(order)
            return order

    def _due(self, order: PlacedOrder, after_ms: int) -> bool:
        return order.checked_ms is None or self._now() - order.checked_ms >= after_ms

    async def _owned(self, user_id: str, order_id: str) -> PlacedOrder:
        order = await self._store.order(order_id, user_id)
        if order is None:
            raise NotFound("There is no such order.")
        return order


def check_idempotency_key(key: str, *, room: int = 0) -> None:
    """Refuse a key that is empty, too long or not printable. ``room``: characters kept free
    for the suffixes of the keys derived from it (a batch's or a route's orders)."""
    longest = MAX_KEY_LENGTH - room
    if not key or len(key) > longest or not key.isprintable():
        raise ValidationFailed(
            f"The Idempotency-Key header must be 1 to {longest} printable characters.",
            remedy="Send a unique value (a UUID, say) in Idempotency-Key with every new request.",
        )
