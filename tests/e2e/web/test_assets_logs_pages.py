"""The dashboard's assets, API logs, alerts and gaps against the REST routes: the assets
page groups the portfolio's own figures and hides dust and searches by name; the request log
filters and pages as ``GET /v1/logs``; alerts come newest first with their severity, and the
gaps with the exchange's reason."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.e2e.api.conftest import Api
from tests.e2e.api.synced import T0, connect, snapshot
from tests.e2e.web.conftest import Browser
from tests.e2e.web.reading import BLOCK, ids, rest, walk, web_user
from tresor.domain.records import Cursor, Dataset, ExchangeCall, FlatRecords, Gap
from tresor.domain.sync import Event, EventKind, Severity

D = Decimal
OLD = "2023-11-15T00:00:00Z"  # before the requests the test's own connections made


async def assets_user(api: Api) -> tuple[Browser, dict[str, str], str, str]:
    tenant, b = await web_user(api, "alice")
    headers, a = await connect(api, tenant, "alpha")
    _, z = await connect(api, tenant, "beta")
    prices = {"BTC": "60000", "USDT": "1", "SHIB": "0.00001", "ETH": "3000"}
    await snapshot(
        api,
        a,
        T0,
        {
            "BTC": ("0.75", "0.25"),
            "USDT": ("100", "0"),
            "SHIB": ("10", "0"),  # 0.0001 USD: dust
            "NOPRICE": ("5", "0"),  # unknown worth: always shown
            "EMPTY": ("0", "0"),  # unpriced and nothing: dust
        },
        prices,
    )
    await snapshot(api, z, T0, {"BTC": ("0.5", "0"), "USDT": ("0.5", "0")}, prices)
    return b, headers, a, z


async def test_the_assets_page_shows_each_asset_with_its_split_per_connection(api: Api) -> None:
    b, headers, a, z = await assets_user(api)
    portfolio = (await api.http.get("/v1/portfolio?quote=USD", headers=headers)).json()

    page = await b.get("/assets")

    assert page.status_code == 200, page.text
    assert BLOCK.findall(page.text) == [x["asset"] for x in portfolio["assets"]]
    btc = page.text.split('data-asset="BTC"')[1].split("</tbody>")[0]
    assert btc.count('class="part"') == 2
    assert f'data-connection="{a}"' in btc
    assert f'data-connection="{z}"' in btc
    assert "0.75" in btc
    assert "0.25" in btc
    assert "90,000.00" in btc  # 1.5 BTC at 60,000 in all
    assert "30,000.00" in btc  # beta's 0.5
    assert f"{D(portfolio['total']):,.2f} USD" in page.text
    by_connection = await b.get("/assets?by=connection")
    assert BLOCK.findall(by_connection.text) == [a, z]


async def test_hide_dust_hides_what_is_worth_less_than_one_unit_of_the_quote(api: Api) -> None:
    b, _, a, _ = await assets_user(api)

    everything = await b.get("/assets")
    no_dust = await b.get("/assets?q=&hide_dust=true")
    holdings = await b.get("/assets?hide_dust=true&by=connection")

    assert set(BLOCK.findall(everything.text)) == {"BTC", "USDT", "SHIB", "NOPRICE", "EMPTY"}
    assert BLOCK.findall(no_dust.text) == ["BTC", "USDT", "NOPRICE"]
    assert "Hidden: 2 assets worth less than 1 USD" in no_dust.text
    assert "worth less than 1 USD" in everything.text  # the threshold is said on the page
    beta = holdings.text.split("</tbody>")[1]
    assert 'data-asset="USDT"' not in beta  # beta's 0.5 USDT is dust there
    assert "Hidden: 3 holdings" in holdings.text
    assert f'data-connection="{a}"' in holdings.text


async def test_the_asset_search_matches_part_of_the_name_in_any_case(api: Api) -> None:
    b, _, _, _ = await assets_user(api)

    assert BLOCK.findall((await b.get("/assets?q=bt")).text) == ["BTC"]
    assert BLOCK.findall((await b.get("/assets?q=i")).text) == ["SHIB", "NOPRICE"]
    nothing = await b.get("/assets?q=zzz")
    assert BLOCK.findall(nothing.text) == []
    assert "No asset to show with “zzz” in its name." in nothing.text


async def test_the_request_log_page_filters_by_status_and_pages_like_the_api(api: Api) -> None:
    tenant, b = await web_user(api, "alice")
    headers, a = await connect(api, tenant)
    calls = [
        ExchangeCall(T0 + n, a, "sim", "GET", f"/api/v3/myTrades?symbol=S{n}", 200, 1.5, 10, None)
        for n in range(9)
    ]
    calls += [
        ExchangeCall(T0 + 20 + n, a, "sim", "GET", "/api/v3/account", 429, 3.0, 20, "-1003")
        for n in range(3)
    ]
    calls.append(ExchangeCall(T0 + 30, a, "sim", "POST", "/api/v3/order", None, 10_000.0, 1, None))
    await api.runtime.store.add_calls(calls)

    async def expected(**params: Any) -> list[str]:
        return [str(c["id"]) for c in await rest(api, "/v1/logs", headers, until=OLD, **params)]

    limited = await b.get(f"/logs?status=429&until={OLD}")
    failures = await b.get(f"/logs?errors_only=true&until={OLD}&status=")
    posts = await b.get(f"/logs?method=post&until={OLD}")
    walked, pages = await walk(b, f"/logs?limit=2&path_prefix=/api/v3/myTrades&until={OLD}")

    assert ids(limited) == await expected(status=429)
    assert len(ids(limited)) == 3
    assert ids(failures) == await expected(errors_only="true")
    assert "No answer" in failures.text
    assert "-1003" in failures.text
    assert ids(posts) == await expected(method="POST")
    assert walked == await expected(path_prefix="/api/v3/myTrades")
    assert (len(walked), pages) == (9, 5)


async def test_alerts_are_newest_first_with_their_severity_and_the_gaps_explained(
    api: Api,
) -> None:
    tenant, b = await web_user(api, "alice")
    headers, a = await connect(api, tenant)
    for n, severity in enumerate([Severity.INFO, Severity.WARNING, Severity.ERROR] * 3):
        await api.runtime.store.add_event(
            Event(b.user_id, a, T0 + n, EventKind.SYNC_FAILING, severity, f"event {n}")
        )
    reason = "Binance removes canceled and expired orders that had no fills after 90 days."
    await api.runtime.store.save_page(
        Cursor(a, Dataset.ORDERS, "BTC/USDT", None, T0, 0),
        FlatRecords(),
        [Gap(a, Dataset.ORDERS, "BTC/USDT", 0, T0, reason)],
    )
    # the same limit on another market: one row for both, from the earliest start
    await api.runtime.store.save_page(
        Cursor(a, Dataset.ORDERS, "ETH/USDT", None, T0, 0),
        FlatRecords(),
        [Gap(a, Dataset.ORDERS, "ETH/USDT", 5, T0 - 1, reason)],
    )
    events = await rest(api, "/v1/events", headers)

    walked, pages = await walk(b, "/alerts?limit=4")
    first = await b.get("/alerts?limit=4")
    gaps = await b.get("/gaps")
    mine = await b.get(f"/gaps?connection_id={a}")

    assert walked == [str(e["id"]) for e in events]
    assert len(walked) == 9
    assert pages == 3
    assert first.text.index("event 8") < first.text.index("event 7")
    assert '<span class="badge bad"' in first.text
    assert "Error" in first.text
    assert "Warning" in first.text
    for page in (first, gaps, mine):
        assert page.text.count(reason) == 1
        assert "BTC/USDT, ETH/USDT" in page.text
        assert "<summary>2 markets</summary>" in page.text
