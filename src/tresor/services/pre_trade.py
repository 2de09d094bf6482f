"""The checks before an order is sent (``OrderService.place``): the market's own rules
(domain/order_rules.py), the free balance, read with the connection's trade key, and room in
the key's order budget.

A free balance read from the exchange is trusted for ``FREE_TTL_MS``, less what the orders
placed since then may take; an order it seems too small for is checked again against a fresh
read before it is refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from decimal import Decimal

from tresor.domain.connections import Connection
from tresor.domain.errors import InsufficientFunds
from tresor.domain.order_rules import check_order
from tresor.domain.orders import OrderRequest, OrderState, PlacedOrder, exchange_client_id
from tresor.services.ports import Clock, Trader

FREE_TTL_MS = 10_000  # a free balance read from the exchange is trusted this long


def new_order_id() -> str:
    return "ord_" + secrets.token_hex(10)


class PreTradeChecks:
    def __init__(
        self,
        *,
        clock: Clock,
        reference_price: Callable[[Connection, str, str], Awaitable[Decimal | None]] | None = None,
    ) -> None:
        self._clock = clock
        self._reference_price = reference_price
        # free balances read from the exchange, per (connection, asset): (value, when read)
        self._free: dict[tuple[str, str], tuple[Decimal, int]] = {}

    def _now(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    async def checked(
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

        Raises: the OrderRefused kinds, UnknownSymbol, RateBudgetExhausted (no room for the
        order in time), and what asking the exchange raised."""
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
            await check(await self.free_balance(trader, connection.id, spend))
        except InsufficientFunds:  # maybe a stale figure: ask the exchange before refusing
            await check(await self.free_balance(trader, connection.id, spend, fresh=True))
        # the last check: the key's order budget (refused now, nothing written for it, rather
        # than after the order is stored)
        await trader.order_room()
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

    async def free_balance(
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

    def spent(self, connection_id: str, asset: str, amount: Decimal) -> None:
        key = (connection_id, asset)
        known = self._free.get(key)
        if known is not None:
            self._free[key] = (max(known[0] - amount, Decimal(0)), known[1])
