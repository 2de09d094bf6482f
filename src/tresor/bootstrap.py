"""The one wiring place: everything a process needs, built from ``Settings``.

Nothing happens at import time. ``build_runtime`` opens the database (migrating it), the vault
(creating the master key file on first run), the exchange gateway and the services, and returns
them with a single ``aclose``.

The embedded default runs the trading worker's part in the same process: it holds the worker's
private key and verifies sealed trade keys. The API-side objects (``ConnectionService``) only
ever get the public key (``PublicKeySealer``) and the ``SealedKeyVerifier`` port, so moving the
worker to another process changes this file only.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tresor.adapters.cache.memory import InMemoryMarketCache
from tresor.adapters.crypto import (
    EnvelopeVault,
    PublicKeySealer,
    WorkerKeypair,
    build_vault,
    load_worker_public_key,
)
from tresor.adapters.crypto.one_time_codes import TotpCodes
from tresor.adapters.crypto.passwords import Argon2Passwords
from tresor.adapters.db.request_log import BufferedRequestLog
from tresor.adapters.db.routing_store import SqlRoutingStore
from tresor.adapters.db.rules_store import SqlRulesStore
from tresor.adapters.db.sync_store import SqlSyncStore
from tresor.adapters.db.trading_store import SqlTradingStore
from tresor.adapters.db.uow import Database, database_url
from tresor.adapters.exchange.gateway import CcxtGateway
from tresor.adapters.exchange.trading import CcxtTradeGateway
from tresor.adapters.ratelimit.memory import InMemoryRateBudget
from tresor.config import Settings
from tresor.domain.accounts import SessionPolicy
from tresor.domain.connections import ExchangeTarget
from tresor.entrypoints.api.container import Container
from tresor.services.access import AccessPolicy, AccessService
from tresor.services.accounts import AccountService
from tresor.services.batch import BatchService
from tresor.services.chores import CHECK_RULES_S, PURGE_QUOTES_S, TRACK_ORDERS_S, Chore
from tresor.services.connections import ConnectionRules, ConnectionService
from tresor.services.market_data import MarketDataService
from tresor.services.order_exchange import OrderExchange
from tresor.services.portfolio import PortfolioService
from tresor.services.ports import (
    MarketCache,
    PeriodicGate,
    RateBudget,
    SealedKeyVerifier,
    TradeDesk,
    TradeKeySealer,
)
from tresor.services.pre_trade import PreTradeChecks
from tresor.services.rewrap import KeyRewrap
from tresor.services.routing import RoutingPolicy, RoutingService
from tresor.services.rules import RulesPolicy, RulesService, SyncedBalances
from tresor.services.rules_execution import RouterExecutor
from tresor.services.scheduler import SchedulePolicy, SyncScheduler
from tresor.services.sync import SyncService
from tresor.services.sync_health import SyncPolicy
from tresor.services.trading import OrderService
from tresor.services.trading_remote import OrderDesk, Orders, RemoteOrders
from tresor.services.verification import (
    DeferredVerification,
    PendingKeyVerification,
    SealedKeyProbe,
)

if TYPE_CHECKING:
    from tresor.adapters.queue.redis_queue import RedisJobQueue


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    vault: EnvelopeVault
    gateway: CcxtGateway
    container: Container
    store: SqlSyncStore
    request_log: BufferedRequestLog
    budget: RateBudget
    sync: SyncService
    pending: PendingKeyVerification | None = None  # the worker's job; None in an API-only process
    scheduler: SyncScheduler | None = None  # the periodic sync jobs; None in an API-only process
    # following placed orders, checking rebalancing rules; none in an API-only process
    chores: list[Chore] = field(default_factory=list)
    # distributed mode, in a worker: the trade desk it answers API-only processes' orders on
    desk: tuple[TradeDesk, OrderDesk] | None = None
    background: list[asyncio.Task[None]] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    closed: bool = False

    def rewrap(self) -> KeyRewrap:
        return KeyRewrap(self.database.uow, self.vault)

    def start_background(self, *, scheduler_interval: float = 1.0) -> None:
        """Start the request log's writer and, in a worker process, the sync scheduler and the
        order tracker."""
        self.background.append(asyncio.create_task(self.request_log.run()))
        if self.scheduler is not None:
            self.background.append(
                asyncio.create_task(self.scheduler.run(interval=scheduler_interval))
            )
        for chore in self.chores:
            self.background.append(asyncio.create_task(chore.run()))
        if self.desk is not None:
            desk, handler = self.desk
            self.background.append(asyncio.create_task(desk.serve(handler.handle)))

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        for close in reversed(self.closers):
            await close()


def endpoints_of(settings: Settings) -> dict[str, ExchangeTarget]:
    return {
        name: ExchangeTarget(
            exchange=cfg.exchange,
            endpoint=name,
            url=cfg.url,
            weight_per_minute=cfg.weight_per_minute,
            orders_per_10s=cfg.orders_per_10s,
        )
        for name, cfg in settings.endpoints.items()
    }


async def build_runtime(settings: Settings) -> Runtime:
    """Everything one process needs, for its ``settings.process_role``: ``all`` (the embedded
    default: API, CLI and the trading worker in one), ``api`` (no private key: trade keys stay
    ``verifying`` until a worker checks them) or ``worker``."""
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = Database(
        database_url(data_dir, settings.database_url),
        schema=settings.database_schema,
        sqlite_synchronous=settings.sqlite_synchronous,
    )
    try:
        await database.migrate()
        master = settings.master_key.get_secret_value() if settings.master_key else None
        vault = build_vault(data_dir=data_dir, master_key=master)
        # an API-only process gets the public half only: it can seal trade keys, never open them
        worker = None if settings.process_role == "api" else WorkerKeypair.load_or_create(data_dir)
        sealer: TradeKeySealer = (
            worker.sealer() if worker else PublicKeySealer(load_worker_public_key(data_dir))
        )
    except BaseException:
        await database.dispose()
        raise
    clock = SystemClock()
    store = SqlSyncStore(database.engine)
    request_log = BufferedRequestLog(store)
    closers: list[Callable[[], Awaitable[None]]] = [database.dispose]
    budget: RateBudget
    market_cache: MarketCache
    queue: RedisJobQueue | None = None
    gate: PeriodicGate | None = None
    desk: TradeDesk | None = None
    if settings.redis_url:
        from redis.asyncio import Redis

        from tresor.adapters.cache.redis import RedisMarketCache
        from tresor.adapters.queue.redis_queue import RedisJobQueue, RedisPeriodicGate
        from tresor.adapters.queue.trade_desk import RedisTradeDesk
        from tresor.adapters.ratelimit.redis import RedisRateBudget

        prefix = settings.redis_prefix
        redis_client = Redis.from_url(settings.redis_url)
        budget = RedisRateBudget(redis_client, prefix=f"{prefix}:budget")
        market_cache = RedisMarketCache(redis_client, prefix=f"{prefix}:market")
        closers.append(redis_client.aclose)
        trade_desk = RedisTradeDesk(
            settings.redis_url, prefix=prefix, concurrency=settings.worker_concurrency
        )
        desk = trade_desk
        closers.append(trade_desk.aclose)
        if settings.process_role != "api":
            queue = RedisJobQueue(
                settings.redis_url,
                prefix=prefix,
                concurrency=settings.worker_concurrency,
                redeliver_after_s=settings.sync_lease_seconds,
            )
            gate = RedisPeriodicGate(redis_client, prefix=prefix)
            closers.append(queue.aclose)
    else:
        budget = InMemoryRateBudget()
        market_cache = InMemoryMarketCache()
    gateway = CcxtGateway(
        egress_ips=settings.egress_ips,
        clock=clock,
        budget=budget,
        request_log=request_log,
        timeout_ms=settings.exchange_timeout_ms,
    )
    access = AccessService(
        database.uow,
        clock,
        AccessPolicy(
            token_ttl=timedelta(seconds=settings.token_ttl_seconds),
            refresh_ttl=timedelta(seconds=settings.refresh_ttl_seconds),
            max_failures=settings.auth_max_failures,
            failure_window=timedelta(seconds=settings.auth_failure_window_seconds),
            token_cache=timedelta(seconds=settings.token_cache_seconds),
        ),
    )
    verifier: SealedKeyVerifier = DeferredVerification()
    pending = None
    if worker is not None:
        probe = SealedKeyProbe(worker.opener(), gateway)
        verifier = probe
        pending = PendingKeyVerification(
            uow=database.uow,
            vault=vault,
            probe=probe,
            clock=clock,
            endpoints=endpoints_of(settings),
        )
    connections = ConnectionService(
        uow=database.uow,
        vault=vault,
        sealer=sealer,
        verifier=verifier,
        gateway=gateway,
        clock=clock,
        endpoints=endpoints_of(settings),
        rules=ConnectionRules(
            max_per_user=settings.max_connections_per_user,
            verify_wait_seconds=settings.verify_wait_seconds,
        ),
    )
    sync = SyncService(
        uow=database.uow,
        store=store,
        vault=vault,
        opener=worker.opener() if worker is not None else None,
        gateway=gateway,
        clock=clock,
        endpoints=endpoints_of(settings),
        policy=SyncPolicy(
            stale_after_s=float(settings.stale_after_seconds), quote=settings.portfolio_quote
        ),
    )
    scheduler = None
    if worker is not None:
        scheduler = SyncScheduler(
            sync=sync,
            store=store,
            uow=database.uow,
            clock=clock,
            policy=SchedulePolicy(
                request_log_days=settings.request_log_days,
                lease_s=settings.sync_lease_seconds,
                max_parallel=settings.worker_concurrency,
            ),
            queue=queue,
            gate=gate,
        )
    market = MarketDataService(
        gateway=gateway, cache=market_cache, clock=clock, endpoints=endpoints_of(settings)
    )
    trading_store = SqlTradingStore(database.engine)
    trade_gateway = CcxtTradeGateway(gateway)
    closers.append(trade_gateway.aclose)
    orders = OrderService(
        uow=database.uow,
        store=trading_store,
        exchange=OrderExchange(
            uow=database.uow,
            store=trading_store,
            gateway=trade_gateway,
            vault=vault,
            opener=worker.opener() if worker is not None else None,
            endpoints=endpoints_of(settings),
            clock=clock,
        ),
        checks=PreTradeChecks(clock=clock, reference_price=market.reference_price),
        clock=clock,
    )
    # an API-only process cannot open trade keys: its orders are carried out by a worker
    served: Orders = orders
    if worker is None and desk is not None:
        served = RemoteOrders(desk, orders)
    container = Container(
        access=access,
        connections=connections,
        sync=sync,
        store=store,
        portfolio=PortfolioService(uow=database.uow, store=store, clock=clock),
        market=market,
        orders=served,
        batches=BatchService(orders=served, store=trading_store, clock=clock),
        routing=RoutingService(
            uow=database.uow,
            store=SqlRoutingStore(database.engine),
            keys=trading_store,
            orders=served,
            books=market,
            clock=clock,
            policy=RoutingPolicy(
                quote_ttl_s=settings.route_quote_ttl_seconds,
                keep_expired_s=settings.route_quote_keep_seconds,
            ),
        ),
        egress_ips=tuple(settings.egress_ips),
    )
    container.rules = RulesService(
        uow=database.uow,
        store=SqlRulesStore(database.engine),
        portfolio=container.portfolio,
        prices=market,
        balances=SyncedBalances(sync),
        executor=RouterExecutor(container.routing),
        clock=clock,
        policy=RulesPolicy(
            fee=settings.rules_fee,
            max_balance_age_s=settings.rules_balance_age_seconds,
            max_rules_per_user=settings.rules_per_user,
        ),
    )
    container.accounts = AccountService(
        uow=database.uow,
        clock=clock,
        hasher=Argon2Passwords(),
        codes=TotpCodes(),
        vault=vault,
        policy=SessionPolicy(
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_hours),
        ),
    )
    runtime = Runtime(
        settings=settings,
        database=database,
        vault=vault,
        gateway=gateway,
        container=container,
        store=store,
        request_log=request_log,
        budget=budget,
        sync=sync,
        pending=pending,
        scheduler=scheduler,
        chores=[
            Chore("track_orders", TRACK_ORDERS_S, orders.track, gate=gate),
            Chore("check_rules", CHECK_RULES_S, container.rules.check_due, gate=gate),
            Chore("purge_quotes", PURGE_QUOTES_S, container.routing.purge_quotes, gate=gate),
            Chore("purge_sessions", PURGE_QUOTES_S, container.accounts.purge_sessions, gate=gate),
        ]
        if worker is not None
        else [],
        desk=(desk, OrderDesk(orders)) if worker is not None and desk is not None else None,
    )
    runtime.closers.extend([*closers, gateway.aclose, request_log.aclose])
    container.closers.append(runtime.aclose)
    if not gc.get_freeze_count():
        # start-up's ~290,000 objects (modules, ccxt, SQLAlchemy, the app) leave the garbage
        # collector's full passes, which otherwise scan them all about once a backfill (3 µs
        # per trade, docs/benchmarks.md); once per process, after a collection, so a process
        # building many runtimes (the tests) keeps no garbage for good
        gc.collect()
        gc.freeze()
    return runtime
