"""The trading path on ccxt: ``CcxtTrader`` (the ``Trader`` port) on a client opened with a
connection's trade key, and ``CcxtTradeGateway`` that opens them.

Orders are ccxt's unified ``create_order``, ``fetch_order`` (by the client order id Tresor
derived, Binance's ``origClientOrderId``), ``cancel_order`` and ``fetch_order_trades``; the
market's rules come from the markets the endpoint's clients share. Nothing here decides
anything: the order service does.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from decimal import Decimal
from typing import Any

from tresor.adapters.exchange.client import ExchangeClient
from tresor.adapters.exchange.gateway import CcxtGateway
from tresor.adapters.exchange.history_generic import unified_order, unified_trade
from tresor.adapters.exchange.market_rules import rules_from_market
from tresor.domain.connections import Credentials, ExchangeTarget
from tresor.domain.errors import ExchangeUnavailable, UnknownSymbol
from tresor.domain.order_rules import MarketRules
from tresor.domain.orders import ExchangeOrder, OrderState
from tresor.domain.records import Record

_STATES = {s.value: s for s in OrderState}


def _dec(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(str(value))


def exchange_order(raw: dict[str, Any], now_ms: int) -> ExchangeOrder:
    """ccxt's unified order as the domain's ``ExchangeOrder``."""
    status = str(raw.get("status") or "open")
    average = raw.get("average")
    price = raw.get("price")
    return ExchangeOrder(
        order_id=str(raw["id"]),
        client_order_id=raw.get("clientOrderId"),
        state=_STATES.get(status, OrderState.OPEN),
        amount=_dec(raw.get("amount")),
        filled=_dec(raw.get("filled")),
        cost=_dec(raw.get("cost")),
        average=None if not average else _dec(average),
        price=None if not price else _dec(price),
        time_ms=int(raw.get("lastUpdateTimestamp") or raw.get("timestamp") or now_ms),
    )


class CcxtTrader:
    """One account's trading calls (a ``Trader``), on a client holding its trade key."""

    def __init__(
        self,
        client: ExchangeClient,
        *,
        connection_id: str,
        now_ms: Callable[[], int],
        parsed: MutableMapping[tuple[str, str], tuple[object, MarketRules]] | None = None,
    ) -> None:
        self._client = client
        self._connection_id = connection_id
        self._now_ms = now_ms
        # (exchange, symbol) -> (the market it was read from, its rules): shared by the traders
        # of one gateway, so a market's rules are parsed once per loading of the markets, not
        # once per order (two endpoints of one exchange hold different markets: each read
        # checks it is the same market object)
        self._parsed = {} if parsed is None else parsed

    async def rules(self, symbol: str) -> MarketRules:
        """The market's rules, as the markets the client holds now say."""
        markets = await self._client.load_markets()
        market = markets.get(symbol)
        if market is None:
            raise UnknownSymbol(details={"symbol": symbol})
        key = (self._client.exchange, symbol)
        known = self._parsed.get(key)
        if known is not None and known[0] is market:
            return known[1]
        rules = rules_from_market(
            market, self._client.exchange, precision_mode=self._client.precision_mode
        )
        self._parsed[key] = (market, rules)
        return rules

    async def free(self, asset: str) -> Decimal:
        balance = await self._client.fetch_balance()
        return _dec((balance.get("free") or {}).get(asset))

    async def best_price(self, symbol: str, side: str) -> Decimal:
        ticker = await self._client.fetch_ticker(symbol)
        price = ticker.get("ask" if side == "buy" else "bid") or ticker.get("last")
        if not price:
            raise ExchangeUnavailable("The exchange gave no price for this market just now.")
        return _dec(price)

    async def order_room(self) -> None:
        await self._client.order_room()

    async def place(
        self,
        *,
        symbol: str,
        side: str,
        order_type: str,
        amount: Decimal,
        price: Decimal | None,
        time_in_force: str | None,
        client_id: str,
        recv_window_ms: int,
    ) -> tuple[ExchangeOrder, list[Record]]:
        try:
            rules: MarketRules | None = await self.rules(symbol)
        except UnknownSymbol:
            rules = None  # the exchange's own refusal will say so
        raw = await self._client.create_order(
            rules=rules,
            symbol=symbol,
            side=side,
            order_type=order_type,
            amount=amount,
            price=price,
            client_order_id=client_id,
            time_in_force=time_in_force,
            recv_window_ms=recv_window_ms,
        )
        return exchange_order(raw, self._now_ms()), self._records(raw)

    def _records(self, raw: dict[str, Any]) -> list[Record]:
        """The order as a synced record, and the fills its answer carried (with trade ids)."""
        records: list[Record] = []
        if raw.get("timestamp") is not None and raw.get("symbol"):
            records.append(unified_order(self._connection_id, raw))
        for fill in raw.get("trades") or []:
            if fill.get("id") is not None and fill.get("timestamp") is not None:
                records.append(unified_trade(self._connection_id, fill))
        return records

    async def lookup(
        self, symbol: str, *, client_id: str
    ) -> tuple[ExchangeOrder, list[Record]] | None:
        raw = await self._client.fetch_order_by_client_id(client_id, symbol)
        return None if raw is None else (exchange_order(raw, self._now_ms()), self._records(raw))

    async def cancel(self, symbol: str, order_id: str) -> tuple[ExchangeOrder, list[Record]]:
        raw = await self._client.cancel_order(order_id, symbol)
        return exchange_order(raw, self._now_ms()), self._records(raw)

    async def fills(self, symbol: str, order_id: str) -> list[Record]:
        rows = await self._client.fetch_order_trades(order_id, symbol)
        return [unified_trade(self._connection_id, r) for r in rows]

    async def aclose(self) -> None:
        """Nothing to release: the client stays with ``CcxtTradeGateway`` for the next use."""


