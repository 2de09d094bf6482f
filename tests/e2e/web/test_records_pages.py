"""The dashboard's trades, orders and transfers against the REST routes: for the same filters
a page shows the same rows, its "Older" links walk them to the end, its CSV download holds them
all (formula-like text quoted), and bad or foreign filters are clear 4xx pages, never a 500."""

from __future__ import annotations

import csv
import html
import io
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.api.conftest import Api
from tests.e2e.api.synced import connect, order, save, trade, transfer
from tests.e2e.web.conftest import Browser, browser
from tests.e2e.web.reading import NEXT, ROW, ids, rest, row_id, walk, web_user
from tresor.domain.records import Dataset
from tresor.entrypoints.web.csv_export import safe_cell

D = Decimal


async def with_records(api: Api) -> tuple[Browser, dict[str, str], str, str]:
    """Alice, signed in, with two connections whose history was synced."""
    tenant, b = await web_user(api, "alice")
    headers, a = await connect(api, tenant, "alpha")
    _, z = await connect(api, tenant, "beta")
    for cid in (a, z):
        await save(api, Dataset.TRADES, [trade(cid, n) for n in range(13)])
        await save(
            api, Dataset.TRADES, [trade(cid, n, symbol="ETH/BTC") for n in range(5)], "ETH/BTC"
        )
        await save(api, Dataset.ORDERS, [order(cid, n) for n in range(17)])
        await save(api, Dataset.DEPOSITS, [transfer(cid, n) for n in range(11)])
    return b, headers, a, z


def csv_of(item: dict[str, Any]) -> dict[str, str]:
    """A REST item as its CSV row reads."""
    return {k: safe_cell(v) for k, v in item.items()}


CASES = [
    ("trades", {}),
    ("trades", {"connection_id": "A"}),
    ("trades", {"symbol": "ETH/BTC"}),
    ("trades", {"asset": "USDT", "side": "sell"}),
    ("trades", {"since": "2023-11-14T22:13:21Z", "until": "2023-11-14T22:13:23Z"}),
    ("orders", {"status": "canceled"}),
    ("orders", {"symbol": "BTC/USDT", "side": "buy", "connection_id": "B"}),
    ("transfers", {"kind": "deposit", "asset": "USDT", "status": "ok"}),
    ("transfers", {"connection_id": "B", "since": "2023-11-14T22:13:22Z"}),
]


@pytest.mark.parametrize(("listing", "params"), CASES)
async def test_a_records_page_shows_the_rows_the_rest_route_gives_for_the_same_filters(
    api: Api, listing: str, params: dict[str, str]
) -> None:
    b, headers, a, z = await with_records(api)
    params = {k: {"A": a, "B": z}.get(v, v) for k, v in params.items()}
    expected = [row_id(listing, i) for i in await rest(api, f"/v1/{listing}", headers, **params)]

    shown = ids(await b.get(f"/{listing}", params={**params, "limit": 1000}))

    assert expected
    assert shown == expected


async def test_a_date_filter_is_whole_days_in_the_users_time_zone(api: Api) -> None:
    b, headers, _, _ = await with_records(api)
    day = await rest(
        api, "/v1/trades", headers, since="2023-11-14T00:00:00Z", until="2023-11-15T00:00:00Z"
    )
    after = await rest(api, "/v1/trades", headers, since="2023-11-15T00:00:00Z")

    same_day = ids(await b.get("/trades?since=2023-11-14&until=2023-11-14&limit=1000"))
    next_day = ids(await b.get("/trades?since=2023-11-15&until=&limit=1000"))

    assert same_day == [row_id("trades", t) for t in day]
    assert len(same_day) == 36
    assert next_day == [row_id("trades", t) for t in after] == []


