"""Request dependencies: the container, the caller's IP, the bearer token and its scopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from tresor.domain.access import Principal, Scope
from tresor.domain.errors import InvalidToken
from tresor.entrypoints.api.container import Container
from tresor.services.batch import BatchService
from tresor.services.market_data import MarketDataService
from tresor.services.portfolio import PortfolioService
from tresor.services.routing import RoutingService
from tresor.services.rules import RulesService
from tresor.services.trading_remote import Orders as OrdersPort


def _container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


# every dependency is a coroutine: FastAPI runs a plain function in a thread pool (a hop to
# another thread and back for each, on every request)
async def container(request: Request) -> Container:
    return _container(request)


def _service(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency giving the container's service ``name``."""

    async def service(request: Request) -> Any:
        return getattr(_container(request), name)

    service.__name__ = name
    return service


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class _Bearer(HTTPBearer):
    """The caller of a request, from its bearer token, who must hold ``scope`` (if given): one
    dependency where FastAPI would otherwise solve three (the header, the token, the scope) on
    every request. Declared as the ``HTTPBearer`` security scheme in the OpenAPI document."""

    def __init__(self, scope: Scope | None = None) -> None:
        super().__init__(
            scheme_name="HTTPBearer",
            auto_error=False,
            description="An access token from POST /v1/auth/token.",
        )
        self._scope = scope

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise InvalidToken()
        who = await _container(request).access.authenticate(token, client_ip(request))
        if self._scope is not None:
            who.require(self._scope)
        return who


principal = _Bearer()


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency giving the caller, who must hold ``scope``."""
    return _Bearer(scope)


Services = Annotated[Container, Depends(container)]
Portfolios = Annotated[PortfolioService, Depends(_service("portfolio"))]
Markets = Annotated[MarketDataService, Depends(_service("market"))]
Caller = Annotated[Principal, Depends(principal)]
Orders = Annotated[OrdersPort, Depends(_service("orders"))]
Routing = Annotated[RoutingService, Depends(_service("routing"))]
Rules = Annotated[RulesService, Depends(_service("rules"))]
Batches = Annotated[BatchService, Depends(_service("batches"))]
Reader = Annotated[Principal, Depends(require(Scope.READ))]
TradeScope = Annotated[Principal, Depends(require(Scope.TRADE))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
