"""What the API needs, built once by ``bootstrap`` and handed to ``create_app``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tresor.services.access import AccessService
from tresor.services.accounts import AccountService
from tresor.services.batch import BatchService
from tresor.services.connections import ConnectionService
from tresor.services.market_data import MarketDataService
from tresor.services.portfolio import PortfolioService
from tresor.services.ports import SyncStore
from tresor.services.routing import RoutingService
from tresor.services.rules import RulesService
from tresor.services.sync import SyncService
from tresor.services.trading_remote import Orders


@dataclass
class Container:
    access: AccessService
    connections: ConnectionService
    sync: SyncService
    store: SyncStore
    portfolio: PortfolioService
    market: MarketDataService
    orders: Orders
    batches: BatchService
    routing: RoutingService
    rules: RulesService = field(init=False)  # set by bootstrap, on the router it trades through
    accounts: AccountService = field(init=False)  # the dashboard's sign-in; set by bootstrap
    egress_ips: tuple[str, ...] = ()
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            await close()
