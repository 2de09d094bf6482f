"""Placing, tracking and cancelling orders, never twice (issue 5).

``place`` under an Idempotency-Key::

    claim the key ----- used with another request ---------> IdempotencyKeyReused
       |           \\--- still being handled ----------------> IdempotencyInProgress
       |            \\-- handled ----------------------------> the same answer again
       v
    pre-trade checks (the market's rules, the free balance) -- refused --> kept as the answer
       v
    the order stored "pending" (its exchange client id derived from the user and the key)
       v
    send --- answered ----------------------> its state, its fills recorded as trades
       |---- refused -----------------------> "rejected", kept as the answer
       |---- not sent (rate limit, budget) -> forgotten with the key: send it again
       \\--- no answer (timeout, 5xx) ------> "unknown": wait until the request has expired
                                              (its receive window), look it up by its client
                                              order id: found -> its state; not found -> sent
                                              again (same client order id); lookup failed ->
                                              left "unknown" for the tracker

Only a connection's **trade key** is used here (opened where the worker's private key is); a
read key never trades. ``track`` (run by the scheduler) follows every order that is not final:
unknown ones are looked up, open ones refreshed, fills recorded. When the exchange refuses the
key, the orders keep their last known state and tracking resumes with the next key.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import Enum

from tresor.domain.connections import Connection, Credentials, ExchangeTarget, KeyRole
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
    error_from_dict,
    error_to_dict,
)
from tresor.domain.order_rules import check_order
from tresor.domain.orders import (
    MAX_SEND_ATTEMPTS,
    RECV_WINDOW_MS,
    ExchangeOrder,
    OrderRequest,
    OrderState,
    PlacedOrder,
    exchange_client_id,
)
from tresor.domain.records import Record, TradeRecord
from tresor.services.ports import (
    Clock,
    KeyRecord,
    RecordSink,
    TradeGateway,
    TradeKeyOpener,
    Trader,
    TradingStore,
    UnitOfWorkFactory,
    Vault,
)
from tresor.services.stored_keys import key_credentials, stored_target

FREE_TTL_MS = 10_000  # a free balance read from the exchange is trusted this long
KEY_LOCK_MS = 120_000  # a handler that holds a key longer is taken for dead
TRACK_INTERVAL_MS = 5_000  # how often an order that is not final is looked at
TRACK_PARALLEL = 8  # orders followed at once by one tracking round
RESEND_WITHIN_MS = 60_000  # an order the exchange never received is sent again until this old
REFRESH_AFTER_MS = 1_000  # GET /v1/orders/{id} asks the exchange at most this often per order
MAX_KEY_LENGTH = 255
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
        records: RecordSink,
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
        self._records = records
        self._gateway = gateway
        self._vault = vault
        self._opener = opener
        self._endpoints = endpoints
        self._clock = clock
        self._sleep = sleep
        self._reference_price = reference_price
        # free balances read from the exchange, per (connection, asset): (value, when read)
        self._free: dict[tuple[str, str], tuple[Decimal, int]] = {}

    def _now(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    # -- placing ----------------------------------------------------------------------------
    async def place(
        self, user_id: str, request: OrderRequest, *, idempotency_key: str, source: str = "api"
    ) -> Placement:
        """Place ``request`` once for ``idempotency_key``.

        Raises: IdempotencyKeyReused, IdempotencyInProgress, NotFound (the connection),
        TradeKeyRequired, OrderRefused kinds (InvalidOrder, InsufficientFunds, MarketClosed),
        UnknownSymbol, KeyRejected, ExchangeTrouble (nothing was placed: send it again).
        """
        check_idempotency_key(idempotency_key)
        claim = await self._store.claim_key(
            user_id,
            idempotency_key,
            request.fingerprint(),
            now_ms=self._now(),
            lock_ms=KEY_LOCK_MS,
        )
        if not claim.owned:
            return await self._replay(user_id, request, claim.record)
        if claim.record.resource_id is not None:  # its first handler died: finish its work
            order = await self._store.order(claim.record.resource_id, user_id)
            if order is not None:
                async with self._trader(user_id, order.request.connection_id) as trader:
                    order = await self._resume(trader, order)
                await self._finish(user_id, idempotency_key, order)
                return Placement(order)
        try:
            opened = self._trader(user_id, request.connection_id)
            async with opened as trader:
                order = await self._new(
                    trader, opened.connection, request, key=idempotency_key, source=source
                )
                order = await self._resume(trader, order)
        except NOT_SENT:
            await self._store.release_key(user_id, idempotency_key)
            raise
        except TresorError as error:
            await self._store.finish_key(
                user_id, idempotency_key, status=400, body={"error": error_to_dict(error)}
            )
            raise
        await self._finish(user_id, idempotency_key, order)
        return Placement(order)

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
        status = 201 if order.state.settled else 202
        await self._store.finish_key(user_id, key, status=status, resource_id=order.id)

    async def _new(
        self,
        trader: Trader,
        connection: Connection,
        request: OrderRequest,
        *,
        key: str,
        source: str,
    ) -> PlacedOrder:
        """Check the order against the market's rules and the free balance, then store it."""
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
        self._spent(connection.id, spend, needed)
        now = self._now()
        order = PlacedOrder(
            id=new_order_id(),
            user_id=user_id,
            request=request,
            exchange_client_id=exchange_client_id(user_id, key),
            state=OrderState.PENDING,
            created_ms=now,
            updated_ms=now,
            source=source,
        )
        await self._store.add_order(order, key=key)
        return order

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
        r = order.request
        sent = self._now()
        previous = order.attempts
        order = replace(order, attempts=previous + 1, sent_ms=sent, updated_ms=sent)
        if not await self._store.begin_send(order, previous_attempts=previous):
            # another handler (a retry, the tracker) sent it meanwhile: look it up after it
            current = await self._store.order(order.id)
            if current is None:
                raise ExchangeTrouble("The order was withdrawn while being sent.")
            return current
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
            await self._mark(order, OrderState.REJECTED, error=(error.code, error.message))
            raise
        return await self._adopt(trader, order, answer, records)

    async def _look_up(self, trader: Trader, order: PlacedOrder) -> tuple[Seen, PlacedOrder | None]:
        """The order as the exchange has it (``FOUND``), or that it has none (``ABSENT``), or
        that it could not be asked (``FAILED``). Waits until the last send can no longer be
        accepted, so "absent" is final."""
        wait_ms = order.lookup_after_ms() - self._now()
        if wait_ms > 0:
            await self._sleep(wait_ms / 1000)
        try:
            found = await trader.lookup(order.request.symbol, client_id=order.exchange_client_id)
        except (ExchangeTrouble, KeyRejected):
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
    ) -> PlacedOrder:
        """Take the exchange's view of the order; record its fills."""
        now = self._now()
        if answer.filled > 0 and answer.filled != order.filled and not _has_fills(records):
            try:
                records = [*records, *await trader.fills(order.request.symbol, answer.order_id)]
            except (ExchangeTrouble, KeyRejected):
                pass  # the tracker or the sync will record them
        if records:
            await self._records.save_records(records)
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
        await self._store.save_order(order)
        return order

    async def _mark(
        self, order: PlacedOrder, state: OrderState, *, error: tuple[str, str] | None = None
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
        await self._store.save_order(order)
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
        limit: int = 100,
    ) -> list[PlacedOrder]:
        """The user's orders, newest first (in ``states`` when given).

        Raises: NotFound (``connection_id`` is not one of the user's connections)."""
        if connection_id is not None:
            async with self._uow(read_only=True) as uow:
                if await uow.connections.get(connection_id, user_id) is None:
                    raise NotFound("There is no such connection.")
        return await self._store.orders(
            user_id, states=states, connection_id=connection_id, limit=limit
        )

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
        except (ExchangeTrouble, KeyRejected, TradeKeyRequired, NotFound):
            # the exchange or the key cannot be used now: the order keeps its last known state
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
        except (ExchangeTrouble, KeyRejected, TradeKeyRequired, NotFound):
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
    def _trader(self, user_id: str, connection_id: str) -> _OpenTrader:
        return _OpenTrader(self, user_id, connection_id)

    async def _open_trader(self, user_id: str, connection_id: str) -> tuple[Connection, Trader]:
        async with self._uow(read_only=True) as uow:
            connection = await uow.connections.get(connection_id, user_id)
        if connection is None:
            raise NotFound("There is no such connection.")
        return connection, self._gateway.trader(
            stored_target(self._endpoints, connection),
            self._trade_credentials(connection),
            connection_id=connection.id,
        )

    def _trade_credentials(self, connection: Connection) -> Credentials:
        key = connection.key(KeyRole.TRADE)
        if key is None:
            raise TradeKeyRequired(details={"connection_id": connection.id})
        if self._opener is None:
            raise TradeKeyRequired(
                "This process cannot use trade keys: they are sealed to the trading worker.",
                remedy="Send orders to a Tresor process that runs the worker role.",
            )
        return key_credentials(self._vault, self._opener, connection.id, key)


class _OpenTrader:
    """``async with`` a trader for one connection (closed on leaving)."""

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

    async def __aexit__(self, *exc: object) -> None:
        if self._trader is not None:
            await self._trader.aclose()


class Seen(Enum):
    FOUND = "found"
    ABSENT = "absent"
    FAILED = "failed"


def _has_fills(records: list[Record]) -> bool:
    return any(isinstance(r, TradeRecord) for r in records)


def check_idempotency_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable characters.",
            remedy="Send a unique value (a UUID, say) in Idempotency-Key with every new order.",
        )
