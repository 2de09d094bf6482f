"""The Content-Security-Policy as Chromium enforces it: an inline script or style put into a
page does not run and is reported, which is what the ``page`` fixture's check at the end of
every test relies on to catch a template that breaks the policy; likewise an asset that fails
to load is noted."""

from __future__ import annotations

from playwright.sync_api import BrowserContext

from tests.browser.live import LiveTresor, User
from tests.browser.pages import Checker, goto, sign_in

INJECT = """() => {
  const script = document.createElement("script");
  script.textContent = "window.injected = true";
  document.body.appendChild(script);
  const box = document.createElement("div");
  box.id = "styled";
  box.setAttribute("style", "color: rgb(255, 0, 0)");
  box.textContent = "styled";
  document.body.appendChild(box);
  return getComputedStyle(box).color;
}"""


def test_an_inline_script_or_style_is_blocked_and_reported(
    context: BrowserContext, user: User
) -> None:
    watched = Checker("csp")
    page = watched.watch(context.new_page())
    sign_in(page, user)
    answer = goto(page, "/")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    colour = page.evaluate(INJECT)
    assert page.evaluate("() => window.injected === undefined")
    assert colour != "rgb(255, 0, 0)"
    page.wait_for_timeout(200)  # console messages arrive after the evaluation
    reports = watched.csp_reports()
    assert any("script" in r for r in reports), watched.console_errors
    assert any("style" in r for r in reports), watched.console_errors
    page.close()


def test_an_asset_that_fails_to_load_or_comes_from_elsewhere_is_noted(
    context: BrowserContext, user: User, tresor: LiveTresor
) -> None:
    watched = Checker("assets")
    page = watched.watch(context.new_page(), origin=tresor.url)
    sign_in(page, user)
    assert watched.broken == []
    assert watched.foreign == []
    with page.expect_response("**/static/missing.css"):
        page.evaluate(
            """() => {
              const link = document.createElement("link");
              link.rel = "stylesheet";
              link.href = "/static/missing.css";
              document.head.appendChild(link);
            }"""
        )
    page.wait_for_timeout(100)
    assert watched.broken == [f"404 {tresor.url}/static/missing.css"]
    page.close()
