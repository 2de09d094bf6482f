"""The ports: what the services need from the outside world, as Protocols.

Adapters implement them (``adapters/``); tests may use the in-memory implementations, which run
the same contract suites as the real ones so they cannot drift. One module per concern:
``core`` (keys, storage, time), ``accounts`` (dashboard sign-in: passwords, one-time codes,
sessions), ``exchange`` (budget, request log, market data, history),
``sync`` (sync store, job queue, periodic gate), ``trading`` (orders, idempotency), ``routing``
(route quotes), ``rules`` (rebalancing rules and their log).
"""

from tresor.services.ports.accounts import (
    OneTimeCodes,
    PasswordHasher,
    PasswordRepository,
    PreferencesRepository,
    SessionRepository,
    TwoFactorRepository,
)
from tresor.services.ports.core import (
    AttemptRepository,
    ClientRepository,
    Clock,
    ConnectionRepository,
    ExchangeGateway,
    SealedKeyVerifier,
    TokenRepository,
    TradeKeyOpener,
    TradeKeySealer,
    UnitOfWork,
    UnitOfWorkFactory,
    UserRepository,
    Vault,
)
from tresor.services.ports.desk import TradeDesk
from tresor.services.ports.exchange import (
    HistorySource,
    MarketCache,
    MarketGateway,
    MarketSource,
    RateBudget,
    RequestLog,
)
from tresor.services.ports.routing import IdempotencyKeys, RouteQuote, RoutingStore
from tresor.services.ports.rules import (
    BalanceRefresher,
    PortfolioReader,
    PriceSource,
    Rule,
    RuleExecutor,
    RuleLogEntry,
    RulesStore,
    RuleTrade,
    TradeResult,
)
from tresor.services.ports.sync import (
    JobQueue,
    PeriodicGate,
    SyncStore,
)
from tresor.services.ports.trading import (
    KeyClaim,
    KeyRecord,
    RecordSink,
    TradeGateway,
    Trader,
    TradingStore,
)

__all__ = [
    "AttemptRepository",
    "BalanceRefresher",
    "ClientRepository",
    "Clock",
    "ConnectionRepository",
    "ExchangeGateway",
    "HistorySource",
    "IdempotencyKeys",
    "JobQueue",
    "KeyClaim",
    "KeyRecord",
    "MarketCache",
    "MarketGateway",
    "MarketSource",
    "OneTimeCodes",
    "PasswordHasher",
    "PasswordRepository",
    "PeriodicGate",
    "PortfolioReader",
    "PreferencesRepository",
    "PriceSource",
    "RateBudget",
    "RecordSink",
    "RequestLog",
    "RouteQuote",
    "RoutingStore",
    "Rule",
    "RuleExecutor",
    "RuleLogEntry",
    "RuleTrade",
    "RulesStore",
    "SealedKeyVerifier",
    "SessionRepository",
    "SyncStore",
    "TokenRepository",
    "TradeDesk",
    "TradeGateway",
    "TradeKeyOpener",
    "TradeKeySealer",
    "TradeResult",
    "Trader",
    "TradingStore",
    "TwoFactorRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserRepository",
    "Vault",
]
