"""After a sync, Tresor's trades, orders and transfers equal the simulator's ground truth:
none missing, none duplicated, every amount exact."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.integration.conftest import MakeAccount, Synced
from tresor.domain.records import RecordQuery

EVERYTHING = 1_000_000


async def stored(s: Synced) -> dict[str, Any]:
    q = RecordQuery(connection_ids=(s.connection_id,), limit=EVERYTHING)
    store = s.runtime.store
    return {
        "trades": await store.trades(q),
        "orders": await store.orders(q),
        "transfers": await store.transfers(q),
    }


def _symbol(market_id: str, stored_symbols: set[str]) -> str:
    for symbol in stored_symbols:
        if symbol.replace("/", "") == market_id:
            return symbol
    return market_id


async def assert_equals_truth(s: Synced) -> None:
    truth = s.truth()
    mine = await stored(s)
    symbols = {t.symbol for t in mine["trades"]} | {o.symbol for o in mine["orders"]}
    want_trades = {
        (_symbol(t["symbol"], symbols), str(t["id"])): (
            Decimal(t["price"]),
            Decimal(t["qty"]),
            Decimal(t["commission"]),
            t["commissionAsset"],
            t["time"],
        )
        for t in truth["trades"]
    }
    got_trades = {
        (t.symbol, t.trade_id): (t.price, t.amount, t.fee, t.fee_asset, t.time_ms)
        for t in mine["trades"]
    }
    assert len(mine["trades"]) == len(got_trades)  # no duplicates
    assert got_trades == want_trades
    want_orders = {
        (_symbol(o["symbol"], symbols), str(o["orderId"])): (
            Decimal(o["executedQty"]),
            Decimal(o["cummulativeQuoteQty"]),
            o["status"],
        )
        for o in truth["orders"]
    }
    status = {"closed": "FILLED", "open": {"NEW", "PARTIALLY_FILLED"}, "canceled": "CANCELED"}
    got_orders = {(o.symbol, o.order_id): o for o in mine["orders"]}
    assert set(got_orders) == set(want_orders)
    for key, (filled, cost, exchange_status) in want_orders.items():
        order = got_orders[key]
        assert (order.filled, order.cost) == (filled, cost)
        expected = status.get(order.status.value)
        assert exchange_status == expected or exchange_status in (expected or ())
    want_transfers = {("deposit", str(d["id"])): Decimal(d["amount"]) for d in truth["deposits"]}
    want_transfers |= {
        ("withdrawal", str(w["id"])): Decimal(w["amount"]) for w in truth["withdrawals"]
    }
    got_transfers = {(t.kind.value, t.transfer_id): t.amount for t in mine["transfers"]}
    assert got_transfers == want_transfers


async def test_a_backfill_reproduces_the_truth_exactly(make_account: MakeAccount) -> None:
    s = await make_account(history={"days": 60, "trades": 3000, "seed": 3})
    report = await s.runtime.sync.sync(s.connection_id)
    assert report.records > 3000
    await assert_equals_truth(s)
    counts = await s.runtime.store.counts(s.connection_id)
    assert counts["trades"] == len(s.truth()["trades"])


async def test_an_incremental_sync_adds_what_came_since_and_nothing_twice(
    make_account: MakeAccount,
) -> None:
    s = await make_account(history={"days": 30, "trades": 1500, "seed": 5})
    await s.runtime.sync.sync(s.connection_id)
    before = len((await stored(s))["trades"])
    again = await s.runtime.sync.sync(s.connection_id)
    assert len((await stored(s))["trades"]) == before
    # caught up: one request per market and dataset, no more
    assert again.requests <= 2 * again.markets + 4
    await assert_equals_truth(s)
