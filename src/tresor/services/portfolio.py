"""Reading what the sync brought home: the portfolio valued now, its value over time, the
records (trades, orders, transfers), the request log, the alerts and the completeness gaps.

Everything is scoped to the user's own connections. A ``connection_id`` filter that is not the
user's is ``NotFound``, the same answer as an id that does not exist; without one, every
connection of the user is read. Listings are newest first, a page at a time, and lead on with
an opaque cursor (``domain.paging``).

The portfolio now is read at interactive speed (docs/benchmarks.md, issue 17): one statement
for the connections' standings, the snapshots they name valued once and kept
(``services.valuations``). A page of trades, orders or transfers is kept by its connections'
record versions (``SyncStore.record_versions``: a token that every write of their records
changes, in the same transaction) and the question asked: a request reads the tokens (one
statement) and, when they have not changed, answers the kept page, in every process alike.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from tresor.domain.errors import NotFound, ValidationFailed
from tresor.domain.paging import Listing, RecordKey, decode_id, decode_key, encode
from tresor.domain.portfolio import (
    History,
    Portfolio,
    Standing,
    check_range,
    default_interval_ms,
    history_points,
    standing_holdings,
)
from tresor.domain.records import (
    CallQuery,
    Gap,
    OrderRecord,
    RecordQuery,
    StoredCall,
    TradeRecord,
    TransferRecord,
)
from tresor.domain.sync import Event
from tresor.domain.valuation import USD
from tresor.services.ports import Clock, SyncStore, UnitOfWorkFactory
from tresor.services.read_sharing import SharedReads
from tresor.services.valuations import Bounded, Valuations

R = TypeVar("R")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_HISTORY_MS = 7 * 86_400_000
LISTINGS_KEPT = 256  # pages of up to 1,000 records; a first page of 100 trades is ~100 kB


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Filters of the record listings; each applies where it makes sense (``asset`` on a trade
    is either side of its symbol; ``kind`` is a transfer's)."""

    connection_id: str | None = None
    symbol: str | None = None
    asset: str | None = None
    side: str | None = None
    status: str | None = None
    kind: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None


@dataclass(frozen=True, slots=True)
class LogFilter:
    connection_id: str | None = None
    status: int | None = None
    errors_only: bool = False  # no answer, or a status of 400 or more
    method: str | None = None
    path_prefix: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None


def _trade_key(r: TradeRecord) -> RecordKey:
    return (r.time_ms, r.connection_id, r.symbol, r.trade_id)


def _order_key(r: OrderRecord) -> RecordKey:
    return (r.created_ms, r.connection_id, r.symbol, r.order_id)


def _transfer_key(r: TransferRecord) -> RecordKey:
    return (r.time_ms, r.connection_id, r.kind.value, r.transfer_id)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"'limit' must be between 1 and {MAX_LIMIT}.",
            remedy=f"Ask for at most {MAX_LIMIT} items a page; follow 'next_cursor' for more.",
        )


