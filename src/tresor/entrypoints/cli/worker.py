"""``tresor worker``: the trading worker's side, as its own process.

It holds the worker's private key (created on first run in the data directory), verifies
the trade keys that API-only processes (``TRESOR_PROCESS_ROLE=api``) stored as ``verifying``,
and runs the periodic sync jobs (``SyncScheduler``). With ``TRESOR_REDIS_URL`` set (the
distributed mode) every worker schedules (claims in the database keep a job from being claimed
twice) and takes the claimed jobs from the queue on Redis, so any number of workers share them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from tresor.bootstrap import build_runtime
from tresor.config import Settings
from tresor.entrypoints.cli.common import console, run_settings
from tresor.services.scheduler import SyncScheduler


def worker_command(
    once: Annotated[
        bool, typer.Option(help="Verify what is pending and run the due jobs, then exit.")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between rounds.", min=0.1)] = 5.0,
    log_level: Annotated[
        str, typer.Option(help="Log level of the worker's own messages (e.g. info, warning).")
    ] = "warning",
) -> None:
    """Verify pending trade keys and run the due sync jobs, once or until Ctrl+C."""
    settings = Settings().model_copy(update={"process_role": "worker"})
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    async def main() -> int:
        runtime = await build_runtime(settings)
        total = 0
        pending = runtime.pending
        try:
            if pending is None or runtime.scheduler is None:
                raise RuntimeError("a worker process always has the verification and sync jobs")
            if once:
                await _once(runtime.scheduler)
                await runtime.request_log.flush()
            else:
                mode = "queue on Redis" if runtime.scheduler.queue is not None else "in process"
                console.print(f"Worker {runtime.scheduler.owner} running ({mode}).")
                runtime.start_background(scheduler_interval=min(interval, 1.0))
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


async def _once(scheduler: SyncScheduler) -> None:
    """One round; in the distributed mode, work on the queue until it is empty."""
    await scheduler.tick()
    await scheduler.drain()
    queue = scheduler.queue
    if queue is None:
        return
    serving = asyncio.create_task(queue.serve(scheduler.run_job))
    try:
        while True:  # the queue is on Redis: polled, there is nothing here to wait on
            if await queue.backlog() == 0:
                break
            await asyncio.sleep(0.2)
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
