"""The sync engine's use cases: balance snapshots, history backfill and incremental sync, and
the health rules around them (retries, status changes, pauses, alerts).

One run of ``sync`` for a connection:

1. a balance snapshot, valued in ``quote`` with the exchange's own prices;
2. deposits and withdrawals (account-wide);
3. orders for every market an order could be on: the source's choice from the assets the
   account is known to have held (balances, transfers, earlier trades, orders found in this
   run: repeated until no new asset shows), markets with open orders and every market synced
   before;
4. trades for every market where orders were found, plus the source's choice.

Each page is stored with its cursor in one transaction (``SyncStore.save_page``), so a run
that dies anywhere resumes from the last stored page; records are upserted by the exchange's
ids, so reading a page twice changes nothing. Backfill and incremental sync are the same loop:
a cursor that has caught up simply asks for what came since.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

from tresor.domain.connections import (
    Connection,
    ConnectionStatus,
    Credentials,
    ExchangeTarget,
)
from tresor.domain.errors import (
    ExchangeTrouble,
    KeyRejected,
    NotFound,
    TresorError,
    ValidationFailed,
)
from tresor.domain.records import (
    ACCOUNT_WIDE,
    Cursor,
    Dataset,
    Gap,
    Page,
    SyncProgress,
    ValuedSnapshot,
)
from tresor.domain.sync import (
    MAX_BACKFILL_DAYS,
    MIN_BALANCE_INTERVAL_S,
    SyncState,
    backoff_seconds,
)
from tresor.domain.valuation import prices_for
from tresor.services.ports import (
    Clock,
    HistorySource,
    SyncStore,
    TradeKeyOpener,
    UnitOfWorkFactory,
    Vault,
)
from tresor.services.stored_keys import key_credentials, stored_target
from tresor.services.sync_health import SyncHealth, SyncPolicy

log = logging.getLogger(__name__)
_T = TypeVar("_T")
DAY_MS = 86_400_000
TRANSFER_DATASETS = (Dataset.DEPOSITS, Dataset.WITHDRAWALS)


class HistoryGateway(Protocol):
    async def history(
        self, target: ExchangeTarget, credentials: Credentials, *, connection_id: str
    ) -> HistorySource:
        """An open ``HistorySource`` for the connection (close it)."""
        ...

    async def forget(self, connection_id: str) -> None:
        """Drop whatever the gateway keeps for the connection between syncs (its client):
        the connection is gone, disabled or has no key to read with."""
        ...


@dataclass
class SyncReport:
    connection_id: str
    records: int = 0
    requests: int = 0
    markets: int = 0
    snapshot: ValuedSnapshot | None = None
    gaps: list[Gap] = field(default_factory=list)


ProgressFn = Callable[[SyncProgress], None]


class SyncService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        store: SyncStore,
        vault: Vault,
        opener: TradeKeyOpener | None,
        gateway: HistoryGateway,
        clock: Clock,
        endpoints: Mapping[str, ExchangeTarget],
        policy: SyncPolicy | None = None,
    ) -> None:
        self._uow = uow
        self._store = store
        self._vault = vault
        self._opener = opener
        self._gateway = gateway
        self._clock = clock
        self._endpoints = endpoints
        self.health = SyncHealth(uow=uow, store=store, clock=clock, policy=policy or SyncPolicy())

    @property
    def policy(self) -> SyncPolicy:
        return self.health.policy

    @policy.setter
    def policy(self, policy: SyncPolicy) -> None:
        self.health.policy = policy

    def now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    # -- settings ----------------------------------------------------------------------------
    async def state(self, user_id: str, connection_id: str) -> SyncState:
        """Raises: NotFound (also for another user's connection)."""
        await self._owned(user_id, connection_id)
        return await self._state(connection_id)

    async def states_of(self, user_id: str) -> dict[str, SyncState]:
        """The sync state of each of the user's connections (one read for them all, where
        ``state`` is two per connection)."""
        ids = await self._store.connection_ids(user_id)
        found = await self._store.states(ids)
        return {cid: found.get(cid) or SyncState(cid) for cid in ids}

    async def configure(
        self,
        user_id: str,
        connection_id: str,
        *,
        balance_interval_s: int | None = None,
        backfill_days: int | None = None,
    ) -> SyncState:
        """Change how often balances are taken and how far back history goes.

        Raises: NotFound, ValidationFailed."""
        await self._owned(user_id, connection_id)
        state = await self._state(connection_id)
        if balance_interval_s is not None:
            if balance_interval_s < MIN_BALANCE_INTERVAL_S:
                raise ValidationFailed(
                    f"Balances can be taken at most every {MIN_BALANCE_INTERVAL_S} seconds.",
                    remedy=f"Use a balance interval of {MIN_BALANCE_INTERVAL_S} s or more.",
                )
            state = replace(
                state,
                balance_interval_s=balance_interval_s,
                next_balance_ms=min(state.next_balance_ms, self.now_ms()),
            )
        if backfill_days is not None:
            _check_days(backfill_days)
            state = replace(state, backfill_days=backfill_days, next_history_ms=self.now_ms())
        await self._store.save_state(state)
        return state

    async def sync_soon(self, user_id: str, connection_id: str) -> SyncState:
        """Make the connection's balances and history due now: the scheduler takes them within
        its next round (a second), as for a new connection. A job already running is not
        started twice (the lease decides).

        Raises: NotFound (also for another user's connection)."""
        await self._owned(user_id, connection_id)
        state = await self._state(connection_id)
        now = self.now_ms()
        state = replace(state, next_balance_ms=now, next_history_ms=now)
        await self._store.save_state(state)
        return state

    async def _state(self, connection_id: str) -> SyncState:
        return await self._store.state(connection_id) or SyncState(connection_id)

    async def _owned(self, user_id: str, connection_id: str) -> None:
        async with self._uow(read_only=True) as uow:
            if await uow.connections.get(connection_id, user_id) is None:
                raise NotFound("There is no such connection.")

    # -- running -----------------------------------------------------------------------------
    async def sync(
        self,
        connection_id: str,
        *,
        backfill_days: int | None = None,
        history: bool = True,
        progress: ProgressFn | None = None,
        state: SyncState | None = None,
    ) -> SyncReport:
        """Take a balance snapshot and (``history``) bring every dataset up to date.

        ``state``: the connection's sync state, when the caller has just read it (the
        scheduler), else it is read here.

        Failures are recorded on the connection (status, alert events, pause) before they
        are raised.

        Raises:
            NotFound: the connection is gone.
            KeyRejected: the key no longer works (status changed, alert recorded).
            ExchangeTrouble: the exchange failed ``policy.attempts`` times in a row.
        """
        if backfill_days is not None:
            _check_days(backfill_days)
        connection, target, credentials = await self._open(connection_id)
        if state is None or state.connection_id != connection_id:
            state = await self._state(connection_id)
        now = self.now_ms()
        state = replace(state, last_attempt_ms=now)
        report = SyncReport(connection_id)
        try:
            source = await self._retrying(
                lambda: self._gateway.history(target, credentials, connection_id=connection_id)
            )
            try:
                report.snapshot = await self._snapshot(source, connection_id)
                if history:
                    days = backfill_days or state.backfill_days
                    await self._history(
                        source, connection_id, now - days * DAY_MS, report, progress
                    )
            finally:
                await source.aclose()
        except TresorError as error:
            await self.health.failed(connection.user_id, connection.status, state, error)
            raise
        await self.health.succeeded(connection.user_id, connection.status, state, history=history)
        return report

    async def _snapshot(self, source: HistorySource, connection_id: str) -> ValuedSnapshot:
        snapshot = await self._retrying(source.balances)
        prices = await self._retrying(source.prices)
        valued = ValuedSnapshot(
            snapshot, self.policy.quote, prices_for(snapshot.balances, self.policy.quote, prices)
        )
        await self._store.add_snapshot(valued)
        return valued

    async def _history(
        self,
        source: HistorySource,
        connection_id: str,
        since_ms: int,
        report: SyncReport,
        progress: ProgressFn | None,
    ) -> None:
        cursors = {(c.dataset, c.market): c for c in await self._store.cursors(connection_id)}
        for dataset in TRANSFER_DATASETS:
            await self._market(
                source, connection_id, dataset, ACCOUNT_WIDE, since_ms, cursors, report
            )
        assets = set(report.snapshot.snapshot.assets() if report.snapshot else ())
        assets |= await self._store.known_assets(connection_id)
        active = await self._retrying(source.active_markets)
        now = self.now_ms()

        def due(dataset: Dataset, markets: set[str]) -> list[str]:
            # a market found empty is read again once a day, not at every sync
            return sorted(
                m
                for m in markets
                if m in active
                or (c := cursors.get((dataset, m))) is None
                or c.position is not None
                or since_ms < c.since_ms
                or now - c.synced_until_ms >= self.policy.empty_rescan_s * 1000
            )

        # orders: every market an order could be on (the source's choice, from the assets
        # held), those with open orders and those read before. Orders found on a market show
        # its assets were held, whose other markets could hold orders too (an asset bought and
        # sold again leaves no balance behind): read those as well, until no new asset shows.
        markets = set(source.markets_for(Dataset.ORDERS, frozenset(assets))) | active
        markets |= {m for (d, m) in cursors if d is Dataset.ORDERS and source.listed(m)}
        read: set[str] = set()
        found: set[str] = set()
        while markets - read:
            await self._markets(
                source,
                connection_id,
                Dataset.ORDERS,
                due(Dataset.ORDERS, markets - read),
                since_ms,
                cursors,
                report,
                progress,
            )
            read |= markets
            found = await self._orders_found(connection_id)
            learned = {asset for market in found for asset in _assets_of(market)} - assets
            if not learned:
                break
            assets |= learned
            markets = set(source.markets_for(Dataset.ORDERS, frozenset(assets)))
        # trades: where orders were found (every fill belongs to an order), plus what the
        # source adds for the assets held, open orders, and markets read before
        markets = set(source.markets_for(Dataset.TRADES, frozenset(assets))) | found | active
        markets |= {m for (d, m) in cursors if d is Dataset.TRADES and source.listed(m)}
        await self._markets(
            source,
            connection_id,
            Dataset.TRADES,
            due(Dataset.TRADES, markets),
            since_ms,
            cursors,
            report,
            progress,
        )

    async def _orders_found(self, connection_id: str) -> set[str]:
        """Markets where orders were ever found (their cursor has a position)."""
        return {
            c.market
            for c in await self._store.cursors(connection_id)
            if c.dataset is Dataset.ORDERS and c.position is not None
        }

    async def _markets(
        self,
        source: HistorySource,
        connection_id: str,
        dataset: Dataset,
        markets: list[str],
        since_ms: int,
        cursors: Mapping[tuple[Dataset, str], Cursor],
        report: SyncReport,
        progress: ProgressFn | None,
    ) -> None:
        """Every market of ``dataset``, ``policy.concurrency`` at a time."""
        report.markets = max(report.markets, len(markets))
        limit = asyncio.Semaphore(self.policy.concurrency)
        done = 0

        async def one(market: str) -> None:
            nonlocal done
            async with limit:
                await self._market(
                    source, connection_id, dataset, market, since_ms, cursors, report
                )
            done += 1
            if progress is not None:
                progress(
                    SyncProgress(connection_id, dataset, market, done, len(markets), report.records)
                )

        try:
            async with asyncio.TaskGroup() as group:
                for market in markets:
                    group.create_task(one(market))
        except ExceptionGroup as failed:  # the first failure cancelled the others: raise it
            raise failed.exceptions[0] from None

    async def _market(
        self,
        source: HistorySource,
        connection_id: str,
        dataset: Dataset,
        market: str,
        since_ms: int,
        cursors: Mapping[tuple[Dataset, str], Cursor],
        report: SyncReport,
    ) -> None:
        cursor = cursors.get((dataset, market))
        if cursor is None or since_ms < cursor.since_ms:
            # new, or asked to reach further back than before: read from the new start
            # (what is already stored is upserted again, unchanged)
            cursor = Cursor(connection_id, dataset, market, None, 0, since_ms)
        while True:
            page: Page = await self._retrying(
                functools.partial(
                    source.page, dataset, market, cursor.position, since_ms=cursor.since_ms
                )
            )
            cursor = replace(cursor, position=page.position, synced_until_ms=page.synced_until_ms)
            gaps = [
                Gap(connection_id, dataset, market, g.start_ms, g.end_ms, g.reason)
                for g in page.gaps
            ]
            await self._store.save_page(cursor, page.records, gaps)
            report.records += len(page.records)
            report.requests += page.requests
            report.gaps.extend(gaps)
            if not page.more:
                return

    async def _retrying(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """``call()``, retried on transient exchange trouble with exponential backoff and full
        jitter, ``policy.attempts`` times in all; a refused key is never retried."""
        for attempt in range(self.policy.attempts):
            try:
                return await call()
            except KeyRejected:
                raise
            except ExchangeTrouble:
                if attempt + 1 >= self.policy.attempts:
                    raise
                await asyncio.sleep(
                    backoff_seconds(
                        attempt, base=self.policy.backoff_base, cap=self.policy.backoff_cap
                    )
                )
        raise AssertionError("unreachable")  # pragma: no cover

    # -- credentials -------------------------------------------------------------------------
    async def _open(self, connection_id: str) -> tuple[Connection, ExchangeTarget, Credentials]:
        try:
            return await self._credentials(connection_id)
        except (NotFound, ValidationFailed):
            # nothing to read with any more: the client kept for it goes (with its secrets)
            await self._gateway.forget(connection_id)
            raise

    async def _credentials(
        self, connection_id: str
    ) -> tuple[Connection, ExchangeTarget, Credentials]:
        async with self._uow(read_only=True) as uow:
            user_id = await uow.connections.owner_of(connection_id)
            connection = (
                await uow.connections.get(connection_id, user_id) if user_id is not None else None
            )
        if connection is None:
            raise NotFound("There is no such connection.")
        if connection.status is ConnectionStatus.DISABLED:
            raise ValidationFailed(
                "This connection is disabled.",
                remedy="Enable it again (tresor connection enable) to sync it.",
            )
        key = connection.reading_key
        if key is None:
            raise NotFound("This connection has no key to read with.")
        credentials = key_credentials(self._vault, self._opener, connection.id, key)
        return connection, stored_target(self._endpoints, connection), credentials


def _assets_of(symbol: str) -> tuple[str, ...]:
    """The two assets of a unified spot symbol ("BTC/USDT")."""
    return tuple(symbol.split(":", 1)[0].split("/"))


def _check_days(days: int) -> None:
    if not 1 <= days <= MAX_BACKFILL_DAYS:
        raise ValidationFailed(
            f"Backfill must be 1 to {MAX_BACKFILL_DAYS} days.",
            remedy="Choose how many days of history to read, e.g. 90.",
        )
