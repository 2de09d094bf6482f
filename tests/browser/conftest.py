"""The browser suite: Debian's Chromium, driven by Playwright, on a real Tresor.

One Tresor (``live.LiveTresor``: uvicorn on 127.0.0.1, SQLite in a temporary folder, the
scheduler running, the simulator as endpoint ``sim``) and one Chromium serve every test of this
package; each test has a fresh browser context (no cookies) and its own users. The tests are
plain synchronous tests (the synchronous Playwright API cannot run inside an event loop); the
server's coroutines run on its own thread (``tresor.call``).

Chromium is ``chromium`` on the PATH (``make browser`` installs Debian's). Without it the suite
is skipped with the reason, except under ``CI=true``, where it fails: CI must run it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.browser.live import SIM_WEIGHT, LiveTresor, Owner, User
from tests.browser.pages import Checker, sign_in
from tests.support.simclient import SimAdmin
from tresor.sim.server import SimConfig, serve_in_thread

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
expect.set_options(timeout=10_000)  # assertions wait this long (5 s by default: a busy CI)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "Chromium is not installed (`make browser` installs Debian's chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser tests must run under CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    return found


@pytest.fixture(scope="package")
def venue() -> Iterator[SimAdmin]:
    running = serve_in_thread(SimConfig(seed=11, weight_per_minute=SIM_WEIGHT))
    admin = SimAdmin(running)
    yield admin
    admin.close()
    running.stop()


@pytest.fixture(scope="package")
def tresor(venue: SimAdmin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveTresor]:
    live = LiveTresor(Path(tmp_path_factory.mktemp("tresor-browser")), venue).start()
    yield live
    live.stop()


@pytest.fixture(scope="package")
def chromium_path() -> str:
    return _chromium()


@pytest.fixture(scope="package")
def playwright(chromium_path: str) -> Iterator[Playwright]:
    # chromium_path first: skip (or fail under CI) before starting anything
    with sync_playwright() as found:
        yield found


@pytest.fixture(scope="package")
def chromium(playwright: Playwright, chromium_path: str) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


@pytest.fixture
def context(chromium: Browser, tresor: LiveTresor) -> Iterator[BrowserContext]:
    """A fresh browser profile on the served Tresor (relative URLs are its)."""
    found = chromium.new_context(
        base_url=tresor.url, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    found.set_default_timeout(TIMEOUT_MS)
    found.set_default_navigation_timeout(TIMEOUT_MS)
    yield found
    found.close()


@pytest.fixture
def checker(request: pytest.FixtureRequest) -> Checker:
    return Checker(request.node.name)


@pytest.fixture
def page(context: BrowserContext, checker: Checker, tresor: LiveTresor) -> Iterator[Page]:
    """A tab of the context. A test errors at its end if its pages broke the
    Content-Security-Policy (an inline script or style, a handler attribute), asked for
    anything from another origin (every asset is Tresor's own) or failed to load an asset."""
    found = checker.watch(context.new_page(), origin=tresor.url)
    yield found
    assert checker.csp_reports() == [], "CSP reports:\n" + "\n".join(checker.csp_reports())
    assert checker.foreign == [], f"requests to other origins: {checker.foreign}"
    assert checker.broken == [], f"assets that failed to load: {checker.broken}"


@pytest.fixture
def user(tresor: LiveTresor) -> User:
    """A new user with a password (no connection yet)."""
    return tresor.user()


@pytest.fixture
def signed_in(page: Page, user: User) -> Page:
    """The page, signed in as ``user`` (on the overview)."""
    sign_in(page, user)
    return page


@pytest.fixture(scope="package")
def owner(tresor: LiveTresor) -> Owner:
    """A user with data on every page: a synced connection with some history (trades, orders,
    transfers), an open order, a dry-run rule and an API client (the token's). Made once and
    shared: the tests that take it only look, or check that nothing was changed."""
    user = tresor.user("owner")
    history = {"days": 20, "trades": 30, "symbols": ["BTCUSDT", "ETHUSDT"], "open_orders": 1}
    connection_id = tresor.connect(user, "spot", history=history)
    token = tresor.token(user)
    tresor.synced_portfolio(token)
    tresor.listed(token, "/v1/trades")
    order_id = tresor.resting_order(token, connection_id)
    rule_id = tresor.dry_run_rule(token)
    return Owner(user, connection_id, order_id, rule_id)
