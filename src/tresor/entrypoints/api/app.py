"""The API application factory. Nothing happens at import time: ``create_app(container)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tresor import __version__
from tresor.entrypoints.api import problems
from tresor.entrypoints.api.container import Container
from tresor.entrypoints.api.deps import Caller
from tresor.entrypoints.api.routes import (
    activity,
    auth,
    batch,
    connections,
    markets,
    orders,
    portfolio,
    records,
    routing,
    rules,
    schemas,
)
from tresor.entrypoints.web import app as web


def create_app(container: Container) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await container.aclose()

    app = FastAPI(
        title="Tresor API",
        version=__version__,
        description="Connect exchange accounts by API key; Tresor never withdraws.",
        lifespan=lifespan,
    )
    app.state.container = container
    problems.install(app, pages=(web.is_page, web.error_page))
    # routes are matched in this order: placing orders first (the one call whose every
    # fraction of a millisecond counts), and before records (/v1/orders/open, /v1/orders/{id})
    app.include_router(orders.router)
    app.include_router(auth.router)
    app.include_router(connections.router)
    app.include_router(portfolio.router)
    app.include_router(batch.router)
    app.include_router(records.router)
    app.include_router(activity.router)
    app.include_router(schemas.router)
    app.include_router(markets.router)
    app.include_router(routing.router)
    app.include_router(rules.router)

    @app.get("/v1/health", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/v1/me", tags=["auth"])
    async def me(who: Caller) -> dict[str, object]:
        """Who the token acts for: its user, client and scopes."""
        return {
            "user_id": who.user_id,
            "client_id": who.client_id,
            "scopes": sorted(s.value for s in who.scopes),
        }

    web.install(app)  # the dashboard's pages, after the API's routes
    return app
