"""Settings and security (``/settings``): the quote currency and time zone, the password,
two-factor sign-in, the browser sessions and the API clients.

The page calls the same services as the REST API (``AccountService`` for signing in,
``AccessService`` for API clients) with the signed-in user's id, after ``who.require``: read for
the preferences, admin for everything about security. A secret made here (a TOTP secret,
recovery codes, a client secret) is shown once, on the page that answers the POST that made it:
only its hash (or its ciphertext) is kept, so no later page can show it again. Every other POST
redirects to ``/settings?done=...`` (Post/Redirect/Get); a refused one shows the page again with
the error beside its form. A wrong password in a form answers 422, not 401: the session is
fine, the form's field is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

import segno
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from tresor.domain.access import Scope, format_scopes
from tresor.domain.errors import (
    AccessDenied,
    Conflict,
    InputError,
    InvalidTwoFactorCode,
    TresorError,
    ValidationFailed,
)
from tresor.domain.secrets import Secret
from tresor.entrypoints.api.problems import status_of
from tresor.entrypoints.web.render import Renderer
from tresor.entrypoints.web.session import (
    COOKIE,
    Actor,
    Viewer,
    WebUser,
    clear_cookie,
    container_of,
)

router = APIRouter(include_in_schema=False)

COMMON_QUOTES = ("USD", "EUR", "GBP", "CHF", "JPY", "USDT", "USDC", "BTC", "ETH")
SECTIONS = ("preferences", "password", "two_factor", "sessions", "clients")
DONE = {
    "preferences": "Preferences saved.",
    "password": "Password changed. Your other sessions have ended.",
    "2fa-off": "Two-factor sign-in is off.",
    "session": "The session has ended.",
    "client": "The API client is revoked; its tokens no longer work.",
}
Password = Annotated[str, Form(min_length=1, max_length=1024)]
Code = Annotated[str, Form(min_length=1, max_length=32)]
SessionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]
ClientId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
_STYLE = re.compile(r"""\sstyle=("[^"]*"|'[^']*')""")


@cache
def time_zones() -> list[str]:
    """Every IANA zone this Python knows, sorted (read once, on first need)."""
    return sorted(available_timezones())


def qr_svg(uri: str) -> Markup:
    """The QR code of ``uri`` as inline SVG, drawn on the server. segno writes no ``style``
    attribute (the CSP refuses them); any it would is dropped all the same."""
    svg = segno.make(uri, error="m").svg_inline(
        scale=4,
        border=4,
        dark="#000",
        light="#fff",
        omitsize=True,
        svgclass="qr",
        lineclass=None,
        title="QR code of the two-factor secret, for an authenticator app",
    )
    svg = _STYLE.sub("", svg).replace("<svg ", '<svg role="img" ', 1)
    return Markup(svg)  # noqa: S704 (segno's own markup; the URI is data inside a path)


