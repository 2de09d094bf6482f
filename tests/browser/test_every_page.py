"""Every page of the dashboard, found by following its links from the main navigation, for a
user with data on each (a synced connection, an open order, a rule, an API client): each
answers 200 with one h1, has a screenshot, passes axe-core and raises no CSP report; every form
that changes something refuses a POST without the session's CSRF token; and another user meets
a 404 on every page and form that names the first user's ids."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.live import LiveTresor, User
from tests.browser.pages import Checker, goto, sign_in

MAX_PAGES = 60
MAX_CHILDREN = 3  # pages under one parent path (one guide per exchange is enough of them)
NOT_PAGES = re.compile(r"^/(static/|logout$|login$)|\.csv$")
# a path segment that is an id: hex (connections, rules, sessions) or prefixed (ord_...)
ID_SEGMENT = re.compile(r"^(?:[0-9a-f]{16,}|[a-z]{2,6}_[A-Za-z0-9_-]{8,})$")
LINKS = """els => els
  .filter(a => !a.hasAttribute('download'))
  .map(a => a.getAttribute('href'))"""
FORMS = """fs => fs.map(f => ({
  action: f.getAttribute('action') || location.pathname,
  fields: [...new FormData(f)].filter(([k, v]) => typeof v === 'string')
}))"""
POST = """async ([url, fields, token]) => {
  const body = new URLSearchParams();
  for (const [k, v] of fields) if (k !== "csrf_token") body.append(k, v);
  if (token) body.set("csrf_token", token);
  const answer = await fetch(url, {method: "POST", body, redirect: "manual"});
  return {status: answer.status, text: await answer.text()};
}"""
CSRF = "() => document.querySelector('meta[name=csrf-token]').content"


@dataclass
class Site:
    """What a crawl found: the pages (path -> the URL opened) and the POST forms (action ->
    its fields)."""

    pages: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    forms: dict[str, list[list[str]]] = field(default_factory=dict)


def crawl(page: Page, on_page: Callable[[Page, str], None] | None = None) -> Site:
    """Follow the dashboard's links breadth first from the main navigation, each path once."""
    site = Site()
    goto(page, "/")
    nav = page.locator("nav[aria-label=Main] a").evaluate_all(LINKS)
    queue = ["/", *nav]
    children: dict[str, int] = {}
    while queue and len(site.pages) < MAX_PAGES:
        url = queue.pop(0)
        path = urlsplit(url).path
        if path in site.pages or NOT_PAGES.search(path):
            continue
        parent = path.rstrip("/").rsplit("/", 1)[0]
        children[parent] = children.get(parent, 0) + 1
        if parent and children[parent] > MAX_CHILDREN:
            continue
        answer = page.goto(url)
        assert answer is not None, url
        site.pages[path] = url
        site.statuses[path] = answer.status
        if on_page is not None:
            on_page(page, path)
        for form in page.locator("form[method=post]").evaluate_all(FORMS):
            site.forms.setdefault(urlsplit(form["action"]).path, form["fields"])
        base = page.url
        for href in page.locator("a[href]").evaluate_all(LINKS):
            target = urljoin(base, href)
            if urlsplit(target).netloc == urlsplit(base).netloc:
                queue.append(urlsplit(target)._replace(scheme="", netloc="", fragment="").geturl())
    return site


def _name(path: str) -> str:
    """The screenshot's name: ``exchanges_id`` for ``/exchanges/<an id>``."""
    parts = ["id" if ID_SEGMENT.match(s) else s for s in path.strip("/").split("/")]
    return "_".join(parts) or "home"


@dataclass
class Owner:
    user: User
    connection_id: str
    order_id: str
    rule_id: str


@pytest.fixture
def owner(tresor: LiveTresor, user: User) -> Owner:
    """``user`` with data on every page: a synced connection with some history, an open
    order, a dry-run rule and an API client (the token's)."""
    history = {"days": 20, "trades": 30, "symbols": ["BTCUSDT", "ETHUSDT"], "open_orders": 1}
    connection_id = tresor.connect(user, "spot", history=history)
    token = tresor.token(user)
    tresor.synced_portfolio(token)
    tresor.listed(token, "/v1/trades")
    order_id = tresor.resting_order(token, connection_id)
    rule_id = tresor.dry_run_rule(token)
    return Owner(user, connection_id, order_id, rule_id)


