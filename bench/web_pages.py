"""The dashboard's pages (issue 13): the server's time for each page, the JavaScript each page
ships, and the time from signing in to a fully drawn overview in Chromium, for a user with 10
connections and 100,000 trades on the embedded default.

Setup (not measured, bench/web_seed.py): a simulator in its own process (its weight limit
lifted); ``--connections`` simulated Binance accounts, each with ``--days`` of generated history
(``--trades`` trades in all, spread evenly, with the orders, deposits, withdrawals and open
orders the generator makes with them); one user with a password and one connection per account
(a read key; the first three a trade key too), each synced in full as the scheduler's first job
does; behind each connection's synced balances, ``--snapshot-days`` of balance snapshots at the
default 5-minute interval (``common.backdate_snapshots``), so the overview's chart has a past.

Measured, from one run:

- server time per page: ``tresor serve`` in its own process (uvicorn, the embedded default:
  SQLite in the data directory, the scheduler and chores running beside the pages as they do
  for a user), signed in once; every page (the issue's list, plus every other ``GET`` page the
  app has, a ``{connection_id}`` filled with one of the user's) requested ``--rounds`` times by
  one sequential client (``http.client``, one keep-alive connection over loopback), the pages
  taken in turn each round, after ``--warmup`` rounds; a page whose measured requests took
  ``--page-seconds`` in all is asked no more (its count says so). The figure is the client's:
  from sending the request to the last byte of the answer, so the server's time plus a loopback
  round trip and the client's own parsing (a few tenths of a millisecond). With it, the server
  process's mean CPU per request. A page answering 404 (not written yet) or anything but HTML
  is skipped with a note; so is a path with a parameter this script cannot fill. The same pages
  are also called in this process, straight on the ASGI application (``common.AsgiCaller``: no
  HTTP, no client, no scheduler beside it): the application's time alone (``--no-in-process``
  to leave it out);
- JavaScript shipped: each page's ``<script src>`` files (and inline scripts, which the CSP
  forbids: there should be none) fetched, gzipped at level 9, summed per page; the largest page;
- signing in to a fully drawn overview in Chromium (bench/web_browser.py): a fresh context each
  run, the sign-in form filled and sent, timed in the browser's clock from the form's submit
  event until the overview is drawn and done; ``--browser-runs`` runs after one warm-up.

Results go to bench/results/web_pages.json; figures and how they were read in
docs/benchmarks.md.

    .venv/bin/python bench/web_pages.py [--rounds 200] [--page-seconds 60] [--browser-runs 20]
        [--trades 100000] [--connections 10] [--no-in-process] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import uvloop
from fastapi.routing import APIRoute
from rich.console import Console
from rich.table import Table

from common import TRESOR, AsgiCaller, cpu_seconds, start_sim, summary, wait_until_up
from tresor.bootstrap import build_runtime
from tresor.domain.secrets import Secret
from tresor.entrypoints.api.app import create_app
from tresor.entrypoints.web.app import is_page
from tresor.entrypoints.web.session import COOKIE
from tresor.sim.server import free_port
from web_browser import sign_in_to_overview
from web_seed import NAME, PASSWORD, WEIGHT, seed, settings

ROOT = Path(__file__).resolve().parent.parent
GOAL_P99_MS = 100.0
GOAL_JS_KB = 150.0
GOAL_LOGIN_S = 1.0
# the pages; every other GET page the application has is added to them
PAGES = [
    "/",
    "/?range=24h",
    "/?range=30d",
    "/exchanges",
    "/exchanges/{connection_id}",
    "/exchanges/new",
    "/assets",
    "/trades",
    "/orders",
    "/transfers",
    "/trade",
    "/logs",
    "/alerts",
    "/settings",
]
CONTROL = "control"  # time_pages' key for the control task
NOT_MEASURED = {"/login"}  # measured signed out it is another page; its POST is in the login
_NONCE = re.compile(r'name="nonce" value="([^"]+)"')
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_SRC = re.compile(r"""\bsrc\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


