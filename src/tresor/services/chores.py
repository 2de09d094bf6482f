"""Periodic chores of the processes that hold the worker's private key (trade keys are opened
there only): following placed orders (``OrderService.track``, every 5 s), checking the
rebalancing rules that are due (``RulesService.check_due``, every 15 s) and removing route
quotes long expired (``RoutingService.purge_quotes``, hourly).

With several workers (the distributed mode) one ``PeriodicGate`` turn per period decides which
process runs a chore: running one twice at once would be safe (an order send and a rule check
are each claimed in the database) but wasted work on the exchange's budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tresor.services.ports import PeriodicGate

log = logging.getLogger(__name__)
TRACK_ORDERS_S = 5.0
CHECK_RULES_S = 15.0
PURGE_QUOTES_S = 3_600.0


class Chore:
    def __init__(
        self,
        name: str,
        period_s: float,
        work: Callable[[], Awaitable[int]],
        *,
        gate: PeriodicGate | None = None,
    ) -> None:
        self.name = name
        self.period_s = period_s
        self._work = work
        self._gate = gate

    async def round(self) -> int:
        """One round, if this process has the period's turn; what the work counted."""
        if self._gate is not None and not await self._gate.turn(self.name, self.period_s):
            return 0
        return await self._work()

    async def run(self) -> None:
        """Rounds until cancelled; a failing round is logged and the next one runs."""
        while True:
            try:
                await self.round()
            except Exception:  # one bad round must not stop the chore
                log.exception("%s: a round failed", self.name)
            await asyncio.sleep(self.period_s)
