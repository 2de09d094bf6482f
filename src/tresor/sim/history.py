"""A realistic past for an account: orders, fills, deposits and withdrawals over N days.

The generator replays time forward with a seeded random source. Orders are spread over the
period, their prices taken from the venue's own price path at that instant (so history agrees
with the candles), their fills a few seconds to minutes apart. It keeps running balances and
never lets one go negative: when an order needs funds the account lacks, a deposit arrives
shortly before it, which is how real accounts are funded. Occasional withdrawals take part of
a balance away. The final balances are added to the account's, and every record is stored
exactly as the history endpoints will serve it, so ``/_sim/accounts/{id}/truth`` is the ground
truth a sync must reproduce.

50,000 trades take a second or two: one price evaluation and a handful of ``Decimal``
operations per fill.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from tresor.sim.engine import Venue
from tresor.sim.rules import floor_step
from tresor.sim.state import Account, Order, Trade, Transfer

DAY_MS = 86_400_000
EIGHT = Decimal("0.00000001")
DEFAULT_SYMBOLS = (
    "BTCUSDT",
    "ETHUSDT",
    "BNBUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "DOGEUSDT",
    "ADAUSDT",
    "AVAXUSDT",
    "LINKUSDT",
    "DOTUSDT",
    "LTCUSDT",
    "ETHBTC",
    "SOLBTC",
    "BNBBTC",
    "XRPBTC",
    "LINKBTC",
    "ADABTC",
    "SOLETH",
    "BTCFDUSD",
    "ETHFDUSD",
)
_NETWORK = {
    "BTC": "BTC",
    "ETH": "ETH",
    "BNB": "BSC",
    "USDT": "TRX",
    "USDC": "ETH",
    "FDUSD": "BSC",
    "SOL": "SOL",
    "XRP": "XRP",
    "DOGE": "DOGE",
    "ADA": "ADA",
    "TRX": "TRX",
    "LTC": "LTC",
    "DOT": "DOT",
    "AVAX": "AVAXC",
}
_WITHDRAW_FEE_USD = 1.0


class HistoryError(ValueError):
    pass


@dataclass
class HistorySpec:
    days: int = 90
    trades: int = 1000
    symbols: tuple[str, ...] = ()
    seed: int = 1
    open_orders: int = 3


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


class _Builder:
    def __init__(self, venue: Venue, account: Account, spec: HistorySpec, now: int) -> None:
        self.venue, self.account, self.spec = venue, account, spec
        self.rng = random.Random(spec.seed)
        self.now = now
        self.bal: dict[str, Decimal] = {}
        self.deposits: list[Transfer] = []
        self.withdrawals: list[Transfer] = []
        self.clock = 0  # the latest instant used so far: orders and fills never go back in time

    def usd(self, asset: str, t: int) -> Decimal:
        return Decimal(repr(self.venue.market.usd(asset, t)))

    def deposit(self, asset: str, amount: Decimal, t: int) -> None:
        rng = self.rng
        self.bal[asset] = self.bal.get(asset, Decimal(0)) + amount
        self.deposits.append(
            Transfer(
                kind="deposit",
                transfer_id=str(rng.randrange(10**17, 10**18)),
                coin=asset,
                amount=amount,
                network=_NETWORK.get(asset, "ETH"),
                address="0x" + _hex(rng, 40),
                tx_id="0x" + _hex(rng, 64),
                time=t,
                status=1,
            )
        )

    def withdraw(self, asset: str, amount: Decimal, fee: Decimal, t: int) -> None:
        rng = self.rng
        self.bal[asset] -= amount + fee
        self.withdrawals.append(
            Transfer(
                kind="withdrawal",
                transfer_id=_hex(rng, 32),
                coin=asset,
                amount=amount,
                network=_NETWORK.get(asset, "ETH"),
                address="0x" + _hex(rng, 40),
                tx_id="0x" + _hex(rng, 64),
                time=t,
                status=6,
                fee=fee,
            )
        )

    def fund(self, asset: str, need: Decimal, t: int) -> None:
        """Deposit a round amount shortly before ``t`` if the balance is short of ``need``."""
        have = self.bal.get(asset, Decimal(0))
        if have >= need:
            return
        usd = self.usd(asset, t) or Decimal(1)
        target_usd = Decimal(self.rng.choice((500, 1000, 2000, 5000, 10000)))
        amount = max(need - have, target_usd / usd)
        digits = max(0, min(8, 4 - amount.adjusted()))
        amount = amount.quantize(Decimal(1).scaleb(-digits))
        while amount < need - have:
            amount *= 2
        self.deposit(asset, amount, t - self.rng.randrange(60_000, 3_600_000))


def generate(venue: Venue, account: Account, spec: HistorySpec, now: int) -> dict[str, int]:
    """Write ``spec``'s history into ``account``. Raises ``HistoryError`` on bad input."""
    if spec.days < 1 or spec.days > 3650:
        raise HistoryError("days must be between 1 and 3650")
    if spec.trades < 0 or spec.trades > 2_000_000:
        raise HistoryError("trades must be between 0 and 2,000,000")
    if any(account.orders.values()):
        raise HistoryError("history can only be generated for an account without orders")
    symbols = spec.symbols or tuple(s for s in DEFAULT_SYMBOLS if s in venue.market.pairs)
    unknown = [s for s in symbols if s not in venue.market.pairs]
    if unknown:
        raise HistoryError(f"unknown symbol(s): {', '.join(unknown)}")
    if not symbols:
        raise HistoryError("no symbols to trade")
    b = _Builder(venue, account, spec, now)
    rng = b.rng
    start = now - spec.days * DAY_MS
    end = now - 120_000
    # a few symbols carry most of the activity, as on real accounts
    weights = [1.0 / (1 + i) ** 0.8 for i in range(len(symbols))]
    avg_fills = 1.5
    n_orders = max(1, int(spec.trades / avg_fills * 1.1)) if spec.trades else 0
    times = sorted(rng.randrange(start + 3_600_000, end) for _ in range(n_orders))
    market = venue.market
    trades_left = spec.trades
    orders: list[Order] = []
    next_withdrawal = start + rng.randrange(3, 12) * DAY_MS
    for t in times:
        if trades_left <= 0:
            break
        # keep orders and fills in one global time order, so trade and order ids (assigned
        # as we go) grow with time within every symbol, as on the exchange
        t = max(t, b.clock + 1)
        if t >= end:
            break
        if t >= next_withdrawal:
            _maybe_withdraw(b, t)
            next_withdrawal = t + rng.randrange(4, 15) * DAY_MS
        symbol = rng.choices(symbols, weights)[0]
        pair = market.pairs[symbol]
        price = market.price(symbol, t)
        notional_usd = Decimal(int(20 * 10 ** (rng.random() * 2.3)))  # $20 .. ~$4,000
        qty = floor_step(notional_usd / (b.usd(pair.base, t) or Decimal(1)), pair.step_size)
        if qty < pair.min_qty or qty * price < pair.min_notional:
            qty = floor_step(pair.min_notional * 2 / price, pair.step_size) + pair.step_size
        side = "SELL" if b.bal.get(pair.base, Decimal(0)) >= qty and rng.random() < 0.5 else "BUY"
        kind = "MARKET" if rng.random() < 0.3 else "LIMIT"
        outcome = rng.random()
        order = Order(
            account_id=account.account_id,
            symbol=symbol,
            order_id=venue.next_order_id(symbol),
            client_order_id=_client_id(rng),
            side=side,
            type=kind,
            time_in_force="GTC",
            price=price if kind == "LIMIT" else Decimal(0),
            orig_qty=qty,
            orig_quote_qty=Decimal(0),
            time=t,
            update_time=t,
            checked_until=t,
        )
        if kind == "LIMIT" and outcome < 0.08:
            order.status = "CANCELED"
            order.update_time = t + rng.randrange(1_000, 60_000)
            b.clock = order.update_time
            orders.append(order)
            continue
        n_fills = 1 if rng.random() < 0.65 else rng.choice((2, 2, 3, 4, 5))
        n_fills = min(n_fills, trades_left)
        if side == "BUY":
            b.fund(pair.quote, qty * price * Decimal("1.01"), t)
        parts = _split(rng, qty, n_fills, pair.step_size)
        partial_cancel = kind == "LIMIT" and outcome > 0.95 and len(parts) > 1
        if partial_cancel:
            parts = parts[:-1]
        ft = t
        for part in parts:
            if part <= 0:
                continue
            fill_price = (
                price
                if kind == "LIMIT"
                else price + pair.tick_size * rng.randrange(0, 3) * (1 if side == "BUY" else -1)
            )
            _apply_fill(
                b, venue, order, pair.base, pair.quote, fill_price, part, ft, maker=kind == "LIMIT"
            )
            trades_left -= 1
            ft += rng.randrange(5, 20_000) if kind == "LIMIT" else rng.randrange(0, 3)
        order.update_time = ft
        b.clock = ft
        if partial_cancel or order.executed_qty < order.orig_qty:
            order.status = "CANCELED" if kind == "LIMIT" else "EXPIRED"
        else:
            order.status = "FILLED"
        orders.append(order)
    for order in orders:
        account.add_order(order)
    _open_orders(b, venue, account, symbols, spec.open_orders)
    for asset, amount in b.bal.items():
        account.balance(asset).free += amount
    account.deposits.extend(b.deposits)
    account.withdrawals.extend(b.withdrawals)
    account.deposits.sort(key=lambda d: d.time)
    account.withdrawals.sort(key=lambda w: w.time)
    account.update_time = now
    return {
        "orders": sum(len(v) for v in account.orders.values()),
        "trades": sum(len(v) for v in account.trades.values()),
        "deposits": len(b.deposits),
        "withdrawals": len(b.withdrawals),
    }


