"""Signing in to Tresor's dashboard in Chromium until the overview is drawn, timed in the
browser's own clock (bench/web_pages.py).

Debian's Chromium (``/usr/bin/chromium``, headless) driven by Playwright, a fresh context each
run (no cookies, no cache): the sign-in form filled and sent. The time runs from the form's
submit event to the moment the overview is drawn and done: the latest of its load event's end,
the end of its last network response and its largest contentful paint. The figures are read
once ``#net-worth`` and the chart's SVG are visible and the network is idle (Playwright's
``networkidle``: 500 ms without a request, which is after the moment measured, not in it).
"""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import sync_playwright

from common import summary

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_MARK_SUBMIT = """() => document.querySelector('form[action="/login"]').addEventListener(
  'submit',
  () => sessionStorage.setItem('submitted', String(performance.timeOrigin + performance.now())))"""
_TIMINGS = """async () => {
  const lcp = await new Promise(resolve => {
    new PerformanceObserver(list => {
      const all = list.getEntries(); resolve(all[all.length - 1].startTime);
    }).observe({type: 'largest-contentful-paint', buffered: true});
    setTimeout(() => resolve(0), 1000);
  });
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  const lastResponse = Math.max(nav.responseEnd, ...res.map(r => r.responseEnd));
  const drawn = Math.max(nav.loadEventEnd, lastResponse, lcp);
  const submitted = Number(sessionStorage.getItem('submitted'));
  return {
    total: performance.timeOrigin + drawn - submitted,
    to_navigation: performance.timeOrigin - submitted,
    sign_in_post: nav.redirectEnd - nav.redirectStart,
    overview_document: nav.responseEnd - nav.fetchStart,
    first_contentful_paint: fcp ? fcp.startTime : null,
    largest_contentful_paint: lcp,
    load_event_end: nav.loadEventEnd,
    last_response_end: lastResponse,
    resources: res.map(r => [new URL(r.name).pathname, r.initiatorType, r.transferSize,
                              r.encodedBodySize, r.decodedBodySize]),
  };
}"""


def sign_in_to_overview(url: str, name: str, password: str, runs: int) -> dict[str, Any]:
    """Sign in ``runs`` times (after one warm-up), each in a fresh context; the timings (ms),
    and the resources the last run's overview loaded (path, initiator, transfer, encoded and
    decoded sizes: a transfer of 0 is the cache's, filled by the sign-in page, which loads the
    same stylesheet and scripts)."""
    measured: list[dict[str, Any]] = []
    observed: list[float] = []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            for n in range(runs + 1):
                context = chromium.new_context(
                    base_url=url, viewport={"width": 1280, "height": 900}
                )
                context.set_default_timeout(30_000)
                page = context.new_page()
                page.goto("/login")
                page.fill("#name", name)
                page.fill("#password", password)
                page.evaluate(_MARK_SUBMIT)
                started = time.perf_counter()
                page.click("button[type=submit]")
                page.wait_for_url(url + "/")
                page.wait_for_load_state("load")
                page.locator("#net-worth").wait_for(state="visible")
                page.locator("svg.chart").first.wait_for(state="visible")
                seen = time.perf_counter() - started
                page.wait_for_load_state("networkidle")
                timings = page.evaluate(_TIMINGS)
                timings["chart_has_line"] = page.locator("svg.chart .chart-line").count() > 0
                context.close()
                if n:  # the first is the warm-up
                    measured.append(timings)
                    observed.append(seen)
        finally:
            chromium.close()
    totals = [m["total"] / 1000 for m in measured]
    parts = (
        "to_navigation",
        "sign_in_post",
        "overview_document",
        "first_contentful_paint",
        "largest_contentful_paint",
        "load_event_end",
        "last_response_end",
    )
    return {
        "runs": runs,
        **summary(totals),
        "observed_by_playwright": summary(observed),
        "median_parts_ms": {
            p: round(sorted(m[p] or 0 for m in measured)[len(measured) // 2], 1) for p in parts
        },
        "chart_has_line": all(m["chart_has_line"] for m in measured),
        "resources": measured[-1]["resources"],
    }
