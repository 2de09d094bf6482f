"""The ports: what the services need from the outside world, as Protocols.

Adapters implement them (``adapters/``); tests may use the in-memory implementations, which run
the same contract suites as the real ones so they cannot drift.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Protocol, Self

from tresor.domain.access import ApiClient, TokenRecord, User
from tresor.domain.connections import (
    CapabilityReport,
    Connection,
    Credentials,
    ExchangeTarget,
    SealedCredentials,
)
from tresor.domain.market import Candles, MarketRecord, Observed, OrderBook, Ticker
from tresor.domain.ratelimits import Bucket
from tresor.domain.records import (
    BalanceSnapshot,
    CallQuery,
    Cursor,
    Dataset,
    ExchangeCall,
    Gap,
    OrderRecord,
    Page,
    Record,
    RecordQuery,
    StoredCall,
    TradeRecord,
    TransferRecord,
    ValuedSnapshot,
)
from tresor.domain.secrets import Secret
from tresor.domain.sync import Event, SyncJob, SyncState


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class ExchangeGateway(Protocol):
    """The only way to an exchange. It has an allow-list of read and trade calls and no path to
    withdrawals or transfers."""

    def supports(self, exchange: str) -> bool:
        """Whether ``exchange`` is a ccxt exchange id Tresor can connect to."""
        ...

    async def probe(self, target: ExchangeTarget, credentials: Credentials) -> CapabilityReport:
        """Authenticate with the key and report what it can do. Never raises for a bad key:
        failures are in the report's ``failure``."""
        ...


class Vault(Protocol):
    """Envelope encryption: each value under its own data key, wrapped by the master key, the
    ciphertext bound to ``context`` (table, row, field) so it cannot be moved elsewhere."""

    def encrypt(self, plaintext: bytes, *, context: str) -> bytes: ...

    def decrypt(self, blob: bytes, *, context: str) -> bytes:
        """Raises ``ValueError`` if the blob was tampered with or moved to another context."""
        ...

    def rewrap(self, blob: bytes, *, context: str) -> bytes:
        """The same value with its data key wrapped by the current master key."""
        ...


class TradeKeySealer(Protocol):
    """Seals trade-key fields to the trading worker's public key (any process can seal)."""

    def seal(self, plaintext: Secret, *, context: str) -> bytes: ...


class TradeKeyOpener(Protocol):
    """Opens sealed trade-key fields: only the trading worker holds one."""

    def open(self, sealed: bytes, *, context: str) -> Secret: ...


class SealedKeyVerifier(Protocol):
    """Verifies a sealed trade key where it can be opened (the trading worker) and returns the
    exchange's report; the caller never sees the clear key."""

    async def verify(
        self, target: ExchangeTarget, sealed: SealedCredentials, *, connection_id: str
    ) -> CapabilityReport | None:
        """The report, or None when verification is left to a worker (status verifying)."""
        ...


class RateBudget(Protocol):
    """The request budget: fixed windows aligned to the epoch, as Binance counts them
    (``domain.ratelimits``). The embedded default keeps it in memory; the distributed mode keeps
    it in Redis, shared by all workers. Headroom is the caller's: give buckets a ``limit`` below
    the exchange's own."""

    async def acquire(
        self,
        buckets: Sequence[Bucket],
        weight: int,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (ends in a domain error)
    ) -> None:
        """Wait until every bucket has room for ``weight`` in its current window (and none is
        blocked), then charge them all at once: never some of them.

        Raises:
            RateBudgetExhausted: ``timeout`` seconds passed first; nothing was charged. Its
                ``retry_after`` is how long the full bucket was still to stay full.
            ValueError: ``weight`` is negative or above a bucket's limit (it could never fit).
        """
        ...

    async def observe(self, bucket: Bucket, used: int) -> None:
        """Reconcile with the exchange's own count (``X-MBX-USED-WEIGHT-1M``): the current
        window's count becomes the larger of ours and ``used``."""
        ...

    async def block(self, bucket: Bucket, seconds: float) -> None:
        """Charge nothing to ``bucket`` for ``seconds`` (``Retry-After`` of a 429 or a 418 ban).
        A shorter block never shortens a longer one."""
        ...

    async def used(self, bucket: Bucket) -> int:
        """The weight charged to ``bucket`` in its current window."""
        ...


class RequestLog(Protocol):
    """Where every exchange request is recorded. ``record`` never blocks and never fails the
    request: entries are buffered and written in batches."""

    def record(self, call: ExchangeCall) -> None: ...


class MarketSource(Protocol):
    """Public market data of one exchange endpoint, read without a key through the exchange
    library's unified calls. Every request is charged to the rate budget *without waiting*:
    when the budget has no room right now the call raises ``RateBudgetExhausted`` at once (a
    cache answers instead, or the caller retries later)."""

    exchange: str

    async def symbols(self) -> frozenset[str]:
        """The unified symbols of the endpoint's markets (loaded once, refreshed hourly).

        Raises:
            ExchangeTrouble: the markets could not be loaded (and never were).
        """
        ...

    def timeframes(self) -> tuple[str, ...]:
        """The candle timeframes the exchange offers ("1m", "1h", "1d" ...); no request."""
        ...

    def book_limit(self, depth: int) -> int:
        """How many levels to ask for when ``depth`` are wanted: the most that cost the same
        request weight (Binance: 100 for any depth up to 100), so one cached book serves many
        depths."""
        ...

    async def ticker(self, symbol: str) -> Ticker:
        """Raises: ExchangeTrouble, ValidationFailed (the exchange refused the request)."""
        ...

    async def order_book(self, symbol: str, limit: int) -> OrderBook:
        """Raises: ExchangeTrouble, ValidationFailed."""
        ...

    async def candles(
        self, symbol: str, timeframe: str, *, since_ms: int | None, limit: int
    ) -> Candles:
        """The ``limit`` candles from ``since_ms`` on (None: the latest), oldest first.

        Raises: ExchangeTrouble, ValidationFailed."""
        ...


