"""Helpers of the reading pages' tests: a user with an API client and a dashboard session,
the rows a page shows (their ``data-id``), the REST listing of the same filters, and a walk
along a page's "Older" links."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

from tests.e2e.api.conftest import Api, Tenant
from tests.e2e.api.synced import user_id
from tests.e2e.web.conftest import PASSWORD, Browser, browser
from tresor.domain.secrets import Secret

NEXT = re.compile(r'<a href="([^"]+)" rel="next">')
ROW = re.compile(r'<tr data-id="([^"]+)"')
BLOCK = re.compile(r'<tbody class="(?:asset|connection)" data-(?:asset|connection)="([^"]+)"')


def row_id(listing: str, item: dict[str, Any]) -> str:
    """The page's ``data-id`` of a REST item."""
    key = {"trades": "trade_id", "orders": "order_id"}.get(listing)
    if key:
        return f"{item['connection_id']}:{item[key]}"
    return f"{item['connection_id']}:{item['kind']}:{item['transfer_id']}"


def ids(page: httpx.Response) -> list[str]:
    assert page.status_code == 200, page.text
    return [html.unescape(found) for found in ROW.findall(page.text)]


async def rest(api: Api, path: str, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every item of a REST listing, page by page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        answer = await api.http.get(path, params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        items.extend(answer.json()["items"])
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return items


async def walk(b: Browser, url: str) -> tuple[list[str], int]:
    """Every row of a page and the pages after it (its "Older" links); and how many pages."""
    found: list[str] = []
    pages = 0
    next_url: str | None = url
    while next_url is not None:
        page = await b.get(next_url)
        found += ids(page)
        pages += 1
        link = NEXT.search(page.text)
        next_url = html.unescape(link.group(1)) if link else None
        assert pages < 100, "the pages never ended"
    return found, pages


async def web_user(api: Api, name: str) -> tuple[Tenant, Browser]:
    """A user with an API client (for the REST answers) and a dashboard session."""
    tenant = await api.tenant(name, "read,admin")
    uid = await user_id(api, await tenant.headers())
    await api.runtime.container.accounts.set_password(uid, Secret(PASSWORD))
    api.secrets.add(PASSWORD)
    found = browser(api)
    assert (await found.sign_in(name, PASSWORD)).status_code == 303
    found.user_id = uid
    return tenant, found
