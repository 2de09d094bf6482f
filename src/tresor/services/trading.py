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

Only a connection's **trade key** is used here (opened where the worker's private key is); a
read key never trades. Every use reads the connection and its trade key again (one query): a
disabled or removed connection, or a removed key, is refused at once; a key once opened is kept
for the exact stored ciphertexts it was opened from, so a rotated key is opened anew.

``track`` (run by the scheduler) follows every order that is not final: unknown ones are looked
up, open ones refreshed, fills recorded. When the exchange refuses the key, the orders keep
their last known state and tracking resumes with the next key.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import Enum

from tresor.domain.connections import (
    Connection,
    ConnectionStatus,
    Credentials,
    ExchangeTarget,
    KeyRole,
)
from tresor.domain.errors import (
    ClockSkew,
    Conflict,
    ExchangeTrouble,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InsufficientFunds,
    KeyRejected,
    NotFound,
    OrderNotOpen,
    RateBudgetExhausted,
    RateLimited,
    TradeKeyRequired,
    TresorError,
    ValidationFailed,
    WithdrawPermissionEnabled,
    error_from_dict,
    error_to_dict,
)
from tresor.domain.order_rules import MarketRules, check_order
from tresor.domain.orders import (
    MAX_SEND_ATTEMPTS,
    RECV_WINDOW_MS,
    ExchangeOrder,
    OrderRequest,
    OrderState,
    PlacedOrder,
    exchange_client_id,
)
from tresor.domain.paging import Listing, decode_time_id, encode
from tresor.domain.records import Record, TradeRecord
from tresor.services.ports import (
    Clock,
    KeyRecord,
    TradeGateway,
    TradeKeyOpener,
    Trader,
    TradingStore,
    UnitOfWorkFactory,
    Vault,
)
from tresor.services.ports.trading import KeyAnswer, NewKey
from tresor.services.stored_keys import key_credentials, stored_target
from tresor.services.trade_keys import record_trade_key_refused

FREE_TTL_MS = 10_000  # a free balance read from the exchange is trusted this long
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
OPENED_KEYS = 1024  # trade keys kept opened (the connections trading most lately)
# errors after which nothing reached the exchange: the key is forgotten, the request may be
# sent again as it was
NOT_SENT: tuple[type[TresorError], ...] = (RateLimited, RateBudgetExhausted, ClockSkew)


@dataclass(frozen=True, slots=True)
class Placement:
    """The answer to a placement: the order, and whether it is an earlier answer again."""

    order: PlacedOrder
    replayed: bool = False


def new_order_id() -> str:
    return "ord_" + secrets.token_hex(10)


