"""An order's dealings with its exchange, for ``OrderService`` (services/trading.py): sending it
(each send counted before it goes), looking it up by its client order id once no earlier send
can still arrive, taking the exchange's view of it (its fills recorded as trades), and the
trade key all of that is done with.

``resume`` takes an order from wherever it is to a known state, never sending it twice::

    not settled --- sent before, or unknown --> look it up (after its receive window)
       |                                          found -> its state; lookup failed ->
       |                                          "unknown"; absent and sent MAX_SEND_ATTEMPTS
       |                                          times -> "rejected" (not_placed)
       v
    send (counted first, ``begin_send``; another handler sending it meanwhile -> its view)

Only a connection's **trade key** is used (opened where the worker's private key is); a read
key never trades. Every use reads the connection and its trade key again (one query): a
disabled or removed connection, or a removed key, is refused at once; a key once opened is kept
for the exact stored ciphertexts it was opened from, so a rotated key is opened anew. A refusal
of the key by the exchange, whatever request met it, is recorded on the connection
(``OpenTrader``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
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
    KeyRejected,
    NotFound,
    RateBudgetExhausted,
    RateLimited,
    TradeKeyRequired,
    TresorError,
    ValidationFailed,
    WithdrawPermissionEnabled,
    error_to_dict,
)
from tresor.domain.orders import (
    MAX_SEND_ATTEMPTS,
    RECV_WINDOW_MS,
    ExchangeOrder,
    OrderState,
    PlacedOrder,
)
from tresor.domain.records import Record, TradeRecord
from tresor.services.ports import (
    Clock,
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

OPENED_KEYS = 1024  # trade keys kept opened (the connections trading most lately)
# errors after which nothing reached the exchange: the key is forgotten, the request may be
# sent again as it was
NOT_SENT: tuple[type[TresorError], ...] = (RateLimited, RateBudgetExhausted, ClockSkew)


class Seen(Enum):
    FOUND = "found"
    ABSENT = "absent"
    FAILED = "failed"


class OrderExchange:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        store: TradingStore,
        gateway: TradeGateway,
        vault: Vault,
        opener: TradeKeyOpener | None,
        endpoints: Mapping[str, ExchangeTarget],
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
        # trade keys opened, per connection: (the stored ciphertexts, the key in clear)
        self._opened: dict[str, tuple[tuple[bytes, bytes, bytes | None], Credentials]] = {}

    def _now(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    async def resume(self, trader: Trader, order: PlacedOrder) -> PlacedOrder:
        """Take an order from wherever it is to a known state, sending it at most until one
        send is known to have arrived."""
        while not order.state.settled:
            if order.state is OrderState.UNKNOWN or order.attempts > 0:
                seen, found = await self.look_up(trader, order)
                if seen is Seen.FAILED:
                    return await self.mark(order, OrderState.UNKNOWN)
                if found is not None:
                    return found
                if order.attempts >= MAX_SEND_ATTEMPTS:
                    return await self.mark(
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
        return await self.deliver(trader, order)

    async def deliver(
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
            return await self.mark(order, OrderState.UNKNOWN)
        except ExchangeTrouble:  # timeout, 5xx, connection lost: it may have arrived
            return await self.mark(order, OrderState.UNKNOWN)
        except Conflict as error:
            if error.details.get("reason") != "duplicate_order":
                raise
            # the exchange has an open order with this client order id: an earlier send
            # arrived after all; look it up
            return await self.mark(order, OrderState.UNKNOWN)
        except TresorError as error:  # the exchange said no: nothing was placed
            # (a KeyRejected is recorded on the connection by ``_OpenTrader`` on its way out)
            await self.mark(
                order,
                OrderState.REJECTED,
                error=(error.code, error.message),
                answer=None
                if key is None
                else KeyAnswer(key, status=400, body={"error": error_to_dict(error)}),
            )
            raise
        return await self.adopt(trader, order, answer, records, key=key)

    async def look_up(self, trader: Trader, order: PlacedOrder) -> tuple[Seen, PlacedOrder | None]:
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
            await self.key_refused(order.user_id, order.request.connection_id, error)
            return Seen.FAILED, None
        if found is None:
            return Seen.ABSENT, None
        return Seen.FOUND, await self.adopt(trader, order, *found)

    async def adopt(
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
            answer=None if key is None else KeyAnswer(key, status=answer_status(order)),
        )
        return order

    async def mark(
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

    async def settle_late(self, trader: Trader, order: PlacedOrder) -> PlacedOrder:
        """An old unknown order: its state if the exchange has it, else rejected."""
        seen, found = await self.look_up(trader, order)
        if seen is Seen.FAILED:
            raise ExchangeTrouble("The exchange could not be asked about the order.")
        if found is not None:
            return found
        return await self.mark(
            order,
            OrderState.REJECTED,
            error=("not_placed", "The exchange never received the order."),
        )

    async def refresh_with(self, trader: Trader, order: PlacedOrder) -> PlacedOrder:
        seen, found = await self.look_up(trader, order)
        if seen is Seen.FAILED:
            raise ExchangeTrouble("The exchange could not be asked about the order.")
        return found or await self.mark(order, order.state)

    async def key_refused(self, user_id: str, connection_id: str, error: KeyRejected) -> None:
        """The exchange refused the trade key: the key's and the connection's status say so."""
        await record_trade_key_refused(
            self._uow, self._clock, user_id=user_id, connection_id=connection_id, error=error
        )

    def trader(self, user_id: str, connection_id: str) -> OpenTrader:
        return OpenTrader(self, user_id, connection_id)

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


class OpenTrader:
    """``async with`` a trader for one connection (closed on leaving). Whatever the trader
    was used for (a market's rules, a balance, an order, a cancel), a refusal of its key by the
    exchange leaving the block is recorded on the connection: its status says so."""

    def __init__(self, exchange: OrderExchange, user_id: str, connection_id: str) -> None:
        self._exchange = exchange
        self._user_id = user_id
        self._connection_id = connection_id
        self._trader: Trader | None = None
        self.connection: Connection

    async def __aenter__(self) -> Trader:
        self.connection, self._trader = await self._exchange._open_trader(
            self._user_id, self._connection_id
        )
        return self._trader

    async def __aexit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if self._trader is not None:
            await self._trader.aclose()
        if isinstance(error, KeyRejected):
            await self._exchange.key_refused(self._user_id, self._connection_id, error)


def answer_status(order: PlacedOrder) -> int:
    """The HTTP status a placement answers with: 201 when the exchange's answer is known."""
    return 201 if order.state.settled else 202


def _has_fills(records: list[Record]) -> bool:
    return any(isinstance(r, TradeRecord) for r in records)
