"""Trading from an API-only process (the distributed mode, ``TRESOR_PROCESS_ROLE=api``).

Trade keys are sealed to the worker: an API-only process cannot open them, so it cannot place
or cancel an order, nor read a market's rules and the free balance with the trade key (what the
router plans with), itself. ``RemoteOrders`` offers the same calls as ``OrderService`` and hands
each one to a worker through the ``TradeDesk``; ``OrderDesk`` is the worker's side, which runs
them on its own ``OrderService`` and answers with the order, or with the error to raise again.
Listing orders needs no key and reads the database directly.

Every request is idempotent where it is carried out (a placement under its Idempotency-Key), so
a request a dead worker had in hand, handed to another, or sent again by the client after a
timeout, never places anything twice.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any, Protocol

from tresor.domain.errors import TresorError, ValidationFailed, error_from_dict, error_to_dict
from tresor.domain.order_rules import MarketRules
from tresor.domain.orders import OrderRequest, OrderState, PlacedOrder
from tresor.domain.paging import Listing
from tresor.services.ports.desk import TradeDesk
from tresor.services.trading import OrderService, Placement

# a placement may wait out a lost answer's receive window and look the order up (about 8 s)
CALL_TIMEOUT_S = 30.0


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def request_to_dict(r: OrderRequest) -> dict[str, Any]:
    return {
        "connection_id": r.connection_id,
        "symbol": r.symbol,
        "side": r.side,
        "type": r.type,
        "amount": _text(r.amount),
        "price": _text(r.price),
        "time_in_force": r.time_in_force,
        "client_order_id": r.client_order_id,
    }


def request_from_dict(d: dict[str, Any]) -> OrderRequest:
    amount = _dec(d["amount"])
    if amount is None:
        raise ValidationFailed("An order needs an amount.")
    return OrderRequest(
        connection_id=str(d["connection_id"]),
        symbol=str(d["symbol"]),
        side=str(d["side"]),
        type=str(d["type"]),
        amount=amount,
        price=_dec(d.get("price")),
        time_in_force=d.get("time_in_force"),
        client_order_id=d.get("client_order_id"),
    )


_RULE_TEXT = ("exchange", "symbol", "base", "quote")
_RULE_FIELDS = tuple(f.name for f in dataclasses.fields(MarketRules))


def rules_to_dict(rules: MarketRules) -> dict[str, Any]:
    values = dataclasses.asdict(rules)
    return {
        name: value if name in _RULE_TEXT or isinstance(value, bool) else _text(value)
        for name, value in values.items()
    }


def rules_from_dict(d: dict[str, Any]) -> MarketRules:
    values: dict[str, Any] = {}
    for name in _RULE_FIELDS:
        if name in _RULE_TEXT:
            values[name] = str(d[name])
        elif name == "trading":
            values[name] = bool(d[name])
        else:  # a limit a worker of another version does not send: none
            values[name] = _dec(d.get(name))
    return MarketRules(**values)


def order_to_dict(o: PlacedOrder) -> dict[str, Any]:
    return {
        "id": o.id,
        "user_id": o.user_id,
        "request": request_to_dict(o.request),
        "exchange_client_id": o.exchange_client_id,
        "state": o.state.value,
        "created_ms": o.created_ms,
        "updated_ms": o.updated_ms,
        "exchange_order_id": o.exchange_order_id,
        "filled": _text(o.filled),
        "cost": _text(o.cost),
        "average": _text(o.average),
        "attempts": o.attempts,
        "sent_ms": o.sent_ms,
        "checked_ms": o.checked_ms,
        "error_code": o.error_code,
        "error_message": o.error_message,
        "source": o.source,
    }


def order_from_dict(d: dict[str, Any]) -> PlacedOrder:
    return PlacedOrder(
        id=d["id"],
        user_id=d["user_id"],
        request=request_from_dict(d["request"]),
        exchange_client_id=d["exchange_client_id"],
        state=OrderState(d["state"]),
        created_ms=int(d["created_ms"]),
        updated_ms=int(d["updated_ms"]),
        exchange_order_id=d.get("exchange_order_id"),
        filled=_dec(d.get("filled")) or Decimal(0),
        cost=_dec(d.get("cost")) or Decimal(0),
        average=_dec(d.get("average")),
        attempts=int(d.get("attempts") or 0),
        sent_ms=d.get("sent_ms"),
        checked_ms=d.get("checked_ms"),
        error_code=d.get("error_code"),
        error_message=d.get("error_message"),
        source=d.get("source") or "api",
    )


class OrderDesk:
    """The worker's side: runs a request on the worker's ``OrderService``."""

    def __init__(self, orders: OrderService) -> None:
        self._orders = orders

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            op = request.get("op")
            user_id = str(request["user_id"])
            if op == "place":
                placed = await self._orders.place(
                    user_id,
                    request_from_dict(request["request"]),
                    idempotency_key=str(request["key"]),
                    source=str(request.get("source") or "api"),
                )
                return {"order": order_to_dict(placed.order), "replayed": placed.replayed}
            if op == "get":
                order = await self._orders.get(
                    user_id, str(request["order_id"]), refresh=bool(request.get("refresh", True))
                )
                return {"order": order_to_dict(order)}
            if op == "cancel":
                order = await self._orders.cancel(user_id, str(request["order_id"]))
                return {"order": order_to_dict(order)}
            if op == "rules_and_free":
                rules, free = await self._orders.rules_and_free(
                    user_id,
                    str(request["connection_id"]),
                    str(request["symbol"]),
                    str(request["asset"]),
                )
                return {"rules": rules_to_dict(rules), "free": _text(free)}
            raise ValidationFailed(f"Unknown trading request {op!r}.")
        except TresorError as error:
            return {"error": error_to_dict(error)}


class Orders(Protocol):
    """What the API and batches need of orders: ``OrderService`` in a process that holds the
    worker's key, ``RemoteOrders`` in an API-only one."""

    async def place(
        self, user_id: str, request: OrderRequest, *, idempotency_key: str, source: str = "api"
    ) -> Placement: ...

    async def get(self, user_id: str, order_id: str, *, refresh: bool = True) -> PlacedOrder: ...

    async def cancel(self, user_id: str, order_id: str) -> PlacedOrder: ...

    async def rules_and_free(
        self, user_id: str, connection_id: str, symbol: str, asset: str
    ) -> tuple[MarketRules, Decimal]: ...

    async def list(
        self,
        user_id: str,
        *,
        states: tuple[OrderState, ...] = (),
        connection_id: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Listing[PlacedOrder]: ...


class RemoteOrders:
    """``OrderService``'s calls for an API-only process: placing, cancelling and refreshing
    carried out by a worker; what needs no key (listing, reading what is stored) by ``local``,
    this process's own ``OrderService``."""

    def __init__(
        self, desk: TradeDesk, local: OrderService, *, timeout_s: float = CALL_TIMEOUT_S
    ) -> None:
        self._desk = desk
        self._local = local
        self._timeout_s = timeout_s

    async def list(
        self,
        user_id: str,
        *,
        states: tuple[OrderState, ...] = (),
        connection_id: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Listing[PlacedOrder]:
        return await self._local.list(
            user_id, states=states, connection_id=connection_id, cursor=cursor, limit=limit
        )

    async def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        answer = await self._desk.call(request, timeout_s=self._timeout_s)
        if "error" in answer:
            raise error_from_dict(answer["error"])
        return answer

    async def place(
        self, user_id: str, request: OrderRequest, *, idempotency_key: str, source: str = "api"
    ) -> Placement:
        """As ``OrderService.place``; also TradingWorkerUnavailable."""
        answer = await self._call(
            {
                "op": "place",
                "user_id": user_id,
                "request": request_to_dict(request),
                "key": idempotency_key,
                "source": source,
            }
        )
        return Placement(order_from_dict(answer["order"]), replayed=bool(answer["replayed"]))

    async def get(self, user_id: str, order_id: str, *, refresh: bool = True) -> PlacedOrder:
        if not refresh:
            return await self._local.get(user_id, order_id, refresh=False)
        answer = await self._call(
            {"op": "get", "user_id": user_id, "order_id": order_id, "refresh": refresh}
        )
        return order_from_dict(answer["order"])

    async def cancel(self, user_id: str, order_id: str) -> PlacedOrder:
        answer = await self._call({"op": "cancel", "user_id": user_id, "order_id": order_id})
        return order_from_dict(answer["order"])

    async def rules_and_free(
        self, user_id: str, connection_id: str, symbol: str, asset: str
    ) -> tuple[MarketRules, Decimal]:
        """As ``OrderService.rules_and_free`` (the router's plan), read by a worker."""
        answer = await self._call(
            {
                "op": "rules_and_free",
                "user_id": user_id,
                "connection_id": connection_id,
                "symbol": symbol,
                "asset": asset,
            }
        )
        return rules_from_dict(answer["rules"]), _dec(answer["free"]) or Decimal(0)