def grouped(secret: str) -> str:
    """``JBSWY3DPEHPK3PXP`` as ``JBSW Y3DP EHPK 3PXP``, easier to type."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def form_status(error: TresorError) -> int:
    """A refused form's status: its problem's, but 422 for a wrong password or code."""
    status = status_of(error)
    return 422 if status in (401, 403) else status


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    created_ms: int
    seen_ms: int
    expires_ms: int
    ip: str
    user_agent: str
    this: bool


@dataclass(frozen=True, slots=True)
class ClientRow:
    id: str
    name: str
    scopes: str
    created_ms: int
    disabled: bool


def _renderer(request: Request) -> Renderer:
    found: Renderer = request.app.state.renderer
    return found


async def settings_page(
    request: Request,
    who: WebUser,
    *,
    errors: dict[str, TresorError] | None = None,
    done: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The settings page, with ``errors`` beside their section's form."""
    services = container_of(request)
    accounts = services.accounts
    sessions = [
        SessionRow(
            id=s.id,
            created_ms=_ms(s.created_at),
            seen_ms=_ms(s.last_seen_at),
            expires_ms=_ms(s.expires_at),
            ip=s.ip,
            user_agent=s.user_agent,
            this=s.id == who.session.id,
        )
        for s in await accounts.sessions(who.user_id)
    ]
    clients = [
        ClientRow(
            id=c.id,
            name=c.name,
            scopes=format_scopes(c.scopes),
            created_ms=_ms(c.created_at),
            disabled=c.disabled,
        )
        for c in await services.access.clients_of(who.user_id)
    ]
    enabled = await accounts.two_factor_enabled(who.user_id)
    shown = {"quote": who.quote, "timezone": who.timezone, "client_name": "", **(values or {})}
    quotes = list(COMMON_QUOTES)
    if shown["quote"] not in quotes:
        quotes.append(shown["quote"])
    policy = accounts.policy
    context: dict[str, Any] = {
        "who": who,
        "errors": {**dict.fromkeys(SECTIONS), **(errors or {})},
        "done": DONE.get(done or ""),
        "shown": shown,
        "quotes": quotes,
        "zones": time_zones(),
        "two_factor": enabled,
        "codes_left": await accounts.recovery_codes_left(who.user_id) if enabled else 0,
        "sessions": sessions,
        "clients": clients,
        "scopes": [s.value for s in Scope],
        "idle_minutes": int(policy.idle.total_seconds() // 60),
        "absolute_hours": int(policy.absolute.total_seconds() // 3600),
        "password_min": policy.password_min_length,
    }
    return _renderer(request).page(request, "settings.html", context, status=status)


def _done(what: str, section: str) -> Response:
    return RedirectResponse(f"/settings?done={what}#{section}", status_code=303)


def _signed_out(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, request, COOKIE)
    return response


@router.get("/settings")
async def settings(
    request: Request, who: Viewer, done: Annotated[str | None, Query(max_length=32)] = None
) -> Response:
    who.require(Scope.ADMIN)
    return await settings_page(request, who, done=done)


# -- preferences ----------------------------------------------------------------------------
@router.post("/settings/preferences")
async def set_preferences(
    request: Request,
    who: Actor,
    quote: Annotated[str, Form(max_length=16)] = "",
    quote_other: Annotated[str, Form(max_length=16)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """``quote_other``, when given, wins over the list's ``quote``."""
    who.require(Scope.READ)
    chosen = quote_other.strip().upper() or quote
    try:
        await container_of(request).accounts.set_preferences(
            who.user_id, quote=chosen, timezone=timezone
        )
    except InputError as e:
        values = {"quote": chosen, "timezone": timezone}
        return await settings_page(
            request, who, errors={"preferences": e}, values=values, status=form_status(e)
        )
    return _done("preferences", "preferences")


# -- password -------------------------------------------------------------------------------
@router.post("/settings/password")
async def change_password(
    request: Request, who: Actor, current: Password, new: Password, repeat: Password
) -> Response:
    """The new password, twice; every other session of the user ends."""
    who.require(Scope.ADMIN)
    try:
        if new != repeat:
            raise ValidationFailed(
                "The two new passwords differ.",
                remedy="Type the same new password in both fields.",
            )
        await container_of(request).accounts.change_password(
            who.user_id, current=Secret(current), new=Secret(new), keep_session_id=who.session.id
        )
    except (InputError, AccessDenied) as e:
        return await settings_page(request, who, errors={"password": e}, status=form_status(e))
    return _done("password", "password")


# -- two-factor -----------------------------------------------------------------------------
def _setup_page(
    request: Request,
    who: WebUser,
    *,
    secret: Secret | None = None,
    uri: str | None = None,
    error: TresorError | None = None,
    status: int = 200,
) -> Response:
    """Setting up: the QR code and the secret (right after "Turn on" only), the code field."""
    context = {
        "who": who,
        "qr": qr_svg(uri) if uri else None,
        "secret": grouped(secret.reveal()) if secret else None,
        "error": error,
    }
    return _renderer(request).page(request, "settings_2fa.html", context, status=status)


def _codes_page(request: Request, who: WebUser, codes: list[str], *, renewed: bool) -> Response:
    context = {"who": who, "codes": codes, "renewed": renewed}
    return _renderer(request).page(request, "settings_codes.html", context)


@router.post("/settings/2fa/begin")
async def begin_two_factor(request: Request, who: Actor, password: Password) -> Response:
    """A new pending secret, shown once as a QR code and as text; the password first."""
    who.require(Scope.ADMIN)
    services = container_of(request)
    user = await services.access.user(who.user_id)
    try:
        secret, uri = await services.accounts.begin_two_factor(
            who.user_id, user.name, password=Secret(password)
        )
    except Conflict as e:
        return await settings_page(request, who, errors={"two_factor": e}, status=409)
    except AccessDenied as e:
        return await settings_page(request, who, errors={"two_factor": e}, status=form_status(e))
    return _setup_page(request, who, secret=secret, uri=uri)


@router.post("/settings/2fa/confirm")
async def confirm_two_factor(request: Request, who: Actor, code: Code) -> Response:
    """A code of the app turns two-factor on; the recovery codes are shown once. A wrong code
    asks again without the QR code (it is not shown twice): "Start again" makes a new one."""
    who.require(Scope.ADMIN)
    accounts = container_of(request).accounts
    try:
        codes = await accounts.confirm_two_factor(who.user_id, code.replace(" ", ""))
    except InvalidTwoFactorCode as e:
        return _setup_page(request, who, error=e, status=422)
    except ValidationFailed as e:
        return await settings_page(request, who, errors={"two_factor": e}, status=422)
    return _codes_page(request, who, codes, renewed=False)


@router.post("/settings/2fa/disable")
async def disable_two_factor(request: Request, who: Actor, password: Password) -> Response:
    who.require(Scope.ADMIN)
    try:
        await container_of(request).accounts.disable_two_factor(who.user_id, Secret(password))
    except AccessDenied as e:
        return await settings_page(request, who, errors={"two_factor": e}, status=form_status(e))
    return _done("2fa-off", "two-factor")


@router.post("/settings/2fa/recovery-codes")
async def renew_recovery_codes(request: Request, who: Actor, password: Password) -> Response:
    """New recovery codes (shown once); the old ones stop working."""
    who.require(Scope.ADMIN)
    accounts = container_of(request).accounts
    try:
        codes = await accounts.renew_recovery_codes(who.user_id, Secret(password))
    except (AccessDenied, Conflict) as e:
        return await settings_page(request, who, errors={"two_factor": e}, status=form_status(e))
    return _codes_page(request, who, codes, renewed=True)


# -- sessions -------------------------------------------------------------------------------
@router.post("/settings/sessions/end-all")
async def sign_out_everywhere(request: Request, who: Actor) -> Response:
    """End every session of the user, this one too: the sign-in page."""
    who.require(Scope.ADMIN)
    await container_of(request).accounts.sign_out_everywhere(who.user_id)
    return _signed_out(request)


@router.post("/settings/sessions/{session_id}/end")
async def end_session(request: Request, who: Actor, session_id: SessionId) -> Response:
    """End one session (another user's is not found); ending this one signs out."""
    who.require(Scope.ADMIN)
    await container_of(request).accounts.end_session(who.user_id, session_id)
    if session_id == who.session.id:
        return _signed_out(request)
    return _done("session", "sessions")


# -- API clients ----------------------------------------------------------------------------
@router.post("/settings/clients")
async def create_client(
    request: Request,
    who: Actor,
    name: Annotated[str, Form(max_length=64)] = "",
    scopes: Annotated[list[Scope] | None, Form()] = None,
) -> Response:
    """A new OAuth2 client of the user's; its secret is on this answer only."""
    who.require(Scope.ADMIN)
    access = container_of(request).access
    wanted = format_scopes(frozenset(scopes or ()))
    try:
        client, secret = await access.create_client_for(who.user_id, name=name, scopes=wanted)
    except InputError as e:
        values = {"client_name": name}
        return await settings_page(
            request, who, errors={"clients": e}, values=values, status=form_status(e)
        )
    context = {"who": who, "client": client, "scopes": wanted, "secret": secret}
    return _renderer(request).page(request, "settings_client.html", context)


@router.post("/settings/clients/{client_id}/revoke")
async def revoke_client(request: Request, who: Actor, client_id: ClientId) -> Response:
    """Disable the client and revoke its tokens (another user's is not found)."""
    who.require(Scope.ADMIN)
    await container_of(request).access.revoke_client(who.user_id, client_id)
    return _done("client", "clients")
