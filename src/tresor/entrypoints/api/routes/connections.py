"""``/v1/connections``: exchange accounts connected by API key.

Scopes: reading and testing need ``read``; adding, rotating and removing keys need ``admin``.
Every route that takes an id answers 404 for another user's connection.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response

from tresor.domain.connections import KeyRole
from tresor.entrypoints.api.deps import Admin, Reader, Services
from tresor.entrypoints.api.schemas import (
    ConnectionCreate,
    ConnectionList,
    ConnectionPublic,
    KeyCreate,
)

router = APIRouter(prefix="/v1/connections", tags=["connections"])
ConnectionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "missing or invalid token"},
    403: {"description": "the token lacks the scope"},
    404: {"description": "no such connection (or not yours)"},
    409: {"description": "duplicate label or too many connections"},
    422: {"description": "invalid input, or the key was refused (code says why)"},
    503: {"description": "the exchange is unavailable or rate limiting"},
}


@router.post("", status_code=201, response_model=ConnectionPublic, responses=_ERRORS)
async def add_connection(
    body: ConnectionCreate, who: Admin, services: Services
) -> ConnectionPublic:
    """Connect an exchange account: the key(s) are tested, judged, encrypted and stored."""
    connection = await services.connections.add(
        who.user_id,
        exchange=body.exchange,
        label=body.label,
        endpoint=body.endpoint,
        read_key=body.read_key.credentials() if body.read_key else None,
        trade_key=body.trade_key.credentials() if body.trade_key else None,
    )
    return ConnectionPublic.of(connection)


@router.get("", response_model=ConnectionList, responses=_ERRORS)
async def list_connections(who: Reader, services: Services) -> ConnectionList:
    connections = await services.connections.all(who.user_id)
    return ConnectionList(
        items=[ConnectionPublic.of(c) for c in connections], egress_ips=list(services.egress_ips)
    )


@router.get("/{connection_id}", response_model=ConnectionPublic, responses=_ERRORS)
async def get_connection(
    connection_id: ConnectionId, who: Reader, services: Services
) -> ConnectionPublic:
    return ConnectionPublic.of(await services.connections.get(who.user_id, connection_id))


@router.post("/{connection_id}/test", response_model=ConnectionPublic, responses=_ERRORS)
async def test_connection(
    connection_id: ConnectionId, who: Reader, services: Services
) -> ConnectionPublic:
    """Check every key again; the capability report and status are updated."""
    return ConnectionPublic.of(await services.connections.test(who.user_id, connection_id))


@router.put("/{connection_id}/keys/{role}", response_model=ConnectionPublic, responses=_ERRORS)
async def rotate_key(
    connection_id: ConnectionId,
    role: Literal["read", "trade"],
    body: KeyCreate,
    who: Admin,
    services: Services,
) -> ConnectionPublic:
    """Replace a key: the new one is tested first and replaces the old one only if accepted."""
    connection = await services.connections.rotate(
        who.user_id, connection_id, KeyRole(role), body.credentials()
    )
    return ConnectionPublic.of(connection)


@router.post("/{connection_id}/disable", response_model=ConnectionPublic, responses=_ERRORS)
async def disable_connection(
    connection_id: ConnectionId, who: Admin, services: Services
) -> ConnectionPublic:
    """Pause a connection: nothing uses it until it is enabled again; its keys stay stored."""
    return ConnectionPublic.of(
        await services.connections.set_enabled(who.user_id, connection_id, enabled=False)
    )


@router.post("/{connection_id}/enable", response_model=ConnectionPublic, responses=_ERRORS)
async def enable_connection(
    connection_id: ConnectionId, who: Admin, services: Services
) -> ConnectionPublic:
    """Resume a disabled connection; its status comes back from its keys."""
    return ConnectionPublic.of(
        await services.connections.set_enabled(who.user_id, connection_id, enabled=True)
    )


@router.delete("/{connection_id}", status_code=204, responses=_ERRORS)
async def remove_connection(
    connection_id: ConnectionId, who: Admin, services: Services
) -> Response:
    """Disconnect: the stored credentials are destroyed."""
    await services.connections.remove(who.user_id, connection_id)
    return Response(status_code=204)
