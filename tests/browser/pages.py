"""What the browser tests do on a page: sign in, take a full-page screenshot, run axe-core.

Screenshots go to ``artifacts/screenshots/<test>-<page>.png`` at the repository's root (or
under ``$TRESOR_ARTIFACTS``), kept by CI as the run's artifacts.

axe-core is the copy shipped by axe-playwright-python, evaluated in the page through the
DevTools protocol (``page.evaluate``): the dashboard's CSP forbids inline scripts, and an
evaluation of the DevTools protocol is not a script of the page, so the page keeps its own CSP
while axe runs. A violation of impact serious or critical fails the test; the others are
printed (``pytest -s`` or the captured output of a failure shows them).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import Page, Response

from tests.browser.live import User

ROOT = Path(__file__).resolve().parents[2]
FAILING_IMPACTS = frozenset({"serious", "critical"})
AXE_OPTIONS = {"resultTypes": ["violations"]}
ASSET_TYPES = frozenset({"stylesheet", "script", "image", "font", "media", "manifest"})


def artifacts_dir() -> Path:
    return Path(os.environ.get("TRESOR_ARTIFACTS") or ROOT / "artifacts")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:120] or "page"


@dataclass
class Checker:
    """The screenshots and axe runs of one test; its CSP reports, console errors, requests to
    other origins and assets that failed to load (``page.on`` listeners, attached by
    ``watch``)."""

    test: str
    shots: list[Path] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    def watch(self, page: Page, origin: str | None = None) -> Page:
        """Listen to ``page``; with ``origin``, a request anywhere else is noted (every asset
        is served by Tresor itself)."""
        if origin is not None:
            page.on("request", lambda r: self._request(origin, r.url))
        page.on(
            "response",
            lambda r: (
                self.broken.append(f"{r.status} {r.url}")
                if r.status >= 400 and r.request.resource_type in ASSET_TYPES
                else None
            ),
        )
        page.on(
            "console",
            lambda m: (
                self.console_errors.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda e: self.console_errors.append(f"pageerror: {e}"))
        return page

    def _request(self, origin: str, url: str) -> None:
        if not url.startswith((origin + "/", "data:", "blob:", "about:")):
            self.foreign.append(url)

    def screenshot(self, page: Page, name: str) -> Path:
        folder = artifacts_dir() / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_slug(self.test)}-{_slug(name)}.png"
        page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    def axe(self, page: Page, name: str) -> list[dict[str, Any]]:
        """Run axe-core on the page; fail on serious or critical violations, print the rest."""
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(AXE_SCRIPT)
        results = page.evaluate("options => window.axe.run(document, options)", AXE_OPTIONS)
        violations: list[dict[str, Any]] = results["violations"]
        for v in violations:
            print(f"axe [{name}] {v['impact']}: {v['id']} ({len(v['nodes'])}) {v['help']}")
        failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
        assert not failing, f"axe on {name} ({page.url}):\n" + describe(failing)
        return violations

    def check(self, page: Page, name: str) -> None:
        """Screenshot, then axe (the screenshot is there even when axe fails)."""
        self.screenshot(page, name)
        self.axe(page, name)

    def csp_reports(self) -> list[str]:
        return [m for m in self.console_errors if "Content Security Policy" in m]


def describe(violations: Iterable[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['impact']}: {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}: {node.get('failureSummary', '')[:300]}")
    return "\n".join(lines)


def goto(page: Page, path: str, status: int = 200) -> Response:
    """Open ``path`` and check the status of the page it lands on."""
    answer = page.goto(path)
    assert answer is not None, path
    assert answer.status == status, f"{path}: HTTP {answer.status} ({page.url})"
    return answer


def sign_in(page: Page, user: User, code: str = "") -> None:
    """Fill and send the sign-in form; lands on the overview."""
    goto(page, "/login")
    page.get_by_label("User name", exact=True).fill(user.name)
    page.get_by_label("Password", exact=True).fill(user.password)
    if code:
        page.get_by_label("Two-factor code").fill(code)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert urlsplit(page.url).path == "/", page.url


# -- following the links -----------------------------------------------------------------
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


def page_name(path: str) -> str:
    """A page's name in screenshots: ``exchanges_id`` for ``/exchanges/<an id>``."""
    parts = ["id" if ID_SEGMENT.match(s) else s for s in path.strip("/").split("/")]
    return "_".join(parts) or "home"
