"""``tresor serve`` and the demo run on uvloop unless told otherwise (``TRESOR_EVENT_LOOP``)."""

from __future__ import annotations

import asyncio

from tresor.config import Settings
from tresor.entrypoints.cli.common import serve_forever


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_the_server_runs_on_uvloop_by_default_and_on_asyncio_when_asked() -> None:
    assert Settings().event_loop == "auto"
    assert serve_forever(_loop_module()).startswith("uvloop")
    assert serve_forever(_loop_module(), "uvloop").startswith("uvloop")
    assert serve_forever(_loop_module(), "asyncio").startswith("asyncio")
