"""Reading a generated 90-day history back through ccxt: every traded symbol's trades by
``fromId`` and by ccxt's endTime-only pagination, all orders, deposits, withdrawals and
balances, each compared with the venue's ground truth."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import ccxt
import pytest

from tests.contract.conftest import Trader
from tests.support.simclient import READ_ONLY, SimAdmin, binance

HOUR = 3_600_000


def reader_with_history(sim: SimAdmin, **spec: Any) -> tuple[Trader, dict[str, Any]]:
    account = sim.account({})
    sim.history(account, **spec)
    key = sim.key(account, READ_ONLY)
    ex = binance(sim.url, key)
    ex.load_markets()
    return Trader(sim=sim, account=account, key=key, ex=ex), sim.truth(account)


@pytest.fixture
def history(sim: SimAdmin) -> tuple[Trader, dict[str, Any]]:
    return reader_with_history(sim, days=90, trades=3000, seed=1)


def by_symbol(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        out[row["symbol"]].append(row)
    return out


def unified(ex: ccxt.binance, symbol_id: str) -> str:
    return str(ex.safe_market(symbol_id)["symbol"])


def key_fields(trade: dict[str, Any]) -> tuple[Any, ...]:
    """A parsed ccxt trade reduced to what a sync must get right."""
    fee = trade["fee"]
    return (
        int(trade["id"]),
        trade["order"],
        trade["timestamp"],
        trade["side"],
        trade["takerOrMaker"],
        trade["price"],
        trade["amount"],
        fee["cost"],
        fee["currency"],
    )


def truth_fields(ex: ccxt.binance, raw: dict[str, Any]) -> tuple[Any, ...]:
    """The venue's record of a trade, in the same terms."""
    return (
        raw["id"],
        str(raw["orderId"]),
        raw["time"],
        "buy" if raw["isBuyer"] else "sell",
        "maker" if raw["isMaker"] else "taker",
        float(raw["price"]),
        float(raw["qty"]),
        float(raw["commission"]),
        ex.safe_currency_code(raw["commissionAsset"]),
    )


def test_history_spans_many_symbols_with_thousands_of_trades(
    history: tuple[Trader, dict[str, Any]],
) -> None:
    _, truth = history
    assert len(truth["trades"]) == 3000
    assert len(by_symbol(truth["trades"])) >= 15
    assert {o["status"] for o in truth["orders"]} >= {"FILLED", "CANCELED", "NEW"}


def test_paging_forward_by_from_id_returns_exactly_the_truth_for_every_symbol(
    history: tuple[Trader, dict[str, Any]],
) -> None:
    reader, truth = history
    ex = reader.ex
    for symbol_id, expected in by_symbol(truth["trades"]).items():
        symbol = unified(ex, symbol_id)
        got: list[dict[str, Any]] = []
        next_id = 0
        while True:
            page = ex.fetch_my_trades(symbol, limit=200, params={"fromId": next_id})
            got += page
            if len(page) < 200:
                break
            next_id = int(page[-1]["id"]) + 1
        assert [key_fields(t) for t in got] == [truth_fields(ex, r) for r in expected], symbol


def test_paging_backward_by_end_time_returns_exactly_the_truth_for_every_symbol(
    history: tuple[Trader, dict[str, Any]],
) -> None:
    reader, truth = history
    ex = reader.ex
    for symbol_id, expected in by_symbol(truth["trades"]).items():
        symbol = unified(ex, symbol_id)
        got = ex.fetch_my_trades(symbol, params={"paginate": True, "paginationCalls": 50})
        assert "endTime=" in ex.last_request_url  # the last page asked for "before the first"
        ids = [int(t["id"]) for t in got]
        assert len(ids) == len(set(ids)), symbol
        assert sorted(key_fields(t) for t in got) == [truth_fields(ex, r) for r in expected]