def _client_id(rng: random.Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choice(alphabet) for _ in range(22))


def _split(rng: random.Random, qty: Decimal, n: int, step: Decimal) -> list[Decimal]:
    if n <= 1:
        return [qty]
    steps = int(qty / step)
    if steps < n:
        return [qty]
    cuts = sorted(rng.sample(range(1, steps), n - 1))
    bounds = [0, *cuts, steps]
    return [Decimal(bounds[i + 1] - bounds[i]) * step for i in range(n)]


def _apply_fill(
    b: _Builder,
    venue: Venue,
    order: Order,
    base: str,
    quote: str,
    price: Decimal,
    qty: Decimal,
    t: int,
    *,
    maker: bool,
) -> None:
    account = b.account
    rate = account.maker_rate if maker else account.taker_rate
    quote_amount = price * qty
    zero = Decimal(0)
    if order.side == "BUY":
        commission = (qty * rate).quantize(EIGHT)
        b.bal[quote] = b.bal.get(quote, zero) - quote_amount
        b.bal[base] = b.bal.get(base, zero) + qty - commission
        fee_asset = base
    else:
        commission = (quote_amount * rate).quantize(EIGHT)
        b.bal[base] = b.bal.get(base, zero) - qty
        b.bal[quote] = b.bal.get(quote, zero) + quote_amount - commission
        fee_asset = quote
    order.executed_qty += qty
    order.cum_quote += quote_amount
    account.add_trade(
        Trade(
            symbol=order.symbol,
            trade_id=venue.next_trade_id(order.symbol),
            order_id=order.order_id,
            price=price,
            qty=qty,
            commission=commission,
            commission_asset=fee_asset,
            time=t,
            is_buyer=order.side == "BUY",
            is_maker=maker,
        )
    )


