"""Accounts, API keys, orders, trades and transfers held by a simulated venue.

Plain mutable records; the rules that change them live in ``engine.py``. All amounts are
``Decimal``; the ``*_json`` methods render them as Binance does (eight-decimal strings).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from decimal import Decimal

from tresor.sim.market import f8

ZERO = Decimal(0)

# Every permission flag of GET /sapi/v1/account/apiRestrictions, with the simulator's defaults
# for a new key (read only, as the exchange creates them).
PERMISSION_FLAGS: dict[str, bool] = {
    "enableReading": True,
    "enableSpotAndMarginTrading": False,
    "enableWithdrawals": False,
    "enableInternalTransfer": False,
    "enableMargin": False,
    "enableFutures": False,
    "permitsUniversalTransfer": False,
    "enableVanillaOptions": False,
    "enableFixApiTrade": False,
    "enableFixReadOnly": False,
    "enablePortfolioMarginTrading": False,
}


@dataclass
class ApiKey:
    api_key: str
    secret: str
    account_id: int
    permissions: dict[str, bool]
    ip_whitelist: list[str]
    create_time: int
    trading_expiration: int = 0  # tradingAuthorityExpirationTime; 0 = none

    @property
    def ip_restrict(self) -> bool:
        return bool(self.ip_whitelist)

    def restrictions_json(self) -> dict[str, object]:
        body: dict[str, object] = {"ipRestrict": self.ip_restrict, "createTime": self.create_time}
        body.update(self.permissions)
        if self.trading_expiration:
            body["tradingAuthorityExpirationTime"] = self.trading_expiration
        return body


@dataclass
class Order:
    account_id: int
    symbol: str
    order_id: int
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    orig_quote_qty: Decimal
    time: int
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    update_time: int = 0
    locked: Decimal = ZERO  # funds still reserved by this order
    checked_until: int = 0  # resting orders: the market was matched against up to here

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    def common_json(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": f8(self.price),
            "origQty": f8(self.orig_qty),
            "executedQty": f8(self.executed_qty),
            "cummulativeQuoteQty": f8(self.cum_quote),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
        }

    def query_json(self) -> dict[str, object]:
        body = self.common_json()
        body.update(
            {
                "stopPrice": "0.00000000",
                "icebergQty": "0.00000000",
                "time": self.time,
                "updateTime": self.update_time or self.time,
                "isWorking": True,
                "workingTime": self.time,
                "origQuoteOrderQty": f8(self.orig_quote_qty),
                "selfTradePreventionMode": "EXPIRE_MAKER",
            }
        )
        return body


@dataclass
class Trade:
    symbol: str
    trade_id: int
    order_id: int
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool

    def json(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "id": self.trade_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": f8(self.price),
            "qty": f8(self.qty),
            "quoteQty": f8(self.price * self.qty),
            "commission": f8(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time,
            "isBuyer": self.is_buyer,
            "isMaker": self.is_maker,
            "isBestMatch": True,
        }

    def fill_json(self) -> dict[str, object]:
        return {
            "price": f8(self.price),
            "qty": f8(self.qty),
            "commission": f8(self.commission),
            "commissionAsset": self.commission_asset,
            "tradeId": self.trade_id,
        }


@dataclass
class Transfer:
    """A deposit or a withdrawal; ``json`` gives the shape of the matching history endpoint."""

    kind: str  # "deposit" | "withdrawal"
    transfer_id: str
    coin: str
    amount: Decimal
    network: str
    address: str
    tx_id: str
    time: int
    status: int
    fee: Decimal = ZERO

    def json(self) -> dict[str, object]:
        if self.kind == "deposit":
            return {
                "id": self.transfer_id,
                "amount": _plain(self.amount),
                "coin": self.coin,
                "network": self.network,
                "status": self.status,
                "address": self.address,
                "addressTag": "",
                "txId": self.tx_id,
                "insertTime": self.time,
                "completeTime": self.time + 60_000,
                "transferType": 0,
                "confirmTimes": "12/12",
                "unlockConfirm": 0,
                "walletType": 0,
            }
        return {
            "id": self.transfer_id,
            "amount": _plain(self.amount),
            "transactionFee": _plain(self.fee),
            "coin": self.coin,
            "status": self.status,
            "address": self.address,
            "txId": self.tx_id,
            "applyTime": _utc_text(self.time),
            "network": self.network,
            "transferType": 0,
            "info": "",
            "confirmNo": 12,
            "walletType": 0,
            "txKey": "",
            "completeTime": _utc_text(self.time + 300_000),
        }


def _plain(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _utc_text(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


@dataclass
class Account:
    account_id: int
    uid: int
    create_time: int
    maker_rate: Decimal = Decimal("0.001")
    taker_rate: Decimal = Decimal("0.001")
    balances: dict[str, Balance] = field(default_factory=dict)
    # per symbol, sorted by id (ids grow with time)
    orders: dict[str, list[Order]] = field(default_factory=dict)
    order_ids: dict[str, list[int]] = field(default_factory=dict)
    trades: dict[str, list[Trade]] = field(default_factory=dict)
    trade_ids: dict[str, list[int]] = field(default_factory=dict)
    open_orders: dict[int, Order] = field(default_factory=dict)  # by orderId (unique per venue)
    deposits: list[Transfer] = field(default_factory=list)
    withdrawals: list[Transfer] = field(default_factory=list)
    update_time: int = 0

    def balance(self, asset: str) -> Balance:
        bal = self.balances.get(asset)
        if bal is None:
            bal = self.balances[asset] = Balance()
        return bal

    def add_order(self, order: Order) -> None:
        self.orders.setdefault(order.symbol, []).append(order)
        self.order_ids.setdefault(order.symbol, []).append(order.order_id)
        if order.is_open:
            self.open_orders[order.order_id] = order

    def add_trade(self, trade: Trade) -> None:
        self.trades.setdefault(trade.symbol, []).append(trade)
        self.trade_ids.setdefault(trade.symbol, []).append(trade.trade_id)

    def find_order(self, symbol: str, order_id: int | None, client_id: str | None) -> Order | None:
        orders = self.orders.get(symbol, [])
        if order_id is not None:
            ids = self.order_ids.get(symbol, [])
            i = bisect.bisect_left(ids, order_id)
            found = orders[i] if i < len(ids) and ids[i] == order_id else None
            if found is not None and client_id is not None and found.client_order_id != client_id:
                return None
            return found
        if client_id is not None:
            # the most recent order with that client id (ids are reusable once closed)
            for order in reversed(orders):
                if order.client_order_id == client_id:
                    return order
        return None
