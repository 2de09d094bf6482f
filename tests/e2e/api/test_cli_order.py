"""``tresor order`` end to end against the simulator and each database: place (once per
``--key``), status, list and cancel, and clear errors for bad input."""

from __future__ import annotations

from decimal import Decimal

from tests.e2e.api.conftest import FUNDS
from tests.e2e.api.test_cli import Tresor, tresor  # noqa: F401 (the fixture)
from tests.support.simclient import SimAdmin

TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}


def _connection(tresor: Tresor, sim: SimAdmin) -> int:  # noqa: F811
    account = sim.account(FUNDS)
    trade = sim.key(account, TRADE)
    tresor.ok("admin", "create-user", "alice")
    tresor.ok(
        "connection", "add", "--user", "alice", "--exchange", "binance", "--label", "main",
        "--endpoint", "sim", "--trade-api-key", trade["api_key"],
        TRESOR_TRADE_SECRET=trade["secret"],
    )  # fmt: skip
    return account


def _bid(sim: SimAdmin) -> Decimal:
    answer = sim.http.get("/api/v3/ticker/bookTicker", params={"symbol": "BTCUSDT"})
    return Decimal(answer.json()["bidPrice"])


def test_an_order_is_placed_once_per_key_listed_and_cancelled(
    tresor: Tresor,  # noqa: F811
    sim: SimAdmin,
) -> None:
    account = _connection(tresor, sim)
    price = str((_bid(sim) * Decimal("0.6")).quantize(Decimal(1)))
    args = ("order", "place", "--user", "alice", "main", "buy", "0.001", "BTC/USDT")
    placed = tresor.json(*args, "--price", price, "--key", "k-1")
    assert placed[0]["state"] == "open"
    again = tresor.json(*args, "--price", price, "--key", "k-1")
    assert again[0]["id"] == placed[0]["id"]
    assert len(sim.truth(account)["orders"]) == 1

    shown = tresor.ok("order", "list", "--user", "alice")
    assert "BTC/USDT" in shown.text
    assert "open" in shown.text
    listed = tresor.json("order", "list", "--user", "alice")
    assert [o["id"] for o in listed] == [placed[0]["id"]]
    status = tresor.json("order", "status", "--user", "alice", placed[0]["id"])
    assert status[0]["state"] == "open"
    cancelled = tresor.json("order", "cancel", "--user", "alice", placed[0]["id"])
    assert cancelled[0]["state"] == "canceled"
    assert tresor.ok("order", "list", "--user", "alice").text == "No open orders."
    refused = tresor("order", "cancel", "--user", "alice", placed[0]["id"])
    assert refused.exit_code == 1
    assert "order_not_open" in refused.text


def test_bad_input_is_a_clear_error(tresor: Tresor, sim: SimAdmin) -> None:  # noqa: F811
    _connection(tresor, sim)
    for args, code in [
        (("main", "hold", "1", "BTC/USDT"), "validation_failed"),
        (("main", "buy", "0", "BTC/USDT"), "validation_failed"),
        (("main", "buy", "lots", "BTC/USDT"), "validation_failed"),
        (("main", "buy", "0.001", "NOPE/USDT"), "unknown_symbol"),
        (("other", "buy", "0.001", "BTC/USDT"), "not_found"),
        (("main", "buy", "100", "BTC/USDT"), "insufficient_funds"),
    ]:
        result = tresor("order", "place", "--user", "alice", *args)
        assert result.exit_code == 1, result.output
        assert code in result.text, (args, result.text)
        assert "Traceback" not in result.output
