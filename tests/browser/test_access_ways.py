"""The dashboard used in other ways than a mouse on a desktop browser: without JavaScript
(every page is server-rendered; scripts only enhance), on a phone's narrow screen, and from
the keyboard alone (the skip link, the main navigation)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.live import LiveTresor, Owner
from tests.browser.pages import Checker, crawl, goto, page_name, sign_in

NAV = ["Overview", "Exchanges", "Assets", "Trades", "Orders", "Transfers", "Trade", "API logs"]
NAV += ["Alerts", "Settings"]
ACTIVE = "() => document.activeElement.textContent.trim()"
# the innermost elements reaching past the screen's right edge (not inside a scrolling box)
OVERFLOWING = """() => {
  const edge = document.documentElement.clientWidth + 1;
  const scrolls = el => { for (let p = el.parentElement; p; p = p.parentElement) {
    if (["auto", "scroll"].includes(getComputedStyle(p).overflowX)) return true; } return false; };
  const out = [...document.querySelectorAll("body *")].filter(el =>
    el.getBoundingClientRect().right > edge && !scrolls(el) &&
    ![...el.children].some(c => c.getBoundingClientRect().right > edge));
  return out.slice(0, 3).map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : "") +
    " " + Math.round(el.getBoundingClientRect().right) + "px");
}"""


@pytest.fixture
def no_script_page(chromium: Browser, tresor: LiveTresor, checker: Checker) -> Iterator[Page]:
    context = chromium.new_context(base_url=tresor.url, java_script_enabled=False)
    yield checker.watch(context.new_page())
    context.close()


@pytest.fixture
def phone_page(chromium: Browser, tresor: LiveTresor, checker: Checker) -> Iterator[Page]:
    context = chromium.new_context(
        base_url=tresor.url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
    )
    yield checker.watch(context.new_page())
    context.close()


def test_without_javascript_one_signs_in_and_every_page_renders(
    no_script_page: Page, owner: Owner, checker: Checker
) -> None:
    page = no_script_page
    sign_in(page, owner.user)
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    site = crawl(page)
    assert len(site.pages) >= 15, sorted(site.pages)
    assert {p: s for p, s in site.statuses.items() if s != 200} == {}
    # the pages are there without a script: the overview's figures, the records' rows
    goto(page, "/")
    expect(page.locator("#net-worth")).not_to_have_text("0.00 USD")
    goto(page, "/trades")
    expect(page.locator("main table tbody tr").first).to_be_visible()
    checker.screenshot(page, "trades-no-script")
    # and a form posts: the overview's "sync now" answers with the page again
    goto(page, "/")
    with page.expect_navigation():
        page.get_by_role("button", name="Sync now").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def test_on_a_phone_no_page_is_wider_than_the_screen(
    phone_page: Page, owner: Owner, checker: Checker
) -> None:
    page = phone_page
    sign_in(page, owner.user)
    wider: dict[str, str] = {}

    def measure(found: Page, path: str) -> None:
        width = found.evaluate("() => document.documentElement.scrollWidth")
        if width > 390:
            wider[path] = f"{width}px: " + ", ".join(found.evaluate(OVERFLOWING))
        checker.screenshot(found, f"{page_name(path)}-phone")

    site = crawl(page, measure)
    assert len(site.pages) >= 15, sorted(site.pages)
    assert wider == {}, "pages that scroll sideways on a 390 px screen:\n" + "\n".join(
        f"{p}: {w}" for p, w in sorted(wider.items())
    )


def test_the_keyboard_reaches_the_skip_link_first_then_every_item_of_the_navigation(
    signed_in: Page,
) -> None:
    page = signed_in
    goto(page, "/assets")
    page.keyboard.press("Tab")
    assert page.evaluate(ACTIVE) == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"

    goto(page, "/assets")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate(ACTIVE) == "Tresor"  # the brand, a link home
    reached = []
    for _ in NAV:
        page.keyboard.press("Tab")
        reached.append(page.evaluate(ACTIVE))
    assert reached == NAV
    page.keyboard.press("Tab")
    assert page.evaluate(ACTIVE) == "Sign out"
    # the focus is visible: an outline on the focused control
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), outline
    # the current page is marked for screen readers
    current = page.locator("nav[aria-label=Main] [aria-current=page]")
    expect(current).to_have_text("Assets")
    # Enter on a focused item follows it
    page.keyboard.press("Shift+Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings and security")