class MarketGateway(Protocol):
    def market(self, target: ExchangeTarget) -> MarketSource:
        """The endpoint's market data source (one per endpoint, kept open by the gateway).

        Raises:
            UnknownExchange: ``target.exchange`` is not an exchange the gateway knows.
        """
        ...


class MarketCache(Protocol):
    """Recently read market data, by key. In memory in the embedded default; in Redis, shared
    by every process, in the distributed mode. ``claim``/``release`` elect the one process that
    asks the exchange when several miss the same key at once (single flight across processes;
    within a process the service coalesces requests itself)."""

    async def get(self, key: str) -> Observed[MarketRecord] | None: ...

    async def put(self, key: str, entry: Observed[MarketRecord], *, keep_seconds: float) -> None:
        """Store ``entry`` for ``keep_seconds`` (past its time to live: a stale answer is better
        than none when the exchange cannot be asked)."""
        ...

    async def claim(self, key: str, *, seconds: float) -> str | None:
        """A token if this caller may fetch ``key`` now (nobody else is fetching it, or the
        other's claim is older than ``seconds``); None while another process fetches it."""
        ...

    async def release(self, key: str, token: str) -> None:
        """End the claim ``token`` on ``key`` (a claim that expired meanwhile is left alone)."""
        ...


class HistorySource(Protocol):
    """One connection's read access to its exchange (opened by ``ExchangeGateway.history``):
    balances, prices and history pages. Close it with ``aclose``."""

    async def balances(self) -> BalanceSnapshot: ...

    async def prices(self) -> dict[str, Decimal]:
        """The last price of every market, by unified symbol ("BTC/USDT")."""
        ...

    def markets_for(self, dataset: Dataset, assets: frozenset[str]) -> list[str]:
        """The markets ``dataset`` is read per, for an account known to have held ``assets``
        (``[ACCOUNT_WIDE]`` for account-wide datasets)."""
        ...

    def listed(self, symbol: str) -> bool: ...

    async def active_markets(self) -> frozenset[str]:
        """Markets with an open order (which balances do not reveal)."""
        ...

    async def page(
        self, dataset: Dataset, market: str, position: str | None, *, since_ms: int
    ) -> Page:
        """The page after ``position`` (None: the first, from ``since_ms``).

        Raises:
            ExchangeTrouble, KeyRejected: as the exchange answered.
        """
        ...

    async def aclose(self) -> None: ...


class SyncStore(Protocol):
    """The sync engine's storage. Every method is its own transaction."""

    # -- the completeness ledger --
    async def cursors(self, connection_id: str) -> list[Cursor]: ...

    async def save_page(
        self, cursor: Cursor, records: Sequence[Record], gaps: Sequence[Gap] = ()
    ) -> None:
        """Upsert ``records`` (keyed by the exchange's ids), record ``gaps`` and move the
        cursor, all in one transaction: a crash leaves the old cursor and no partial page."""
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

    async def snapshots_before(
        self, connection_ids: Sequence[str], *, before_ms: int
    ) -> dict[str, ValuedSnapshot]:
        """Each connection's latest snapshot taken before ``before_ms`` (where a chart starts)."""
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


class UserRepository(Protocol):
    async def add(self, user: User) -> None: ...
    async def get(self, user_id: str) -> User | None: ...
    async def by_name(self, name: str) -> User | None: ...


class ClientRepository(Protocol):
    async def add(self, client: ApiClient) -> None: ...
    async def get(self, client_id: str) -> ApiClient | None: ...
    async def for_user(self, user_id: str) -> Sequence[ApiClient]: ...


class TokenRepository(Protocol):
    async def add(self, token: TokenRecord) -> None: ...
    async def get(self, token_hash: str) -> TokenRecord | None: ...
    async def revoke_family(self, family: str, at: datetime) -> int: ...
    async def revoke(self, token_hash: str, at: datetime) -> bool: ...
    async def purge_expired(self, before: datetime) -> int: ...


class AttemptRepository(Protocol):
    """Failed authentication attempts, for throttling (by client id and by IP)."""

    async def record_failure(self, key: str, at: datetime) -> None: ...
    async def failures_since(self, key: str, since: datetime) -> int: ...
    async def clear(self, key: str) -> None: ...


class ConnectionRepository(Protocol):
    async def add(self, connection: Connection) -> None: ...
    async def get(self, connection_id: str, user_id: str) -> Connection | None:
        """The connection if it exists *and belongs to* ``user_id``; otherwise None."""
        ...

    async def for_user(self, user_id: str) -> Sequence[Connection]: ...
    async def by_label(self, user_id: str, label: str) -> Connection | None: ...
    async def count_for_user(self, user_id: str) -> int: ...
    async def update(self, connection: Connection) -> None:
        """Replace the stored connection (and its keys) with ``connection``."""
        ...

    async def delete(self, connection_id: str, user_id: str) -> bool: ...
    async def owner_of(self, connection_id: str) -> str | None:
        """The user a connection belongs to (for jobs that start from a connection id)."""
        ...

    async def all_ids(self) -> Sequence[tuple[str, str]]:
        """Every (connection id, user id): for maintenance such as key rotation."""
        ...


class UnitOfWork(Protocol):
    """One transaction: ``async with uow: ...; await uow.commit()``. Leaving the block without
    committing rolls back."""

    users: UserRepository
    clients: ClientRepository
    tokens: TokenRepository
    attempts: AttemptRepository
    connections: ConnectionRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


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
