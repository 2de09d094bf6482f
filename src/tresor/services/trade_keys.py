"""What the trading path learns about a connection's trade key from the exchange.

When the exchange refuses the trade key (revoked, expired, IP no longer allowed), the key's
status and the connection's say so at once, where the user sees them; the orders keep their
last known state, and tracking resumes by itself once a new trade key is set (its verification
gives the key a fresh status).
"""

from __future__ import annotations

from dataclasses import replace

from tresor.domain.connections import ConnectionStatus, KeyRole, combine
from tresor.domain.errors import IpNotAllowed, KeyExpired, KeyRejected
from tresor.services.ports import Clock, UnitOfWorkFactory


def key_status_for(error: KeyRejected) -> ConnectionStatus:
    if isinstance(error, IpNotAllowed):
        return ConnectionStatus.IP_NOT_ALLOWED
    if isinstance(error, KeyExpired):
        return ConnectionStatus.INSUFFICIENT_PERMISSIONS
    return ConnectionStatus.INVALID_CREDENTIALS


async def record_trade_key_refused(
    uow: UnitOfWorkFactory,
    clock: Clock,
    *,
    user_id: str,
    connection_id: str,
    error: KeyRejected,
) -> bool:
    """Mark the connection's trade key (and the connection) with the refusal's status; whether
    anything changed (a disabled connection keeps its status)."""
    status = key_status_for(error)
    async with uow() as work:
        connection = await work.connections.get(connection_id, user_id)
        if connection is None:
            return False
        key = connection.key(KeyRole.TRADE)
        if key is None or key.status is status:
            return False
        keys = tuple(
            replace(k, status=status) if k.role is KeyRole.TRADE else k for k in connection.keys
        )
        overall = connection.status
        if overall is not ConnectionStatus.DISABLED:
            overall = combine([k.status for k in keys])
        await work.connections.update(
            replace(connection, keys=keys, status=overall, updated_at=clock.now())
        )
        await work.commit()
    return True