class PortfolioService:
    def __init__(self, *, uow: UnitOfWorkFactory, store: SyncStore, clock: Clock) -> None:
        self._uow = uow  # kept for the callers' wiring; every read here goes to the store
        self._store = store
        self._clock = clock
        self._valuations = Valuations(store)
        # the standings and record versions read at the same moment, read once (read_sharing)
        self._standings: SharedReads[list[Standing]] = SharedReads()
        self._versions: SharedReads[dict[str, int | None]] = SharedReads()
        # pages of the record listings, by their connections' record versions and the question
        self._listings: Bounded[Hashable, Listing[Any]] = Bounded(LISTINGS_KEPT)

    def now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    async def _ids(self, user_id: str, connection_id: str | None) -> tuple[str, ...]:
        """The user's connection ids, or the one asked for.

        Raises: NotFound (also for another user's connection)."""
        found = await self._store.connection_ids(user_id, connection_id)
        if connection_id is not None and not found:
            raise NotFound("There is no such connection.")
        return tuple(found)

    # -- valuation ---------------------------------------------------------------------------
    async def portfolio(
        self, user_id: str, *, quote: str = USD, connection_id: str | None = None
    ) -> Portfolio:
        """Each connection's latest balances valued in ``quote``, the totals per asset, their
        allocation and the grand total. Connections by label.

        Raises: NotFound (a ``connection_id`` that is not the user's)."""
        shared = await self._standings.read(
            (user_id, connection_id),
            functools.partial(self._store.standings, user_id, connection_id),
        )
        if connection_id is not None and not shared:
            raise NotFound("There is no such connection.")
        standings = sorted(shared, key=lambda s: s.label)
        refs = [s.snapshot for s in standings if s.snapshot is not None]
        held = await self._valuations.holdings(refs, quote)
        # a snapshot gone since the standings were read (its connection removed): none
        standings = [
            s if s.snapshot is None or s.snapshot in held else s._replace(snapshot=None)
            for s in standings
        ]
        now = self.now_ms()
        connections = tuple(
            standing_holdings(s, None if s.snapshot is None else held[s.snapshot], now_ms=now)
            for s in standings
        )
        basis = (quote, tuple(standings))
        assets, total = self._valuations.totals(
            quote, tuple(s.snapshot for s in standings), connections
        )
        return Portfolio(quote, now, connections, assets, total, basis=basis)

    async def history(
        self,
        user_id: str,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        interval_ms: int | None = None,
        connection_id: str | None = None,
        quote: str = USD,
    ) -> History:
        """The portfolio's value over time, one point per ``interval_ms`` bucket (default: the
        last 7 days, at most ``MAX_POINTS_DEFAULT`` points).

        Raises: ValidationFailed (an empty range, too many points), NotFound."""
        until = until_ms if until_ms is not None else self.now_ms()
        since = since_ms if since_ms is not None else until - DEFAULT_HISTORY_MS
        interval = interval_ms if interval_ms is not None else default_interval_ms(since, until)
        check_range(since, until, interval)
        ids = await self._ids(user_id, connection_id)
        # only each connection's last snapshot in a bucket counts: the store names those (and
        # the latest before the range), and each is valued once (``Valuations.values``)
        before, marks = await self._store.history_refs(
            ids, since_ms=since, until_ms=until, interval_ms=interval
        )
        values = await self._valuations.values([*before.values(), *marks], quote)
        return history_points(
            quote=quote,
            since_ms=since,
            until_ms=until,
            interval_ms=interval,
            carried={cid: values[ref] for cid, ref in before.items() if ref in values},
            values=[(r.connection_id, r.taken_ms, values[r]) for r in marks if r in values],
        )

    # -- records -----------------------------------------------------------------------------
    async def _records(
        self,
        user_id: str,
        listing: str,
        filters: RecordFilter,
        cursor: str | None,
        limit: int,
        fetch: Callable[[RecordQuery], Awaitable[list[R]]],
        key: Callable[[R], RecordKey],
    ) -> Listing[R]:
        _check_limit(limit)
        before = decode_key(listing, cursor) if cursor is not None else None
        versions = await self._versions.read(
            (user_id, filters.connection_id),
            functools.partial(self._store.record_versions, user_id, filters.connection_id),
        )
        if filters.connection_id is not None and not versions:
            raise NotFound("There is no such connection.")
        if not versions:
            return Listing((), None)
        # the same records (every write of them changes its connection's token) and the same
        # question: the same page
        basis = (listing, tuple(sorted(versions.items())), filters, before, limit)
        kept = self._listings.get(basis)
        if kept is not None:
            return cast(Listing[R], kept)
        found = await fetch(
            RecordQuery(
                connection_ids=tuple(versions),
                symbol=filters.symbol,
                asset=filters.asset,
                side=filters.side,
                status=filters.status,
                kind=filters.kind,
                since_ms=filters.since_ms,
                until_ms=filters.until_ms,
                before=before,
                limit=limit + 1,
            )
        )
        more = len(found) > limit
        items = tuple(found[:limit])
        page = Listing(items, encode(listing, *key(items[-1])) if more else None)
        if before is None:
            # first pages only: they are what is asked again and again (a dashboard's page, a
            # client polling). The pages after them are walked once each (an export, a client
            # reading everything): kept, a CSV of 100,000 trades stayed in memory as 100,000
            # records, and every full pass of the garbage collector walked them (100-200 ms
            # with the event loop stopped, docs/benchmarks.md)
            self._listings.put(basis, page)
        return page

    async def trades(
        self,
        user_id: str,
        filters: RecordFilter,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> Listing[TradeRecord]:
        """Raises: NotFound, ValidationFailed (a cursor this listing did not give, a limit)."""
        return await self._records(
            user_id, "trades", filters, cursor, limit, self._store.trades, _trade_key
        )

    async def orders(
        self,
        user_id: str,
        filters: RecordFilter,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> Listing[OrderRecord]:
        """Newest created first. Raises: NotFound, ValidationFailed."""
        return await self._records(
            user_id, "orders", filters, cursor, limit, self._store.orders, _order_key
        )

    async def transfers(
        self,
        user_id: str,
        filters: RecordFilter,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> Listing[TransferRecord]:
        """Deposits and withdrawals. Raises: NotFound, ValidationFailed."""
        return await self._records(
            user_id, "transfers", filters, cursor, limit, self._store.transfers, _transfer_key
        )

    # -- the request log, alerts and gaps ----------------------------------------------------
    async def logs(
        self,
        user_id: str,
        filters: LogFilter,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> Listing[StoredCall]:
        """The requests made to the exchanges for the user's connections, newest first.

        Raises: NotFound, ValidationFailed."""
        _check_limit(limit)
        before = decode_id("logs", cursor) if cursor is not None else None
        ids = await self._ids(user_id, filters.connection_id)
        if not ids:
            return Listing((), None)
        found = await self._store.calls(
            CallQuery(
                connection_ids=ids,
                status=filters.status,
                errors_only=filters.errors_only,
                method=filters.method,
                path_prefix=filters.path_prefix,
                since_ms=filters.since_ms,
                until_ms=filters.until_ms,
                before=before,
                limit=limit + 1,
            )
        )
        return _by_id("logs", found, limit, lambda c: c.id)

    async def events(
        self, user_id: str, *, cursor: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> Listing[Event]:
        """The user's alerts and status changes, newest first. Raises: ValidationFailed."""
        _check_limit(limit)
        before = decode_id("events", cursor) if cursor is not None else None
        found = await self._store.events(user_id, before=before, limit=limit + 1)
        return _by_id("events", found, limit, lambda e: e.id or 0)

    async def gaps(self, user_id: str, *, connection_id: str | None = None) -> Sequence[Gap]:
        """The stretches of history the exchanges no longer keep. Raises: NotFound."""
        ids = await self._ids(user_id, connection_id)
        return await self._store.gaps(ids) if ids else []


def _by_id(listing: str, found: Sequence[R], limit: int, key: Callable[[R], int]) -> Listing[R]:
    items = tuple(found[:limit])
    return Listing(items, encode(listing, key(items[-1])) if len(found) > limit else None)
