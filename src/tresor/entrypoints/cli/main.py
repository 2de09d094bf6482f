"""``tresor``: the command line."""

from __future__ import annotations

import typer

from tresor import __version__
from tresor.entrypoints.cli.sim import sim_command

app = typer.Typer(
    name="tresor",
    help="Tresor: an open, self-hosted hub for your crypto exchange accounts.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("sim")(sim_command)


@app.command("version")
def version() -> None:
    """Print Tresor's version."""
    typer.echo(__version__)
