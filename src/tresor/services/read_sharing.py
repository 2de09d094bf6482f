"""``SharedReads``: one read for the callers that ask the same question at the same moment.

Every ``GET /v1/portfolio`` and record listing starts with one small read (a user's standings,
their connections' record versions). Fifty clients of one user, or one person's dashboard and
scripts, ask it many times a second. Here the callers that arrive while a read of the same key
is in flight do not take its answer (it began before they asked, so it could miss a write
they already saw committed); they share the *next* read, which starts when the one in flight
ends. So each answer is read after its caller asked, as if it had read alone, and under load
one read serves many callers: fewer round trips to the database and fewer wake-ups (issue 17,
docs/benchmarks.md). A failed read fails every caller that shared it, as it would have failed
each; a caller that gives up (its request cancelled) leaves the read to the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedReads(Generic[T]):
    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Task[T]] = {}
        self._next: dict[Hashable, asyncio.Task[T]] = {}

    async def read(self, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
        """``fetch()``'s answer, read after this call began; shared with the callers of the
        same ``key`` that wait for the same read (``fetch`` is the first one's)."""
        task: asyncio.Task[T] | None
        if key not in self._running:
            task = self._running[key] = _started(self._run(key, None, fetch))
        else:
            task = self._next.get(key)
            if task is None:
                before = self._running[key]
                task = self._next[key] = _started(self._run(key, before, fetch))
        return await asyncio.shield(task)

    async def _run(
        self, key: Hashable, before: asyncio.Task[T] | None, fetch: Callable[[], Awaitable[T]]
    ) -> T:
        if before is not None:  # the read in flight when this one's first caller came
            await asyncio.wait({before})  # its outcome is its own callers'
            me = self._next.pop(key)  # from now on newcomers wait for the read after this
            self._running[key] = me
        try:
            return await fetch()
        finally:
            if self._running.get(key) is asyncio.current_task():
                del self._running[key]


def _started(work: Awaitable[T]) -> asyncio.Task[T]:
    task = asyncio.ensure_future(work)
    task.add_done_callback(_retrieved)
    return task


def _retrieved(task: asyncio.Task[T]) -> None:
    """Take a failed read's exception (its callers have it, unless they all gave up)."""
    if not task.cancelled():
        task.exception()
