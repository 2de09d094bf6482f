"""Request dependencies: the container, the caller's IP, the bearer token and its scopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tresor.domain.access import Principal, Scope
from tresor.domain.errors import InsufficientScope, InvalidToken
from tresor.entrypoints.api.container import Container
from tresor.services.batch import BatchService
from tresor.services.market_data import MarketDataService
from tresor.services.portfolio import PortfolioService
from tresor.services.routing import RoutingService
from tresor.services.rules import RulesService
from tresor.services.trading_remote import Orders as OrdersPort

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /v1/auth/token.")


def container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def portfolio(request: Request) -> PortfolioService:
    return container(request).portfolio


def market(request: Request) -> MarketDataService:
    return container(request).market


def orders(request: Request) -> OrdersPort:
    return container(request).orders


def batches(request: Request) -> BatchService:
    return container(request).batches


def routing(request: Request) -> RoutingService:
    return container(request).routing


def rules(request: Request) -> RulesService:
    return container(request).rules


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidToken()
    return await container(request).access.authenticate(credentials.credentials, client_ip(request))


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency giving the caller, who must hold ``scope``."""

    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.has(scope):
            raise InsufficientScope(
                f"This needs the '{scope.value}' scope.",
                remedy=f"Request a token with scope '{scope.value}'.",
            )
        return who

    return check


Services = Annotated[Container, Depends(container)]
Portfolios = Annotated[PortfolioService, Depends(portfolio)]
Markets = Annotated[MarketDataService, Depends(market)]
Caller = Annotated[Principal, Depends(principal)]
Orders = Annotated[OrdersPort, Depends(orders)]
Routing = Annotated[RoutingService, Depends(routing)]
Rules = Annotated[RulesService, Depends(rules)]
Batches = Annotated[BatchService, Depends(batches)]
Reader = Annotated[Principal, Depends(require(Scope.READ))]
TradeScope = Annotated[Principal, Depends(require(Scope.TRADE))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
