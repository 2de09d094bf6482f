"""The distributed mode's trade desk: API processes hand trading requests to a worker (the only
process holding the worker's private key, so the only one that can open a trade key) and wait
for the answer, through taskiq on a Redis Stream with results kept in Redis.

- ``call`` appends the request to the stream ``<prefix>:trading`` (read by every worker in the
  consumer group ``<prefix>:traders``, one request at a time) and waits for its result;
- a worker that dies with a request in hand leaves it pending; another worker takes it after
  ``redeliver_after_s``. That is safe: every request is idempotent on the worker's side (an
  order is placed under its Idempotency-Key, a cancel of a cancelled order changes nothing).
- Results live ``RESULT_SECONDS`` in Redis, then expire.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from taskiq.acks import AcknowledgeType
from taskiq.api import run_receiver_task
from taskiq.exceptions import TaskiqResultTimeoutError
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from tresor.domain.errors import ExchangeTrouble, TradingWorkerUnavailable

TASK = "tresor.trade"
RESULT_SECONDS = 300
POLL_SECONDS = 0.005  # how often a caller looks for its answer


class RedisTradeDesk:
    """``TradeDesk`` on a Redis Stream through taskiq, results in Redis."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "tresor",
        concurrency: int = 16,
        redeliver_after_s: float = 60.0,
    ) -> None:
        self.stream = f"{prefix}:trading"
        self._concurrency = concurrency
        self._broker = RedisStreamBroker(
            url,
            queue_name=self.stream,
            consumer_group_name=f"{prefix}:traders",
            consumer_id="0",
            idle_timeout=int(redeliver_after_s * 1000),
            xread_block=1000,
            xread_count=1,
            maxlen=100_000,
        ).with_result_backend(
            RedisAsyncResultBackend(
                url, result_ex_time=RESULT_SECONDS, prefix_str=f"{prefix}:trading:result"
            )
        )
        self._handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None

        async def trade(request: dict[str, Any]) -> dict[str, Any]:
            return await self._handle(request)

        self._task = self._broker.register_task(trade, task_name=TASK)
        self._started = False

    async def _start(self) -> None:
        if not self._started:
            self._started = True
            await self._broker.startup()

    async def call(self, request: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
        """Raises: TradingWorkerUnavailable (no worker answered within ``timeout_s``)."""
        await self._start()
        sent = await self._task.kiq(request)
        try:
            result = await sent.wait_result(check_interval=POLL_SECONDS, timeout=timeout_s)
        except TaskiqResultTimeoutError:
            raise TradingWorkerUnavailable(details={"timeout_s": timeout_s}) from None
        if result.is_err:  # the handler raised something it should have answered with
            raise ExchangeTrouble("The trading worker failed on this request.")
        answer: dict[str, Any] = result.return_value
        return answer

    async def serve(self, handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
        """Answer requests with ``handler`` until cancelled (in a worker process)."""
        self._handler = handler
        self._broker.is_worker_process = True
        await self._start()
        await run_receiver_task(
            self._broker,
            max_async_tasks=self._concurrency,
            ack_time=AcknowledgeType.WHEN_EXECUTED,
            propagate_exceptions=False,
        )

    async def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._handler is None:  # pragma: no cover - serve() sets it before reading
            raise RuntimeError("a trading request arrived in a process that does not serve")
        return await self._handler(request)

    async def aclose(self) -> None:
        if self._started:
            await self._broker.shutdown()
