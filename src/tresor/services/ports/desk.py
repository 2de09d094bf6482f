"""The trade desk: how an API-only process hands a trading request to a worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class TradeDesk(Protocol):
    async def call(self, request: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
        """Have a worker handle ``request`` and return its answer.

        Raises: TradingWorkerUnavailable (no answer within ``timeout_s``)."""
        ...

    async def serve(self, handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
        """Handle requests until cancelled (in a worker)."""
        ...
