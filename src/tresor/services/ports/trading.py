"""Trading: where placed orders and idempotency keys are kept, and the exchange calls of the
trading path (made with a trade key only).

A new order costs two writes (docs/trading.md): ``open_order`` before it is sent (the key
claimed and the order stored with its first send counted, durably) and ``settle`` after the
answer (the order's state, the synced records it brought and the key's answer). Everything
else (``claim_key``, ``add_order``, ``begin_send``...) serves the slower paths: a key already
known, a handler that died, an answer that was lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from tresor.domain.connections import Connection, Credentials, ExchangeTarget
from tresor.domain.order_rules import MarketRules
from tresor.domain.orders import ExchangeOrder, OrderState, PlacedOrder
from tresor.domain.records import Record


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What is kept of one Idempotency-Key: the request it was first used with, whether its
    handling is over, and then its answer (an HTTP status and a body, or the resource made)."""

    user_id: str
    key: str
    fingerprint: str
    done: bool
    locked_until_ms: int
    status: int | None = None
    body: dict[str, Any] | None = None
    resource_id: str | None = None


@dataclass(frozen=True, slots=True)
class NewKey:
    """An Idempotency-Key as a request records it first (``open_order``, ``refuse_key``): every
    field of its row is known to the caller, so ``settle`` can write the row whole."""

    user_id: str
    key: str
    fingerprint: str
    created_ms: int
    locked_until_ms: int


@dataclass(frozen=True, slots=True)
class KeyAnswer:
    """What later requests with ``key`` are answered: an HTTP status and a body (an error), or
    the order settled with it."""

    key: NewKey
    status: int
    body: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """The outcome of claiming a key: ``owned`` when this caller handles the request (a new
    key, or one whose previous handler died: ``record.resource_id`` then says what it had
    made); otherwise ``record`` is the earlier use to answer from."""

    owned: bool
    record: KeyRecord


class TradingStore(Protocol):
    """Placed orders and idempotency keys, and the connection as trading reads it. Every method
    is its own transaction."""

    async def trade_connection(self, connection_id: str, user_id: str) -> Connection | None:
        """The user's connection as trading uses it, read in one query: its status, endpoint
        and its trade key only (``keys`` holds the trade key's stored fields and status, without
        its findings, or nothing). None when the user has no such connection."""
        ...

    async def open_order(self, order: PlacedOrder, key: NewKey) -> bool:
        """In one transaction: claim the new ``key`` for ``order`` (being handled until
        ``key.locked_until_ms``, with ``order`` as its resource) and store ``order`` (its first
        send already counted). Durable when it returns, whatever the database's default (it is
        what lets a crash after the send be reconciled). False, with nothing written, when the
        key is known already: the caller answers through ``claim_key``. Of two callers with one
        key, exactly one stores its order."""
        ...

    async def refuse_key(self, answer: KeyAnswer) -> bool:
        """Record the new ``answer.key`` as handled, with ``answer`` (a refusal before anything
        was sent). False, with nothing written, when the key is known already."""
        ...

    async def settle(
        self,
        order: PlacedOrder,
        *,
        records: Sequence[Record] = (),
        answer: KeyAnswer | None = None,
    ) -> None:
        """In one transaction: replace what is known of ``order`` (stored before), upsert the
        synced ``records`` it brought (as the sync store's ``save_records``: trades kept as
        first written, orders replaced) and, with ``answer``, record the answer of the key
        ``open_order`` recorded (``finish_key``, with ``order`` as its resource)."""
        ...

    async def claim_key(
        self, user_id: str, key: str, fingerprint: str, *, now_ms: int, lock_ms: int
    ) -> KeyClaim:
        """Take ``key`` for a request: a new key is recorded as being handled until
        ``now_ms + lock_ms``; a known key whose handler's lock expired (and whose
        fingerprint matches) is taken over. Two callers can never both own one key."""
        ...

    async def finish_key(
        self,
        user_id: str,
        key: str,
        *,
        status: int,
        body: dict[str, Any] | None = None,
        resource_id: str | None = None,
    ) -> None:
        """Record the key's answer: later requests with it get this answer."""
        ...

    async def release_key(self, user_id: str, key: str) -> None:
        """Forget the key (its request reached nothing: it may be sent again as new)."""
        ...

    async def delete_order(self, order_id: str) -> None:
        """Remove an order that never reached the exchange."""
        ...

    async def add_order(self, order: PlacedOrder, *, key: str | None = None) -> None:
        """Store a new order, and link it to ``key`` in the same transaction."""
        ...

    async def begin_send(self, order: PlacedOrder, *, previous_attempts: int) -> bool:
        """Save ``order`` (one more send counted) only if its attempts are still
        ``previous_attempts``: of several callers about to send one order, exactly one may."""
        ...

    async def save_order(self, order: PlacedOrder) -> None:
        """Replace what is known of an order."""
        ...

    async def order(self, order_id: str, user_id: str | None = None) -> PlacedOrder | None:
        """The order, or None (also when ``user_id`` is given and not its owner)."""
        ...

    async def orders(
        self,
        user_id: str,
        *,
        states: Sequence[OrderState] = (),
        connection_id: str | None = None,
        before: tuple[int, str] | None = None,
        limit: int = 100,
    ) -> list[PlacedOrder]:
        """The user's orders, newest first (by creation, then id), in ``states`` when given;
        with ``before`` (created_ms, id), only those after it in that order."""
        ...

    async def to_track(self, *, checked_before_ms: int, limit: int) -> list[PlacedOrder]:
        """Orders not final (pending, unknown or open) last checked before the given time."""
        ...


