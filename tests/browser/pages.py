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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import Page, Response

from tests.browser.live import User

ROOT = Path(__file__).resolve().parents[2]
FAILING_IMPACTS = frozenset({"serious", "critical"})
AXE_OPTIONS = {"resultTypes": ["violations"]}


def artifacts_dir() -> Path:
    return Path(os.environ.get("TRESOR_ARTIFACTS") or ROOT / "artifacts")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:120] or "page"


@dataclass
class Checker:
    """The screenshots and axe runs of one test; its CSP reports, console errors and failed
    requests (``page.on`` listeners, attached by ``watch``)."""

    test: str
    shots: list[Path] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
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
