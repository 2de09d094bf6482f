"""``tresor portfolio``: a user's holdings valued now, as tables or JSON.

The figures are ``PortfolioService.portfolio``'s, the same that ``GET /v1/portfolio`` answers;
``--json`` prints exactly that answer's shape (amounts as exact decimal strings). The tables
round for reading only: amounts are shown exactly, prices to 8 significant digits, values to
the cent in USD and its stablecoins (8 significant digits in other quotes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

import typer
from rich.table import Table

from tresor.bootstrap import Runtime
from tresor.domain.portfolio import AssetTotal, Portfolio
from tresor.domain.valuation import USD, USD_PEGGED
from tresor.entrypoints.api.schemas_portfolio import PortfolioPublic
from tresor.entrypoints.cli.common import console, fail, print_json, run
from tresor.entrypoints.cli.sync import User, find_connection

SIGNIFICANT = 8
CENT = Decimal("0.01")
QUOTE = re.compile(r"[A-Za-z0-9]{2,16}")  # as the API's ``quote`` parameter


@dataclass(frozen=True)
class Shown:
    """What the command fetched: the portfolio and the age after which a snapshot is stale."""

    portfolio: Portfolio
    stale_after_s: float


def portfolio_command(
    user: User,
    connection: Annotated[
        str | None, typer.Option("--connection", help="Only this connection (id or label).")
    ] = None,
    quote: Annotated[str, typer.Option("--quote", help="The currency to value in.")] = USD,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """A user's portfolio now: each asset's amount, price, value and share, then each
    connection's value and how fresh its balances are. Values use the prices taken with each
    connection's latest balance snapshot (see docs/portfolio.md)."""
    if not QUOTE.fullmatch(quote):
        fail(
            f"{quote!r} is not a currency code.",
            "Give a code of 2 to 16 letters or digits, such as USD, USDT, EUR or BTC.",
            "validation_failed",
        )

    async def job(rt: Runtime) -> Shown:
        if connection is not None:
            found = await find_connection(rt, user, connection)
            owner_id, connection_id = found.user_id, found.id
        else:
            owner_id, connection_id = (await rt.container.access.find_user(user)).id, None
        portfolio = await rt.container.portfolio.portfolio(
            owner_id, quote=quote.upper(), connection_id=connection_id
        )
        return Shown(portfolio, float(rt.settings.stale_after_seconds))

    shown = run(job)
    if as_json:
        print_json(PortfolioPublic.of(shown.portfolio).model_dump(mode="json"))
        return
    p = shown.portfolio
    if not p.connections:
        console.print(f"{user} has no connections yet: add one with tresor connection add.")
        return
    console.print(assets_table(p))
    console.print(connections_table(p, shown.stale_after_s))
    console.print(totals_line(p))


# -- the tables --------------------------------------------------------------------------------
def assets_table(p: Portfolio) -> Table:
    table = Table(title=f"Assets (in {p.quote})", title_justify="left")
    table.add_column("asset")
    table.add_column("amount", justify="right")
    table.add_column("price", justify="right")
    table.add_column(f"value ({p.quote})", justify="right")
    table.add_column("allocation", justify="right")
    for asset in p.assets:
        price, averaged = asset_price(p, asset)
        table.add_row(
            asset.asset,
            exact(asset.total),
            "[dim]no price[/]" if price is None else ("≈" if averaged else "") + significant(price),
            "[dim]-[/]" if asset.value is None else money(asset.value, p.quote),
            "[dim]-[/]" if asset.allocation is None else f"{asset.allocation:.2f} %",
        )
    return table


def connections_table(p: Portfolio, stale_after_s: float) -> Table:
    errors = any(c.freshness.last_error_code for c in p.connections)
    table = Table(title="Connections", title_justify="left")
    table.add_column("connection", no_wrap=True)
    table.add_column("exchange")
    table.add_column("status")
    table.add_column(f"value ({p.quote})", justify="right")
    table.add_column("freshness", justify="right", no_wrap=True)
    if errors:
        table.add_column("last error")
    for c in p.connections:
        f = c.freshness
        row = [
            c.label,
            c.exchange,
            f"[{'green' if c.status == 'connected' else 'yellow'}]{c.status}[/]",
            "[dim]-[/]" if f.taken_ms is None else money(c.value, p.quote),
            freshness(f.age_s, stale_after_s),
        ]
        if errors:
            row.append(f"[red]{f.last_error_code}[/]" if f.last_error_code else "")
        table.add_row(*row)
    return table


def totals_line(p: Portfolio) -> str:
    unpriced = [a.asset for a in p.assets if a.value is None]
    line = (
        f"[bold]Total: {money(p.total, p.quote)} {p.quote}[/] over "
        f"{plural(len(p.assets), 'asset')} on {plural(len(p.connections), 'connection')}"
    )
    if unpriced:
        line += f"; not valued (no price): {', '.join(unpriced)}"
    return line


def asset_price(p: Portfolio, asset: AssetTotal) -> tuple[Decimal | None, bool]:
    """The price of one unit: the connections' own when they agree, else (``True``) their
    average weighted by amount (each connection is valued at its own exchange's prices)."""
    prices = {
        h.price
        for c in p.connections
        for h in c.holdings
        if h.asset == asset.asset and h.price is not None
    }
    if len(prices) == 1:
        return prices.pop(), False
    priced = sum(
        (
            h.total
            for c in p.connections
            for h in c.holdings
            if h.asset == asset.asset and h.price is not None
        ),
        Decimal(0),
    )
    if asset.value is None or not priced:
        return None, False
    return asset.value / priced, True


def freshness(age_s: int | None, stale_after_s: float) -> str:
    if age_s is None:
        return "[red]never[/]"
    text = f"{duration(age_s)} ago"
    return f"[bold yellow]{text}, stale[/]" if age_s > stale_after_s else text


# -- numbers for reading -----------------------------------------------------------------------
def exact(value: Decimal) -> str:
    """Every digit, grouped by thousands, without trailing zeros."""
    text = format(value, ",f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def significant(value: Decimal, digits: int = SIGNIFICANT) -> str:
    if not value:
        return "0"
    places = max(0, digits - 1 - value.adjusted())
    return exact(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN))


def money(value: Decimal, quote: str) -> str:
    if quote not in USD_PEGGED:
        return significant(value)
    if value and abs(value) < CENT:
        return "<0.01" if value > 0 else "-<0.01"
    return format(value.quantize(CENT, rounding=ROUND_HALF_EVEN), ",f")


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def duration(seconds: int) -> str:
    """``42s``, ``5m 03s``, ``2h 10m``, ``3d 4h``."""
    minutes, s = divmod(seconds, 60)
    hours, m = divmod(minutes, 60)
    days, h = divmod(hours, 24)
    if days:
        return f"{days}d {h}h"
    if hours:
        return f"{hours}h {m:02d}m"
    if minutes:
        return f"{minutes}m {s:02d}s"
    return f"{s}s"
