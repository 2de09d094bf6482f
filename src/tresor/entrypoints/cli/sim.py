"""``tresor sim``: serve the bundled Binance Spot simulator."""

from __future__ import annotations

import threading
from enum import StrEnum
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from tresor.sim.demo import DemoAccount, create_demo_account
from tresor.sim.server import SimConfig, create_app


class Scenario(StrEnum):
    empty = "empty"
    demo = "demo"


def sim_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8900,
    seed: Annotated[int, typer.Option(help="Seed of this venue's market and order books.")] = 1,
    scenario: Annotated[
        Scenario,
        typer.Option(
            help="'demo' creates a funded account with 90 days of history and prints its key."
        ),
    ] = Scenario.empty,
    weight_limit: Annotated[
        int, typer.Option(help="REQUEST_WEIGHT per minute and IP.", min=1)
    ] = 6000,
    orders_per_10s: Annotated[
        int, typer.Option(help="ORDERS per 10 seconds and account.", min=1)
    ] = 100,
    trust_forwarded_for: Annotated[
        bool,
        typer.Option(
            help="Take the client IP from X-Forwarded-For (to simulate several egress IPs)."
        ),
    ] = False,
    exit_after: Annotated[float, typer.Option(hidden=True, help="Stop after N seconds.")] = 0,
) -> None:
    """Serve a simulated Binance Spot exchange (REST API at the real paths, plus /_sim/ admin).

    Any Binance client works against it once its base URL points here, e.g. ccxt's binance
    class with every entry of urls['api'] pointed at http://HOST:PORT.
    """
    console = Console()
    config = SimConfig(
        seed=seed,
        weight_per_minute=weight_limit,
        orders_per_10s=orders_per_10s,
        trust_forwarded_for=trust_forwarded_for,
    )
    app = create_app(config)
    url = f"http://{host}:{port}"
    if scenario is Scenario.demo:
        with console.status("Creating the demo account (90 days of history)..."):
            demo = create_demo_account(app)
        show_demo(console, url, demo)
    else:
        console.print(
            f"Simulated Binance Spot on [bold]{url}[/] (seed {seed}, "
            f"{len(app.sim.venue.market.pairs)} symbols). Admin API: {url}/_sim/info"
        )
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, ws="none")
    )
    if exit_after > 0:
        timer = threading.Timer(exit_after, lambda: setattr(server, "should_exit", True))
        timer.daemon = True
        timer.start()
    server.run()


def show_demo(console: Console, url: str, demo: DemoAccount) -> None:
    table = Table(title="Demo account balances", show_lines=False)
    table.add_column("Asset")
    table.add_column("Free", justify="right")
    table.add_column("Locked", justify="right")
    for asset, free, locked in demo.balances:
        table.add_row(asset, free, locked)
    console.print(table)
    console.print(
        f"History: {demo.trades} trades in {demo.orders} orders, {demo.deposits} deposits, "
        f"{demo.withdrawals} withdrawals over 90 days."
    )
    console.print(
        Panel.fit(
            f"[bold]Exchange[/]   {url}\n"
            f"[bold]API key[/]    {demo.api_key}\n"
            f"[bold]Secret[/]     {demo.secret}\n"
            "[dim]The key reads and trades; it cannot withdraw.[/]",
            title="Tresor demo exchange",
        )
    )
    console.print(
        "Try it:\n"
        f"  curl {url}/api/v3/ticker/price?symbol=BTCUSDT\n"
        f"  curl {url}/_sim/accounts/{demo.account_id}/truth | head -c 600\n"
        "  python - <<'PY'\n"
        "  import ccxt, re\n"
        "  api = {k: re.sub(r'^https?://[^/]+', "
        f"'{url}', v) for k, v in ccxt.binance().urls['api'].items()}}\n"
        f"  ex = ccxt.binance({{'apiKey': '{demo.api_key}', 'secret': '{demo.secret}',\n"
        "                      'urls': {'api': api},\n"
        "                      'options': {'fetchMarkets': {'types': ['spot']},\n"
        "                                  'fetchCurrencies': False, 'fetchMargins': False}})\n"
        "  print(ex.fetch_balance()['total'])\n"
        "  PY\n"
        "Press Ctrl+C to stop.",
        soft_wrap=True,
    )
