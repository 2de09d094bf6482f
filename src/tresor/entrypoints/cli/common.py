"""What every CLI command shares: building the runtime, and showing errors as people need them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from tresor.adapters.crypto import VaultError
from tresor.bootstrap import Runtime, build_runtime
from tresor.config import Settings
from tresor.domain.errors import TresorError

T = TypeVar("T")
console = Console()
errors = Console(stderr=True)


def fail(message: str, remedy: str | None = None, code: str | None = None) -> NoReturn:
    label = f" ({code})" if code else ""
    errors.print(f"[bold red]Error{label}:[/] {message}")
    if remedy:
        errors.print(f"[yellow]What to do:[/] {remedy}")
    raise typer.Exit(1)


def serve_forever(main: Coroutine[Any, Any, T], event_loop: str = "auto") -> T:
    """Run a server's ``main`` on uvloop (``event_loop`` "uvloop", or "auto" when it is
    installed) or on asyncio's loop. uvicorn picks uvloop only when it runs the loop itself;
    ``tresor serve`` runs it inside its own, so it is chosen here: the sockets and callbacks of
    every request cost less CPU on it (docs/benchmarks.md, issue 17)."""
    if event_loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if event_loop == "uvloop":
                main.close()
                fail(
                    "TRESOR_EVENT_LOOP is uvloop, but uvloop is not installed.",
                    "Install it (pip install uvloop) or set TRESOR_EVENT_LOOP=auto.",
                )
        else:
            return uvloop.run(main)
    return asyncio.run(main)


def run(job: Callable[[Runtime], Awaitable[T]]) -> T:
    """Build the runtime from the environment, run ``job`` on it, close everything."""

    async def main() -> T:
        runtime = await build_runtime(Settings())
        try:
            return await job(runtime)
        finally:
            await runtime.aclose()

    try:
        return asyncio.run(main())
    except TresorError as err:
        checks = err.details.get("checks")
        if checks:
            errors.print("[yellow]Checks, in order:[/]")
            for n, check in enumerate(checks, 1):
                errors.print(f"  {n}. {check}")
        fail(err.message, err.remedy, err.code)
    except VaultError as err:
        fail(err.message, err.remedy, err.code)


def run_settings(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine that builds its own runtime, showing errors as ``run`` does."""
    try:
        return asyncio.run(main())
    except TresorError as err:
        fail(err.message, err.remedy, err.code)
    except VaultError as err:
        fail(err.message, err.remedy, err.code)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))
