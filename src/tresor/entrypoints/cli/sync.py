"""``tresor sync`` (bring a connection up to date, with a progress bar) and ``tresor logs`` (the
exchange request log, as a table)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tresor.bootstrap import Runtime
from tresor.domain.connections import Connection
from tresor.domain.errors import NotFound
from tresor.domain.records import CallQuery, StoredCall, SyncProgress
from tresor.entrypoints.cli.common import console, print_json, run
from tresor.services.sync import SyncReport

User = Annotated[str, typer.Option("--user", help="The user the connection belongs to.")]


async def find_connection(rt: Runtime, user: str, ref: str) -> Connection:
    """A user's connection by id or by label. Raises: NotFound."""
    owner = await rt.container.access.find_user(user)
    for connection in await rt.container.connections.all(owner.id):
        if ref in (connection.id, connection.label):
            return connection
    raise NotFound(
        f"{user} has no connection {ref!r}.",
        remedy="List them with: tresor connection list --user " + user,
    )


def sync_command(
    user: User,
    connection: Annotated[str, typer.Argument(help="The connection's id or label.")],
    backfill_days: Annotated[
        int | None,
        typer.Option("--backfill-days", min=1, help="How many days of history to read."),
    ] = None,
    balances_only: Annotated[
        bool, typer.Option("--balances-only", help="Take a balance snapshot only.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Sync a connection now: balances, then deposits, withdrawals, trades and orders until
    caught up. Safe to interrupt: the next run resumes where this one stopped."""

    async def job(rt: Runtime) -> SyncReport:
        found = await find_connection(rt, user, connection)
        with Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[records]:>8} records"),
            TimeElapsedColumn(),
            console=console,
            disable=as_json,
            transient=False,
        ) as progress:
            tasks: dict[str, TaskID] = {}

            def step(p: SyncProgress) -> None:
                name = p.dataset.value
                if name not in tasks:
                    tasks[name] = progress.add_task(name, total=p.markets_total, records=0)
                progress.update(
                    tasks[name], completed=p.markets_done, total=p.markets_total, records=p.records
                )

            try:
                return await rt.sync.sync(
                    found.id,
                    backfill_days=backfill_days,
                    history=not balances_only,
                    progress=step,
                )
            finally:
                await rt.request_log.flush()

    report = run(job)
    counts = {
        "records": report.records,
        "requests": report.requests,
        "markets": report.markets,
        "gaps": [
            {"dataset": g.dataset.value, "market": g.market, "reason": g.reason}
            for g in report.gaps
        ],
    }
    if as_json:
        print_json(counts)
        return
    console.print(
        f"[green]Synced[/]: {report.records} records from {report.requests} requests "
        f"over {report.markets} markets."
    )
    for gap in report.gaps:
        console.print(f"[yellow]Gap[/] in {gap.dataset.value} {gap.market or ''}: {gap.reason}")


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def logs_command(
    user: User,
    connection: Annotated[
        str | None, typer.Option("--connection", help="Only this connection (id or label).")
    ] = None,
    errors_only: Annotated[bool, typer.Option("--errors", help="Only failed requests.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """The latest requests Tresor made to exchanges for a user: newest first."""

    async def job(rt: Runtime) -> list[StoredCall]:
        if connection is not None:
            ids = [(await find_connection(rt, user, connection)).id]
        else:
            owner = await rt.container.access.find_user(user)
            ids = [c.id for c in await rt.container.connections.all(owner.id)]
        return await rt.store.calls(
            CallQuery(connection_ids=tuple(ids), errors_only=errors_only, limit=limit)
        )

    calls = run(job)
    if as_json:
        print_json(
            [
                {"id": s.id, **{k: getattr(s.call, k) for k in s.call.__dataclass_fields__}}
                for s in calls
            ]
        )
        return
    table = Table("time (UTC)", "method", "path", "status", "ms", "weight", "error")
    for stored in calls:
        c = stored.call
        ok = c.status is not None and c.status < 400
        table.add_row(
            _time(c.at_ms),
            c.method,
            c.path,
            f"[{'green' if ok else 'red'}]{c.status if c.status is not None else 'no answer'}[/]",
            f"{c.latency_ms:.0f}",
            str(c.weight),
            c.error_code or "",
        )
    console.print(table)
