"""``tresor route quote|execute`` end to end against the simulator and each database: a quote
shows its legs and id, an execution places its legs once per ``--key``, and bad input is a
clear error."""

from __future__ import annotations

from tests.e2e.api.conftest import FUNDS
from tests.e2e.api.test_cli import Tresor, tresor  # noqa: F401 (the fixture)
from tests.support.simclient import TRADE, SimAdmin


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


def test_a_quote_is_shown_and_executed_once_per_key(
    tresor: Tresor,  # noqa: F811
    sim: SimAdmin,
) -> None:
    account = _connection(tresor, sim)
    args = ("route", "quote", "--user", "alice", "buy", "0.001", "btc", "--quote", "usdt")
    shown = tresor.ok(*args)
    assert "main" in shown.text
    assert "total" in shown.text
    assert "tresor route execute --user alice rq_" in shown.text

    quoted = tresor.json(*args)
    assert [leg["amount"] for leg in quoted["legs"]] == ["0.001"]
    assert quoted["legs"][0]["symbol"] == "BTC/USDT"
    execute = ("route", "execute", "--user", "alice", quoted["id"], "--key", "k-1")
    first = tresor.json(*execute)
    again = tresor.json(*execute)
    assert first == again
    assert first["legs"][0]["order_id"].startswith("ord_")
    assert first["legs"][0]["state"] in ("closed", "expired")  # an IOC is final at once
    assert len(sim.truth(account)["orders"]) == 1
    other = tresor("route", "execute", "--user", "alice", quoted["id"], "--key", "k-2")
    assert other.exit_code == 1
    assert "quote_already_executed" in other.text
    assert len(sim.truth(account)["orders"]) == 1


def test_bad_input_is_a_clear_error(tresor: Tresor, sim: SimAdmin) -> None:  # noqa: F811
    _connection(tresor, sim)
    for args, code in [
        (("quote", "--user", "alice", "hold", "1", "BTC", "--quote", "USDT"), "validation_failed"),
        (("quote", "--user", "alice", "buy", "0", "BTC", "--quote", "USDT"), "validation_failed"),
        (("quote", "--user", "alice", "buy", "1", "NOPE", "--quote", "USDT"), "no_route"),
        (("quote", "--user", "alice", "buy", "1", "BTC", "--quote", "BTC"), "validation_failed"),
        (("execute", "--user", "alice", "rq_missing"), "not_found"),
    ]:
        result = tresor("route", *args)
        assert result.exit_code == 1, result.output
        assert code in result.text, (args, result.text)
        assert "Traceback" not in result.output
