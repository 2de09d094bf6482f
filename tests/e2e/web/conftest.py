"""The dashboard end to end, without a browser: the real app (``tests/e2e/api`` builds it, on
SQLite and PostgreSQL, against the simulator), driven through httpx as a browser would, with
its cookies, the sign-in form's nonce and each page's CSRF token.

``await api.tenant(...)`` gives the API side of a user; ``await signed_in(api, "alice")`` gives
the dashboard side: a ``Browser`` holding a session of that user (created with a password).
The browser suite proper (Chromium) is ``tests/browser``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.e2e.api.conftest import (  # noqa: F401 (fixtures the web tests use)
    BASE_URL,
    Api,
    Tenant,
    alice,
    api,
    api_factory,
    database_url,
    e2e_venue,
    postgres_url,
    settings,
    sim,
)
from tresor.domain.secrets import Secret

PASSWORD = "correct horse battery staple"
_NONCE = re.compile(r'name="nonce" value="([^"]+)"')
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass
class Browser:
    """An httpx client that keeps cookies, as a browser does, and remembers the last page's
    CSRF token for the forms it sends."""

    api: Api
    http: httpx.AsyncClient
    user_id: str = ""
    csrf: str = ""
    pages: list[httpx.Response] = field(default_factory=list, repr=False)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        page = await self.http.get(url, **kwargs)
        found = _CSRF.search(page.text)
        if found:
            self.csrf = found.group(1)
        self.pages.append(page)
        return page

    async def post(
        self, url: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """A form sent from a page of this site (its Origin), with the CSRF token."""
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf)
        headers = {"Origin": BASE_URL, **kwargs.pop("headers", {})}
        page = await self.http.post(url, data=form, headers=headers, **kwargs)
        self.pages.append(page)
        return page

    async def sign_in(self, name: str, password: str, code: str = "") -> httpx.Response:
        form = await self.get("/login")
        nonce = _NONCE.search(form.text)
        assert nonce, form.text
        answer = await self.post(
            "/login",
            {"name": name, "password": password, "code": code, "nonce": nonce.group(1)},
            csrf=False,
        )
        if answer.status_code == 303:
            await self.get("/")
        return answer

    async def aclose(self) -> None:
        await self.http.aclose()


def browser(server: Api, ip: str = "127.0.0.1") -> Browser:
    """A browser with no session yet (its responses go to the leak scan's list too)."""

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        server.responses.append(response)

    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server.app, client=(ip, 51234)),
        base_url=BASE_URL,
        event_hooks={"response": [keep]},
    )
    server._clients.append(http)
    return Browser(server, http)


async def user_with_password(server: Api, name: str, password: str = PASSWORD) -> str:
    """A new user with a password; its id."""
    container = server.runtime.container
    user = await container.access.create_user(name)
    await container.accounts.set_password(user.id, Secret(password))
    server.secrets.add(password)
    return user.id


async def signed_in(server: Api, name: str, password: str = PASSWORD) -> Browser:
    """A new user with a password, signed in to the dashboard."""
    user_id = await user_with_password(server, name, password)
    found = browser(server)
    answer = await found.sign_in(name, password)
    assert answer.status_code == 303, answer.text
    assert found.csrf, "the overview carries a CSRF token"
    found.user_id = user_id
    return found
