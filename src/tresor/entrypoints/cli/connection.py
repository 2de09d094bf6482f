"""``tresor connection``: the connection routes of the API, for a user on this server.

Secrets are never taken from the command line (where other users could see them in the process
list): they are asked for with hidden input, or read from the environment variables
TRESOR_READ_SECRET / TRESOR_TRADE_SECRET (and ..._PASSPHRASE) for scripts.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from tresor.bootstrap import Runtime
from tresor.domain.connections import RIGHTS, Connection, Credentials, KeyRole
from tresor.domain.secrets import Secret
from tresor.entrypoints.api.schemas import ConnectionPublic
from tresor.entrypoints.cli.common import console, fail, print_json, run

app = typer.Typer(help="Exchange connections (API keys).", no_args_is_help=True)

User = Annotated[str, typer.Option("--user", help="The user the connection belongs to.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_STYLE = {"connected": "green", "expiring": "yellow", "verifying": "cyan"}


def _credentials(role: KeyRole, api_key: str | None, with_passphrase: bool) -> Credentials | None:
    if api_key is None:
        return None
    env = f"TRESOR_{role.value.upper()}_SECRET"
    secret = os.environ.get(env) or typer.prompt(f"{role.value} key secret", hide_input=True)
    passphrase = None
    if with_passphrase:
        passphrase = os.environ.get(f"{env}_PASSPHRASE") or typer.prompt(
            f"{role.value} key passphrase", hide_input=True
        )
    if not secret:
        fail("The secret is empty.", f"Type it when asked, or set {env}.")
    return Credentials(
        api_key=Secret(api_key),
        secret=Secret(secret),
        passphrase=Secret(passphrase) if passphrase else None,
    )


def show(connection: Connection, as_json: bool) -> None:
    """A connection as people read it: its status, then one column per key."""
    if as_json:
        print_json(ConnectionPublic.of(connection).model_dump(mode="json"))
        return
    style = _STYLE.get(connection.status.value, "red")
    where = f", {connection.endpoint}" if connection.endpoint else ""
    console.print(
        f"[bold]{connection.label}[/] ({connection.exchange}{where})  "
        f"[{style}]{connection.status.value}[/]  id {connection.id}"
    )
    table = Table("", *(f"{k.role.value} key {k.hint}" for k in connection.keys))
    table.add_row("status", *(k.status.value for k in connection.keys))
    for right in RIGHTS:
        table.add_row(
            right.replace("_", " "),
            *(k.report.right(right).value if k.report else "?" for k in connection.keys),
        )
    table.add_row(
        "IP restricted",
        *(k.report.ip_restricted.value if k.report else "?" for k in connection.keys),
    )
    table.add_row(
        "clock offset",
        *(
            f"{k.report.clock_offset_ms} ms"
            if k.report and k.report.clock_offset_ms is not None
            else "-"
            for k in connection.keys
        ),
    )
    table.add_row(
        "expires",
        *(
            f"{k.report.expires_at:%Y-%m-%d}" if k.report and k.report.expires_at else "never"
            for k in connection.keys
        ),
    )
    console.print(table)
    for key in connection.keys:
        for warning in key.warnings:
            console.print(f"[yellow]{key.role.value} key:[/] {warning.message} {warning.remedy}")


@app.command("add")
def add(
    user: User,
    exchange: Annotated[str, typer.Option(help="A ccxt exchange id, e.g. binance.")],
    label: Annotated[str, typer.Option(help="Your name for this account (unique).")],
    endpoint: Annotated[
        str | None,
        typer.Option(help="An endpoint the operator configured (TRESOR_ENDPOINTS), e.g. sim."),
    ] = None,
    read_api_key: Annotated[str | None, typer.Option(help="API key for reading.")] = None,
    trade_api_key: Annotated[
        str | None, typer.Option(help="API key for reading and trading.")
    ] = None,
    passphrase: Annotated[
        bool, typer.Option(help="The exchange uses key passphrases (OKX, KuCoin...).")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Connect an exchange account: the keys are tested, then stored encrypted."""
    if read_api_key is None and trade_api_key is None:
        fail("Give --read-api-key and/or --trade-api-key.")
    read = _credentials(KeyRole.READ, read_api_key, passphrase)
    trade = _credentials(KeyRole.TRADE, trade_api_key, passphrase)

    async def job(rt: Runtime) -> Connection:
        owner = await rt.container.access.find_user(user)
        return await rt.container.connections.add(
            owner.id,
            exchange=exchange,
            label=label,
            endpoint=endpoint,
            read_key=read,
            trade_key=trade,
        )

    show(run(job), as_json)


@app.command("list")
def list_(user: User, as_json: AsJson = False) -> None:
    """List a user's connections and their status."""

    async def job(rt: Runtime) -> list[Connection]:
        owner = await rt.container.access.find_user(user)
        return list(await rt.container.connections.all(owner.id))

    connections = run(job)
    if as_json:
        print_json([ConnectionPublic.of(c).model_dump(mode="json") for c in connections])
        return
    table = Table("id", "label", "exchange", "endpoint", "status", "keys", "updated")
    for c in connections:
        style = _STYLE.get(c.status.value, "red")
        table.add_row(
            c.id,
            c.label,
            c.exchange,
            c.endpoint or "-",
            f"[{style}]{c.status.value}[/]",
            ", ".join(f"{k.role.value} {k.hint}" for k in c.keys),
            f"{c.updated_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@app.command("test")
def check_keys(user: User, connection_id: str, as_json: AsJson = False) -> None:
    """Test every key of a connection again."""

    async def job(rt: Runtime) -> Connection:
        owner = await rt.container.access.find_user(user)
        return await rt.container.connections.test(owner.id, connection_id)

    show(run(job), as_json)


@app.command("rotate")
def rotate(
    user: User,
    connection_id: str,
    role: Annotated[KeyRole, typer.Option(help="Which key to replace.")],
    api_key: Annotated[str, typer.Option(help="The new API key.")],
    passphrase: Annotated[bool, typer.Option(help="The new key has a passphrase.")] = False,
    as_json: AsJson = False,
) -> None:
    """Replace a key: the new one is tested first; the old one is destroyed only then."""
    credentials = _credentials(role, api_key, passphrase)
    assert credentials is not None  # noqa: S101 (api_key is a required option)

    async def job(rt: Runtime) -> Connection:
        owner = await rt.container.access.find_user(user)
        return await rt.container.connections.rotate(owner.id, connection_id, role, credentials)

    show(run(job), as_json)


@app.command("disable")
def disable(user: User, connection_id: str, as_json: AsJson = False) -> None:
    """Pause a connection: nothing uses it until it is enabled again."""
    _set_enabled(user, connection_id, enabled=False, as_json=as_json)


@app.command("enable")
def enable(user: User, connection_id: str, as_json: AsJson = False) -> None:
    """Resume a disabled connection."""
    _set_enabled(user, connection_id, enabled=True, as_json=as_json)


def _set_enabled(user: str, connection_id: str, *, enabled: bool, as_json: bool) -> None:
    async def job(rt: Runtime) -> Connection:
        owner = await rt.container.access.find_user(user)
        return await rt.container.connections.set_enabled(owner.id, connection_id, enabled)

    show(run(job), as_json)


@app.command("remove")
def remove(user: User, connection_id: str) -> None:
    """Disconnect: the stored credentials are destroyed."""

    async def job(rt: Runtime) -> None:
        owner = await rt.container.access.find_user(user)
        await rt.container.connections.remove(owner.id, connection_id)

    run(job)
    console.print(f"Removed connection {connection_id}; its keys are destroyed.")
