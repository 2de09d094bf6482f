"""The matching engine: order placement, cancellation and the filling of resting orders.

Taker orders walk the venue's synthetic order book (``Market.book``) level by level, so large
orders fill partially across several prices, as on the real exchange. Resting limit orders fill
as makers, in chunks the size of a book level, whenever the mid price crosses their limit; they
are matched lazily up to "now" whenever their account or symbol is touched and by a background
tick, so fills carry the time at which the market actually crossed.

Balances follow Binance's rules: a resting order locks its funds (quote for a buy, base for a
sell); fees are charged in the asset received, at the account's maker or taker rate.
"""

from __future__ import annotations

import heapq
import re
import secrets
from collections.abc import Iterator
from decimal import Decimal

from tresor.sim import errors as e
from tresor.sim.catalogue import Pair
from tresor.sim.market import Market
from tresor.sim.rules import MARKET_DEPTH_LEVELS, OrderRequest, floor_step, validate_new_order
from tresor.sim.state import PERMISSION_FLAGS, Account, ApiKey, Order, Trade

ZERO = Decimal(0)
EIGHT = Decimal("0.00000001")
CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
ORDER_TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER")
# Symbol statuses of exchangeInfo (Binance spot enums: "Symbol status"); only TRADING trades.
SYMBOL_STATUSES = ("TRADING", "END_OF_DAY", "HALT", "BREAK")
KNOWN_TYPES = (*ORDER_TYPES, "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")


def new_client_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(22))


