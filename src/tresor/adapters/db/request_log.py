"""``BufferedRequestLog``: the ``RequestLog`` port, buffering exchange calls in memory and
writing them to the ``SyncStore`` in batches (``flush``), so logging never slows a request or
fails it. ``run`` flushes every ``interval`` seconds until cancelled; the buffer is bounded and
drops the oldest entries (counted in ``dropped``) if the database falls far behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from tresor.domain.records import ExchangeCall
from tresor.services.ports import SyncStore

log = logging.getLogger(__name__)


class BufferedRequestLog:
    def __init__(self, store: SyncStore, *, max_buffer: int = 50_000) -> None:
        self._store = store
        self._buffer: deque[ExchangeCall] = deque(maxlen=max_buffer)
        self.dropped = 0

    def record(self, call: ExchangeCall) -> None:
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1
        self._buffer.append(call)

    async def flush(self) -> int:
        """Write what is buffered; returns how many calls were written."""
        batch = list(self._buffer)
        if not batch:
            return 0
        for _ in batch:
            self._buffer.popleft()
        try:
            await self._store.add_calls(batch)
        except Exception:
            log.exception("could not write %d request log entries; they are kept", len(batch))
            self._buffer.extendleft(reversed(batch))
            return 0
        return len(batch)

    async def aclose(self) -> None:
        """Write what is still buffered."""
        await self.flush()

    async def run(self, interval: float = 1.0) -> None:
        try:
            while True:
                await asyncio.sleep(interval)
                await self.flush()
        finally:
            await asyncio.shield(self.flush())
