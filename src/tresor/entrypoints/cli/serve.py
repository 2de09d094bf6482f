"""``tresor serve``: the REST API and the dashboard (the embedded default: SQLite, in-process
worker).

``--workers N`` serves from N processes on one listening socket (the kernel hands each new
connection to one of them): one Python process answers on one core, so on a machine with cores
to spare more processes answer more requests at once (docs/benchmarks.md, issue 17). Every
process is a whole Tresor of its role, so they must share what one process keeps for itself:
the exchanges' rate budgets, the job queue and the periodic chores live in Redis, so several
processes need ``TRESOR_REDIS_URL`` (the distributed mode); without it the budgets would be
one per process, and together they could pass an exchange's limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Callable
from typing import Annotated

import typer
import uvicorn

from tresor.bootstrap import build_runtime
from tresor.config import Settings
from tresor.entrypoints.api.app import create_app
from tresor.entrypoints.cli.common import console, fail, serve_forever
from tresor.services.verification import PendingKeyVerification

BACKLOG = 2048


def serve_command(
    host: Annotated[str | None, typer.Option(help="Address (default TRESOR_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default TRESOR_API_PORT).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Processes serving the port (more than one needs TRESOR_REDIS_URL).",
        ),
    ] = 1,
) -> None:
    """Serve the REST API (docs at /docs) and the dashboard until Ctrl+C."""
    settings = Settings()
    if workers > 1 and not settings.redis_url:
        fail(
            "Several processes need Redis: the exchanges' rate budgets would otherwise be one "
            "per process, and together they could pass an exchange's limits.",
            "Set TRESOR_REDIS_URL (the distributed mode), or serve with --workers 1.",
            "validation_failed",
        )
    address = (host or settings.api_host, port or settings.api_port)
    listening = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(address)
    except OSError as error:
        listening.close()
        fail(
            f"Cannot listen on {address[0]} port {address[1]}: {error.strerror}.",
            "Choose another port (--port or TRESOR_API_PORT), or stop what uses this one.",
            "validation_failed",
        )
    listening.listen(BACKLOG)
    console.print(f"Tresor serves http://{address[0]}:{address[1]} from {workers} process(es).")
    children: list[int] = []
    # the others start once this process has its runtime (the database migrated: two
    # processes migrating a new SQLite file at once find it locked)
    ready, go = os.pipe()
    for _ in range(workers - 1):  # before any event loop or thread exists in this process
        pid = os.fork()
        if pid == 0:
            try:
                os.close(go)
                if os.read(ready, 1):  # nothing: the first process ended before its start
                    serve_forever(_serve(settings, listening), settings.event_loop)
            finally:
                os._exit(0)
        children.append(pid)
    os.close(ready)

    def started(ok: bool) -> None:
        if ok:
            os.write(go, b"." * len(children))
        os.close(go)  # not ok: the others read nothing and end

    try:
        serve_forever(_serve(settings, listening, started), settings.event_loop)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        listening.close()


async def _serve(
    settings: Settings, listening: socket.socket, started: Callable[[bool], None] | None = None
) -> None:
    try:
        runtime = await build_runtime(settings)
    except BaseException:
        if started is not None:
            started(False)
        raise
    if started is not None:
        started(True)
    app = create_app(runtime.container)
    config = uvicorn.Config(app, log_level="info", ws="none")
    runtime.start_background()  # the request log writer and the sync scheduler
    pending = runtime.pending
    sweeper = asyncio.create_task(_sweep(pending)) if pending is not None else None
    try:
        await uvicorn.Server(config).serve(sockets=[listening])
    finally:
        if sweeper is not None:
            sweeper.cancel()
        await runtime.aclose()


async def _sweep(pending: PendingKeyVerification) -> None:
    # the embedded default is its own worker: keys left verifying (a slow exchange) are
    # picked up here
    while True:
        await asyncio.sleep(30)
        await pending.run_once()