class Venue:
    """One simulated exchange: its market, accounts and keys."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.accounts: dict[int, Account] = {}
        self.keys: dict[str, ApiKey] = {}
        self.symbol_status: dict[str, str] = {}  # symbols not TRADING, by symbol
        self._next_order_id = 1_000_000_001
        self._next_trade_id: dict[str, int] = {}
        self._next_account = 1

    # -- administration ------------------------------------------------------------------------
    def create_account(self, balances: dict[str, Decimal], now: int) -> Account:
        account_id = self._next_account
        self._next_account += 1
        account = Account(
            account_id=account_id,
            uid=35_000_000 + account_id * 7919,
            create_time=now,
            update_time=now,
        )
        for asset, amount in balances.items():
            account.balance(asset).free += amount
        self.accounts[account_id] = account
        return account

    def create_key(
        self,
        account: Account,
        permissions: dict[str, bool],
        ip_whitelist: list[str],
        now: int,
        trading_expiration: int = 0,
    ) -> ApiKey:
        flags = dict(PERMISSION_FLAGS)
        flags.update({k: bool(v) for k, v in permissions.items() if k in PERMISSION_FLAGS})
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        key = ApiKey(
            api_key="".join(secrets.choice(alphabet) for _ in range(64)),
            secret="".join(secrets.choice(alphabet) for _ in range(64)),
            account_id=account.account_id,
            permissions=flags,
            ip_whitelist=list(ip_whitelist),
            create_time=now,
            trading_expiration=trading_expiration,
        )
        self.keys[key.api_key] = key
        return key

    def next_order_id(self, symbol: str) -> int:
        """One sequence for the whole venue: ids still grow within every symbol, as Binance's
        per-symbol ids do, and are unique per account, which ``Account.open_orders`` keys on."""
        n = self._next_order_id
        self._next_order_id = n + 1
        return n

    def next_trade_id(self, symbol: str) -> int:
        n = self._next_trade_id.get(symbol, 500_000_001)
        self._next_trade_id[symbol] = n + 1
        return n

    # -- symbol status ---------------------------------------------------------------------------
    def status(self, symbol: str) -> str:
        return self.symbol_status.get(symbol, "TRADING")

    def set_status(self, symbol: str, status: str, now: int) -> None:
        """Halt, pause or reopen a symbol. While it is not TRADING, new orders are refused
        ("Market is closed.") and resting orders do not fill; cancels still work. Resting
        orders are matched up to the change first, and after a reopening from the change on,
        so nothing fills against the prices of the closed spell."""
        if status not in SYMBOL_STATUSES:
            raise ValueError(f"unknown symbol status {status!r}")
        self.settle_all(now)
        if status == "TRADING":
            self.symbol_status.pop(symbol, None)
            for account in self.accounts.values():
                for order in account.open_orders.values():
                    if order.symbol == symbol:
                        order.checked_until = max(order.checked_until, now)
        else:
            self.symbol_status[symbol] = status

    # -- order placement -------------------------------------------------------------------------
    def validate_new_order(
        self, account: Account, pair: Pair, request: OrderRequest, now: int
    ) -> None:
        """Raise the exchange's error if ``request`` breaks a filter or the balance rule.

        A symbol that is not TRADING refuses every new order first, with -1013 "Market is
        closed." (errors.md lists the text among the order-placement failures that -1013
        INVALID_MESSAGE can carry; it is the code clients report from the live exchange)."""
        if self.status(pair.symbol) != "TRADING":
            raise e.market_closed()
        validate_new_order(self.market, account, pair, request, now)

    def place_order(
        self,
        account: Account,
        pair: Pair,
        *,
        side: str,
        type_: str,
        tif: str | None,
        qty: Decimal | None,
        quote_qty: Decimal | None,
        price: Decimal | None,
        client_id: str | None,
        now: int,
    ) -> tuple[Order, list[Trade]]:
        """Validate, accept and execute a new order. Raises ``SimError`` when rejected."""
        self.settle_account(account, now)
        self.validate_new_order(
            account, pair, OrderRequest(side, type_, tif, qty, quote_qty, price, client_id), now
        )
        if type_ == "LIMIT_MAKER" and price is not None:
            bids, asks = self.market.book(pair.symbol, now, 1)
            crosses = price >= asks[0][0] if side == "BUY" else bool(bids) and price <= bids[0][0]
            if crosses:
                raise e.new_order_rejected("Order would immediately match and take.")
        order = Order(
            account_id=account.account_id,
            symbol=pair.symbol,
            order_id=self.next_order_id(pair.symbol),
            client_order_id=client_id or new_client_id(),
            side=side,
            type=type_,
            time_in_force=tif or "GTC",
            price=price if price is not None else ZERO,
            orig_qty=qty if qty is not None else ZERO,
            orig_quote_qty=quote_qty if quote_qty is not None else ZERO,
            time=now,
            update_time=now,
            checked_until=now,
        )
        fills = self._take(account, pair, order, now)
        if order.type == "MARKET":
            order.status = "FILLED" if self._market_done(order, pair) else "EXPIRED"
            if order.orig_qty == 0:
                order.orig_qty = order.executed_qty
        elif order.remaining <= 0:
            order.status = "FILLED"
        elif order.time_in_force in ("IOC", "FOK"):
            order.status = "EXPIRED"
        else:
            order.status = "PARTIALLY_FILLED" if order.executed_qty > 0 else "NEW"
            self._lock(account, pair, order)
        account.add_order(order)
        account.update_time = now
        return order, fills

    def _market_done(self, order: Order, pair: Pair) -> bool:
        if order.orig_qty > 0:
            return order.remaining <= 0
        # quoteOrderQty: done when the unspent quote cannot buy one more step
        return order.orig_quote_qty - order.cum_quote < order.price + pair.min_notional

    def _take(self, account: Account, pair: Pair, order: Order, now: int) -> list[Trade]:
        """Execute the marketable part of ``order`` against the book, as taker."""
        if order.type == "LIMIT_MAKER":
            return []
        bids, asks = self.market.book(pair.symbol, now, MARKET_DEPTH_LEVELS)
        levels = asks if order.side == "BUY" else bids
        if order.type == "LIMIT":
            if order.side == "BUY":
                levels = [lv for lv in levels if lv[0] <= order.price]
            else:
                levels = [lv for lv in levels if lv[0] >= order.price]
            if order.time_in_force == "FOK" and sum(q for _, q in levels) < order.orig_qty:
                return []
        plan: list[tuple[Decimal, Decimal]] = []
        if order.type == "MARKET" and order.orig_qty == 0:
            budget = order.orig_quote_qty
            for price, level_qty in levels:
                take = min(level_qty, floor_step(budget / price, pair.step_size))
                if take <= 0:
                    break
                if (
                    order.side == "SELL"
                    and account.balance(pair.base).free < sum(q for _, q in plan) + take
                ):
                    break
                plan.append((price, take))
                budget -= take * price
        else:
            left = order.orig_qty
            for price, level_qty in levels:
                if left <= 0:
                    break
                take = min(left, level_qty)
                plan.append((price, take))
                left -= take
        return [
            self._fill(account, pair, order, price, qty, now, maker=False) for price, qty in plan
        ]

    def _fill(
        self,
        account: Account,
        pair: Pair,
        order: Order,
        price: Decimal,
        qty: Decimal,
        now: int,
        *,
        maker: bool,
    ) -> Trade:
        rate = account.maker_rate if maker else account.taker_rate
        quote_amount = price * qty
        base_bal, quote_bal = account.balance(pair.base), account.balance(pair.quote)
        if order.side == "BUY":
            commission = (qty * rate).quantize(EIGHT)
            if order.locked > 0:
                release = min(order.locked, qty * order.price)
                order.locked -= release
                quote_bal.locked -= release
                quote_bal.free += release - quote_amount
            else:
                quote_bal.free -= quote_amount
            base_bal.free += qty - commission
            commission_asset = pair.base
        else:
            commission = (quote_amount * rate).quantize(EIGHT)
            if order.locked > 0:
                release = min(order.locked, qty)
                order.locked -= release
                base_bal.locked -= release
                base_bal.free += release - qty
            else:
                base_bal.free -= qty
            quote_bal.free += quote_amount - commission
            commission_asset = pair.quote
        order.executed_qty += qty
        order.cum_quote += quote_amount
        order.update_time = now
        trade = Trade(
            symbol=pair.symbol,
            trade_id=self.next_trade_id(pair.symbol),
            order_id=order.order_id,
            price=price,
            qty=qty,
            commission=commission,
            commission_asset=commission_asset,
            time=now,
            is_buyer=order.side == "BUY",
            is_maker=maker,
        )
        account.add_trade(trade)
        return trade

    def _lock(self, account: Account, pair: Pair, order: Order) -> None:
        if order.side == "BUY":
            amount = order.remaining * order.price
            bal = account.balance(pair.quote)
        else:
            amount = order.remaining
            bal = account.balance(pair.base)
        bal.free -= amount
        bal.locked += amount
        order.locked = amount

    # -- cancellation --------------------------------------------------------------------------
    def cancel(self, account: Account, order: Order, now: int) -> None:
        self.settle_account(account, now)
        if not order.is_open:
            raise e.cancel_rejected()
        self._release(account, order)
        order.status = "CANCELED"
        order.update_time = now
        account.update_time = now

    def _release(self, account: Account, order: Order) -> None:
        pair = self.market.pairs[order.symbol]
        if order.locked > 0:
            bal = account.balance(pair.quote if order.side == "BUY" else pair.base)
            bal.locked -= order.locked
            bal.free += order.locked
            order.locked = ZERO
        account.open_orders.pop(order.order_id, None)

    # -- resting orders ------------------------------------------------------------------------
    def settle_account(self, account: Account, now: int) -> None:
        """Fill the account's resting orders that the market crossed up to ``now``.

        The fills are made in time order across all the orders, not order by order, so trade
        ids grow with time within every symbol, as on the exchange (``myTrades`` paging by
        ``fromId`` and by time must agree).
        """
        due: list[tuple[int, int, Iterator[int], Order]] = []
        for order in account.open_orders.values():
            if order.type == "MARKET" or order.checked_until >= now:
                continue
            if order.symbol in self.symbol_status:  # not trading: nothing fills meanwhile
                order.checked_until = now
                continue
            crossings = self._crossings(order, order.checked_until, now)
            order.checked_until = now
            first = next(crossings, None)
            if first is not None:
                due.append((first, order.order_id, crossings, order))
        heapq.heapify(due)
        while due:
            t, order_id, crossings, order = heapq.heappop(due)
            self._maker_fill(account, order, t)
            account.update_time = max(account.update_time, order.update_time)
            later = next(crossings, None) if order.is_open else None
            if later is not None:
                heapq.heappush(due, (later, order_id, crossings, order))

    def settle_all(self, now: int) -> None:
        for account in self.accounts.values():
            if account.open_orders:
                self.settle_account(account, now)

    def _crossings(self, order: Order, start: int, end: int) -> Iterator[int]:
        """The sampled instants in (start, end] at which the mid price crosses the limit."""
        limit = float(order.price)
        for t in _sample_times(start, end):
            mid = self.market.mid(order.symbol, t)
            if (mid <= limit) if order.side == "BUY" else (mid >= limit):
                yield t

    def _maker_fill(self, account: Account, order: Order, t: int) -> None:
        pair = self.market.pairs[order.symbol]
        chunk_usd = pair.liquidity_usd * 0.5
        base_usd = self.market.usd(pair.base, t) or 1.0
        chunk = floor_step(Decimal(chunk_usd / base_usd), pair.step_size)
        qty = min(order.remaining, max(chunk, pair.step_size))
        self._fill(account, pair, order, order.price, qty, t, maker=True)
        if order.remaining > 0:
            order.status = "PARTIALLY_FILLED"
            return
        order.status = "FILLED"
        account.open_orders.pop(order.order_id, None)
        # release rounding leftovers of a buy filled below the lock
        if order.locked > 0:
            self._release(account, order)


def _sample_times(start: int, end: int) -> Iterator[int]:
    """Instants to check a resting order at: every second, or 600 evenly spaced ones."""
    span = end - start
    if span <= 0:
        return
    step = max(1000, span // 600)
    t = start + step
    while t < end:
        yield t
        t += step
    yield end
