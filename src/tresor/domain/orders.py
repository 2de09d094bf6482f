"""Orders placed through Tresor, and the rules that keep one from ever being placed twice.

An order Tresor places goes through these states::

    pending --send--> open | closed | canceled | expired        the exchange answered
       |                rejected                                 the exchange (or Tresor) said no
       +--no answer--> unknown --look up by client order id--> one of the above
                                    (not found: sent again, under the same client order id)

- ``pending``: recorded, being sent. ``unknown``: sent, but the answer was lost (a timeout, a
  5xx): the exchange may or may not have it. Tresor never sends such an order again before it
  has looked it up on the exchange, and it only looks it up once the request can no longer be
  accepted: the exchange refuses a signed request older than its receive window
  (``RECV_WINDOW_MS``, Binance's ``recvWindow``). A send is signed at most ``SEND_DELAY_MS``
  after it is counted (the trading client waits no longer for the rate budget), so after
  ``sent_ms + SEND_DELAY_MS + RECV_WINDOW_MS`` plus a margin for clock differences, "not
  found" means it was never placed.
- The exchange's client order id is **derived** from the order's identity (the user and the
  ``Idempotency-Key``, or Tresor's order id), so every attempt, and a lookup after a crash,
  name the same order on the exchange.

Amounts are ``Decimal``; times are epoch milliseconds.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

RECV_WINDOW_MS = 5_000  # signed order requests are valid this long after their timestamp
SEND_DELAY_MS = 2_000  # the longest a send may wait (for the rate budget) before it is signed
LOOKUP_MARGIN_MS = 1_000  # clock differences between Tresor and the exchange
MAX_SEND_ATTEMPTS = 3  # sends of one order (each after a lookup found nothing)
CLIENT_ID_PREFIX = "tr"


class OrderState(StrEnum):
    PENDING = "pending"
    UNKNOWN = "unknown"
    OPEN = "open"
    CLOSED = "closed"  # completely filled
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def settled(self) -> bool:
        """Whether the exchange's answer is known (the order is not pending or unknown)."""
        return self not in (OrderState.PENDING, OrderState.UNKNOWN)

    @property
    def final(self) -> bool:
        """Whether the order can no longer change."""
        return self in (
            OrderState.CLOSED,
            OrderState.CANCELED,
            OrderState.EXPIRED,
            OrderState.REJECTED,
        )


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A new order as a user asks for it."""

    connection_id: str
    symbol: str  # unified, e.g. "BTC/USDT"
    side: str  # "buy" | "sell"
    type: str  # "market" | "limit"
    amount: Decimal  # in the base asset
    price: Decimal | None = None  # limit orders only
    time_in_force: str | None = None  # "GTC" | "IOC" | "FOK"
    client_order_id: str | None = None  # the user's own reference, kept with the order

    def fingerprint(self) -> str:
        """A digest of what was asked: the same request always gives the same value, any change
        of a field another one."""
        return fingerprint(
            {
                "connection_id": self.connection_id,
                "symbol": self.symbol,
                "side": self.side,
                "type": self.type,
                "amount": _number(self.amount),
                "price": None if self.price is None else _number(self.price),
                "time_in_force": self.time_in_force,
                "client_order_id": self.client_order_id,
            }
        )


@dataclass(frozen=True, slots=True)
class ExchangeOrder:
    """An order as the exchange reported it."""

    order_id: str
    client_order_id: str | None
    state: OrderState
    amount: Decimal
    filled: Decimal
    cost: Decimal  # in the quote asset
    average: Decimal | None
    price: Decimal | None
    time_ms: int


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """An order placed through Tresor: what was asked and what is known of it."""

    id: str
    user_id: str
    request: OrderRequest
    exchange_client_id: str  # the client order id the exchange knows it by
    state: OrderState
    created_ms: int
    updated_ms: int
    exchange_order_id: str | None = None
    filled: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    average: Decimal | None = None
    attempts: int = 0  # sends so far
    sent_ms: int | None = None  # the timestamp of the last send
    checked_ms: int | None = None  # when the exchange was last asked about it
    error_code: str | None = None
    error_message: str | None = None
    source: str = "api"  # "api" | "batch" | "route" | "rule"

    def lookup_after_ms(self) -> int:
        """When a lookup of an unknown order is conclusive: the last send can no longer be
        accepted by the exchange."""
        sent = self.sent_ms or self.created_ms
        return sent + SEND_DELAY_MS + RECV_WINDOW_MS + LOOKUP_MARGIN_MS


def exchange_client_id(user_id: str, identity: str) -> str:
    """The client order id sent to the exchange for the order known as ``identity`` (its
    Idempotency-Key, or Tresor's order id) of ``user_id``: 28 characters of ``[a-z0-9]`` after
    ``tr``, within every exchange's alphabet and length (Binance: ``^[.A-Z:/a-z0-9_-]{1,36}$``)
    and the same on every attempt."""
    digest = hashlib.sha256(f"{user_id}\x00{identity}".encode()).digest()
    return CLIENT_ID_PREFIX + base64.b32encode(digest).decode().lower()[:28]


def fingerprint(value: Mapping[str, Any] | list[Any]) -> str:
    """A digest of a JSON-like value, independent of key order."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _number(value: Decimal) -> str:
    """The same text for equal amounts ("1.50" and "1.5" are one request)."""
    normal = value.normalize()
    return format(normal, "f")