def _maybe_withdraw(b: _Builder, t: int) -> None:
    candidates = [(a, v) for a, v in b.bal.items() if v > 0]
    if not candidates:
        return
    asset, have = b.rng.choice(sorted(candidates))
    usd = b.usd(asset, t) or Decimal(1)
    fee = (Decimal(_WITHDRAW_FEE_USD) / usd).quantize(EIGHT)
    amount = (have * Decimal(b.rng.randrange(10, 40)) / 100).quantize(EIGHT)
    if amount * usd < 20 or amount + fee > have:
        return
    b.withdraw(asset, amount, fee, t)


def _open_orders(
    b: _Builder, venue: Venue, account: Account, symbols: tuple[str, ...], count: int
) -> None:
    """A few resting limit orders far below the market, as real accounts keep."""
    market = venue.market
    for i in range(count):
        symbol = symbols[i % len(symbols)]
        pair = market.pairs[symbol]
        t = b.clock = min(b.now - 1000, b.clock + b.rng.randrange(1_000, 10_000))
        mid = market.price(symbol, t)
        price = floor_step(mid * Decimal("0.5"), pair.tick_size)
        qty = floor_step(pair.min_notional * 3 / price, pair.step_size) + pair.step_size
        b.fund(pair.quote, qty * price, t)
        order = Order(
            account_id=account.account_id,
            symbol=symbol,
            order_id=venue.next_order_id(symbol),
            client_order_id=_client_id(b.rng),
            side="BUY",
            type="LIMIT",
            time_in_force="GTC",
            price=price,
            orig_qty=qty,
            orig_quote_qty=Decimal(0),
            time=t,
            update_time=t,
            checked_until=t,
        )
        lock = qty * price
        b.bal[pair.quote] -= lock
        account.balance(pair.quote).locked += lock
        order.locked = lock
        account.add_order(order)
