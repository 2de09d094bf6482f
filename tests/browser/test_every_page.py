"""Every page of the dashboard, found by following its links from the main navigation, for a
user with data on each (a synced connection, an open order, a rule, an API client): each
answers 200 with one h1, has a screenshot, passes axe-core and raises no CSP report; every form
that changes something refuses a POST without the session's CSRF token; and another user meets
a 404 on every page and form that names the first user's ids."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.live import LiveTresor, Owner
from tests.browser.pages import ID_SEGMENT, Checker, crawl, goto, page_name, sign_in

POST = """async ([url, fields, token]) => {
  const body = new URLSearchParams();
  for (const [k, v] of fields) if (k !== "csrf_token") body.append(k, v);
  if (token) body.set("csrf_token", token);
  const answer = await fetch(url, {method: "POST", body, redirect: "manual"});
  return {status: answer.status, text: await answer.text()};
}"""
CSRF = "() => document.querySelector('meta[name=csrf-token]').content"


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
        checker.check(found, page_name(path))

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
    assert checker.console_errors == []  # no script error, no failed request, no warning


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
