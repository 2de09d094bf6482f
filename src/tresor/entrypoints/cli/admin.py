"""``tresor admin``: users, their dashboard passwords and API clients (run on the server, by
its operator).

A password is never an argument or an environment variable (both end up in shell histories
and process lists): it is typed at a hidden prompt, twice, or read from standard input for
scripts (``--password-stdin``: the first line, without its line break).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.panel import Panel

from tresor.bootstrap import Runtime
from tresor.domain.access import format_scopes
from tresor.domain.accounts import check_password
from tresor.domain.secrets import Secret
from tresor.entrypoints.cli.common import console, fail, print_json, run

app = typer.Typer(help="Users, their passwords and API clients.", no_args_is_help=True)

PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from standard input (for scripts)."),
]


def read_password(*, stdin: bool) -> Secret:
    """The password from the first line of standard input, or typed twice at a hidden prompt
    (the prompts go to standard error, so ``--json`` output stays clean)."""
    if stdin:
        return Secret(sys.stdin.readline().rstrip("\r\n"))
    typed = typer.prompt("Dashboard password", hide_input=True, confirmation_prompt=True, err=True)
    return Secret(str(typed))


@app.command("create-user")
def create_user(
    name: Annotated[str, typer.Argument(help="The user's name (unique).")],
    password_prompt: Annotated[
        bool,
        typer.Option(
            "--password-prompt", help="Ask for a password to sign in to the dashboard with."
        ),
    ] = False,
    password_stdin: PasswordStdin = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Create a user; with a password (``--password-prompt`` or ``--password-stdin``) they can
    sign in to the dashboard."""
    if password_prompt and password_stdin:
        fail("Give --password-prompt or --password-stdin, not both.")
    password = read_password(stdin=password_stdin) if password_prompt or password_stdin else None

    async def job(rt: Runtime) -> None:
        if password is not None:  # refused before the user exists
            check_password(password, rt.container.accounts.policy)
        user = await rt.container.access.create_user(name)
        if password is not None:
            await rt.container.accounts.set_password(user.id, password)
        if as_json:
            print_json({"id": user.id, "name": user.name, "password": password is not None})
        else:
            with_password = " with a dashboard password" if password is not None else ""
            console.print(f"Created user [bold]{user.name}[/] ({user.id}){with_password}.")

    run(job)


@app.command("set-password")
def set_password(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set (or reset) a user's dashboard password; every session of theirs ends."""
    password = read_password(stdin=password_stdin)

    async def job(rt: Runtime) -> None:
        user = await rt.container.access.find_user(name)
        await rt.container.accounts.set_password(user.id, password)
        console.print(
            f"Set the dashboard password of [bold]{user.name}[/]; their sessions have ended."
        )

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


@app.command("reset-two-factor")
def reset_two_factor(name: Annotated[str, typer.Argument(help="The user's name.")]) -> None:
    """Turn a user's two-factor sign-in off (they lost their authenticator app and their
    recovery codes); every session of theirs ends. They can set it up again once signed in."""

    async def job(rt: Runtime) -> None:
        user = await rt.container.access.find_user(name)
        if await rt.container.accounts.reset_two_factor(user.id):
            console.print(f"Turned two-factor sign-in off for [bold]{user.name}[/].")
        else:
            console.print(f"[bold]{user.name}[/] had no two-factor sign-in; nothing changed.")

    run(job)
