"""Who is signed in to the dashboard, and the checks every state-changing request passes.

A browser holds one opaque session token in a cookie; the database holds only its hash
(``services.accounts``). The cookie is ``__Host-tresor``: ``Secure``, ``HttpOnly``,
``SameSite=Strict``, ``Path=/``, no ``Domain``. Browsers accept a ``Secure`` cookie only over
TLS or from a loopback address, so a dashboard served over plain HTTP on another address
(behind no TLS proxy; not recommended, see docs/dashboard.md) falls back to ``tresor`` without
``Secure``.

A session acts as a ``Principal`` with the read, trade and admin scopes of its user, through the
same services and the same scope check (``Principal.require``) as an API token: ownership is
enforced by the services' queries, whatever the caller.

CSRF: every POST carries the session's CSRF token (a hidden ``csrf_token`` field, or the
``X-CSRF-Token`` header htmx adds), an HMAC of the session token that needs no storage; and a
request whose ``Origin`` (or, without it, ``Referer``) names another site is refused. The sign-in
form, before any session, is protected by a double-submit cookie.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import Response

from tresor.domain.access import Principal, Scope
from tresor.domain.accounts import WebSession, check_csrf, csrf_token_for, session_principal
from tresor.domain.errors import AccessDenied, SessionExpired
from tresor.entrypoints.api.container import Container

COOKIE = "tresor"
LOGIN_COOKIE = "tresor-signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfRejected(AccessDenied):
    code = "csrf_failed"
    default_message = "This form was not sent from a Tresor page of this session."
    default_remedy = "Reload the page and send the form again."


class NotSignedIn(Exception):
    """The request needs a session and has none (or an expired one): the sign-in page."""


@dataclass(frozen=True, slots=True)
class WebUser:
    principal: Principal
    session: WebSession
    csrf: str
    quote: str
    timezone: str

    @property
    def user_id(self) -> str:
        return self.principal.user_id

    def require(self, scope: Scope) -> None:
        self.principal.require(scope)


def container_of(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def secure_context(request: Request) -> bool:
    """Whether the browser accepts ``Secure`` cookies here: TLS, or a loopback host."""
    if request.url.scheme == "https":
        return True
    host = (request.url.hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cookie_name(request: Request, base: str = COOKIE) -> str:
    return f"__Host-{base}" if secure_context(request) else base


def set_cookie(
    response: Response, request: Request, base: str, value: str, *, max_age: int | None
) -> None:
    response.set_cookie(
        cookie_name(request, base),
        value,
        max_age=max_age,
        path="/",
        secure=secure_context(request),
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response, request: Request, base: str) -> None:
    response.delete_cookie(
        cookie_name(request, base),
        path="/",
        secure=secure_context(request),
        httponly=True,
        samesite="strict",
    )


def session_token(request: Request) -> str | None:
    return request.cookies.get(cookie_name(request)) or None


async def _signed_in(request: Request) -> WebUser:
    token = session_token(request)
    if not token:
        raise NotSignedIn()
    accounts = container_of(request).accounts
    try:
        session = await accounts.session(token, client_ip(request))
    except SessionExpired:
        raise NotSignedIn() from None
    prefs = await accounts.preferences(session.user_id)
    return WebUser(
        principal=session_principal(session),
        session=session,
        csrf=csrf_token_for(token),
        quote=prefs.quote,
        timezone=prefs.timezone,
    )


def same_origin(request: Request) -> bool:
    """Whether the request's ``Origin`` (or ``Referer``) is this site; a request that names
    neither (an old browser, a privacy setting) relies on the CSRF token alone."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return source is None
    parts = urlsplit(source)
    return (parts.scheme, parts.netloc) == (request.url.scheme, request.url.netloc)


async def _checked(request: Request) -> WebUser:
    who = await _signed_in(request)
    if request.method in _UNSAFE:
        token = session_token(request) or ""
        presented = request.headers.get(CSRF_HEADER)
        if presented is None:
            form = await request.form()
            field = form.get(CSRF_FIELD)
            presented = field if isinstance(field, str) else ""
        if not same_origin(request) or not check_csrf(token, presented):
            raise CsrfRejected()
    return who


# -- the sign-in form's own CSRF protection (no session yet): a double-submit cookie ----------
def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def login_nonce_ok(request: Request, presented: str) -> bool:
    expected = request.cookies.get(cookie_name(request, LOGIN_COOKIE), "")
    return (
        bool(expected)
        and same_origin(request)
        and hmac.compare_digest(expected.encode(), presented.encode())
    )


# reading pages
Viewer = Annotated[WebUser, Depends(_signed_in)]
# every POST: signed in, same origin, the session's CSRF token
Actor = Annotated[WebUser, Depends(_checked)]