# -- pages -------------------------------------------------------------------------------------
def get_paths(routes: list[Any], prefix: str = "") -> Iterator[str]:
    """The paths of the GET routes among ``routes``. FastAPI 0.165 keeps an included router as
    one route holding it (``original_router``, the prefix in ``include_context``), so those
    are walked into; earlier versions copied their routes out."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from get_paths(inner.routes, prefix + getattr(context, "prefix", ""))
        elif isinstance(route, APIRoute) and "GET" in route.methods:
            yield prefix + route.path


def page_paths(app: Any) -> list[str]:
    """The issue's pages, then every other GET page of the application, in route order."""
    found = list(PAGES)
    for path in get_paths(app.routes):
        if is_page(path) and path not in found and path not in NOT_MEASURED:
            found.append(path)
    return found


def fill(path: str, values: dict[str, str]) -> str | None:
    """``path`` with its ``{parameters}`` filled, or None when one is unknown here."""
    try:
        return path.format(**values)
    except KeyError:
        return None


@dataclass
class Pages:
    """What each path gave when first asked: measured, or skipped with the reason."""

    measured: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def choose(
    paths: list[str], values: dict[str, str], first_answer: Any, only: str | None = None
) -> Pages:
    """``first_answer(url) -> (status, content type, seconds)`` decides which pages are
    measured; ``only``, a regular expression, which are tried."""
    pages = Pages()
    for path in paths:
        url = fill(path, values)
        if url is None:
            pages.skipped[path] = "a path parameter this bench cannot fill"
            continue
        if only is not None and not re.search(only, url):
            pages.skipped[url] = "left out (--only)"
            continue
        status, kind, took = first_answer(url)
        if status == 404:
            pages.skipped[url] = "404: not written yet"
        elif status != 200:
            pages.skipped[url] = f"answered {status}"
        elif not kind.startswith("text/html"):
            pages.skipped[url] = f"not a page ({kind}; one request took {took * 1000:.0f} ms)"
        else:
            pages.measured.append(url)
    return pages