class Trader(Protocol):
    """The trading calls on one exchange account, with its trade key. Raises domain errors
    (``OrderRefused`` and its kinds, ``KeyRejected``, ``ExchangeTrouble``...)."""

    async def rules(self, symbol: str) -> MarketRules:
        """Raises: UnknownSymbol."""
        ...

    async def free(self, asset: str) -> Decimal:
        """The free balance of ``asset`` now."""
        ...

    async def best_price(self, symbol: str, side: str) -> Decimal:
        """The price a market order of ``side`` would start at: the best ask for a buy, the
        best bid for a sell."""
        ...

    async def place(
        self,
        *,
        symbol: str,
        side: str,
        order_type: str,
        amount: Decimal,
        price: Decimal | None,
        time_in_force: str | None,
        client_id: str,
        recv_window_ms: int,
    ) -> tuple[ExchangeOrder, list[Record]]:
        """Send a new order; the order as the exchange answered, and its fills (trades) if the
        answer gave them."""
        ...

    async def lookup(
        self, symbol: str, *, client_id: str
    ) -> tuple[ExchangeOrder, list[Record]] | None:
        """The order the exchange knows by ``client_id`` (and itself as a record), or None if
        the exchange has no such order."""
        ...

    async def cancel(self, symbol: str, order_id: str) -> tuple[ExchangeOrder, list[Record]]:
        """Raises: OrderNotOpen (the exchange no longer has it open)."""
        ...

    async def fills(self, symbol: str, order_id: str) -> list[Record]:
        """The order's trades."""
        ...

    async def order_room(self) -> None:
        """Refuse an order the key's order budget could not send in time, before anything is
        written for it (it is charged when sent).

        Raises: RateBudgetExhausted."""
        ...

    async def aclose(self) -> None: ...


class TradeGateway(Protocol):
    """Opens ``Trader`` s; the credentials come from the connection's trade key only."""

    async def trader(
        self, target: ExchangeTarget, credentials: Credentials, *, connection_id: str
    ) -> Trader: ...


class RecordSink(Protocol):
    """Where an order's own state and fills go, next to the synced records."""

    async def save_records(self, records: Sequence[Record]) -> None: ...
