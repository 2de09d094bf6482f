"""``/v1/markets`` end to end: the app built by ``build_runtime``, ccxt and the simulated venue.
Answers are the published records (amounts as strings) with their freshness; a repeat within
the time to live reaches no exchange; bad requests are 4xx problems; with no room in the rate
budget the answer is the stale value or ``rate_budget_exhausted`` with ``Retry-After``.

Market data touches no database, so these run on SQLite only."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.api.conftest import EGRESS_IP, Api, Tenant, assert_problem
from tests.support.simclient import SimAdmin
from tresor.adapters.exchange.weights import binance_plan
from tresor.domain.connections import ExchangeTarget
from tresor.entrypoints.api.schemas_records import CandlesPublic, OrderBookPublic, TickerPublic

MARKETS = "/v1/markets/sim"


@pytest.fixture
def database_url() -> None:
    """SQLite only (overrides the suite's SQLite-and-PostgreSQL parameter)."""
    return None


@pytest.fixture
async def reader(alice: Tenant) -> dict[str, str]:
    return await alice.headers("read")


async def get(api: Api, path: str, headers: dict[str, str], **params: Any) -> Any:
    answer = await api.http.get(path, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def public_calls(api: Api, path_prefix: str) -> list[str]:
    """The paths of the keyless market-data requests in the request log."""
    await api.runtime.request_log.flush()
    rows = await api.rows(
        "SELECT path FROM exchange_calls WHERE connection_id IS NULL AND path LIKE :p",
        p=path_prefix + "%",
    )
    return [row["path"] for row in rows]


def block_budget(api: Api, seconds: float) -> Any:
    target = ExchangeTarget("binance", "sim", api.sim.url)
    bucket = binance_plan(target, ip=EGRESS_IP, key_id="public").bucket("ip")
    return api.runtime.budget.block(bucket, seconds)


async def test_the_configured_endpoints_are_listed_with_their_timeframes(
    api: Api, reader: dict[str, str]
) -> None:
    body = await get(api, "/v1/markets", reader)
    [sim] = body["items"]
    assert (sim["name"], sim["exchange"]) == ("sim", "binance")
    assert {"1m", "1h", "1d", "1M"} <= set(sim["timeframes"])
    symbols = await get(api, f"{MARKETS}/symbols", reader)
    assert {"BTC/USDT", "ETH/BTC"} <= set(symbols["symbols"])
    assert symbols["symbols"] == sorted(symbols["symbols"])


async def test_a_ticker_is_the_published_record_with_its_freshness(
    api: Api, reader: dict[str, str], sim: SimAdmin
) -> None:
    body = await get(api, f"{MARKETS}/ticker", reader, symbol="BTC/USDT")
    TickerPublic.model_validate(body)  # the record of /v1/schemas/ticker, freshness beside it
    assert (body["endpoint"], body["exchange"], body["symbol"]) == ("sim", "binance", "BTC/USDT")
    assert (body["stale"], body["age_ms"] >= 0) == (False, True)
    assert body["fetched_at"].endswith("Z") or body["fetched_at"].endswith("+00:00")
    truth = sim.app.sim.venue.market.ticker_24h("BTCUSDT", body["time_ms"])
    for field, name in (("last", "lastPrice"), ("bid", "bidPrice"), ("ask_amount", "askQty")):
        assert isinstance(body[field], str)
        assert Decimal(body[field]) == Decimal(truth[name])


async def test_a_repeat_within_the_time_to_live_reaches_no_exchange(
    api: Api, reader: dict[str, str]
) -> None:
    first = await get(api, f"{MARKETS}/ticker", reader, symbol="ETH/USDT")
    crowd = await asyncio.gather(
        *(get(api, f"{MARKETS}/ticker", reader, symbol="ETH/USDT") for _ in range(10))
    )
    assert {a["fetched_ms"] for a in crowd} == {first["fetched_ms"]}
    assert await public_calls(api, "/api/v3/ticker/24hr") == ["/api/v3/ticker/24hr?symbol=ETHUSDT"]


async def test_an_order_book_has_depth_levels_best_first(api: Api, reader: dict[str, str]) -> None:
    body = await get(api, f"{MARKETS}/order_book", reader, symbol="BTC/USDT", depth=5)
    OrderBookPublic.model_validate(body)
    bids = [Decimal(price) for price, _ in body["bids"]]
    asks = [Decimal(price) for price, _ in body["asks"]]
    assert (len(bids), len(asks)) == (5, 5)
    assert bids == sorted(bids, reverse=True)
    assert asks == sorted(asks)
    assert bids[0] < asks[0]
    assert body["stale"] is False


async def test_candles_are_oldest_first_and_only_the_last_is_still_open(
    api: Api, reader: dict[str, str]
) -> None:
    latest = await get(
        api, f"{MARKETS}/candles", reader, symbol="BTC/USDT", timeframe="1m", limit=3
    )
    CandlesPublic.model_validate(latest)
    rows = latest["candles"]
    assert [r["time_ms"] for r in rows] == [rows[0]["time_ms"] + i * 60_000 for i in range(3)]
    assert [r["closed"] for r in rows] == [True, True, False]
    assert all(Decimal(r["low"]) <= Decimal(r["close"]) <= Decimal(r["high"]) for r in rows)
    window = await get(
        api,
        f"{MARKETS}/candles",
        reader,
        symbol="BTC/USDT",
        timeframe="1d",
        since="2025-03-01T00:00:00Z",
        limit=2,
    )
    assert [r["time"] for r in window["candles"]] == [
        "2025-03-01T00:00:00Z",
        "2025-03-02T00:00:00Z",
    ]
    assert all(r["closed"] for r in window["candles"])


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/v1/markets/nope/ticker", {"symbol": "BTC/USDT"}, "unknown_endpoint"),
        (f"{MARKETS}/ticker", {"symbol": "NOPE/USDT"}, "unknown_symbol"),
        (f"{MARKETS}/ticker", {"symbol": "BTCUSDT"}, "validation_failed"),
        (f"{MARKETS}/ticker", {}, "validation_failed"),
        (f"{MARKETS}/order_book", {"symbol": "BTC/USDT", "depth": 0}, "validation_failed"),
        (f"{MARKETS}/order_book", {"symbol": "BTC/USDT", "depth": 5001}, "validation_failed"),
        (f"{MARKETS}/candles", {"symbol": "BTC/USDT", "timeframe": "2m"}, "unsupported_timeframe"),
        (f"{MARKETS}/candles", {"symbol": "BTC/USDT", "timeframe": "1x"}, "validation_failed"),
        (f"{MARKETS}/candles", {"symbol": "BTC/USDT", "limit": 1001}, "validation_failed"),
        (f"{MARKETS}/candles", {"symbol": "BTC/USDT", "since": "1969-12-31"}, "validation_failed"),
        ("/v1/markets/nope/symbols", {}, "unknown_endpoint"),
    ],
)
async def test_a_request_naming_nothing_the_endpoint_has_is_a_422_problem(
    api: Api, reader: dict[str, str], path: str, params: dict[str, Any], code: str
) -> None:
    answer = await api.http.get(path, params=params, headers=reader)
    body = assert_problem(answer, 422, code)
    if code == "unsupported_timeframe":
        assert "1m" in body["timeframes"]


