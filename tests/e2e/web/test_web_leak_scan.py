"""The leak scan of the dashboard: one run through the pages as a person would use them
(signing in, two-factor set up and used, a connection added and its key rotated through the
wizard, every page read, an order placed and cancelled from the ticket, an API client made, the
password changed, signed out), with every logger at DEBUG and ccxt's verbose output on; then a
search for every secret the run used or was given (exchange keys, passwords, session cookies,
the TOTP secret, recovery codes, the API client's secret) in the database, the data directory,
the logs, the process output and every response. A secret may appear only in the one answer that
hands it to its owner (the cookie in the sign-in answer's header, the TOTP secret on the set-up
page, the recovery codes and the client secret on the pages that show them once)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pyotp
import pytest

from tests.e2e.api.conftest import Api, resting_order
from tests.e2e.api.test_leak_scan import LOGGERS, READ_ONLY, TRADE, database_dump, leaks
from tests.e2e.web.conftest import PASSWORD, Browser, browser, signed_in
from tests.e2e.web.test_exchanges_pages import added, wizard_add
from tests.e2e.web.test_settings_pages import next_code
from tests.e2e.web.test_trade_pages import open_ids, ticket

_SECRET = re.compile(r'id="totp-secret">([A-Z2-7 ]+)<')
_CODE = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")
_CLIENT_SECRET = re.compile(r'id="client-secret">([^<]+)<')
NEW_PASSWORD = "a brand new passphrase 42"


def _session_cookies(b: Browser) -> set[str]:
    return {c.value for c in b.http.cookies.jar if c.name.endswith("tresor") and c.value}


async def use_the_dashboard(api: Api) -> tuple[Browser, set[int]]:
    """Everything a person does in the dashboard; the numbers of the responses that may show
    a secret to its owner."""
    handing: set[int] = set()
    b = await signed_in(api, "alice")
    api.secrets |= _session_cookies(b)

    # two-factor: set up, then a sign-in with a code and one with a recovery code
    setup = await b.post("/settings/2fa/begin", {"password": PASSWORD})
    handing.add(len(api.responses) - 1)
    found = _SECRET.search(setup.text)
    assert found, setup.text
    secret = found.group(1).replace(" ", "")
    api.secrets.add(secret)
    totp = pyotp.TOTP(secret)
    shown = await b.post("/settings/2fa/confirm", {"code": totp.now()})
    handing.add(len(api.responses) - 1)
    codes = _CODE.findall(shown.text)
    assert len(codes) == 10
    api.secrets.update(codes)
    with_code = browser(api)
    assert (await with_code.sign_in("alice", PASSWORD, next_code(totp))).status_code == 303
    with_recovery = browser(api)
    assert (await with_recovery.sign_in("alice", PASSWORD, codes[0])).status_code == 303
    api.secrets |= _session_cookies(with_code) | _session_cookies(with_recovery)

    # a connection through the wizard, a refused key, a rotation
    connection_id = await added(b, read=api.key(READ_ONLY), trade=api.key(TRADE))
    refused = await wizard_add(b, "refused", trade=api.key({**TRADE, "enableWithdrawals": True}))
    assert refused.status_code == 422
    new_key = api.key(READ_ONLY)
    rotated = await b.post(f"/exchanges/{connection_id}/keys/read", new_key)
    assert rotated.status_code == 303, rotated.text
    assert (await b.post(f"/exchanges/{connection_id}/test")).status_code == 303
    assert (await b.post(f"/connections/{connection_id}/sync")).status_code == 303
    await api.runtime.sync.sync(connection_id, history=False)

    # every page
    for page in (
        "/",
        "/?range=24h",
        "/exchanges",
        f"/exchanges/{connection_id}",
        "/exchanges/new",
        "/exchanges/new/sim",
        "/assets",
        "/assets?by=connection",
        "/trades",
        "/orders",
        "/transfers",
        "/trades.csv",
        "/trade",
        "/trade/route",
        "/trade/rules",
        "/logs",
        "/alerts",
        "/gaps",
        "/settings",
    ):
        answer = await b.get(page)
        assert answer.status_code == 200, (page, answer.text[:300])

    # an order from the ticket, then cancelled
    form = await ticket(b, **await resting_order(api, connection_id))
    placed = await b.post("/trade/orders", form)
    assert placed.status_code == 303, placed.text
    (order_id,) = open_ids(await b.get("/trade"))
    assert (await b.post(f"/trade/orders/{order_id}/cancel")).status_code == 303

    # an API client, its secret shown once
    made = await b.post("/settings/clients", {"name": "export", "scopes": ["read"]})
    handing.add(len(api.responses) - 1)
    client_secret = _CLIENT_SECRET.search(made.text)
    assert client_secret
    api.secrets.add(client_secret.group(1))

    # a new password, then signing out
    changed = await b.post(
        "/settings/password",
        {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
    )
    assert changed.status_code == 303, changed.text
    api.secrets.add(NEW_PASSWORD)
    assert (await b.post("/logout")).status_code == 303
    return b, handing


async def test_no_secret_of_a_dashboard_run_appears_anywhere_it_should_not(
    api: Api,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    api.runtime.gateway.verbose = True
    _, handing = await use_the_dashboard(api)

    places: dict[str, bytes] = {"database rows": await database_dump(api)}
    for path in sorted((tmp_path / "data").iterdir()):
        places[f"file {path.name}"] = path.read_bytes()
    await api.runtime.aclose()
    for path in sorted((tmp_path / "data").glob("tresor.db*")):
        places[f"file {path.name} (closed)"] = path.read_bytes()
    places["log messages"] = "\n".join(r.getMessage() for r in caplog.records).encode()
    places["formatted logs"] = caplog.text.encode()
    output = capfd.readouterr()
    places["stdout"], places["stderr"] = output.out.encode(), output.err.encode()
    for n, answer in enumerate(api.responses):
        if n not in handing:
            places[f"response {n} {answer.request.url.path}"] = answer.content
        headers = [
            f"{k}: {v}"
            for k, v in answer.headers.multi_items()
            # the sign-in answer's cookie is the one place a session token may be
            if not (k == "set-cookie" and answer.request.url.path == "/login")
        ]
        places[f"response {n} headers"] = "\n".join(headers).encode()

    # the scan can find what it looks for
    assert any(r.name.startswith("ccxt") for r in caplog.records)
    assert len(handing) == 3
    assert len(api.responses) >= 40
    assert len(api.secrets) >= 25
    assert leaks(api.secrets, places) == []
