"""``tresor``: the command line."""

from __future__ import annotations

import typer

from tresor import __version__
from tresor.entrypoints.cli import admin, connection, order, route, rules, vault
from tresor.entrypoints.cli.demo import demo_command
from tresor.entrypoints.cli.portfolio import portfolio_command
from tresor.entrypoints.cli.serve import serve_command
from tresor.entrypoints.cli.sim import sim_command
from tresor.entrypoints.cli.sync import logs_command, sync_command
from tresor.entrypoints.cli.worker import worker_command

app = typer.Typer(
    name="tresor",
    help="Tresor: an open, self-hosted hub for your crypto exchange accounts.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("sim")(sim_command)
app.command("serve")(serve_command)
app.command("demo")(demo_command)
app.command("worker")(worker_command)
app.command("sync")(sync_command)
app.command("logs")(logs_command)
app.command("portfolio")(portfolio_command)
app.add_typer(admin.app, name="admin")
app.add_typer(connection.app, name="connection")
app.add_typer(vault.app, name="vault")
app.add_typer(order.app, name="order")
app.add_typer(route.app, name="route")
app.add_typer(rules.app, name="rules")


@app.command("version")
def version() -> None:
    """Print Tresor's version."""
    typer.echo(__version__)
