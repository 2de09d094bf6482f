"""RFC 9457 problem+json for every error the API gives.

Each problem has ``type`` (``/problems/<code>``), ``title``, ``status``, ``detail`` (the plain
message), the stable ``code``, a ``remedy`` and the request path as ``instance``; OAuth2 errors
also carry RFC 6749's ``error`` field so standard OAuth2 clients understand them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tresor.domain import errors as de

MEDIA_TYPE = "application/problem+json"

# most specific first
_STATUS: list[tuple[type[de.TresorError], int]] = [
    (de.InvalidScope, 400),
    (de.DuplicateLabel, 409),
    (de.ConnectionLimitReached, 409),
    (de.WeakPassword, 422),
    (de.InputError, 422),
    (de.NotFound, 404),
    (de.InvalidClient, 401),
    (de.InvalidGrant, 400),
    (de.InvalidToken, 401),
    (de.InsufficientScope, 403),
    (de.ClientIpNotAllowed, 403),
    (de.TooManyAttempts, 429),
    (de.SignInFailed, 401),
    (de.TwoFactorRequired, 401),
    (de.InvalidTwoFactorCode, 401),
    (de.SessionExpired, 401),
    (de.AccessDenied, 403),
    (de.OrderRefused, 422),
    (de.Conflict, 409),
    (de.KeyRejected, 422),
    (de.ExchangeTrouble, 503),
]
_OAUTH = {
    de.InvalidClient.code,
    de.InvalidGrant.code,
    de.InvalidToken.code,
    de.InsufficientScope.code,
    de.InvalidScope.code,
}


def status_of(error: de.TresorError) -> int:
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 400


def problem(
    status: int, code: str, title: str, detail: str, remedy: str, instance: str, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "remedy": remedy,
        "instance": instance,
    }
    body.update(extra)
    return body


def problem_of(error: de.TresorError, instance: str) -> dict[str, Any]:
    """The problem body of a domain error (also one of a batch's operations)."""
    extra: dict[str, Any] = dict(error.details)
    if error.code in _OAUTH:
        extra["error"] = error.code
    return problem(
        status_of(error),
        error.code,
        _title(error.code),
        error.message,
        error.remedy,
        instance,
        **extra,
    )


def render(error: de.TresorError, request: Request) -> JSONResponse:
    status = status_of(error)
    body = problem_of(error, request.url.path)
    headers: dict[str, str] = {}
    if isinstance(error, de.InvalidToken):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    elif isinstance(error, de.InsufficientScope):
        headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"'
    retry = getattr(error, "retry_after", None)
    if retry is not None:
        headers["Retry-After"] = str(max(1, int(retry)))
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _title(code: str) -> str:
    return code.replace("_", " ").capitalize()


_HTTP_CODES = {
    400: "bad_request",
    401: "invalid_token",
    403: "access_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
}


# the dashboard's HTML form of a problem: (is this path a page?, render it)
PageErrors = tuple[Callable[[str], bool], Callable[[Request, int, str, str, str], Response]]


def install(app: FastAPI, pages: PageErrors | None = None) -> None:
    """Render every error as problem+json; on the dashboard's paths (``pages``), as a page
    with the same code, message and remedy."""

    def as_page(request: Request, body: dict[str, Any]) -> Response | None:
        if pages is None or not pages[0](request.url.path):
            return None
        return pages[1](request, body["status"], body["code"], body["detail"], body["remedy"])

    @app.exception_handler(de.TresorError)
    async def _domain(request: Request, exc: de.TresorError) -> Response:
        page = as_page(request, problem_of(exc, request.url.path))
        return page if page is not None else render(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"location": [str(p) for p in err.get("loc", ())], "message": str(err.get("msg"))}
            for err in exc.errors()
        ]
        body = problem(
            422,
            "validation_failed",
            "Validation failed",
            "The request does not have the expected shape.",
            "Fix the fields listed in 'errors' and send the request again.",
            request.url.path,
            errors=errors,
        )
        page = as_page(request, body)
        if page is not None:
            return page
        return JSONResponse(body, status_code=422, media_type=MEDIA_TYPE)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else "The request failed."
        body = problem(
            exc.status_code,
            code,
            _title(code),
            detail,
            "Check the method and path against the API documentation (/docs).",
            request.url.path,
        )
        page = as_page(request, body)
        if page is not None:
            return page
        return JSONResponse(
            body,
            status_code=exc.status_code,
            media_type=MEDIA_TYPE,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        body = problem(
            500,
            "internal_error",
            "Internal error",
            "Tresor failed to handle this request.",
            "Try again; if it keeps happening, report it with the time of the request.",
            request.url.path,
        )
        page = as_page(request, body)
        if page is not None:
            return page
        return JSONResponse(body, status_code=500, media_type=MEDIA_TYPE)
