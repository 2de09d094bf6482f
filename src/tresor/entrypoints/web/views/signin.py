"""Signing in and out of the dashboard.

``GET /login`` shows the form (and sets the form's double-submit cookie); ``POST /login`` checks
the name, the password and, where two-factor is on, the code, then sets the session cookie and
goes on to ``next`` (a path of this site only). ``POST /logout`` ends this session.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from tresor.domain.errors import (
    InvalidTwoFactorCode,
    SessionExpired,
    SignInFailed,
    TooManyAttempts,
    TwoFactorRequired,
)
from tresor.domain.secrets import Secret
from tresor.entrypoints.web.render import Renderer
from tresor.entrypoints.web.session import (
    COOKIE,
    LOGIN_COOKIE,
    Actor,
    clear_cookie,
    client_ip,
    container_of,
    login_nonce_ok,
    new_login_nonce,
    session_token,
    set_cookie,
)

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=1024)]


def safe_next(target: str | None) -> str:
    """Only a path on this site: never ``//host`` or ``https://...`` (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def _form(
    request: Request,
    *,
    next_path: str,
    name: str = "",
    error: str | None = None,
    remedy: str | None = None,
    ask_code: bool = False,
    status: int = 200,
) -> Response:
    renderer: Renderer = request.app.state.renderer
    nonce = new_login_nonce()
    response = renderer.page(
        request,
        "login.html",
        {
            "who": None,
            "nonce": nonce,
            "next": next_path,
            "name": name,
            "error": error,
            "remedy": remedy,
            "ask_code": ask_code,
        },
        status=status,
    )
    set_cookie(response, request, LOGIN_COOKIE, nonce, max_age=3600)
    return response


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    token = session_token(request)
    if token:
        try:
            await container_of(request).accounts.session(token, client_ip(request))
            return RedirectResponse(safe_next(next), status_code=303)
        except SessionExpired:
            pass
    return _form(request, next_path=safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    name: Annotated[str, Form(max_length=64)] = "",
    password: Text = "",
    code: Annotated[str, Form(max_length=32)] = "",
    nonce: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    target = safe_next(next)
    if not login_nonce_ok(request, nonce):
        return _form(
            request,
            next_path=target,
            name=name,
            error="This sign-in form has expired.",
            remedy="Send it again.",
            status=403,
        )
    accounts = container_of(request).accounts
    try:
        signed = await accounts.sign_in(
            name=name.strip(),
            password=Secret(password),
            code=code.strip() or None,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", "")[:200],
        )
    except (TwoFactorRequired, InvalidTwoFactorCode, SignInFailed, TooManyAttempts) as e:
        # a code missing or wrong: the form asks for it (again)
        return _form(
            request,
            next_path=target,
            name=name,
            error=e.message,
            remedy=e.remedy,
            ask_code=isinstance(e, TwoFactorRequired | InvalidTwoFactorCode),
            status=429 if isinstance(e, TooManyAttempts) else 401,
        )
    response = RedirectResponse(target, status_code=303)
    expires = signed.session.expires_at - signed.session.created_at
    set_cookie(
        response, request, COOKIE, signed.token.reveal(), max_age=int(expires.total_seconds())
    )
    clear_cookie(response, request, LOGIN_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, who: Actor) -> Response:
    token = session_token(request)
    if token:
        await container_of(request).accounts.sign_out(token)
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, request, COOKIE)
    return response
