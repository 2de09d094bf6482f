from tests.support.simclient import SimAdmin, binance


def test_ccxt_loads_markets_and_balance_from_a_fresh_venue(sim: SimAdmin) -> None:
    account = sim.account({"USDT": "1000"})
    key = sim.key(account)
    ex = binance(sim.url, key)
    markets = ex.load_markets()
    assert len(markets) > 300
    assert ex.fetch_balance()["total"]["USDT"] == 1000
