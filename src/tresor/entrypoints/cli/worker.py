"""``tresor worker``: the trading worker's side, as its own process.

It holds the worker's private key (created on first run in the data directory), verifies
the trade keys that API-only processes (``TRESOR_PROCESS_ROLE=api``) stored as ``verifying``,
and runs the periodic sync jobs (``SyncScheduler``; several workers share them through leases).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from tresor.bootstrap import build_runtime
from tresor.config import Settings
from tresor.entrypoints.cli.common import console, run_settings


def worker_command(
    once: Annotated[bool, typer.Option(help="Verify what is pending, then exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between rounds.", min=0.1)] = 5.0,
) -> None:
    """Verify pending trade keys and run the due sync jobs, once or until Ctrl+C."""
    settings = Settings().model_copy(update={"process_role": "worker"})

    async def main() -> int:
        runtime = await build_runtime(settings)
        total = 0
        pending = runtime.pending
        try:
            if pending is None or runtime.scheduler is None:
                raise RuntimeError("a worker process always has the verification and sync jobs")
            if once:
                await runtime.scheduler.tick()
                await runtime.scheduler.drain()
                await runtime.request_log.flush()
            else:
                runtime.start_background()
            while True:
                done = await pending.run_once()
                total += done
                if done:
                    console.print(f"Verified {done} trade key(s).")
                if once:
                    return total
                await asyncio.sleep(interval)
        finally:
            await runtime.aclose()

    total = run_settings(main)
    console.print(f"Verified {total} trade key(s) in all.")
