"""Trading: where placed orders and idempotency keys are kept, and the exchange calls of the
trading path (made with a trade key only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from tresor.domain.connections import Credentials, ExchangeTarget
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
class KeyClaim:
    """The outcome of claiming a key: ``owned`` when this caller handles the request (a new
    key, or one whose previous handler died: ``record.resource_id`` then says what it had
    made); otherwise ``record`` is the earlier use to answer from."""

    owned: bool
    record: KeyRecord


class TradingStore(Protocol):
    """Placed orders and idempotency keys. Every method is its own transaction."""

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
        limit: int = 100,
    ) -> list[PlacedOrder]:
        """The user's orders, newest first, in ``states`` when given."""
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

    async def aclose(self) -> None: ...


class TradeGateway(Protocol):
    """Opens ``Trader`` s; the credentials come from the connection's trade key only."""

    def trader(
        self, target: ExchangeTarget, credentials: Credentials, *, connection_id: str
    ) -> Trader: ...


class RecordSink(Protocol):
    """Where an order's own state and fills go, next to the synced records."""

    async def save_records(self, records: Sequence[Record]) -> None: ...