class OrderService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        store: TradingStore,
        gateway: TradeGateway,
        vault: Vault,
        opener: TradeKeyOpener | None,
        endpoints: Mapping[str, ExchangeTarget],
        reference_price: Callable[[Connection, str, str], Awaitable[Decimal | None]] | None = None,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._uow = uow
        self._store = store
        self._gateway = gateway
        self._vault = vault
        self._opener = opener
        self._endpoints = endpoints
        self._clock = clock
        self._sleep = sleep
        self._reference_price = reference_price
        # free balances read from the exchange, per (connection, asset): (value, when read)
        self._free: dict[tuple[str, str], tuple[Decimal, int]] = {}
        # trade keys opened, per connection: (the stored ciphertexts, the key in clear)
        self._opened: dict[str, tuple[tuple[bytes, bytes, bytes | None], Credentials]] = {}

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
            opened = self._trader(user_id, request.connection_id)
            async with opened as trader:
                order, spent = await self._checked(
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
                    self._spent(opened.connection.id, *spent)
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
            order = await self._deliver(trader, order, key=key)
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
            order = await self._resume(trader, order)
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
                async with self._trader(user_id, order.request.connection_id) as trader:
                    order = await self._resume(trader, order)
                await self._finish(user_id, idempotency_key, order)
                return Placement(order)
        before_send: ExchangeTrouble | None = None
        try:
            opened = self._trader(user_id, request.connection_id)
            async with opened as trader:
                try:
                    new = await self._new(
                        trader, opened.connection, request, key=idempotency_key, source=source
                    )
                except ExchangeTrouble as error:  # a read before the order failed
                    before_send = error
                else:
                    placed = await self._resume(trader, new)
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
        async with self._trader(user_id, connection_id) as trader:
            rules = await trader.rules(symbol)
            return rules, await self._free_balance(trader, connection_id, asset, fresh=True)

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
        return Placement(order, replayed=True)

    async def _finish(self, user_id: str, key: str, order: PlacedOrder) -> None:
        await self._store.finish_key(user_id, key, status=_status(order), resource_id=order.id)

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
        order, spent = await self._checked(trader, connection, request, key=key, source=source)
        order = replace(order, attempts=0, sent_ms=None)
        self._spent(connection.id, *spent)
        await self._store.add_order(order, key=key)
        return order

    async def _checked(
        self,
        trader: Trader,
        connection: Connection,
        request: OrderRequest,
        *,
        key: str,
        source: str,
    ) -> tuple[PlacedOrder, tuple[str, Decimal]]:
        """The order checked against the market's rules and the free balance, as it is stored
        right before its first send (that send counted, at the time of the check's end), and
        what it takes of the free balance: (asset, amount).

        Raises: the OrderRefused kinds, UnknownSymbol, and what asking the exchange raised."""
        user_id = connection.user_id
        rules = await trader.rules(request.symbol)
        spend = rules.quote if request.side == "buy" else rules.base
        reference = request.price
        if request.type == "market":
            reference = await self._reference(trader, connection, request)

        async def check(free: Decimal) -> None:
            check_order(
                rules,
                side=request.side,
                order_type=request.type,
                amount=request.amount,
                price=request.price,
                time_in_force=request.time_in_force,
                reference_price=reference,
                free={spend: free},
            )

        try:
            await check(await self._free_balance(trader, connection.id, spend))
        except InsufficientFunds:  # maybe a stale figure: ask the exchange before refusing
            await check(await self._free_balance(trader, connection.id, spend, fresh=True))
        needed = request.amount if request.side == "sell" else request.amount * (reference or 0)
        now = self._now()
        order = PlacedOrder(
            id=new_order_id(),
            user_id=user_id,
            request=request,
            exchange_client_id=exchange_client_id(user_id, key),
            state=OrderState.PENDING,
            created_ms=now,
            updated_ms=now,
            attempts=1,
            sent_ms=now,
            source=source,
        )
        return order, (spend, needed)

    async def _reference(
        self, trader: Trader, connection: Connection, request: OrderRequest
    ) -> Decimal:
        """The price a market order is expected to fill at: the best ask (buy) or bid."""
        if self._reference_price is not None:
            price = await self._reference_price(connection, request.symbol, request.side)
            if price is not None:
                return price
        return await trader.best_price(request.symbol, request.side)

    async def _free_balance(
        self, trader: Trader, connection_id: str, asset: str, *, fresh: bool = False
    ) -> Decimal:
        """The free balance of ``asset``: as read from the exchange within ``FREE_TTL_MS``,
        less what orders placed since then may have taken; ``fresh`` asks the exchange."""
        key = (connection_id, asset)
        known = self._free.get(key)
        now = self._now()
        if fresh or known is None or now - known[1] > FREE_TTL_MS:
            known = (await trader.free(asset), now)
            self._free[key] = known
        return known[0]

    def _spent(self, connection_id: str, asset: str, amount: Decimal) -> None:
        key = (connection_id, asset)
        known = self._free.get(key)
        if known is not None:
            self._free[key] = (max(known[0] - amount, Decimal(0)), known[1])

    async def _resume(self, trader: Trader, order: PlacedOrder) -> PlacedOrder:
        """Take an order from wherever it is to a known state, sending it at most until one
        send is known to have arrived."""
        while not order.state.settled:
            if order.state is OrderState.UNKNOWN or order.attempts > 0:
                seen, found = await self._look_up(trader, order)
                if seen is Seen.FAILED:
                    return await self._mark(order, OrderState.UNKNOWN)
                if found is not None:
                    return found
                if order.attempts >= MAX_SEND_ATTEMPTS:
                    return await self._mark(
                        order,
                        OrderState.REJECTED,
                        error=("not_placed", "The exchange never received the order."),
                    )
            order = await self._send(trader, order)
        return order

    async def _send(self, trader: Trader, order: PlacedOrder) -> PlacedOrder:
        sent = self._now()
        previous = order.attempts
        order = replace(order, attempts=previous + 1, sent_ms=sent, updated_ms=sent)
        if not await self._store.begin_send(order, previous_attempts=previous):
            # another handler (a retry, the tracker) sent it meanwhile: look it up after it
            current = await self._store.order(order.id)
            if current is None:
                raise ExchangeTrouble("The order was withdrawn while being sent.")
            return current
        return await self._deliver(trader, order)

    async def _deliver(
        self, trader: Trader, order: PlacedOrder, *, key: NewKey | None = None
    ) -> PlacedOrder:
        """Send ``order``, this send counted already, and take the outcome. With ``key`` (a new
        order's), an answer or a refusal is kept as the key's answer in the same write."""
        r = order.request
        try:
            answer, records = await trader.place(
                symbol=r.symbol,
                side=r.side,
                order_type=r.type,
                amount=r.amount,
                price=r.price,
                time_in_force=r.time_in_force,
                client_id=order.exchange_client_id,
                recv_window_ms=RECV_WINDOW_MS,
            )
        except NOT_SENT:
            if order.attempts == 1:
                await self._store.delete_order(order.id)
                raise
            return await self._mark(order, OrderState.UNKNOWN)
        except ExchangeTrouble:  # timeout, 5xx, connection lost: it may have arrived
            return await self._mark(order, OrderState.UNKNOWN)
        except Conflict as error:
            if error.details.get("reason") != "duplicate_order":
                raise
            # the exchange has an open order with this client order id: an earlier send
            # arrived after all; look it up
            return await self._mark(order, OrderState.UNKNOWN)
        except TresorError as error:  # the exchange said no: nothing was placed
            # (a KeyRejected is recorded on the connection by ``_OpenTrader`` on its way out)
            await self._mark(
                order,
                OrderState.REJECTED,
                error=(error.code, error.message),
                answer=None
                if key is None
                else KeyAnswer(key, status=400, body={"error": error_to_dict(error)}),
            )
            raise
        return await self._adopt(trader, order, answer, records, key=key)

    async def _look_up(self, trader: Trader, order: PlacedOrder) -> tuple[Seen, PlacedOrder | None]:
        """The order as the exchange has it (``FOUND``), or that it has none (``ABSENT``), or
        that it could not be asked (``FAILED``). Waits until the last send can no longer be
        accepted, so "absent" is final (an order whose answer is known needs no wait)."""
        wait_ms = 0 if order.state.settled else order.lookup_after_ms() - self._now()
        if wait_ms > 0:
            await self._sleep(wait_ms / 1000)
        try:
            found = await trader.lookup(order.request.symbol, client_id=order.exchange_client_id)
        except ExchangeTrouble:
            return Seen.FAILED, None
        except KeyRejected as error:
            await self._key_refused(order.user_id, order.request.connection_id, error)
            return Seen.FAILED, None
        if found is None:
            return Seen.ABSENT, None
        return Seen.FOUND, await self._adopt(trader, order, *found)

    async def _adopt(
        self,
        trader: Trader,
        order: PlacedOrder,
        answer: ExchangeOrder,
        records: list[Record],
        *,
        key: NewKey | None = None,
    ) -> PlacedOrder:
        """Take the exchange's view of the order; record its fills (and, with ``key``, keep
        the order as the key's answer), in one write."""
        now = self._now()
        if answer.filled > 0 and answer.filled != order.filled and not _has_fills(records):
            try:
                records = [*records, *await trader.fills(order.request.symbol, answer.order_id)]
            except (ExchangeTrouble, KeyRejected):
                pass  # the tracker or the sync will record them
        order = replace(
            order,
            state=answer.state,
            exchange_order_id=answer.order_id,
            filled=answer.filled,
            cost=answer.cost,
            average=answer.average,
            checked_ms=now,
            updated_ms=now,
            error_code=None,
            error_message=None,
        )
        await self._store.settle(
            order,
            records=records,
            answer=None if key is None else KeyAnswer(key, status=_status(order)),
        )
        return order

    async def _mark(
        self,
        order: PlacedOrder,
        state: OrderState,
        *,
        error: tuple[str, str] | None = None,
        answer: KeyAnswer | None = None,
    ) -> PlacedOrder:
        now = self._now()
        order = replace(
            order,
            state=state,
            updated_ms=now,
            checked_ms=now,
            error_code=None if error is None else error[0],
            error_message=None if error is None else error[1],
        )
        await self._store.settle(order, answer=answer)
        return order

    # -- reading, cancelling, tracking --------------------------------------------------------
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
        async with self._trader(user_id, order.request.connection_id) as trader:
            if not order.state.settled:
                order = await self._resume(trader, order)
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
                    order = await self._refresh_with(trader, order)
                except ExchangeTrouble:
                    pass
                raise OrderNotOpen(details={"state": order.state.value}) from None
            return await self._adopt(trader, order, answer, records)

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
                await self._mark(
                    order,
                    OrderState.REJECTED,
                    error=("not_sent", "Tresor stopped before sending the order."),
                )
                return
        try:
            async with self._trader(order.user_id, order.request.connection_id) as trader:
                if order.state is OrderState.OPEN:
                    await self._refresh_with(trader, order)
                elif now - order.created_ms < RESEND_WITHIN_MS:
                    await self._resume(trader, order)
                else:
                    await self._settle_late(trader, order)
        except (ExchangeTrouble, KeyRejected, TradeKeyRequired, NotFound, ValidationFailed):
            # the exchange or the key cannot be used now (or the connection is disabled): the
            # order keeps its last known state
            await self._store.save_order(replace(order, checked_ms=self._now()))

    async def _settle_late(self, trader: Trader, order: PlacedOrder) -> PlacedOrder:
        """An old unknown order: its state if the exchange has it, else rejected."""
        seen, found = await self._look_up(trader, order)
        if seen is Seen.FAILED:
            raise ExchangeTrouble("The exchange could not be asked about the order.")
        if found is not None:
            return found
        return await self._mark(
            order,
            OrderState.REJECTED,
            error=("not_placed", "The exchange never received the order."),
        )

    async def _refresh(self, order: PlacedOrder) -> PlacedOrder:
        """Ask the exchange about the order (never sending it); when it cannot be asked, what
        is known."""
        if not order.state.settled and order.lookup_after_ms() > self._now():
            return order  # a lookup could not tell yet whether it arrived
        try:
            async with self._trader(order.user_id, order.request.connection_id) as trader:
                return await self._refresh_with(trader, order)
        except (ExchangeTrouble, KeyRejected, TradeKeyRequired, NotFound, ValidationFailed):
            order = replace(order, checked_ms=self._now())
            await self._store.save_order(order)
            return order

    async def _refresh_with(self, trader: Trader, order: PlacedOrder) -> PlacedOrder:
        seen, found = await self._look_up(trader, order)
        if seen is Seen.FAILED:
            raise ExchangeTrouble("The exchange could not be asked about the order.")
        return found or await self._mark(order, order.state)

    def _due(self, order: PlacedOrder, after_ms: int) -> bool:
        return order.checked_ms is None or self._now() - order.checked_ms >= after_ms

    async def _owned(self, user_id: str, order_id: str) -> PlacedOrder:
        order = await self._store.order(order_id, user_id)
        if order is None:
            raise NotFound("There is no such order.")
        return order

    # -- the trade key ----------------------------------------------------------------------
    async def _key_refused(self, user_id: str, connection_id: str, error: KeyRejected) -> None:
        """The exchange refused the trade key: the key's and the connection's status say so."""
        await record_trade_key_refused(
            self._uow, self._clock, user_id=user_id, connection_id=connection_id, error=error
        )

    def _trader(self, user_id: str, connection_id: str) -> _OpenTrader:
        return _OpenTrader(self, user_id, connection_id)

    async def _open_trader(self, user_id: str, connection_id: str) -> tuple[Connection, Trader]:
        """The connection as stored now and a trader with its trade key as stored now (one
        read each time: a change is never missed).

        Raises: NotFound, ValidationFailed (disabled), TradeKeyRequired."""
        connection = await self._store.trade_connection(connection_id, user_id)
        if connection is None:
            raise NotFound("There is no such connection.")
        if connection.status is ConnectionStatus.DISABLED:
            raise ValidationFailed(
                "This connection is disabled.",
                remedy="Enable it again (POST /v1/connections/{id}/enable) to trade with it.",
                details={"connection_id": connection.id, "reason": "connection_disabled"},
            )
        return connection, await self._gateway.trader(
            stored_target(self._endpoints, connection),
            self._trade_credentials(connection),
            connection_id=connection.id,
        )

    def _trade_credentials(self, connection: Connection) -> Credentials:
        key = connection.key(KeyRole.TRADE)
        if key is None:
            raise TradeKeyRequired(details={"connection_id": connection.id})
        if key.status is ConnectionStatus.WITHDRAWAL_ENABLED:
            # found able to withdraw since it was added (a new test): never used again
            raise WithdrawPermissionEnabled(details={"connection_id": connection.id})
        if self._opener is None:
            raise TradeKeyRequired(
                "This process cannot use trade keys: they are sealed to the trading worker.",
                remedy="Send orders to a Tresor process that runs the worker role.",
            )
        # opening a sealed key costs more than a whole order may add: the key opened from
        # exactly these ciphertexts is kept (another key, or the same one wrapped anew, is
        # opened again)
        stored = (key.api_key_ct, key.secret_ct, key.passphrase_ct)
        known = self._opened.get(connection.id)
        if known is not None and known[0] == stored:
            return known[1]
        credentials = key_credentials(self._vault, self._opener, connection.id, key)
        self._opened.pop(connection.id, None)
        while len(self._opened) >= OPENED_KEYS:
            del self._opened[next(iter(self._opened))]
        self._opened[connection.id] = (stored, credentials)
        return credentials


class _OpenTrader:
    """``async with`` a trader for one connection (closed on leaving). Whatever the trader
    was used for (a market's rules, a balance, an order, a cancel), a refusal of its key by the
    exchange leaving the block is recorded on the connection: its status says so."""

    def __init__(self, service: OrderService, user_id: str, connection_id: str) -> None:
        self._service = service
        self._user_id = user_id
        self._connection_id = connection_id
        self._trader: Trader | None = None
        self.connection: Connection

    async def __aenter__(self) -> Trader:
        self.connection, self._trader = await self._service._open_trader(
            self._user_id, self._connection_id
        )
        return self._trader

    async def __aexit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if self._trader is not None:
            await self._trader.aclose()
        if isinstance(error, KeyRejected):
            await self._service._key_refused(self._user_id, self._connection_id, error)


class Seen(Enum):
    FOUND = "found"
    ABSENT = "absent"
    FAILED = "failed"


def _status(order: PlacedOrder) -> int:
    """The HTTP status a placement answers with: 201 when the exchange's answer is known."""
    return 201 if order.state.settled else 202


def _has_fills(records: list[Record]) -> bool:
    return any(isinstance(r, TradeRecord) for r in records)


def check_idempotency_key(key: str, *, room: int = 0) -> None:
    """Refuse a key that is empty, too long or not printable. ``room``: characters kept free
    for the suffixes of the keys derived from it (a batch's or a route's orders)."""
    longest = MAX_KEY_LENGTH - room
    if not key or len(key) > longest or not key.isprintable():
        raise ValidationFailed(
            f"The Idempotency-Key header must be 1 to {longest} printable characters.",
            remedy="Send a unique value (a UUID, say) in Idempotency-Key with every new request.",
        )
