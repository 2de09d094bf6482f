"""``SharedReads``: callers that arrive while a read is in flight share the next read, never
the one that began before they asked."""

from __future__ import annotations

import asyncio

import pytest

from tresor.services.read_sharing import SharedReads


class Source:
    """A value that changes as it is written; each read can be held until released."""

    def __init__(self) -> None:
        self.value = 0
        self.reads = 0
        self.gates: list[asyncio.Event] = []

    async def fetch(self) -> int:
        self.reads += 1
        seen = self.value  # read as the read begins
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        return seen

    async def started(self, n: int) -> None:
        """Until the ``n``-th read has begun."""
        for _ in range(1000):
            if len(self.gates) >= n:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"read {n} never began")

    async def release(self, n: int) -> None:
        await self.started(n)
        self.gates[n - 1].set()


async def test_callers_during_a_read_share_the_next_one_and_see_what_was_written_before() -> None:
    shared: SharedReads[int] = SharedReads()
    source = Source()
    first = asyncio.create_task(shared.read("u", source.fetch))
    await source.started(1)
    source.value = 1  # written (committed) after the first read began
    later = [asyncio.create_task(shared.read("u", source.fetch)) for _ in range(5)]
    other = asyncio.create_task(shared.read("v", source.fetch))  # another key reads alone
    await asyncio.sleep(0)
    await source.release(1)
    assert await first == 0
    await source.release(2)
    await source.release(3)
    assert await asyncio.gather(*later) == [1] * 5  # never the first read's 0
    assert await other in (0, 1)
    assert source.reads == 3  # the first, one for the five, one for "v"
    alone = asyncio.create_task(shared.read("u", source.fetch))  # nothing in flight: at once
    await source.release(4)
    assert await alone == 1
    assert source.reads == 4


async def test_a_failed_read_fails_its_callers_and_a_caller_giving_up_leaves_it_to_others() -> None:
    shared: SharedReads[int] = SharedReads()
    gate = asyncio.Event()

    async def failing() -> int:
        await gate.wait()
        raise RuntimeError("the database is gone")

    callers = [asyncio.create_task(shared.read("u", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    for caller in callers:
        with pytest.raises(RuntimeError):
            await caller
    source = Source()
    first = asyncio.create_task(shared.read("u", source.fetch))
    await source.started(1)
    quitter = asyncio.create_task(shared.read("u", source.fetch))
    stayer = asyncio.create_task(shared.read("u", source.fetch))
    await asyncio.sleep(0)
    quitter.cancel()  # gives up: the read goes on for the one still waiting
    source.value = 7
    await source.release(1)
    assert await first == 0
    await source.release(2)
    assert await stayer == 7
    assert quitter.cancelled()
    assert source.reads == 2
