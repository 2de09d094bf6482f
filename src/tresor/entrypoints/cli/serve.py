"""``tresor serve``: the REST API on the embedded default (SQLite, in-process worker)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
import uvicorn

from tresor.bootstrap import build_runtime
from tresor.config import Settings
from tresor.entrypoints.api.app import create_app
from tresor.entrypoints.cli.common import serve_forever
from tresor.services.verification import PendingKeyVerification


def serve_command(
    host: Annotated[str | None, typer.Option(help="Address (default TRESOR_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default TRESOR_API_PORT).")] = None,
) -> None:
    """Serve the REST API (docs at /docs) until Ctrl+C."""
    settings = Settings()

    async def main() -> None:
        runtime = await build_runtime(settings)
        app = create_app(runtime.container)
        config = uvicorn.Config(
            app,
            host=host or settings.api_host,
            port=port or settings.api_port,
            log_level="info",
            ws="none",
        )
        runtime.start_background()  # the request log writer and the sync scheduler
        pending = runtime.pending
        sweeper = asyncio.create_task(_sweep(pending)) if pending is not None else None
        try:
            await uvicorn.Server(config).serve()
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

    serve_forever(main(), settings.event_loop)
