"""``tresor route quote|execute``: smart order routing from the command line, through the same
``RoutingService`` as ``/v1/route`` (docs/trading.md, "Smart order routing").

``quote`` prints the plan (its legs, and why each other connection takes no part) and the quote
id; ``execute`` places its legs under an Idempotency-Key (a new one unless ``--key`` is given,
printed so an execution whose outcome you did not see can be sent again and never trades
twice).
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table

from tresor.bootstrap import Runtime
from tresor.entrypoints.api.schemas_records import amount as shown
from tresor.entrypoints.api.schemas_routing import RouteExecutionPublic, RouteQuotePublic
from tresor.entrypoints.cli.common import console, fail, print_json, run
from tresor.entrypoints.cli.sync import User, find_connection
from tresor.services.routing import Execution, Quoted

app = typer.Typer(help="Quote and execute the best split of an order over your connections.")
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value <= 0:
        fail(f"amount must be a positive number, not {text!r}.", None, "validation_failed")
    return value


def _quote_table(quoted: Quoted) -> Table:
    q = quoted.quote
    table = Table(title=f"Quote {q.id}: {q.side} {shown(q.amount)} {q.base} for {q.quote}")
    for column in ("connection", "exchange", "amount", "limit", "avg price", "fee", "net"):
        table.add_column(
            column, justify="left" if column in ("connection", "exchange") else "right"
        )
    labels = {v.connection_id: v.label for v in quoted.venues}
    for leg in q.legs:
        table.add_row(
            labels.get(leg.connection_id, leg.connection_id),
            leg.exchange,
            shown(leg.amount),
            shown(leg.limit_price),
            shown(leg.average_price),
            shown(leg.fee),
            shown(leg.net),
        )
    table.add_row(
        "total",
        "",
        shown(q.filled),
        "",
        "" if q.average_price is None else shown(q.average_price),
        shown(q.fee),
        shown(q.net),
        style="bold",
    )
    return table


def _show_quote(quoted: Quoted, user: str) -> None:
    q = quoted.quote
    console.print(_quote_table(quoted))
    if q.shortfall is not None:
        console.print(
            f"[yellow]Only {shown(q.filled)} of {shown(q.amount)} {q.base} can be filled[/] "
            f"(limited by {q.shortfall})."
        )
    for v in quoted.venues:
        if v.role != "leg" and v.note:
            console.print(f"[dim]{v.label} ({v.role}):[/] {v.note}")
    console.print(f"Expires in {(q.expires_ms - q.created_ms) // 1000} s. Execute it with:")
    console.print(f"  tresor route execute --user {user} {q.id}")


def _execution_table(execution: Execution) -> Table:
    table = Table(title=f"Execution of {execution.quote.id}")
    for column in ("leg", "connection", "amount", "limit", "state", "filled", "avg", "order"):
        table.add_column(column, justify="right" if column not in ("state", "order") else "left")
    for r in execution.legs:
        o = r.order
        table.add_row(
            str(r.position),
            r.leg.connection_id,
            shown(r.leg.amount),
            shown(r.leg.limit_price),
            r.state,
            "" if o is None else shown(o.filled),
            "" if o is None or o.average is None else shown(o.average),
            "" if o is None else o.id,
        )
    return table


def _show_execution(execution: Execution) -> None:
    console.print(_execution_table(execution))
    for r in execution.legs:
        if r.error is not None:
            console.print(f"[yellow]leg {r.position}:[/] {r.error.code}: {r.error.message}")
    average, quoted = execution.average_price, execution.quote.average_price
    console.print(
        f"Filled {shown(execution.filled)} of {shown(execution.quote.filled)} "
        f"{execution.quote.base}"
        + (
            f" at {shown(average)} (quoted {shown(quoted)}, slippage {execution.slippage:.4%})"
            if average is not None and quoted is not None and execution.slippage is not None
            else ""
        )
    )


def _fraction(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        fail(
            f"--allowance must be a fraction such as 0.002, not {text!r}.",
            None,
            "validation_failed",
        )
    return value


@app.command("quote")
def quote(
    user: User,
    side: Annotated[str, typer.Argument(help="buy or sell")],
    amount: Annotated[str, typer.Argument(help="In the base asset, e.g. 0.5")],
    base: Annotated[str, typer.Argument(help="The asset to buy or sell, e.g. BTC")],
    quote_asset: Annotated[
        str, typer.Option("--quote", help="The asset paid or received, e.g. USDT.")
    ],
    connections: Annotated[
        list[str] | None,
        typer.Option("--connection", help="Only this connection (id or label); repeatable."),
    ] = None,
    allowance: Annotated[
        str,
        typer.Option(
            "--allowance", help="How far past the quoted price a leg may fill (0.002 = 0.2 %)."
        ),
    ] = "0.002",
    as_json: Json = False,
) -> None:
    """The best plan over your connections: e.g. tresor route quote --user alice buy 0.5 BTC
    --quote USDT."""
    if side not in ("buy", "sell"):
        fail(f"side must be buy or sell, not {side!r}.", None, "validation_failed")
    size = _amount(amount)

    async def job(rt: Runtime) -> Quoted:
        owner = await rt.container.access.find_user(user)
        ids = None
        if connections:
            ids = [(await find_connection(rt, user, ref)).id for ref in connections]
        return await rt.container.routing.quote(
            owner.id,
            side=side,
            base=base.upper(),
            quote=quote_asset.upper(),
            amount=size,
            connection_ids=ids,
            allowance=_fraction(allowance),
        )

    quoted = run(job)
    if as_json:
        print_json(RouteQuotePublic.of(quoted).model_dump(mode="json"))
        return
    _show_quote(quoted, user)


@app.command("execute")
def execute(
    user: User,
    quote_id: Annotated[str, typer.Argument(help="The quote's id (rq_...).")],
    key: Annotated[
        str | None,
        typer.Option("--key", help="The Idempotency-Key (to send an execution again safely)."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Place every leg of a quote, each once."""
    idempotency_key = key or str(uuid.uuid4())

    async def job(rt: Runtime) -> Execution:
        owner = await rt.container.access.find_user(user)
        return await rt.container.routing.execute(
            owner.id, quote_id, idempotency_key=idempotency_key
        )

    if not as_json:
        console.print(f"Idempotency-Key: {idempotency_key}")
    execution = run(job)
    if as_json:
        print_json(RouteExecutionPublic.of(execution).model_dump(mode="json"))
        return
    _show_execution(execution)
    if not execution.settled:
        console.print(
            "[yellow]A leg's answer was lost.[/] Tresor is looking it up and will never send it "
            f"twice; check it with: tresor order status --user {user} ORDER_ID"
        )
