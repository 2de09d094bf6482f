"""``tresor order place|status|cancel|list``: trading from the command line, through the same
``OrderService`` as ``/v1/orders`` (docs/trading.md), on the embedded runtime.

``place`` sends every order under an Idempotency-Key: a new one unless ``--key`` is given. It
prints the key, so a placement whose outcome you did not see can be sent again with the same
``--key`` and can never become a second order.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table

from tresor.bootstrap import Runtime
from tresor.domain.orders import OrderRequest, OrderState, PlacedOrder
from tresor.entrypoints.api.schemas_orders import PlacedOrderPublic
from tresor.entrypoints.api.schemas_records import amount as shown
from tresor.entrypoints.cli.common import console, fail, print_json, run
from tresor.entrypoints.cli.sync import User, find_connection

app = typer.Typer(help="Place, read, cancel and list orders (with a connection's trade key).")
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
OPEN = (OrderState.PENDING, OrderState.UNKNOWN, OrderState.OPEN)


def _decimal(text: str | None, name: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value <= 0:
        fail(f"{name} must be a positive number, not {text!r}.", None, "validation_failed")
    return value


def _table(orders: list[PlacedOrder]) -> Table:
    table = Table(title="Orders")
    for column in ("id", "symbol", "side", "type", "amount", "price", "state", "filled", "avg"):
        table.add_column(
            column, justify="right" if column in ("amount", "price", "filled", "avg") else "left"
        )
    for o in orders:
        r = o.request
        table.add_row(
            o.id,
            r.symbol,
            r.side,
            r.type,
            shown(r.amount),
            "" if r.price is None else shown(r.price),
            o.state.value,
            shown(o.filled),
            "" if o.average is None else shown(o.average),
        )
    return table


def _show(orders: list[PlacedOrder], as_json: bool) -> None:
    if as_json:
        print_json([PlacedOrderPublic.of(o).model_dump(mode="json") for o in orders])
        return
    console.print(_table(orders))
    for o in orders:
        if o.error_code:
            console.print(f"[yellow]{o.id}:[/] {o.error_code}: {o.error_message}")


@app.command("place")
def place(
    user: User,
    connection: Annotated[str, typer.Argument(help="The connection (id or label).")],
    side: Annotated[str, typer.Argument(help="buy or sell")],
    amount: Annotated[str, typer.Argument(help="In the base asset, e.g. 0.01")],
    symbol: Annotated[str, typer.Argument(help="e.g. BTC/USDT")],
    price: Annotated[
        str | None, typer.Option("--price", help="A limit price (else a market order).")
    ] = None,
    time_in_force: Annotated[
        str | None, typer.Option("--tif", help="Limit orders: GTC (default), IOC or FOK.")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="The Idempotency-Key (to send a placement again safely)."),
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--client-order-id", help="Your own reference.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Place an order, once: e.g. tresor order place --user alice main buy 0.01 BTC/USDT."""
    if side not in ("buy", "sell"):
        fail(f"side must be buy or sell, not {side!r}.", None, "validation_failed")
    if time_in_force not in (None, "GTC", "IOC", "FOK"):
        fail("--tif must be GTC, IOC or FOK.", None, "validation_failed")
    limit = _decimal(price, "--price")
    size = _decimal(amount, "amount")
    assert size is not None  # noqa: S101 (amount is a required argument)
    idempotency_key = key or str(uuid.uuid4())

    async def job(rt: Runtime) -> PlacedOrder:
        found = await find_connection(rt, user, connection)
        request = OrderRequest(
            connection_id=found.id,
            symbol=symbol.upper(),
            side=side,
            type="market" if limit is None else "limit",
            amount=size,
            price=limit,
            time_in_force=time_in_force or ("GTC" if limit is not None else None),
            client_order_id=reference,
        )
        placed = await rt.container.orders.place(
            found.user_id, request, idempotency_key=idempotency_key, source="cli"
        )
        return placed.order

    if not as_json:
        console.print(f"Idempotency-Key: {idempotency_key}")
    order = run(job)
    _show([order], as_json)
    if order.state is OrderState.UNKNOWN and not as_json:
        console.print(
            "[yellow]The exchange's answer was lost.[/] Tresor is looking the order up and will "
            f"never send it twice; check it with: tresor order status --user {user} {order.id}"
        )


@app.command("status")
def status(
    user: User,
    order_id: Annotated[str, typer.Argument(help="The order's id (ord_...).")],
    as_json: Json = False,
) -> None:
    """An order, asked of the exchange first while it is not final."""

    async def job(rt: Runtime) -> PlacedOrder:
        owner = await rt.container.access.find_user(user)
        return await rt.container.orders.get(owner.id, order_id)

    _show([run(job)], as_json)


@app.command("cancel")
def cancel(
    user: User,
    order_id: Annotated[str, typer.Argument(help="The order's id (ord_...).")],
    as_json: Json = False,
) -> None:
    """Cancel an open order."""

    async def job(rt: Runtime) -> PlacedOrder:
        owner = await rt.container.access.find_user(user)
        return await rt.container.orders.cancel(owner.id, order_id)

    _show([run(job)], as_json)


@app.command("list")
def list_orders(
    user: User,
    connection: Annotated[
        str | None, typer.Option("--connection", help="Only this connection (id or label).")
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Also the final ones (filled, cancelled ...).")
    ] = False,
    as_json: Json = False,
) -> None:
    """The orders Tresor placed that are still open (or all of them, newest first)."""

    async def job(rt: Runtime) -> list[PlacedOrder]:
        owner = await rt.container.access.find_user(user)
        connection_id = None
        if connection is not None:
            connection_id = (await find_connection(rt, user, connection)).id
        states = () if everything else OPEN
        found: list[PlacedOrder] = []
        cursor = None
        while True:  # every page
            page = await rt.container.orders.list(
                owner.id, states=states, connection_id=connection_id, cursor=cursor, limit=500
            )
            found.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return found

    orders = run(job)
    if not orders and not as_json:
        console.print("No orders." if everything else "No open orders.")
        return
    _show(orders, as_json)