class CcxtTradeGateway:
    """Opens ``CcxtTrader`` s on the gateway's trading clients (metered, on the endpoint's
    shared session and markets).

    Building a ccxt client costs milliseconds of CPU (ccxt's ``binance`` constructor), more
    than Tresor's whole added latency may be, so the clients of the last ``keep`` keys used
    stay open, each for the exact credentials it was built with: a rotated key gets a new
    client (and the old one is closed when it falls out), and a client is never shared by two
    connections. ``aclose`` closes them all.
    """

    def __init__(self, gateway: CcxtGateway, *, keep: int = 256) -> None:
        self._gateway = gateway
        self._keep = keep
        self._clients: OrderedDict[tuple[str, str], ExchangeClient] = OrderedDict()
        self._parsed: dict[tuple[str, str], tuple[object, MarketRules]] = {}

    async def trader(
        self, target: ExchangeTarget, credentials: Credentials, *, connection_id: str
    ) -> CcxtTrader:
        key = (connection_id, _fingerprint(target, credentials))
        client = self._clients.get(key)
        if client is None or client.closed:
            client = await self._gateway.trading_client(
                target, credentials, connection_id=connection_id
            )
            self._clients[key] = client
            while len(self._clients) > self._keep:
                _, old = self._clients.popitem(last=False)
                await old.close()
        self._clients.move_to_end(key)
        return CcxtTrader(
            client, connection_id=connection_id, now_ms=self._gateway.now_ms, parsed=self._parsed
        )

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            await client.close()


def _fingerprint(target: ExchangeTarget, credentials: Credentials) -> str:
    """Tells apart two sets of credentials (and endpoints) without keeping them in clear."""
    digest = hashlib.sha256()
    for part in (
        target.exchange,
        target.url or "",
        credentials.api_key.reveal(),
        credentials.secret.reveal(),
        credentials.passphrase.reveal() if credentials.passphrase is not None else "",
    ):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()
