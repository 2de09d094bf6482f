"""My Exchanges: the user's connections, the add-an-exchange wizard and each connection's
page (its capability report as a checklist, its keys by hint, and the actions on it).

Every handler calls the services the ``/v1/connections`` routes call, with the same scopes:
reading and testing need ``read``; adding, rotating, disabling, enabling and removing need
``admin``. Another user's connection is ``NotFound`` (a 404 page) on every route.

Secrets go one way: from the wizard's or the rotate form's fields into ``Credentials`` and the
service. No page ever shows one again, not even the form that refused it (it comes back empty
but for the label); keys appear as hints only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from tresor.domain.access import Scope
from tresor.domain.connections import Connection, Credentials, KeyRole
from tresor.domain.errors import (
    ExchangeTrouble,
    InputError,
    KeyRejected,
    NotFound,
    TresorError,
    UnknownEndpoint,
    ValidationFailed,
)
from tresor.domain.sync import SyncState
from tresor.entrypoints.api.container import Container
from tresor.entrypoints.api.problems import status_of
from tresor.entrypoints.api.schemas import KeyCreate
from tresor.entrypoints.web.exchange_guides import Choice, choices, find, guide_for
from tresor.entrypoints.web.key_checklist import checklist, ms, problems
from tresor.entrypoints.web.labels import badge
from tresor.entrypoints.web.render import Renderer
from tresor.entrypoints.web.session import Actor, Viewer, WebUser, container_of

router = APIRouter(include_in_schema=False)
ConnectionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]
ChoiceName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Role = Literal["read", "trade"]
# the limits of the API's KeyCreate, so a longer field is a clear 422 before anything else
ApiKey = Annotated[str, Form(max_length=512)]
SecretText = Annotated[str, Form(max_length=4096)]
Passphrase = Annotated[str, Form(max_length=512)]
Label = Annotated[str, Form(max_length=64)]
Done = Literal["added", "tested", "rotated", "disabled", "enabled", "removed"]
# the errors a form answers in place; any other (NotFound...) is the error page
_FORM_ERRORS = (InputError, KeyRejected, ExchangeTrouble)
_FIELDS = {"api_key": "API key", "secret": "secret", "passphrase": "passphrase"}
_DONE = {
    "added": "The exchange is connected. Tresor syncs it from now on.",
    "tested": "The keys were tested again; the report below is the new one.",
    "rotated": "The new key was accepted and replaces the old one, which is destroyed.",
    "disabled": "The connection is disabled: nothing uses it until you enable it.",
    "enabled": "The connection is enabled again.",
    "removed": "The connection is removed and its stored keys destroyed.",
}


def credentials(role: str, api_key: str, secret: str, passphrase: str) -> Credentials | None:
    """A key from its form fields (surrounding blanks of a paste dropped); None when all are
    empty. Checked as the API checks a key (``KeyCreate``); the messages never quote a field.

    Raises: ValidationFailed."""
    api_key, secret, passphrase = api_key.strip(), secret.strip(), passphrase.strip()
    if not (api_key or secret or passphrase):
        return None
    if not (api_key and secret):
        raise ValidationFailed(
            f"The {role} key needs both its API key and its secret.",
            remedy="Copy both from the exchange's page into the form, then send it again.",
        )
    try:
        key = KeyCreate.model_validate(
            {"api_key": api_key, "secret": secret, "passphrase": passphrase or None}
        )
    except ValidationError as e:
        first = e.errors(include_input=False, include_url=False)[0]
        field = _FIELDS.get(str(first["loc"][0]), "field") if first["loc"] else "field"
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise ValidationFailed(
            f"The {role} key's {field} is not valid: {reason}.",
            remedy="Copy it again from the exchange's page, whole and without spaces.",
        ) from None
    return key.credentials()


def _options(services: Container) -> list[Choice]:
    return choices((e.name, e.exchange) for e in services.market.endpoints())


def _choice(services: Container, name: str) -> Choice:
    found = find(_options(services), name)
    if found is None:
        raise UnknownEndpoint(
            f"There is no exchange or endpoint named {name!r} here.",
            remedy="Choose one from the list on the Add an exchange page.",
        )
    return found


def _renderer(request: Request) -> Renderer:
    renderer: Renderer = request.app.state.renderer
    return renderer


# -- the list ----------------------------------------------------------------------------------
@router.get("/exchanges")
async def exchanges(
    request: Request, who: Viewer, done: Annotated[Done | None, Query()] = None
) -> Response:
    who.require(Scope.READ)
    services = container_of(request)
    states = await services.sync.states_of(who.user_id)
    rows = [
        (
            connection,
            badge(connection.status),
            states.get(connection.id) or SyncState(connection.id),
        )
        for connection in await services.connections.all(who.user_id)
    ]
    return _renderer(request).page(
        request,
        "exchanges_list.html",
        {
            "who": who,
            "rows": rows,
            "now_ms": services.sync.now_ms(),
            "notice": _DONE.get(done or ""),
        },
    )


# -- the wizard --------------------------------------------------------------------------------
@router.get("/exchanges/new")
async def choose(request: Request, who: Viewer) -> Response:
    who.require(Scope.READ)
    options = _options(container_of(request))
    return _renderer(request).page(
        request,
        "exchanges_choose.html",
        {
            "who": who,
            "endpoints": [c for c in options if c.endpoint is not None],
            "direct": [c for c in options if c.endpoint is None],
        },
    )


def _wizard(
    request: Request,
    who: WebUser,
    choice: Choice,
    *,
    label: str = "",
    error: TresorError | None = None,
    refused: str | None = None,
    status: int = 200,
) -> Response:
    return _renderer(request).page(
        request,
        "exchanges_wizard.html",
        {
            "who": who,
            "choice": choice,
            "guide": choice.guide,
            "egress_ips": container_of(request).egress_ips,
            "label": label,
            "error": error,
            "checks": [str(c) for c in error.details.get("checks", ())] if error else [],
            "refused": refused,
        },
        status=status,
    )


@router.get("/exchanges/new/{name}")
async def wizard(request: Request, name: ChoiceName, who: Viewer) -> Response:
    who.require(Scope.READ)
    choice = find(_options(container_of(request)), name)
    if choice is None:
        raise NotFound(
            f"There is no exchange or endpoint named {name!r} here.",
            remedy="Choose one from the list on the Add an exchange page.",
        )
    return _wizard(request, who, choice)


@router.post("/exchanges")
async def add(
    request: Request,
    who: Actor,
    choice: Annotated[str, Form(min_length=1, max_length=64)],
    label: Label = "",
    read_api_key: ApiKey = "",
    read_secret: SecretText = "",
    read_passphrase: Passphrase = "",
    trade_api_key: ApiKey = "",
    trade_secret: SecretText = "",
    trade_passphrase: Passphrase = "",
) -> Response:
    """Test the key(s) and connect, as ``POST /v1/connections``; a refusal comes back as the
    wizard with the error and its remedy, the label kept, every key field empty."""
    who.require(Scope.ADMIN)
    services = container_of(request)
    target = _choice(services, choice)
    given = [r for r, k in (("read", read_api_key), ("trade", trade_api_key)) if k.strip()]
    try:
        read = credentials("read", read_api_key, read_secret, read_passphrase)
        trade = credentials("trade", trade_api_key, trade_secret, trade_passphrase)
        connection = await services.connections.add(
            who.user_id,
            exchange=target.exchange,
            label=label,
            endpoint=target.endpoint,
            read_key=read,
            trade_key=trade,
        )
    except _FORM_ERRORS as error:
        refused = None
        if isinstance(error, KeyRejected):
            refused = f"the {given[0]} key" if len(given) == 1 else "the read key or the trade key"
        return _wizard(
            request,
            who,
            target,
            label=label,
            error=error,
            refused=refused,
            status=status_of(error),
        )
    return RedirectResponse(f"/exchanges/{connection.id}?done=added", status_code=303)


# -- one connection ----------------------------------------------------------------------------
async def _detail(
    request: Request,
    who: WebUser,
    connection: Connection,
    *,
    notice: str | None = None,
    error: TresorError | None = None,
    error_role: str | None = None,
    status: int = 200,
) -> Response:
    services = container_of(request)
    state = await services.sync.state(who.user_id, connection.id)
    now = services.sync.now_ms()
    at = datetime.fromtimestamp(now / 1000, UTC)
    keys: dict[str, dict[str, Any] | None] = {}
    for role in KeyRole:
        key = connection.key(role)
        keys[role.value] = None
        if key is not None:
            keys[role.value] = {
                "key": key,
                "badge": badge(key.status),
                "verified_ms": ms(key.verified_at),
                "checks": checklist(key, services.egress_ips, at),
                "problems": problems(key),
            }
    return _renderer(request).page(
        request,
        "exchanges_detail.html",
        {
            "who": who,
            "c": connection,
            "guide": guide_for(connection.exchange),
            "created_ms": ms(connection.created_at),
            "badge": badge(connection.status),
            "state": state,
            "now_ms": now,
            "keys": keys,
            "egress_ips": services.egress_ips,
            "notice": notice,
            "error": error,
            "error_role": error_role,
            "checks": [str(c) for c in error.details.get("checks", ())] if error else [],
        },
        status=status,
    )


@router.get("/exchanges/{connection_id}")
async def detail(
    request: Request,
    connection_id: ConnectionId,
    who: Viewer,
    done: Annotated[Done | None, Query()] = None,
) -> Response:
    who.require(Scope.READ)
    connection = await container_of(request).connections.get(who.user_id, connection_id)
    return await _detail(request, who, connection, notice=_DONE.get(done or ""))


def _back(connection_id: str, done: str) -> Response:
    return RedirectResponse(f"/exchanges/{connection_id}?done={done}", status_code=303)


@router.post("/exchanges/{connection_id}/test")
async def test(request: Request, connection_id: ConnectionId, who: Actor) -> Response:
    """Check every key again, as ``POST /v1/connections/{id}/test``."""
    who.require(Scope.READ)
    await container_of(request).connections.test(who.user_id, connection_id)
    return _back(connection_id, "tested")


@router.post("/exchanges/{connection_id}/keys/{role}")
async def rotate(
    request: Request,
    connection_id: ConnectionId,
    role: Role,
    who: Actor,
    api_key: ApiKey = "",
    secret: SecretText = "",
    passphrase: Passphrase = "",
) -> Response:
    """Replace (or add) the connection's key in ``role``: the new key is tested first and
    replaces the old one only if accepted; a refusal comes back on the page, the form empty."""
    who.require(Scope.ADMIN)
    services = container_of(request)
    connection = await services.connections.get(who.user_id, connection_id)  # 404 first
    try:
        new = credentials(role, api_key, secret, passphrase)
        if new is None:
            raise ValidationFailed(
                f"Give the new {role} key's API key and secret.",
                remedy="Copy both from the exchange's page into the form, then send it again.",
            )
        await services.connections.rotate(who.user_id, connection_id, KeyRole(role), new)
    except _FORM_ERRORS as error:
        return await _detail(
            request, who, connection, error=error, error_role=role, status=status_of(error)
        )
    return _back(connection_id, "rotated")


@router.post("/exchanges/{connection_id}/disable")
async def disable(request: Request, connection_id: ConnectionId, who: Actor) -> Response:
    who.require(Scope.ADMIN)
    await container_of(request).connections.set_enabled(who.user_id, connection_id, enabled=False)
    return _back(connection_id, "disabled")


@router.post("/exchanges/{connection_id}/enable")
async def enable(request: Request, connection_id: ConnectionId, who: Actor) -> Response:
    who.require(Scope.ADMIN)
    await container_of(request).connections.set_enabled(who.user_id, connection_id, enabled=True)
    return _back(connection_id, "enabled")


@router.post("/exchanges/{connection_id}/remove")
async def remove(request: Request, connection_id: ConnectionId, who: Actor) -> Response:
    """Disconnect, as ``DELETE /v1/connections/{id}``: the stored keys are destroyed."""
    who.require(Scope.ADMIN)
    await container_of(request).connections.remove(who.user_id, connection_id)
    return RedirectResponse("/exchanges?done=removed", status_code=303)
