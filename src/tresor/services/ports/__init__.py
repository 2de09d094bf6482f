"""The ports: what the services need from the outside world, as Protocols.

Adapters implement them (``adapters/``); tests may use the in-memory implementations, which run
the same contract suites as the real ones so they cannot drift. One module per concern:
``core`` (keys, storage, time), ``exchange`` (budget, request log, market data, history),
``sync`` (sync store, job queue, periodic gate), ``trading`` (orders, idempotency).
"""

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
from tresor.services.ports.exchange import (
    HistorySource,
    MarketCache,
    MarketGateway,
    MarketSource,
    RateBudget,
    RequestLog,
)
from tresor.services.ports.sync import (
    JobQueue,
    PeriodicGate,
    SyncStore,
)

__all__ = [
    "AttemptRepository",
    "ClientRepository",
    "Clock",
    "ConnectionRepository",
    "ExchangeGateway",
    "HistorySource",
    "JobQueue",
    "MarketCache",
    "MarketGateway",
    "MarketSource",
    "PeriodicGate",
    "RateBudget",
    "RequestLog",
    "SealedKeyVerifier",
    "SyncStore",
    "TokenRepository",
    "TradeKeyOpener",
    "TradeKeySealer",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserRepository",
    "Vault",
]
