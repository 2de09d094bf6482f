"""``tresor demo``: the whole thing on one machine, in one command.

Starts the bundled exchange simulator with a funded demo account, starts Tresor on the
embedded default (SQLite in a demo data directory) with its scheduler (balances, the 90-day
backfill, order tracking) as ``tresor serve`` does, creates a demo user with a password, an API
client and a connection to the demo account, and prints the dashboard's address, the demo
login and how to call the API. Both serve until Ctrl+C.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.panel import Panel

from tresor.bootstrap import build_runtime
from tresor.config import EndpointConfig, Settings
from tresor.domain.connections import Credentials
from tresor.domain.errors import NotFound
from tresor.domain.secrets import Secret
from tresor.entrypoints.api.app import create_app
from tresor.entrypoints.cli.common import console, serve_forever
from tresor.entrypoints.cli.connection import show
from tresor.sim.demo import create_demo_account
from tresor.sim.server import RunningSim, SimConfig
from tresor.sim.server import create_app as create_sim

DEMO_BALANCE_INTERVAL_S = 15


def demo_command(
    sim_port: Annotated[int, typer.Option(help="Port of the simulated exchange.")] = 8900,
    api_port: Annotated[int, typer.Option(help="Port of the Tresor API.")] = 8000,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the demo keeps its database and keys (default: a new temporary folder)."
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(help="The demo user's password (default: a new random one, printed)."),
    ] = None,
    exit_after: Annotated[float, typer.Option(hidden=True)] = 0,
) -> None:
    """Run the simulator and the API with a demo user, client and connection."""
    folder = data_dir or Path(tempfile.mkdtemp(prefix="tresor-demo-"))
    sim_app = create_sim(SimConfig(seed=1))
    with console.status("Creating the demo exchange account (90 days of history)..."):
        account = create_demo_account(sim_app)
    sim = RunningSim(sim_app, "127.0.0.1", sim_port).start()
    sim_url = sim.url
    settings = Settings(
        data_dir=folder,
        endpoints={"sim": EndpointConfig(exchange="binance", url=sim_url)},
        egress_ips=["127.0.0.1"],
        api_port=api_port,
    )
    try:
        login = password or secrets.token_urlsafe(9)
        serve_forever(
            _serve(settings, account.api_key, account.secret, sim_url, login, exit_after),
            settings.event_loop,
        )
    finally:
        sim.stop()


async def _serve(
    settings: Settings,
    api_key: str,
    secret: str,
    sim_url: str,
    password: str,
    exit_after: float,
) -> None:
    runtime = await build_runtime(settings)
    access = runtime.container.access
    try:
        user = await access.find_user("demo")
    except NotFound:
        user = await access.create_user("demo")
    await runtime.container.accounts.set_password(user.id, Secret(password))
    client, client_secret = await access.create_client("demo", "read,trade,admin", name="demo")
    existing = {c.label: c for c in await runtime.container.connections.all(user.id)}
    connection = existing.get("demo-binance")
    if connection is None:
        connection = await runtime.container.connections.add(
            user.id,
            exchange="binance",
            label="demo-binance",
            endpoint="sim",
            trade_key=Credentials(api_key=Secret(api_key), secret=Secret(secret)),
        )
    # balances every 15 s (5 min is the default): the demo's net worth chart grows visibly
    await runtime.container.sync.configure(
        user.id, connection.id, balance_interval_s=DEMO_BALANCE_INTERVAL_S
    )
    api = f"http://{settings.api_host}:{settings.api_port}"
    console.print(f"Simulated Binance on [bold]{sim_url}[/]; data in {settings.data_dir}")
    show(connection, as_json=False)
    console.print(
        Panel.fit(
            f"[bold]Dashboard[/]      {api}/\n"
            f"[bold]login[/]          demo / {password}\n"
            f"[bold]API[/]            {api}  (docs: {api}/docs)\n"
            f"[bold]client_id[/]      {client.id}\n[bold]client_secret[/]  {client_secret}",
            title="Tresor demo",
        )
    )
    console.print(
        "Try it:\n"
        f"  TOKEN=$(curl -s -X POST {api}/v1/auth/token -d grant_type=client_credentials \\\n"
        f"      -d client_id={client.id} -d client_secret={client_secret} \\\n"
        "      | python3 -c 'import sys, json; print(json.load(sys.stdin)[\"access_token\"])')\n"
        f'  curl -s {api}/v1/connections -H "Authorization: Bearer $TOKEN"\n'
        f"  curl -s -X POST {api}/v1/connections/{connection.id}/test "
        '-H "Authorization: Bearer $TOKEN"\n'
        "Press Ctrl+C to stop.",
        soft_wrap=True,
        highlight=False,
    )
    app = create_app(runtime.container)
    # the scheduler syncs the demo account at once (balances within seconds, then the history)
    runtime.start_background()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=settings.api_host, port=settings.api_port, log_level="warning", ws="none"
        )
    )
    if exit_after > 0:

        async def stop_later() -> None:
            await asyncio.sleep(exit_after)
            server.should_exit = True

        stopper = asyncio.create_task(stop_later())
    await server.serve()
    if exit_after > 0:
        await stopper
    await runtime.aclose()