@pytest.fixture
def stranger_page(chromium: Browser, tresor: LiveTresor) -> Iterator[Page]:
    """A second browser profile, signed in as another user."""
    context: BrowserContext = chromium.new_context(base_url=tresor.url)
    found = context.new_page()
    sign_in(found, tresor.user("stranger"))
    yield found
    context.close()


def test_every_page_has_one_heading_a_screenshot_no_serious_axe_violation_and_no_csp_report(
    page: Page, owner: Owner, checker: Checker
) -> None:
    sign_in(page, owner.user)
    headings: dict[str, int] = {}

    def check(found: Page, path: str) -> None:
        headings[path] = found.locator("h1").count()
        checker.check(found, _name(path))

    site = crawl(page, check)
    nav = ["/exchanges", "/assets", "/trades", "/orders", "/transfers", "/trade", "/logs"]
    nav += ["/alerts", "/gaps", "/settings"]
    assert set(nav) <= set(site.pages), sorted(site.pages)
    assert {p: s for p, s in site.statuses.items() if s != 200} == {}
    assert {p: n for p, n in headings.items() if n != 1} == {}, "one h1 per page"
    # the owner's own detail pages were among them
    found = " ".join(site.pages)
    assert owner.connection_id in found
    assert owner.order_id in found
    assert owner.rule_id in found
    print(f"{len(site.pages)} pages: {sorted(site.pages)}")
    assert checker.csp_reports() == []
    assert [m for m in checker.console_errors if m.startswith("pageerror")] == []


def test_every_form_that_changes_something_refuses_a_post_without_the_csrf_token(
    page: Page, owner: Owner, tresor: LiveTresor
) -> None:
    sign_in(page, owner.user)
    site = crawl(page)
    assert len(site.forms) >= 10, sorted(site.forms)
    goto(page, "/")
    answers = {
        action: page.evaluate(POST, [action, fields, ""])["status"]
        for action, fields in site.forms.items()
    }
    assert {a: s for a, s in answers.items() if s != 403} == {}
    # nothing was done: still signed in, the connection and the order are there
    goto(page, "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    token = tresor.token(owner.user)
    order = tresor.api(token, f"/v1/orders/{owner.order_id}")
    assert order["state"] == "open"
    assert tresor.api(token, f"/v1/connections/{owner.connection_id}")["status"] == "connected"


def test_another_user_meets_a_404_on_every_page_and_form_naming_the_owners_ids(
    page: Page, owner: Owner, stranger_page: Page, tresor: LiveTresor, checker: Checker
) -> None:
    sign_in(page, owner.user)
    site = crawl(page)

    def with_ids(paths: list[str]) -> list[str]:
        return [p for p in paths if any(ID_SEGMENT.match(s) for s in p.split("/"))]

    pages = with_ids(list(site.pages))
    forms = with_ids(list(site.forms))
    named = " ".join(pages + forms)
    for own in (owner.connection_id, owner.order_id, owner.rule_id):
        assert own in named, (own, named)

    stranger = stranger_page
    for path in pages:
        answer = stranger.goto(site.pages[path])
        assert answer is not None
        assert answer.status == 404, f"{path}: {answer.status}"
        expect(stranger.locator("main")).to_contain_text("not_found")
    checker.check(stranger, "not-found")
    goto(stranger, "/")  # the error page has no session's token: a page of the stranger's
    token = stranger.evaluate(CSRF)
    answers = {
        action: stranger.evaluate(POST, [action, site.forms[action], token]) for action in forms
    }
    assert {a: r["status"] for a, r in answers.items() if r["status"] != 404} == {}
    # and the owner's things are untouched
    owner_token = tresor.token(owner.user)
    assert tresor.api(owner_token, f"/v1/orders/{owner.order_id}")["state"] == "open"
    connection = tresor.api(owner_token, f"/v1/connections/{owner.connection_id}")
    assert connection["status"] == "connected"
    goto(page, "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
