"""The worker side of trade keys: open a sealed key and ask the exchange what it can do.

Only a process holding the worker's private key (a ``TradeKeyOpener``) can run this; the API
process seals trade keys and hands the sealed fields over, through ``SealedKeyVerifier``.
"""

from __future__ import annotations

from tresor.domain.connections import (
    CapabilityReport,
    Credentials,
    ExchangeTarget,
    KeyRole,
    SealedCredentials,
    field_context,
)
from tresor.services.ports import ExchangeGateway, TradeKeyOpener


class SealedKeyProbe:
    """Implements ``SealedKeyVerifier`` where the private key is."""

    def __init__(self, opener: TradeKeyOpener, gateway: ExchangeGateway) -> None:
        self._opener = opener
        self._gateway = gateway

    async def verify(
        self, target: ExchangeTarget, sealed: SealedCredentials, *, connection_id: str
    ) -> CapabilityReport:
        credentials = Credentials(
            api_key=self._opener.open(
                sealed.api_key, context=field_context(connection_id, KeyRole.TRADE, "api_key")
            ),
            secret=self._opener.open(
                sealed.secret, context=field_context(connection_id, KeyRole.TRADE, "secret")
            ),
            passphrase=self._opener.open(
                sealed.passphrase, context=field_context(connection_id, KeyRole.TRADE, "passphrase")
            )
            if sealed.passphrase is not None
            else None,
        )
        return await self._gateway.probe(target, credentials)
