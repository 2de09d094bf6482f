"""``tresor admin``: users and API clients (run on the server, by its operator)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.panel import Panel

from tresor.bootstrap import Runtime
from tresor.domain.access import format_scopes
from tresor.entrypoints.cli.common import console, print_json, run

app = typer.Typer(help="Users and API clients.", no_args_is_help=True)


@app.command("create-user")
def create_user(
    name: Annotated[str, typer.Argument(help="The user's name (unique).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Create a user."""

    async def job(rt: Runtime) -> None:
        user = await rt.container.access.create_user(name)
        if as_json:
            print_json({"id": user.id, "name": user.name})
        else:
            console.print(f"Created user [bold]{user.name}[/] ({user.id}).")

    run(job)


@app.command("create-client")
def create_client(
    user: Annotated[str, typer.Option("--user", help="The user the client acts for.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: read, trade, admin.")] = "read",
    name: Annotated[str, typer.Option(help="A name to recognise the client by.")] = "default",
    ip: Annotated[
        list[str] | None,
        typer.Option("--ip", help="Allow this client only from this IP (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Create an OAuth2 client for a user; its secret is printed once and never again."""

    async def job(rt: Runtime) -> None:
        client, secret = await rt.container.access.create_client(
            user, scopes, name=name, ip_allowlist=tuple(ip or ())
        )
        if as_json:
            print_json(
                {
                    "client_id": client.id,
                    "client_secret": secret,
                    "scopes": sorted(s.value for s in client.scopes),
                    "ip_allowlist": list(client.ip_allowlist),
                }
            )
            return
        console.print(
            Panel.fit(
                f"[bold]client_id[/]      {client.id}\n[bold]client_secret[/]  {secret}\n"
                f"[bold]scopes[/]         {format_scopes(client.scopes)}\n"
                "[dim]The secret is shown only now: store it safely.[/]",
                title=f"API client for {user}",
            )
        )

    run(job)
