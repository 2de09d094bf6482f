"""The sync's storage and the distributed machinery: the sync store, the job queue and the
periodic gate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from tresor.domain.portfolio import SnapshotRef, Standing
from tresor.domain.records import (
    CallQuery,
    Cursor,
    ExchangeCall,
    FlatRecords,
    Gap,
    OrderRecord,
    RecordQuery,
    StoredCall,
    TradeRecord,
    TransferRecord,
    ValuedSnapshot,
)
from tresor.domain.sync import Event, SyncJob, SyncState


class SyncStore(Protocol):
    """The sync engine's storage. Every method is its own transaction."""

    # -- the completeness ledger --
    async def cursors(self, connection_id: str) -> list[Cursor]: ...

    async def save_page(
        self, cursor: Cursor, records: FlatRecords, gaps: Sequence[Gap] = ()
    ) -> None:
        """Upsert ``records`` (a page's, in flat form: keyed by the exchange's ids), record
        ``gaps`` and move the cursor, all in one transaction: a crash leaves the old cursor and
        no partial page."""
        ...

    async def gaps(self, connection_ids: Sequence[str]) -> list[Gap]: ...

    async def known_assets(self, connection_id: str) -> frozenset[str]:
        """Every asset seen in the connection's trades and transfers."""
        ...

    # -- records --
    async def trades(self, query: RecordQuery) -> list[TradeRecord]: ...
    async def orders(self, query: RecordQuery) -> list[OrderRecord]: ...
    async def transfers(self, query: RecordQuery) -> list[TransferRecord]: ...

    async def counts(self, connection_id: str) -> dict[str, int]:
        """How many trades, orders, deposits and withdrawals are stored."""
        ...

    # -- balances --
    async def add_snapshot(self, valued: ValuedSnapshot) -> None: ...
    async def latest_snapshots(
        self, connection_ids: Sequence[str]
    ) -> dict[str, ValuedSnapshot]: ...

    async def snapshot_history(
        self, connection_ids: Sequence[str], *, since_ms: int, until_ms: int
    ) -> list[ValuedSnapshot]:
        """The snapshots taken in [``since_ms``, ``until_ms``), oldest first."""
        ...

    async def history_refs(
        self, connection_ids: Sequence[str], *, since_ms: int, until_ms: int, interval_ms: int
    ) -> tuple[dict[str, SnapshotRef], list[SnapshotRef]]:
        """What a chart of buckets of ``interval_ms`` from ``since_ms`` to ``until_ms`` needs:
        each connection's latest snapshot before ``since_ms``, and each connection's last one
        in each bucket, oldest first (of two taken in one millisecond the last stored)."""
        ...

    # -- the read side, every request (one statement each) --
    async def standings(self, user_id: str, connection_id: str | None = None) -> list[Standing]:
        """The user's connections (or only ``connection_id``, if it is the user's), each with
        its latest snapshot's ref and its last sync's outcome, read together; in no order."""
        ...

    async def snapshots(self, refs: Sequence[SnapshotRef]) -> dict[SnapshotRef, ValuedSnapshot]:
        """The snapshots ``refs`` name (a stored snapshot never changes)."""
        ...

    async def connection_ids(self, user_id: str, connection_id: str | None = None) -> list[str]:
        """The ids of the user's connections (or ``connection_id``, if it is the user's)."""
        ...

    async def record_versions(
        self, user_id: str, connection_id: str | None = None
    ) -> dict[str, int | None]:
        """The user's connections (or ``connection_id``, if it is the user's) by id, each with
        a token that changes with every write of its trades, orders or transfers (None: none
        written since the tokens exist). Equal tokens: the same records."""
        ...

    # -- the request log --
    async def add_calls(self, calls: Sequence[ExchangeCall]) -> None: ...
    async def calls(self, query: CallQuery) -> list[StoredCall]: ...
    async def purge_calls(self, before_ms: int) -> int: ...

    # -- sync state and leases --
    async def state(self, connection_id: str) -> SyncState | None: ...
    async def states(self, connection_ids: Sequence[str]) -> dict[str, SyncState]: ...
    async def save_state(self, state: SyncState) -> None: ...

    async def claim(
        self, connection_id: str, owner: str, *, now_ms: int, until_ms: int, due: bool = False
    ) -> bool:
        """Take the connection's lease for ``owner`` until ``until_ms`` if nobody else holds an
        unexpired one (atomic: two workers never both get it); with ``due``, only if a sync is
        still due and not paused (a job found due may have been run by another process since).
        """
        ...

    async def release(self, connection_id: str, owner: str) -> None: ...

    async def due(self, now_ms: int, *, limit: int) -> list[str]:
        """Connections whose balance or history sync is due, not paused and not leased."""
        ...

    # -- events --
    async def add_event(self, event: Event) -> None: ...

    async def events(
        self, user_id: str, *, before: int | None = None, limit: int = 100
    ) -> list[Event]: ...


class JobQueue(Protocol):
    """Where claimed sync jobs wait for a worker: in-process in the embedded default, a queue
    engine on Redis in the distributed mode (``adapters.queue``). Delivery is at least once:
    a job whose worker died is handed to another one; the lease (``SyncStore.claim``) keeps two
    workers from running one connection at once."""

    async def submit(self, job: SyncJob) -> None:
        """Queue ``job`` for some worker."""
        ...

    async def serve(self, handler: Callable[[SyncJob], Awaitable[None]]) -> None:
        """Run ``handler`` on the jobs this process takes from the queue, until cancelled."""
        ...

    async def backlog(self) -> int:
        """Jobs submitted and not finished yet, by any worker."""
        ...


class PeriodicGate(Protocol):
    """Lets one process, of all those scheduling, run a periodic chore per period."""

    async def turn(self, name: str, period_s: float) -> bool:
        """True when this call opens a new period for ``name`` (the caller does the chore);
        False when another call, here or in another process, already did in this period."""
        ...
