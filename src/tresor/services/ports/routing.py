"""Smart order routing: where quotes are kept between ``POST /v1/route/quote`` and their
execution, and the part of the idempotency store an execution uses."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from tresor.domain.routing import Leg, Shortfall, Side
from tresor.services.ports.trading import KeyClaim


@dataclass(frozen=True, slots=True)
class RouteQuote:
    """A plan as it was quoted to a user: its legs and totals (``domain.routing.RoutePlan``),
    when it stops being executable, and under which Idempotency-Key it was executed."""

    id: str
    user_id: str
    side: Side
    base: str
    quote: str
    amount: Decimal  # requested, in the base asset
    legs: tuple[Leg, ...]  # in execution order (leg i is placed under "<key>:leg<i>")
    filled: Decimal  # planned
    gross: Decimal  # quote asset, before fees
    fee: Decimal
    net: Decimal
    average_price: Decimal | None  # gross / filled
    net_price: Decimal | None  # net / filled
    shortfall: Shortfall | None
    created_ms: int
    expires_ms: int
    executed_key: str | None = None
    executed_ms: int | None = None


class RoutingStore(Protocol):
    """Quotes. Every method is its own transaction."""

    async def add_quote(self, quote: RouteQuote) -> None:
        """Store a new quote with its legs."""
        ...

    async def quote(self, quote_id: str, user_id: str) -> RouteQuote | None:
        """The quote if it exists *and belongs to* ``user_id``; otherwise None."""
        ...

    async def purge_quotes(self, *, expired_before_ms: int) -> int:
        """Remove the quotes (and their legs) that expired before ``expired_before_ms`` and
        were never executed; how many. Executed quotes stay: they record what was done."""
        ...

    async def mark_executed(self, quote_id: str, *, key: str, now_ms: int) -> bool:
        """Record that the quote is executed under ``key``, only if no key executed it yet:
        of several callers, exactly one gets True."""
        ...


class IdempotencyKeys(Protocol):
    """The Idempotency-Key part of ``TradingStore`` (see there)."""

    async def claim_key(
        self, user_id: str, key: str, fingerprint: str, *, now_ms: int, lock_ms: int
    ) -> KeyClaim: ...

    async def finish_key(
        self,
        user_id: str,
        key: str,
        *,
        status: int,
        body: dict[str, Any] | None = None,
        resource_id: str | None = None,
    ) -> None: ...