async def test_no_room_in_the_budget_answers_stale_or_503_with_retry_after(
    api: Api, reader: dict[str, str]
) -> None:
    cached = await get(api, f"{MARKETS}/order_book", reader, symbol="BTC/USDT", depth=3)
    await block_budget(api, 20)
    await asyncio.sleep(1.05)  # past the book's time to live
    stale = await get(api, f"{MARKETS}/order_book", reader, symbol="BTC/USDT", depth=3)
    assert stale["stale"] is True
    assert stale["age_ms"] >= 1000
    assert (stale["bids"], stale["fetched_ms"]) == (cached["bids"], cached["fetched_ms"])

    answer = await api.http.get(f"{MARKETS}/ticker", params={"symbol": "BNB/USDT"}, headers=reader)
    body = assert_problem(answer, 503, "rate_budget_exhausted")
    assert 15 <= int(answer.headers["retry-after"]) <= 20
    assert "Retry-After" in body["remedy"]
    assert await public_calls(api, "/api/v3/ticker/24hr") == []


async def test_the_candles_schema_is_published(api: Api, reader: dict[str, str]) -> None:
    index = await get(api, "/v1/schemas", reader)
    assert "candles" in {item["name"] for item in index["items"]}
    schema = await get(api, "/v1/schemas/candles", reader)
    assert schema["$id"] == "/v1/schemas/candles"
    assert {"exchange", "symbol", "timeframe", "candles"} <= set(schema["properties"])
    candle = schema["$defs"]["CandlePublic"]["properties"]
    assert candle["open"]["type"] == "string"


@pytest.mark.parametrize(
    ("name", "path", "params"),
    [
        ("ticker", "ticker", {"symbol": "BTC/USDT"}),
        ("order_book", "order_book", {"symbol": "ETH/BTC", "depth": 3}),
        ("candles", "candles", {"symbol": "BTC/USDT", "timeframe": "1h", "limit": 3}),
    ],
)
async def test_every_answer_is_valid_against_its_published_schema(
    api: Api, reader: dict[str, str], name: str, path: str, params: dict[str, Any]
) -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    validator = jsonschema_rs.Draft202012Validator(await get(api, f"/v1/schemas/{name}", reader))
    answer = await get(api, f"{MARKETS}/{path}", reader, **params)
    assert validator.is_valid(answer)
    assert not validator.is_valid({**answer, "symbol": 1})