# -- over HTTP ---------------------------------------------------------------------------------
def cookies_of(response: httpx.Response) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def sign_in(url: str) -> str:
    """A session of the bench user: its ``Cookie`` header."""
    with httpx.Client(base_url=url, timeout=30) as http:
        form = http.get("/login")
        nonce = _NONCE.search(form.text)
        if nonce is None:
            raise SystemExit(f"GET /login gave no sign-in form: {form.status_code}")
        jar = cookies_of(form)
        answer = http.post(
            "/login",
            data={"name": NAME, "password": PASSWORD, "nonce": nonce.group(1), "next": "/"},
            headers={"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()), "Origin": url},
        )
        session = cookies_of(answer)
        if answer.status_code != 303 or not session:
            raise SystemExit(f"POST /login: {answer.status_code} {answer.text[:300]}")
    return "; ".join(f"{k}={v}" for k, v in session.items())


class Client:
    """One keep-alive HTTP/1.1 connection, as a browser tab holds: the least client there is."""

    def __init__(self, url: str, cookie: str) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._headers = {"Cookie": cookie, "Accept": "text/html", "Accept-Encoding": "identity"}
        self._conn = http.client.HTTPConnection(self._host, self._port, timeout=60)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[float, Any, bytes]:
        """Seconds from sending to the last byte, the response, its body."""
        for attempt in range(2):
            try:
                started = time.perf_counter()
                self._conn.request("GET", path, headers={**self._headers, **(headers or {})})
                response = self._conn.getresponse()
                body = response.read()
                return time.perf_counter() - started, response, body
            except (http.client.RemoteDisconnected, ConnectionError):  # keep-alive timed out
                self._conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._conn.close()


def control() -> float:
    """Seconds of a fixed pure-Python task (about 10 ms on an idle core): a control, run in
    each round, whose spread says how much of the pages' tail is the machine's (other
    processes taking the CPU) rather than Tresor's."""
    started = time.perf_counter()
    sum(i * i for i in range(200_000))
    return time.perf_counter() - started


def time_pages(client: Client, pid: int, pages: list[str], args: argparse.Namespace) -> Any:
    """Each page's latencies, its size, and the server's mean CPU per request: the process's
    CPU time (``/proc``, in clock ticks of 10 ms) read around each request, summed per page,
    so over many requests the mean is right though one request's is not; it counts whatever
    else the server did meanwhile (its scheduler, chores), little when it syncs nothing. A
    page is asked no more once its measured requests took ``--page-seconds`` in all. The
    ``control`` task's times are under ``CONTROL``."""
    times: dict[str, list[float]] = {p: [] for p in pages}
    cpu = dict.fromkeys(pages, 0.0)
    sizes: dict[str, int] = {}
    errors: dict[str, int] = {}
    controls: list[float] = []
    warmup = args.warmup
    for n in range(warmup + args.rounds):
        controls.append(control())
        for path in pages:
            if sum(times[path]) >= args.page_seconds:
                continue
            before = cpu_seconds(pid)
            took, response, body = client.get(path)
            used = cpu_seconds(pid) - before
            if n < warmup:
                continue
            if response.status != 200:  # a page changed under the bench: counted, not timed
                errors[path] = errors.get(path, 0) + 1
                continue
            times[path].append(took)
            cpu[path] += used
            sizes[path] = len(body)
    found: dict[str, Any] = {}
    for p in pages:
        found[p] = {"errors": errors.get(p, 0)}
        if times[p]:
            cpu_ms = round(cpu[p] / len(times[p]) * 1000, 1)
            found[p].update(summary(times[p]), cpu_ms=cpu_ms, bytes=sizes[p])
    found[CONTROL] = summary(controls[warmup:])
    return found


def javascript(client: Client, base: str, pages: list[str]) -> dict[str, Any]:
    """Per page: its scripts, each one's size and gzip -9 size, the page's total."""
    files: dict[str, dict[str, Any]] = {}
    per_page: dict[str, Any] = {}
    for path in pages:
        _, _, body = client.get(path)
        scripts, inline = [], 0
        for attributes, content in _SCRIPT.findall(body.decode()):
            src = _SRC.search(attributes)
            if src is None:
                inline += len(gzip.compress(content.encode(), 9))
                continue
            target = urlsplit(urljoin(base + path, src.group(1)))
            if f"{target.scheme}://{target.netloc}" != base:
                raise SystemExit(f"{path} loads a script from elsewhere: {src.group(1)}")
            name = target.path + (f"?{target.query}" if target.query else "")
            if name not in files:
                _, response, raw = client.get(name, {"Accept": "*/*", "Accept-Encoding": "gzip"})
                if response.status != 200:
                    raise SystemExit(f"{name} answered {response.status}")
                served = raw
                if response.getheader("content-encoding") == "gzip":
                    raw = gzip.decompress(raw)
                files[name] = {
                    "bytes": len(raw),
                    "gzip9_bytes": len(gzip.compress(raw, 9)),
                    "served_bytes": len(served),
                    "content_encoding": response.getheader("content-encoding") or "none",
                }
            scripts.append(name)
        total = sum(files[s]["gzip9_bytes"] for s in set(scripts)) + inline
        per_page[path] = {"scripts": scripts, "inline_gzip9_bytes": inline, "gzip9_bytes": total}
    largest = max(per_page, key=lambda p: per_page[p]["gzip9_bytes"]) if per_page else None
    return {
        "files": files,
        "pages": per_page,
        "max_page": largest,
        "max_gzip9_bytes": per_page[largest]["gzip9_bytes"] if largest else 0,
        "inline_scripts": sum(1 for p in per_page.values() if p["inline_gzip9_bytes"]),
    }


# -- in this process ---------------------------------------------------------------------------
async def discover(data_dir: Path, sim_url: str, connections: int) -> list[str]:
    """The pages to try: the issue's and the application's own GET pages."""
    runtime = await build_runtime(settings(data_dir, sim_url, connections))
    try:
        return page_paths(create_app(runtime.container))
    finally:
        await runtime.aclose()


async def in_process(
    data_dir: Path,
    sim_url: str,
    args: argparse.Namespace,
    pages: list[str],
    window: tuple[list[str], int, int],
) -> tuple[dict[str, Any], int]:
    """Each page's time on the ASGI application alone (none with ``--no-in-process``; no
    scheduler runs in this process); and how many of the connections ``window[0]`` the
    server's scheduler synced between ``window[1]`` and ``window[2]`` (epoch ms)."""
    runtime = await build_runtime(settings(data_dir, sim_url, args.connections))
    try:
        ids, since_ms, until_ms = window
        states = await runtime.store.states(ids)
        synced = sum(
            1
            for s in states.values()
            if s.last_attempt_ms and since_ms <= s.last_attempt_ms <= until_ms
        )
        if not args.in_process:
            return {}, synced
        signed = await runtime.container.accounts.sign_in(
            name=NAME, password=Secret(PASSWORD), code=None, ip="127.0.0.1", user_agent="bench"
        )
        # the Host names a loopback address, as the server's does: the cookie is __Host-tresor
        headers = {"host": "127.0.0.1", "cookie": f"__Host-{COOKIE}={signed.token.reveal()}"}
        asgi = AsgiCaller(create_app(runtime.container))
        times: dict[str, list[float]] = {p: [] for p in pages}
        cpu = dict.fromkeys(pages, 0.0)  # this process's, the database's threads included
        for n in range(args.warmup + args.rounds):
            for url in pages:
                if sum(times[url]) >= args.page_seconds:
                    continue
                path, _, query = url.partition("?")
                started, cpu0 = time.perf_counter(), time.process_time()
                status, _ = await asgi.get(path, query, headers)
                took, used = time.perf_counter() - started, time.process_time() - cpu0
                if n >= args.warmup and status == 200:
                    times[url].append(took)
                    cpu[url] += used
        found = {
            p: {**summary(times[p]), "cpu_ms": round(cpu[p] / len(times[p]) * 1000, 2)}
            for p in pages
            if times[p]
        }
        return found, synced
    finally:
        await runtime.aclose()


# -- the server --------------------------------------------------------------------------------
@contextlib.contextmanager
def server(data_dir: Path, sim_url: str, connections: int) -> Iterator[tuple[str, int]]:
    """``tresor serve`` on the data directory (the embedded default): its URL and pid."""
    port = free_port()
    log = data_dir / "server.log"
    endpoints = {"sim": {"exchange": "binance", "url": sim_url, "weight_per_minute": WEIGHT}}
    env = {
        **os.environ,
        "TRESOR_DATA_DIR": str(data_dir),
        "TRESOR_ENDPOINTS": json.dumps(endpoints),
        "TRESOR_MAX_CONNECTIONS_PER_USER": str(max(10, connections)),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [TRESOR, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_until_up(proc, f"http://127.0.0.1:{port}/v1/health", seconds=60, log=log)
    try:
        yield f"http://127.0.0.1:{port}", proc.pid
    except BaseException:
        print(log.read_text(errors="replace")[-6000:], file=sys.stderr)
        raise
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def failures(log: str) -> list[str]:
    """Each distinct exception in a server log, with the last line of Tresor's code it came
    through: why a page answered 500."""
    found: list[str] = []
    lines = log.splitlines()
    for n, line in enumerate(lines):
        if not line.startswith("Traceback"):
            continue
        block = [line]
        for following in lines[n + 1 :]:
            block.append(following)
            if following and not following.startswith(" "):
                break
        ours = [b.strip() for b in block if "/tresor/" in b and b.strip().startswith("File")]
        where = ours[-1] if ours else ""
        said = f"{block[-1]}  ({where})"
        if said not in found:
            found.append(said)
    return found


def note(what: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {what}", file=sys.stderr, flush=True)


# -- the run -----------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = [round(x, 2) for x in os.getloadavg()]
    sim_port = free_port()
    sim = start_sim(sim_port, "--weight-limit", str(WEIGHT))
    sim_url = f"http://127.0.0.1:{sim_port}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp)
            seeded = asyncio.run(
                seed(
                    data_dir,
                    sim_url,
                    connections=args.connections,
                    trades=args.trades,
                    days=args.days,
                    snapshot_days=args.snapshot_days,
                )
            )
            note(f"seeded in {seeded['seconds']} s: {seeded['stored']}")
            ids = seeded["connection_ids"]
            values = {
                "connection_id": ids[0],
                "name": "binance",  # /exchanges/new/{name}: the guide for one exchange
                "order_id": seeded["order_id"],
                "rule_id": seeded["rule_id"],
            }
            paths = asyncio.run(discover(data_dir, sim_url, args.connections))
            since_ms = int(time.time() * 1000)
            with server(data_dir, sim_url, args.connections) as (url, pid):
                client = Client(url, sign_in(url))
                try:

                    def first_answer(path: str) -> tuple[int, str, float]:
                        took, response, _ = client.get(path)
                        kind = response.getheader("content-type") or ""
                        return response.status, kind, took

                    pages = choose(paths, values, first_answer, args.only)
                    note(f"measuring {len(pages.measured)} pages, skipped {pages.skipped}")
                    timed = time_pages(client, pid, pages.measured, args)
                    jitter = timed.pop(CONTROL)
                    scripts = javascript(client, url, pages.measured)
                    note("pages timed over HTTP")
                finally:
                    client.close()
                login = (
                    sign_in_to_overview(url, NAME, PASSWORD, args.browser_runs)
                    if args.browser_runs
                    else None
                )
            note("the server is stopped; the pages in this process next")
            if any(why.startswith("answered 5") for why in pages.skipped.values()):
                for said in failures((data_dir / "server.log").read_text(errors="replace")):
                    print(f"server error: {said}", file=sys.stderr)
            window = (ids, since_ms, int(time.time() * 1000))
            # on uvloop, as uvicorn runs the server
            asgi, synced = uvloop.run(in_process(data_dir, sim_url, args, pages.measured, window))
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    answered = {p: t for p, t in timed.items() if "p99_ms" in t}
    slowest = max(answered, key=lambda p: answered[p]["p99_ms"]) if answered else None
    return {
        "database": "sqlite",
        "connections": args.connections,
        "stored": seeded["stored"],
        "balance_snapshots": seeded["snapshots"],
        "seeding_seconds": seeded["seconds"],
        "rounds": args.rounds,
        "warmup_rounds": args.warmup,
        "page_seconds": args.page_seconds,
        "pages_measured": pages.measured,
        "pages_skipped": pages.skipped,
        "server": timed,
        "in_process": asgi,
        "slowest_page_p99": slowest,
        "javascript": scripts,
        "login_to_overview": login,
        "background_syncs_while_measured": synced,
        "goals": goals(timed, scripts, login),
        "machine_control": jitter,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def goals(timed: dict[str, Any], scripts: dict[str, Any], login: dict[str, Any] | None) -> Any:
    worst = max((t["p99_ms"] for t in timed.values() if "p99_ms" in t), default=0.0)
    return {
        "p99_under_100_ms": {"met": worst < GOAL_P99_MS, "worst_p99_ms": worst},
        "javascript_under_150_kb_gzip": {
            "met": scripts["max_gzip9_bytes"] < GOAL_JS_KB * 1000,
            "max_gzip9_bytes": scripts["max_gzip9_bytes"],
        },
        "login_to_overview_under_1_s": None
        if login is None
        else {"met": login["p99_ms"] < GOAL_LOGIN_S * 1000, "p99_ms": login["p99_ms"]},
    }


_ID = re.compile(r"[0-9a-f]{32}|[a-z]{3}_[0-9a-f]{20}")


def _ms(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:.1f}"


def show(result: dict[str, Any]) -> None:
    console = Console(width=max(120, Console().width))
    r = result
    stored = r["stored"]
    console.print(
        f"{r['connections']} connections, {stored.get('trades', 0):,} trades, "
        f"{stored.get('orders', 0):,} orders, {r['balance_snapshots']:,} balance snapshots; "
        f"{r['rounds']} rounds after {r['warmup_rounds']} warm-up, at most "
        f"{r['page_seconds']:g} s of requests a page"
    )
    table = Table(title="Dashboard pages: time per page (ms)", title_justify="left")
    table.add_column("page", no_wrap=True)
    columns = ("n", "HTTP p50", "p99", "CPU", "ASGI p50", "p99", "CPU", "KB", "JS gz KB")
    for name in columns:
        table.add_column(name, justify="right")
    for path, t in r["server"].items():
        inner = r["in_process"].get(path)
        if "p99_ms" not in t:
            console.print(f"[red]{path}: every request failed[/]")
            continue
        table.add_row(
            _ID.sub(lambda m: m.group(0)[:8] + "~", path),
            str(t["n"]),
            *(_ms(t[k]) for k in ("p50_ms", "p99_ms", "cpu_ms")),
            *(_ms(inner[k]) if inner else "-" for k in ("p50_ms", "p99_ms", "cpu_ms")),
            f"{t['bytes'] / 1000:.1f}",
            f"{r['javascript']['pages'][path]['gzip9_bytes'] / 1000:.1f}",
        )
    console.print(table)
    for path, why in r["pages_skipped"].items():
        console.print(f"[yellow]skipped[/] {path}: {why}")
    for path, t in r["server"].items():
        if t["errors"]:
            console.print(f"[red]{path}[/]: {t['errors']} answers other than 200, not timed")
    login = r["login_to_overview"]
    if login:
        console.print(
            f"sign-in to drawn overview in Chromium ({login['runs']} runs): "
            f"p50 {login['p50_ms']:.0f} ms, p99 {login['p99_ms']:.0f} ms "
            f"(Playwright's view: p50 {login['observed_by_playwright']['p50_ms']:.0f} ms); "
            f"medians {login['median_parts_ms']}"
        )
    console.print(f"background syncs while measured: {r['background_syncs_while_measured']}")
    control = r["machine_control"]
    console.print(
        f"machine control (a fixed CPU task): p50 {control['p50_ms']} ms, "
        f"p99 {control['p99_ms']} ms; load average {r['load_average_before']} before, "
        f"{r['load_average_after']} after ({r['cpus']} CPUs)"
    )
    for goal, state in r["goals"].items():
        if state is not None:
            mark = "[green]met[/]" if state["met"] else "[red]missed[/]"
            figures = {k: v for k, v in state.items() if k != "met"}
            console.print(f"{goal}: {mark} {figures}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="requests of each page")
    parser.add_argument("--warmup", type=int, default=5, help="rounds before measuring")
    parser.add_argument(
        "--page-seconds",
        type=float,
        default=60.0,
        help="a page is asked no more once its measured requests took this long in all",
    )
    parser.add_argument("--browser-runs", type=int, default=20, help="0: no browser")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--trades", type=int, default=100_000, help="in all")
    parser.add_argument("--days", type=int, default=90, help="of generated history")
    parser.add_argument("--snapshot-days", type=float, default=30.0)
    parser.add_argument("--no-in-process", dest="in_process", action="store_false")
    parser.add_argument("--only", help="measure only the pages this regular expression finds")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = run(args)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "web_pages.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        show(result)


if __name__ == "__main__":
    main()
