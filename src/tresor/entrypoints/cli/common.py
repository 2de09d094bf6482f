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
