"""A chart's snapshots (``SyncStore.history_refs``) on SQLite and PostgreSQL: exactly each
connection's last snapshot in each bucket and its latest before the range, as a reading of
every snapshot gives them; and the chart drawn from them equals the one drawn from all."""

from __future__ import annotations

import random
from decimal import Decimal

from tests.integration.test_activity_store import stored  # noqa: F401 - the fixture
from tresor.bootstrap import Runtime
from tresor.domain.portfolio import history_points, snapshot_value
from tresor.domain.records import AssetBalance, BalanceSnapshot, ValuedSnapshot

T0 = 1_790_000_000_000


def _snapshot(cid: str, taken_ms: int, rng: random.Random) -> ValuedSnapshot:
    balances = {
        "BTC": AssetBalance(Decimal(rng.randint(0, 10**6)) / 10**6, Decimal(0)),
        "USDT": AssetBalance(Decimal(rng.randint(0, 10**4)), Decimal(rng.randint(0, 99))),
    }
    prices = {"BTC": Decimal(rng.randint(20_000, 90_000)), "USDT": Decimal(1)}
    return ValuedSnapshot(BalanceSnapshot(cid, taken_ms, balances), "USD", prices)


async def test_a_chart_reads_each_connection_s_last_snapshot_per_bucket(
    stored: tuple[Runtime, list[str]],  # noqa: F811
) -> None:
    rt, ids = stored
    store = rt.store
    rng = random.Random(7)
    taken = []
    for cid in ids[:2]:  # the third connection has no snapshot at all
        for _ in range(120):
            at = T0 + rng.randint(-5_000, 60_000)
            taken.append(_snapshot(cid, at, rng))
            if rng.random() < 0.1:  # two in one millisecond: the last stored counts
                taken.append(_snapshot(cid, at, rng))
    for snapshot in taken:
        await store.add_snapshot(snapshot)
    ranges = [(T0, T0 + 50_000, 1_000), (T0 + 7, T0 + 61_000, 3_333), (T0 - 3_000, T0 + 70_000, 97)]
    for since, until, interval in ranges:  # the last with many empty buckets
        before, marks = await store.history_refs(
            ids, since_ms=since, until_ms=until, interval_ms=interval
        )
        # what reading every snapshot gives
        every = await store.snapshot_history(ids, since_ms=since, until_ms=until)
        last: dict[tuple[str, int], ValuedSnapshot] = {}
        for s in every:  # oldest first, ties in the order stored
            last[(s.snapshot.connection_id, (s.snapshot.taken_ms - since) // interval)] = s
        assert sorted((r.connection_id, r.taken_ms) for r in marks) == sorted(
            (cid, s.snapshot.taken_ms) for (cid, _), s in last.items()
        )
        assert [r.taken_ms for r in marks] == sorted(r.taken_ms for r in marks)  # oldest first
        carried = {}  # each connection's latest before the range, the last stored of a time
        for s in await store.snapshot_history(ids, since_ms=0, until_ms=since):
            carried[s.snapshot.connection_id] = s
        assert {cid: r.taken_ms for cid, r in before.items()} == {
            cid: s.snapshot.taken_ms for cid, s in carried.items()
        }
        read = await store.snapshots([*before.values(), *marks])
        assert read[before[ids[0]]] == carried[ids[0]]
        for (cid, _), s in last.items():
            ref = next(
                r for r in marks if r.connection_id == cid and r.taken_ms == s.snapshot.taken_ms
            )
            assert read[ref] == s  # the last stored of a millisecond, not another
        # the chart from the named snapshots equals the one from every snapshot
        drawn = history_points(
            quote="USD",
            since_ms=since,
            until_ms=until,
            interval_ms=interval,
            carried={cid: snapshot_value(read[r], "USD") for cid, r in before.items()},
            values=[(r.connection_id, r.taken_ms, snapshot_value(read[r], "USD")) for r in marks],
        )
        full = history_points(
            quote="USD",
            since_ms=since,
            until_ms=until,
            interval_ms=interval,
            carried={cid: snapshot_value(s, "USD") for cid, s in carried.items()},
            values=[
                (s.snapshot.connection_id, s.snapshot.taken_ms, snapshot_value(s, "USD"))
                for s in every
            ],
        )
        assert drawn == full
    assert await store.history_refs([], since_ms=T0, until_ms=T0 + 1, interval_ms=1) == ({}, [])
