"""OAuth2: ``POST /v1/auth/token`` (client_credentials, refresh_token) and ``/v1/auth/revoke``."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse

from tresor.domain.errors import InvalidClient, ValidationFailed
from tresor.entrypoints.api.deps import Services, client_ip
from tresor.entrypoints.api.problems import MEDIA_TYPE, problem
from tresor.entrypoints.api.schemas import TokenPublic

router = APIRouter(prefix="/v1/auth", tags=["auth"])
_FORM = {"max_length": 512}


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient() from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient()
    return client_id, secret


@router.post(
    "/token",
    response_model=TokenPublic,
    responses={
        400: {"description": "unsupported grant or invalid refresh token"},
        401: {"description": "invalid client"},
        429: {"description": "too many failed attempts"},
    },
)
async def token(
    request: Request,
    response: Response,
    services: Services,
    grant_type: Annotated[str, Form(**_FORM)],
    client_id: Annotated[str | None, Form(**_FORM)] = None,
    client_secret: Annotated[str | None, Form(**_FORM)] = None,
    scope: Annotated[str | None, Form(**_FORM)] = None,
    refresh_token: Annotated[str | None, Form(**_FORM)] = None,
) -> TokenPublic | JSONResponse:
    """Issue tokens. Form fields as in RFC 6749: ``grant_type=client_credentials`` with
    ``client_id`` and ``client_secret`` (or HTTP Basic), or ``grant_type=refresh_token`` with
    ``refresh_token``; optional ``scope`` (space-separated: read trade admin)."""
    # RFC 6749 section 5.1: a response carrying tokens must not be cached
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    ip = client_ip(request)
    if grant_type == "client_credentials":
        basic = _basic(request)
        if basic is not None:
            client_id, client_secret = basic
        if not client_id or not client_secret:
            raise InvalidClient("client_id and client_secret are required.")
        issued = await services.access.client_credentials(client_id, client_secret, scope, ip)
    elif grant_type == "refresh_token":
        if not refresh_token:
            raise ValidationFailed(
                "refresh_token is required for this grant.",
                remedy="Send the refresh_token you were given.",
            )
        issued = await services.access.refresh(refresh_token, scope, ip)
    else:
        body = problem(
            400,
            "unsupported_grant_type",
            "Unsupported grant type",
            f"The grant type {grant_type!r} is not supported.",
            "Use client_credentials or refresh_token.",
            request.url.path,
            error="unsupported_grant_type",
        )
        return JSONResponse(body, status_code=400, media_type=MEDIA_TYPE)
    return TokenPublic(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        scope=issued.scope,
    )


@router.post("/revoke", status_code=200)
async def revoke(services: Services, token: Annotated[str, Form(**_FORM)]) -> dict[str, bool]:
    """Revoke an access or refresh token (revoking a refresh token ends its whole family).
    Unknown tokens are not an error (RFC 7009)."""
    await services.access.revoke(token)
    return {"revoked": True}
