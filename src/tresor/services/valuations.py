"""What ``GET /v1/portfolio`` keeps between requests: snapshots valued once, by their refs.

A request reads its connections' standings (one statement: ``SyncStore.standings``); the rest
of its answer depends only on the snapshots they name, and a stored snapshot never changes.
So each snapshot is read once (``SyncStore.snapshots``), valued once per quote
(``value_holdings``), and the totals of a set of them are summed once (``asset_totals``), kept
by their ``SnapshotRef`` (its row id, connection and time); a chart's snapshots are each
valued once per quote too (``values``). Nothing here needs to be told of a
new snapshot, another process's sync or a connection renamed: a new snapshot is a new ref, and
the standings are read afresh on every request, so an answer is exactly what valuing the
stored data at that moment gives (docs/portfolio.md). Each of the three is bounded
(``Bounded``: emptied when full, so a hit costs one dictionary lookup).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Generic, TypeVar

from tresor.domain.portfolio import (
    AssetTotal,
    ConnectionHoldings,
    SnapshotRef,
    ValuedHoldings,
    asset_totals,
    snapshot_value,
    value_holdings,
)
from tresor.domain.records import ValuedSnapshot
from tresor.services.ports import SyncStore

K = TypeVar("K")
V = TypeVar("V")
Totals = tuple[tuple[AssetTotal, ...], Decimal]
TotalsKey = tuple[str, tuple[SnapshotRef | None, ...]]
SNAPSHOTS_KEPT = 4096  # about 3 kB each with 8 assets
TOTALS_KEPT = 1024
VALUES_KEPT = 65_536  # a snapshot's value in a quote, for charts: about 250 B each
READ_AT_ONCE = 500  # snapshots read per statement when valuing a chart's


class Bounded(Generic[K, V]):
    """A dict of at most ``size`` entries, emptied when it is full (a hit costs one lookup;
    what was dropped is computed again)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        if len(self._items) >= self._size:
            self._items.clear()
        self._items[key] = value

    def __len__(self) -> int:
        return len(self._items)


class Valuations:
    """Snapshots, their holdings in a quote and the totals of a set, kept by their refs."""

    def __init__(self, store: SyncStore, *, size: int = SNAPSHOTS_KEPT) -> None:
        self._store = store
        self._snapshots: Bounded[SnapshotRef, ValuedSnapshot] = Bounded(size)
        self._holdings: Bounded[tuple[SnapshotRef, str], ValuedHoldings] = Bounded(size)
        self._totals: Bounded[TotalsKey, Totals] = Bounded(TOTALS_KEPT)
        self._values: Bounded[tuple[SnapshotRef, str], Decimal] = Bounded(VALUES_KEPT)

    async def values(self, refs: Sequence[SnapshotRef], quote: str) -> dict[SnapshotRef, Decimal]:
        """The value in ``quote`` of each snapshot in ``refs`` (a chart's: ``snapshot_value``),
        each computed once; a ref whose snapshot is no longer stored is left out. The
        snapshots read to value them are not kept: a chart's would crowd out the portfolio's."""
        out, unvalued = _kept(self._values, refs, quote)
        for at in range(0, len(unvalued), READ_AT_ONCE):
            chunk = unvalued[at : at + READ_AT_ONCE]
            for ref, snapshot in (await self._store.snapshots(chunk)).items():
                value = out[ref] = snapshot_value(snapshot, quote)
                self._values.put((ref, quote), value)
        return out

    async def holdings(
        self, refs: Sequence[SnapshotRef], quote: str
    ) -> dict[SnapshotRef, ValuedHoldings]:
        """The holdings of each snapshot in ``refs`` valued in ``quote``; a ref whose snapshot
        is no longer stored (its connection removed meanwhile) is left out."""
        out, unvalued = _kept(self._holdings, refs, quote)
        if not unvalued:
            return out
        snapshots = {ref: s for ref in unvalued if (s := self._snapshots.get(ref)) is not None}
        unread = [ref for ref in unvalued if ref not in snapshots]
        if unread:
            for ref, snapshot in (await self._store.snapshots(unread)).items():
                self._snapshots.put(ref, snapshot)
                snapshots[ref] = snapshot
        for ref, snapshot in snapshots.items():
            valued = out[ref] = value_holdings(snapshot, quote)
            self._holdings.put((ref, quote), valued)
        return out

    def totals(
        self,
        quote: str,
        refs: tuple[SnapshotRef | None, ...],
        connections: Sequence[ConnectionHoldings],
    ) -> Totals:
        """``asset_totals(connections)``, kept by ``quote`` and the snapshots ``refs`` the
        connections' holdings are (which they alone depend on)."""
        key = (quote, refs)
        found = self._totals.get(key)
        if found is None:
            found = asset_totals(connections)
            self._totals.put(key, found)
        return found


def _kept(
    kept: Bounded[tuple[SnapshotRef, str], V], refs: Sequence[SnapshotRef], quote: str
) -> tuple[dict[SnapshotRef, V], list[SnapshotRef]]:
    """What ``kept`` has for ``refs`` in ``quote``, and the refs it has nothing for."""
    out: dict[SnapshotRef, V] = {}
    missing: list[SnapshotRef] = []
    for ref in refs:
        found = kept.get((ref, quote))
        if found is None:
            missing.append(ref)
        else:
            out[ref] = found
    return out, missing