def test_end_time_alone_returns_the_newest_trades_at_or_before_it(
    history: tuple[Trader, dict[str, Any]],
) -> None:
    reader, truth = history
    btc = by_symbol(truth["trades"])["BTCUSDT"]
    until = btc[len(btc) // 2]["time"]
    expected = [t["id"] for t in btc if t["time"] <= until][-50:]
    got = reader.ex.fetch_my_trades("BTC/USDT", limit=50, params={"until": until})
    assert "endTime=" in reader.ex.last_request_url
    assert "startTime=" not in reader.ex.last_request_url
    assert [int(t["id"]) for t in got] == expected


def test_a_window_of_24_hours_is_answered_and_a_longer_one_refused(
    history: tuple[Trader, dict[str, Any]],
) -> None:
    reader, truth = history
    btc = by_symbol(truth["trades"])["BTCUSDT"]
    since = btc[10]["time"]
    until = since + 24 * HOUR
    expected = [t["id"] for t in btc if since <= t["time"] <= until]
    got = reader.ex.fetch_my_trades("BTC/USDT", since, params={"until": until})
    assert [int(t["id"]) for t in got] == expected
    with pytest.raises(ccxt.BadRequest, match="More than 24 hours between startTime and endTime"):
        reader.ex.fetch_my_trades("BTC/USDT", since, params={"until": until + 1})


def test_start_time_alone_returns_the_oldest_trades_from_it(
    history: tuple[Trader, dict[str, Any]],
) -> None:
    reader, truth = history
    eth = by_symbol(truth["trades"])["ETHUSDT"]
    since = eth[5]["time"]
    got = reader.ex.fetch_my_trades("ETH/USDT", since, limit=20)
    assert [int(t["id"]) for t in got] == [t["id"] for t in eth if t["time"] >= since][:20]


def test_from_id_with_a_time_window_is_an_invalid_combination(
    history: tuple[Trader, dict[str, Any]],
) -> None:
    reader, _ = history
    with pytest.raises(ccxt.BadRequest, match="Combination of optional parameters invalid"):
        reader.ex.fetch_my_trades("BTC/USDT", params={"fromId": 1, "until": 10**13})


def test_no_page_holds_more_than_a_thousand_trades(sim: SimAdmin) -> None:
    reader, truth = reader_with_history(sim, days=30, trades=1300, symbols=["ETHBTC"], seed=3)
    assert len(truth["trades"]) > 1000
    page = reader.ex.fetch_my_trades("ETH/BTC", limit=5000)
    assert [int(t["id"]) for t in page] == [t["id"] for t in truth["trades"]][-1000:]
    first = reader.ex.fetch_my_trades("ETH/BTC", limit=1001, params={"fromId": 0})
    assert len(first) == 1000


def test_end_time_paging_loses_fills_sharing_a_millisecond_at_a_page_boundary(
    trader: Trader,
) -> None:
    """All fills of one taker order carry the same time, and Binance's endTime is inclusive, so
    ccxt's "endTime = oldest - 1" skips the rest of that millisecond when a page boundary falls
    inside it. This is the real exchange's behaviour too: a complete sync pages by fromId."""
    ex = trader.ex
    order = ex.create_order("BTC/USDT", "market", "buy", 30)  # walks several book levels
    fills = order["info"]["fills"]
    assert len(fills) >= 3
    backward = ex.fetch_my_trades("BTC/USDT", params={"paginate": True, "maxEntriesPerRequest": 2})
    assert [int(t["id"]) for t in backward] == [f["tradeId"] for f in fills][-2:]
    forward = ex.fetch_my_trades("BTC/USDT", limit=2, params={"fromId": 0})
    forward += ex.fetch_my_trades("BTC/USDT", params={"fromId": int(forward[-1]["id"]) + 1})
    assert [int(t["id"]) for t in forward] == [f["tradeId"] for f in fills]


def test_all_orders_paged_by_order_id_are_exactly_the_truth(
    history: tuple[Trader, dict[str, Any]],
) -> None:
    reader, truth = history
    ex = reader.ex
    for symbol_id, expected in by_symbol(truth["orders"]).items():
        symbol = unified(ex, symbol_id)
        got: list[dict[str, Any]] = []
        next_id = 0
        while True:
            page = ex.fetch_orders(symbol, limit=500, params={"orderId": next_id})
            got += page
            if len(page) < 500:
                break
            next_id = int(page[-1]["id"]) + 1
        assert [(o["id"], o["clientOrderId"], o["info"]["status"], o["filled"]) for o in got] == [
            (str(r["orderId"]), r["clientOrderId"], r["status"], float(r["executedQty"]))
            for r in expected
        ], symbol


def test_all_orders_paged_backward_by_end_time_are_exactly_the_truth(
    history: tuple[Trader, dict[str, Any]],
) -> None:
    reader, truth = history
    ex = reader.ex
    for symbol_id, expected in by_symbol(truth["orders"]).items():
        symbol = unified(ex, symbol_id)
        got = ex.fetch_orders(
            symbol, params={"paginate": True, "paginationCalls": 50, "maxEntriesPerRequest": 50}
        )
        assert sorted(int(o["id"]) for o in got) == [r["orderId"] for r in expected], symbol


def test_open_orders_of_the_history_are_listed_across_symbols(
    history: tuple[Trader, dict[str, Any]],
) -> None:
    reader, truth = history
    expected = sorted(str(o["orderId"]) for o in truth["orders"] if o["status"] == "NEW")
    assert len(expected) == 3
    assert sorted(o["id"] for o in reader.ex.fetch_open_orders()) == expected


def test_deposits_and_withdrawals_are_exactly_the_truth(
    history: tuple[Trader, dict[str, Any]],
) -> None:
    reader, truth = history
    ex = reader.ex
    deposits = ex.fetch_deposits()
    assert len(truth["deposits"]) > 10
    assert sorted(
        (d["id"], d["currency"], d["amount"], d["timestamp"], d["status"]) for d in deposits
    ) == sorted(
        (r["id"], r["coin"], float(r["amount"]), r["insertTime"], "ok") for r in truth["deposits"]
    )
    withdrawals = ex.fetch_withdrawals()
    assert len(truth["withdrawals"]) > 0
    assert sorted(
        (w["id"], w["currency"], w["amount"], w["fee"]["cost"], w["status"]) for w in withdrawals
    ) == sorted(
        (r["id"], r["coin"], float(r["amount"]), float(r["transactionFee"]), "ok")
        for r in truth["withdrawals"]
    )
    raw = ex.sapi_get_capital_deposit_hisrec()
    assert [r["insertTime"] for r in raw] == sorted((r["insertTime"] for r in raw), reverse=True)


def test_deposits_of_one_coin_since_a_time(history: tuple[Trader, dict[str, Any]]) -> None:
    reader, truth = history
    usdt = [r for r in truth["deposits"] if r["coin"] == "USDT"]
    since = usdt[len(usdt) // 2]["insertTime"]
    got = reader.ex.fetch_deposits("USDT", since)
    assert "coin=USDT" in reader.ex.last_request_url
    assert sorted(d["id"] for d in got) == sorted(r["id"] for r in usdt if r["insertTime"] >= since)


def test_balances_are_what_the_history_left(history: tuple[Trader, dict[str, Any]]) -> None:
    reader, truth = history
    balance = reader.ex.fetch_balance()
    for asset, row in truth["balances"].items():
        code = reader.ex.safe_currency_code(asset)
        assert balance[code]["free"] == float(row["free"]), asset
        assert balance[code]["used"] == float(row["locked"]), asset
    assert any(float(row["locked"]) > 0 for row in truth["balances"].values())
