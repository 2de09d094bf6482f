"""The portfolio, its history and the published record schemas, through the API, on data
written into the store as the sync engine writes it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.e2e.api.conftest import Api, Tenant, assert_problem
from tests.e2e.api.synced import T0, connect, save, snapshot, trade
from tresor.domain.records import Dataset
from tresor.domain.sync import SyncState

D = Decimal
HOUR = 3_600_000


async def test_portfolio_values_every_holding_and_the_allocation_adds_up_to_100(
    api: Api, alice: Tenant
) -> None:
    headers, a = await connect(api, alice, "alpha")
    _, b = await connect(api, alice, "beta")
    await snapshot(api, a, T0 - HOUR, {"BTC": ("9", "0")}, {"BTC": "1"})  # older: not used
    await snapshot(
        api,
        a,
        T0,
        {"BTC": ("1", "0.5"), "USDT": ("1000", "0"), "DOGE": ("10", "0")},
        {"BTC": "60000", "USDT": "1"},  # DOGE has no price
    )
    await snapshot(
        api,
        b,
        T0 + 1000,
        {"BTC": ("0.25", "0"), "ETH": ("2", "0")},
        {"BTC": "60010", "ETH": "3000"},
    )
    await api.runtime.store.save_state(
        SyncState(b, last_success_ms=T0 + 1000, last_error_code="rate_limited")
    )

    answer = await api.http.get("/v1/portfolio", params={"quote": "USD"}, headers=headers)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["quote"] == "USD"
    assert D(body["total"]) == D("90000") + D("1000") + D("15002.5") + D("6000")
    by_label = {c["label"]: c for c in body["connections"]}
    alpha, beta = by_label["alpha"], by_label["beta"]
    assert alpha["exchange"] == "binance"
    assert alpha["status"] == "connected"
    assert alpha["freshness"]["taken_ms"] == T0
    assert alpha["freshness"]["taken"] == "2023-11-14T22:13:20Z"
    assert alpha["freshness"]["age_seconds"] >= 0
    assert beta["freshness"]["last_success_ms"] == T0 + 1000
    assert beta["freshness"]["last_error_code"] == "rate_limited"
    holdings = {h["asset"]: h for h in alpha["holdings"]}
    assert holdings["BTC"] == {
        "asset": "BTC",
        "free": "1",
        "locked": "0.5",
        "total": "1.5",
        "price": "60000",
        "value": "90000",
    }
    assert holdings["DOGE"]["price"] is None
    assert holdings["DOGE"]["value"] is None
    assert D(alpha["value"]) == D("91000")
    assert D(beta["value"]) == D("21002.5")
    assets = {x["asset"]: x for x in body["assets"]}
    assert D(assets["BTC"]["total"]) == D("1.75")
    assert D(assets["BTC"]["value"]) == D("105002.5")
    assert assets["DOGE"] == {"asset": "DOGE", "total": "10", "value": None, "allocation": None}
    assert [x["asset"] for x in body["assets"]] == ["BTC", "ETH", "USDT", "DOGE"]
    shares = {x["asset"]: D(x["allocation"]) for x in body["assets"] if x["value"] is not None}
    assert sum(shares.values()) == D(100)
    total = D(body["total"])
    for asset, share in shares.items():
        assert abs(share - D(assets[asset]["value"]) * 100 / total) <= D("0.0001"), asset
    assert sum(D(x["value"]) for x in body["assets"] if x["value"] is not None) == total


async def test_portfolio_in_another_quote_crosses_through_the_snapshots_own_prices(
    api: Api, alice: Tenant
) -> None:
    headers, a = await connect(api, alice)
    await snapshot(
        api, a, T0, {"BTC": ("2", "0"), "USDT": ("600", "0")}, {"BTC": "60000", "USDT": "1"}
    )

    in_usdt = (await api.http.get("/v1/portfolio?quote=USDT", headers=headers)).json()
    in_btc = (await api.http.get("/v1/portfolio?quote=btc", headers=headers)).json()
    in_eur = (await api.http.get("/v1/portfolio?quote=EUR", headers=headers)).json()

    assert D(in_usdt["total"]) == D("120600")  # USD and its stablecoins are one money
    assert in_btc["quote"] == "BTC"
    assert D(in_btc["total"]) == D("2.01")
    assert in_eur["total"] == "0"  # no price of EUR in the snapshot: nothing can be valued
    assert all(h["value"] is None for h in in_eur["connections"][0]["holdings"])


async def test_portfolio_of_a_user_without_data_is_empty_and_of_one_connection_only_that(
    api: Api, alice: Tenant
) -> None:
    headers, a = await connect(api, alice, "alpha")
    _, b = await connect(api, alice, "beta")
    await snapshot(api, a, T0, {"USDT": ("5", "0")}, {"USDT": "1"})

    one = (await api.http.get(f"/v1/portfolio?connection_id={b}", headers=headers)).json()
    both = (await api.http.get("/v1/portfolio", headers=headers)).json()

    assert [c["id"] for c in one["connections"]] == [b]
    assert one["connections"][0]["holdings"] == []
    assert one["connections"][0]["freshness"]["taken"] is None
    assert one["total"] == "0"
    assert one["assets"] == []
    assert D(both["total"]) == 5


async def test_history_sums_each_connections_latest_snapshot_per_bucket(
    api: Api, alice: Tenant
) -> None:
    headers, a = await connect(api, alice, "alpha")
    _, b = await connect(api, alice, "beta")
    usdt = {"USDT": "1"}
    await snapshot(api, a, T0 - 5 * HOUR, {"USDT": ("100", "0")}, usdt)  # carried in
    await snapshot(api, a, T0 + HOUR // 2, {"USDT": ("200", "0")}, usdt)
    await snapshot(api, b, T0 + 3 * HOUR // 2, {"USDT": ("40", "10")}, usdt)
    await snapshot(api, b, T0 + 5 * HOUR // 2, {"USDT": ("70", "0")}, usdt)
    await snapshot(api, b, T0 + 8 * HOUR // 3, {"BTC": ("0.001", "0")}, {"BTC": "80000"})
    params = {
        "since": "2023-11-14T22:13:20Z",
        "until": "2023-11-15T03:13:20+01:00",  # four hours later
        "interval": "1h",
    }

    answer = await api.http.get("/v1/portfolio/history", params=params, headers=headers)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["since_ms"], body["until_ms"], body["interval_seconds"]) == (
        T0,
        T0 + 4 * HOUR,
        3600,
    )
    points = [(p["start_ms"] - T0, D(p["value"]), p["connections"]) for p in body["points"]]
    assert points == [(0, 200, 1), (HOUR, 250, 2), (2 * HOUR, 280, 2), (3 * HOUR, 280, 2)]
    only_b = await api.http.get(
        "/v1/portfolio/history", params={**params, "connection_id": b}, headers=headers
    )
    assert [p["value"] for p in only_b.json()["points"]] == [None, "50", "80", "80"]


async def test_history_defaults_to_the_last_week_in_at_most_500_points(
    api: Api, alice: Tenant
) -> None:
    headers, _ = await connect(api, alice)
    body = (await api.http.get("/v1/portfolio/history", headers=headers)).json()
    assert body["until_ms"] - body["since_ms"] == 7 * 24 * HOUR
    assert body["interval_seconds"] == 1800
    assert len(body["points"]) == 336
    assert all(p["value"] is None for p in body["points"])


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2024-01-02T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
        {"since": "2020-01-01T00:00:00Z", "until": "2024-01-01T00:00:00Z", "interval": "1s"},
        {"since": "1969-12-31T00:00:00Z"},
        {"interval": "0h"},
        {"interval": "5y"},
        {"since": "yesterday"},
        {"quote": "U$D"},
    ],
)
async def test_bad_history_parameters_are_validation_problems(
    api: Api, alice: Tenant, params: dict[str, str]
) -> None:
    headers = await alice.headers()
    answer = await api.http.get("/v1/portfolio/history", params=params, headers=headers)
    assert_problem(answer, 422, "validation_failed")


async def test_the_record_schemas_are_draft_2020_12_and_describe_what_the_api_answers(
    api: Api, alice: Tenant
) -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    headers, a = await connect(api, alice)
    await save(api, Dataset.TRADES, [trade(a, 1)])
    index = (await api.http.get("/v1/schemas", headers=headers)).json()
    names = [item["name"] for item in index["items"]]
    assert names == ["ticker", "order_book", "candles", "balances", "trade", "order", "transfer"]
    for name in names:
        schema = (await api.http.get(f"/v1/schemas/{name}", headers=headers)).json()
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["type"] == "object"
        jsonschema_rs.Draft202012Validator(schema)  # a valid schema
    trade_schema = (await api.http.get("/v1/schemas/trade", headers=headers)).json()
    item = (await api.http.get("/v1/trades", headers=headers)).json()["items"][0]
    assert jsonschema_rs.Draft202012Validator(trade_schema).is_valid(item)
    assert not jsonschema_rs.Draft202012Validator(trade_schema).is_valid({**item, "price": 1.5})
    missing = await api.http.get("/v1/schemas/withdrawal", headers=headers)
    assert_problem(missing, 404, "not_found")