async def test_the_older_links_walk_every_row_once_and_keep_the_filters(api: Api) -> None:
    b, headers, a, _ = await with_records(api)
    expected = [row_id("orders", o) for o in await rest(api, "/v1/orders", headers)]
    only_a = [
        row_id("trades", t)
        for t in await rest(api, "/v1/trades", headers, connection_id=a, side="buy")
    ]

    walked, pages = await walk(b, "/orders?limit=5&symbol=&status=")
    filtered, filtered_pages = await walk(b, f"/trades?limit=4&connection_id={a}&side=buy")

    assert walked == expected
    assert pages == -(-len(expected) // 5)
    assert filtered == only_a
    assert filtered_pages == -(-len(only_a) // 4)


@pytest.mark.parametrize(
    ("listing", "params"),
    [
        ("trades", {"symbol": "BTC/USDT"}),
        ("orders", {"status": "open"}),
        ("transfers", {}),
    ],
)
async def test_the_csv_download_has_every_matching_row_as_the_rest_route_gives_it(
    api: Api, listing: str, params: dict[str, str]
) -> None:
    b, headers, _, _ = await with_records(api)
    expected = await rest(api, f"/v1/{listing}", headers, **params)

    answer = await b.get(f"/{listing}.csv", params=params)

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f"tresor-{listing}-" in disposition
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert expected
    assert rows == [csv_of(item) for item in expected]
    assert list(rows[0]) == list(expected[0])


async def test_the_csv_download_streams_past_one_page_of_the_service(api: Api) -> None:
    tenant, b = await web_user(api, "alice")
    headers, a = await connect(api, tenant)
    await save(api, Dataset.TRADES, [trade(a, n) for n in range(2345)])
    expected = await rest(api, "/v1/trades", headers)

    answer = await b.get("/trades.csv")

    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == len(expected) == 2345
    assert rows == [csv_of(item) for item in expected]
    assert rows[0]["price"] == "60000.5"
    assert rows[0]["fee"] == "0.00000075"


async def test_the_csv_download_quotes_text_a_spreadsheet_would_run_but_not_numbers(
    api: Api,
) -> None:
    tenant, b = await web_user(api, "alice")
    _, a = await connect(api, tenant)
    formulas = ['=HYPERLINK("http://evil.example")', "+SUM(1)", "-2+3", "@cmd", "\tTAB"]
    await save(
        api,
        Dataset.ORDERS,
        [order(a, n, client_order_id=text) for n, text in enumerate(formulas)],
    )
    await save(api, Dataset.TRADES, [trade(a, 1, fee=D("-0.5"), trade_id="-7")])

    orders = list(csv.DictReader(io.StringIO((await b.get("/orders.csv")).text)))
    trades = list(csv.DictReader(io.StringIO((await b.get("/trades.csv")).text)))

    assert sorted(o["client_order_id"] for o in orders) == sorted("'" + f for f in formulas)
    assert (trades[0]["fee"], trades[0]["trade_id"]) == ("-0.5", "-7")  # numbers stay numbers
    assert trades[0]["fee_asset"] == "BTC"


async def test_another_users_connection_as_a_filter_is_a_404_page(api: Api) -> None:
    b, _, a, _ = await with_records(api)
    bob, _ = await web_user(api, "bob")
    _, theirs = await connect(api, bob, "bobs")
    await save(api, Dataset.TRADES, [trade(theirs, n) for n in range(3)])

    for path in [
        "/trades",
        "/orders",
        "/transfers",
        "/trades.csv",
        "/orders.csv",
        "/transfers.csv",
        "/logs",
        "/gaps",
    ]:
        for other in (theirs, "nosuchconnection"):
            page = await b.get(path, params={"connection_id": other})
            assert page.status_code == 404, (path, page.text)
            assert page.headers["content-type"].startswith("text/html")
            assert "There is no such connection." in page.text
            assert theirs not in page.text.replace(f"connection_id={theirs}", "")
    assert ids(await b.get(f"/trades?connection_id={a}&limit=5"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/trades?since=yesterday", "&#39;since&#39; is not a date"),
        ("/trades?until=2023-02-30", "&#39;until&#39; is not a date"),
        ("/trades?since=0001-01-01", "&#39;since&#39; must be between 1970 and 9998"),
        ("/orders?status=done", "&#39;status&#39; cannot be &#39;done&#39;"),
        ("/transfers?kind=gift", "&#39;kind&#39; cannot be &#39;gift&#39;"),
        ("/trades?symbol=BTCUSDT", "&#39;symbol&#39; is not a market"),
        ("/trades?side=long", "&#39;side&#39; cannot be &#39;long&#39;"),
        ("/trades?limit=5000", "&#39;limit&#39; must be between 1 and 1000"),
        ("/trades?cursor=abc", "The cursor is not one the trades listing gave"),
        ("/logs?status=abc", "&#39;status&#39; is not an HTTP status"),
        ("/logs?method=BREW", "&#39;method&#39; cannot be &#39;BREW&#39;"),
        ("/logs?path_prefix=a%20b", "&#39;path_prefix&#39; must be the start of a path"),
        ("/logs?since=soon", "&#39;since&#39; is not a date"),
    ],
)
async def test_a_bad_filter_shows_the_form_again_with_the_message(
    api: Api, url: str, message: str
) -> None:
    b, _, _, _ = await with_records(api)

    page = await b.get(url)

    assert page.status_code == 422, page.text
    assert message in page.text
    assert 'role="alert"' in page.text
    assert '<form class="filters"' in page.text
    assert ROW.findall(page.text) == []
    assert ".csv?" not in page.text  # no download of what cannot be read


@pytest.mark.parametrize(
    "url",
    [
        "/trades?limit=abc",
        "/trades?limit=0",
        "/trades?connection_id=not/an/id",
        "/trades?until=9999-12-31",
        "/trades?since=2023-11-14T25:00:00",
        "/trades?symbol=%00/USDT",
        "/orders?cursor=" + "A" * 2000,
        "/transfers?asset=" + "X" * 100,
        "/assets?by=exchange",
        "/assets?q=" + "q" * 100,
        "/assets?hide_dust=maybe",
        "/logs?status=99999999999999999999",
        "/logs?errors_only=perhaps",
        "/alerts?limit=-1",
        "/gaps?connection_id=%F0%9F%92%A5",
    ],
)
async def test_odd_query_values_are_4xx_pages_never_a_500(api: Api, url: str) -> None:
    _, b = await web_user(api, "alice")

    page = await b.get(url)

    assert 400 <= page.status_code < 500, page.text
    assert page.headers["content-type"].startswith("text/html")


async def test_a_bad_filter_on_a_download_is_an_error_page_not_a_broken_file(api: Api) -> None:
    b, _, _, _ = await with_records(api)

    page = await b.get("/trades.csv?since=yesterday")

    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "&#39;since&#39; is not a date" in page.text


async def test_a_tampered_cursor_is_a_clear_422_on_every_paged_page(api: Api) -> None:
    b, _, _, _ = await with_records(api)
    walked = await b.get("/orders?limit=2")
    link = NEXT.search(walked.text)
    assert link
    orders_cursor = html.unescape(link.group(1)).split("cursor=")[1]

    for url in [f"/trades?cursor={orders_cursor}", "/logs?cursor=zz", "/alerts?cursor=zz"]:
        page = await b.get(url)
        assert page.status_code == 422, (url, page.text)
        assert "The cursor is not one the" in page.text


async def test_the_reading_pages_need_a_session(api: Api) -> None:
    anonymous = browser(api)
    for path in ["/assets", "/trades", "/orders.csv", "/transfers", "/logs", "/alerts", "/gaps"]:
        answer = await anonymous.get(path + "?limit=5")
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=" + path)


def test_text_cells_that_start_like_a_formula_are_quoted_numbers_are_not() -> None:
    assert [safe_cell(v) for v in ["=1+1", "+x", "-x", "@x", "\rx", "-1.5", "+2", "12"]] == [
        "'=1+1",
        "'+x",
        "'-x",
        "'@x",
        "'\rx",
        "-1.5",
        "+2",
        "12",
    ]
    assert [safe_cell(v) for v in [None, True, False, 3]] == ["", "true", "false", "3"]
