"""The exchange gateway: the only code that imports ccxt (async ccxt).

- ``gateway.CcxtGateway``: the ``ExchangeGateway`` port (``supports``, ``probe``), ``connect``
  for the read and trade calls, ``aclose``.
- ``client.ExchangeClient``: the allow-list of calls; no path to withdrawals or transfers.
- ``market.CcxtMarket``: keyless market data of one endpoint (``CcxtGateway.market``), metered
  with no wait for the budget.
- ``errors.translate``: every ccxt exception as the domain error naming what to do.
- ``probes``: each exchange's permission answer as a ``CapabilityReport``.
- ``redact.SecretRedactor``: keeps secrets out of every log line, ccxt's own included.
"""

from tresor.adapters.exchange.client import ExchangeClient
from tresor.adapters.exchange.gateway import CcxtGateway

__all__ = ["CcxtGateway", "ExchangeClient"]
