"""The demo scenario: one funded account with 90 days of history and a read+trade key."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tresor.sim.app import SimApp
from tresor.sim.history import HistorySpec, generate
from tresor.sim.market import f8

DEMO_BALANCES = {
    "USDT": Decimal("25000"),
    "BTC": Decimal("0.25"),
    "ETH": Decimal("3"),
    "BNB": Decimal("5"),
}
DEMO_PERMISSIONS = {"enableReading": True, "enableSpotAndMarginTrading": True}


@dataclass(frozen=True)
class DemoAccount:
    account_id: int
    api_key: str
    secret: str
    balances: list[tuple[str, str, str]]
    orders: int
    trades: int
    deposits: int
    withdrawals: int


def create_demo_account(app: SimApp, *, trades: int = 2000, seed: int = 42) -> DemoAccount:
    venue = app.sim.venue
    now = app.now()
    account = venue.create_account(DEMO_BALANCES, now)
    counts = generate(venue, account, HistorySpec(days=90, trades=trades, seed=seed), now)
    key = venue.create_key(account, DEMO_PERMISSIONS, [], now)
    balances = [
        (asset, f8(b.free), f8(b.locked))
        for asset, b in sorted(account.balances.items())
        if b.free or b.locked
    ]
    return DemoAccount(
        account_id=account.account_id,
        api_key=key.api_key,
        secret=key.secret,
        balances=balances,
        orders=counts["orders"],
        trades=counts["trades"],
        deposits=counts["deposits"],
        withdrawals=counts["withdrawals"],
    )
