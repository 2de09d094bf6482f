"""My Exchanges end to end: the list, the add-an-exchange wizard against the simulator (a valid
key connects, a key that can withdraw is refused with its remedy), each connection's page with
its capability report, and rotating, disabling, enabling and removing, through the dashboard's
forms on the real app (SQLite and PostgreSQL). No page ever shows a secret again."""

from __future__ import annotations

import re

import httpx

from tests.e2e.api.conftest import EGRESS_IP, Api
from tests.e2e.web.conftest import Browser, signed_in
from tresor.domain.connections import ConnectionStatus, Credentials, KeyRole
from tresor.domain.secrets import Secret

READ_ONLY = {"enableReading": True}
TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}
WITHDRAW = {**TRADE, "enableWithdrawals": True}
_ADDED = re.compile(r"^/exchanges/([0-9a-f]+)\?done=added$")


def hint(key: dict[str, str]) -> str:
    return f"{key['api_key'][:4]}…{key['api_key'][-4:]}"


def assert_no_secret_shown(api: Api) -> None:
    """No response of the test (pages, redirects, errors) holds any key's api key or secret."""
    assert api.responses
    for response in api.responses:
        for secret in api.secrets:
            assert secret not in response.text, (response.request.url, "shows a secret")


async def wizard_add(
    b: Browser,
    label: str = "main",
    *,
    read: dict[str, str] | None = None,
    trade: dict[str, str] | None = None,
    choice: str = "sim",
) -> httpx.Response:
    await b.get(f"/exchanges/new/{choice}")
    form = {"choice": choice, "label": label}
    for role, key in (("read", read), ("trade", trade)):
        if key is not None:
            form[f"{role}_api_key"] = key["api_key"]
            form[f"{role}_secret"] = key["secret"]
    return await b.post("/exchanges", form)


async def added(b: Browser, label: str = "main", **keys: dict[str, str]) -> str:
    """Connect through the wizard; the new connection's id."""
    answer = await wizard_add(b, label, **keys)
    assert answer.status_code == 303, answer.text
    found = _ADDED.match(answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


async def test_the_list_and_the_detail_show_the_users_connection_with_status_and_hints(
    api: Api,
) -> None:
    b = await signed_in(api, "alice")
    empty = await b.get("/exchanges")
    assert empty.status_code == 200
    assert "No exchange connected yet" in empty.text
    assert 'href="/exchanges/new"' in empty.text
    read, trade = api.key(READ_ONLY), api.key(TRADE)
    connection_id = await added(b, "binance-main", read=read, trade=trade)
    listed = await b.get("/exchanges")
    assert listed.status_code == 200
    assert f'href="/exchanges/{connection_id}">binance-main</a>' in listed.text
    assert "Connected" in listed.text
    assert "Keys work; Tresor syncs this account." in listed.text  # the badge's meaning
    assert hint(read) in listed.text
    assert hint(trade) in listed.text
    page = await b.get(f"/exchanges/{connection_id}")
    assert page.status_code == 200
    assert "<h1>binance-main" in page.text
    assert 'id="key-read"' in page.text
    assert 'id="key-trade"' in page.text
    assert "Sealed to the trading worker" in page.text
    assert_no_secret_shown(api)


async def test_the_wizard_lists_the_endpoints_and_says_what_to_tick_and_never_to_tick(
    api: Api,
) -> None:
    b = await signed_in(api, "alice")
    chooser = await b.get("/exchanges/new")
    assert chooser.status_code == 200
    assert 'href="/exchanges/new/sim"' in chooser.text
    assert 'href="/exchanges/new/binance"' in chooser.text
    page = await b.get("/exchanges/new/sim")
    assert page.status_code == 200
    tick_trade = page.text.split('id="tick-trade"')[1].split("</ul>")[0]
    assert "Enable Reading" in tick_trade
    assert "Enable Spot &amp; Margin Trading" in tick_trade
    never = page.text.split('id="never"')[1].split("</ul>")[0]
    for permission in ("Enable Withdrawals", "Enable Universal Transfer", "Enable Margin Loan"):
        assert permission in never
    assert "Restrict access to trusted IPs only" in page.text
    assert f'data-copy="{EGRESS_IP}"' in page.text
    for field in ("label", "read_api_key", "read_secret", "trade_api_key", "trade_secret"):
        assert f'name="{field}"' in page.text
    assert ' style="' not in page.text
    assert (await b.get("/exchanges/new/nowhere")).status_code == 404


async def test_the_wizard_connects_a_valid_key_and_shows_its_report_as_a_checklist(
    api: Api,
) -> None:
    b = await signed_in(api, "alice")
    trade = api.key(TRADE)
    connection_id = await added(b, "spot", trade=trade)
    (stored,) = await api.runtime.container.connections.all(b.user_id)
    assert stored.id == connection_id
    assert stored.endpoint == "sim"
    assert stored.status is ConnectionStatus.CONNECTED
    page = await b.get(f"/exchanges/{connection_id}?done=added")
    assert page.status_code == 200
    assert "The exchange is connected" in page.text
    report = page.text.split('id="key-trade"')[1]
    assert "<strong>Accepted by the exchange:</strong> yes" in report
    assert "<strong>Spot trading:</strong> yes" in report
    assert "<strong>Withdrawals:</strong> no" in report
    assert "<strong>Restricted to trusted IP addresses:</strong> no" in report
    assert "Restrict the key to Tresor&#39;s IP addresses (203.0.113.7)" in report
    assert "Clock offset from the exchange:" in report
    assert "This connection has no read key." in page.text
    assert_no_secret_shown(api)


async def test_a_withdraw_enabled_key_is_refused_with_its_remedy_and_nothing_is_stored(
    api: Api,
) -> None:
    b = await signed_in(api, "alice")
    key = api.key(WITHDRAW)
    answer = await wizard_add(b, "risky", trade=key)
    assert answer.status_code == 422
    assert "withdraw_permission_enabled" in answer.text
    assert "This key can withdraw funds." in answer.text
    assert "disable withdrawals" in answer.text
    assert "Refused: the trade key." in answer.text
    assert 'value="risky"' in answer.text  # the label is kept
    assert key["api_key"] not in answer.text
    assert key["secret"] not in answer.text
    assert await api.runtime.container.connections.all(b.user_id) == []
    assert_no_secret_shown(api)


async def test_bad_key_fields_are_refused_with_a_message_that_never_quotes_them(
    api: Api,
) -> None:
    b = await signed_in(api, "alice")
    nothing = await wizard_add(b, "empty")
    assert nothing.status_code == 422
    assert "A connection needs a read key, a trade key, or both." in nothing.text
    half = await b.post(
        "/exchanges", {"choice": "sim", "label": "half", "read_api_key": "abcdefgh1234"}
    )
    assert half.status_code == 422
    assert "The read key needs both its API key and its secret." in half.text
    assert "abcdefgh1234" not in half.text
    spaced = await b.post(
        "/exchanges",
        {
            "choice": "sim",
            "label": "spaced",
            "trade_api_key": "abcd efgh 1234",
            "trade_secret": "zyxwvuts9876",
        },
    )
    assert spaced.status_code == 422
    assert "The trade key&#39;s API key is not valid: must be printable ASCII" in spaced.text
    assert "abcd efgh" not in spaced.text
    assert "zyxwvuts9876" not in spaced.text
    too_long = await b.post(
        "/exchanges", {"choice": "sim", "label": "long", "read_api_key": "a" * 513}
    )
    assert too_long.status_code == 422
    assert "validation_failed" in too_long.text
    unknown = await b.post("/exchanges", {"choice": "nowhere", "label": "x"})
    assert unknown.status_code == 422
    assert "unknown_endpoint" in unknown.text
    assert await api.runtime.container.connections.all(b.user_id) == []


async def test_rotating_a_key_replaces_its_hint_and_a_refused_one_keeps_the_old_key(
    api: Api,
) -> None:
    b = await signed_in(api, "alice")
    old = api.key(READ_ONLY)
    connection_id = await added(b, read=old)
    await b.get(f"/exchanges/{connection_id}")
    new = api.key(READ_ONLY)
    answer = await b.post(f"/exchanges/{connection_id}/keys/read", dict(new))
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/exchanges/{connection_id}?done=rotated"
    page = await b.get(answer.headers["location"])
    assert hint(new) in page.text
    assert hint(old) not in page.text
    risky = api.key(WITHDRAW)
    refused = await b.post(f"/exchanges/{connection_id}/keys/read", dict(risky))
    assert refused.status_code == 422
    assert "withdraw_permission_enabled" in refused.text
    assert "disable withdrawals" in refused.text
    assert hint(new) in refused.text  # the key in use is kept
    connection = await api.runtime.container.connections.get(b.user_id, connection_id)
    read_key = connection.key(KeyRole.READ)
    assert read_key is not None
    assert read_key.hint == hint(new)
    # a connection without a trade key is given one by the same form
    trade = api.key(TRADE)
    assert (await b.post(f"/exchanges/{connection_id}/keys/trade", dict(trade))).status_code == 303
    connection = await api.runtime.container.connections.get(b.user_id, connection_id)
    assert connection.key(KeyRole.TRADE) is not None
    assert_no_secret_shown(api)


async def test_disable_enable_test_again_and_remove_work_from_the_page(api: Api) -> None:
    b = await signed_in(api, "alice")
    connection_id = await added(b, "pausable", read=api.key(READ_ONLY))
    url = f"/exchanges/{connection_id}"
    await b.get(url)
    disabled = await b.post(f"{url}/disable")
    assert disabled.headers["location"] == f"{url}?done=disabled"
    page = await b.get(disabled.headers["location"])
    assert "Disabled" in page.text
    assert f'action="{url}/enable"' in page.text
    services = api.runtime.container.connections
    assert (await services.get(b.user_id, connection_id)).status is ConnectionStatus.DISABLED
    enabled = await b.post(f"{url}/enable")
    assert enabled.headers["location"] == f"{url}?done=enabled"
    assert (await services.get(b.user_id, connection_id)).status is ConnectionStatus.CONNECTED
    tested = await b.post(f"{url}/test")
    assert tested.headers["location"] == f"{url}?done=tested"
    assert "tested again" in (await b.get(tested.headers["location"])).text
    page = await b.get(url)
    assert "data-confirm=" in page.text.split(f'action="{url}/remove"')[1].split(">")[0]
    removed = await b.post(f"{url}/remove")
    assert removed.headers["location"] == "/exchanges?done=removed"
    listed = await b.get("/exchanges?done=removed")
    assert "pausable" not in listed.text
    assert "removed" in listed.text
    assert (await b.get(url)).status_code == 404
    assert await services.all(b.user_id) == []


async def test_another_users_connection_is_not_found_on_every_route(api: Api) -> None:
    alice = await signed_in(api, "alice")
    connection_id = await added(alice, "mine", read=api.key(READ_ONLY))
    bob = await signed_in(api, "bob")
    url = f"/exchanges/{connection_id}"
    seen = await bob.get(url)
    assert seen.status_code == 404
    assert "There is no such connection." in seen.text
    for action in ("test", "disable", "enable", "remove"):
        answer = await bob.post(f"{url}/{action}")
        assert answer.status_code == 404, action
    for role in ("read", "trade"):
        answer = await bob.post(f"{url}/keys/{role}", dict(api.key(TRADE)))
        assert answer.status_code == 404, role
    connection = await api.runtime.container.connections.get(alice.user_id, connection_id)
    assert connection.status is ConnectionStatus.CONNECTED
    assert "mine" not in (await bob.get("/exchanges")).text
    assert_no_secret_shown(api)


async def test_a_post_without_the_csrf_token_is_refused(api: Api) -> None:
    b = await signed_in(api, "alice")
    services = api.runtime.container.connections
    key = api.key(READ_ONLY)
    connection = await services.add(
        b.user_id,
        exchange="binance",
        endpoint="sim",
        label="kept",
        read_key=Credentials(Secret(key["api_key"]), Secret(key["secret"])),
    )
    form = {"choice": "sim", "label": "new", "read_api_key": "k" * 8, "read_secret": "s" * 8}
    assert (await b.post("/exchanges", form, csrf=False)).status_code == 403
    url = f"/exchanges/{connection.id}"
    for action in ("test", "disable", "enable", "remove", "keys/read"):
        answer = await b.post(f"{url}/{action}", csrf=False)
        assert answer.status_code == 403, action
        assert "csrf_failed" in answer.text
    forged = await b.post(f"{url}/remove", headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403
    assert [c.label for c in await services.all(b.user_id)] == ["kept"]
