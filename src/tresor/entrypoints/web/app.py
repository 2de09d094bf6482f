"""The dashboard, served by the API's own application: ``install(app)`` adds the pages, the
static files and the HTML form of errors to it.

Pages are rendered on the server (Jinja2); htmx, vendored in ``static/vendor``, only enhances
them (a form answered in place, a table's next page), so every reading page works without
JavaScript. No asset comes from elsewhere: the Content-Security-Policy allows this origin only,
and no inline script or style.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from tresor.entrypoints.web.render import Renderer
from tresor.entrypoints.web.session import NotSignedIn
from tresor.entrypoints.web.views import (
    assets,
    exchanges,
    logs,
    overview,
    records,
    security,
    signin,
    trade,
)

STATIC = Path(__file__).parent / "static"
_NOT_PAGES = ("/v1/", "/docs", "/redoc", "/openapi.json", "/static/")


def is_page(path: str) -> bool:
    """Whether ``path`` is the dashboard's (errors as HTML) rather than the API's."""
    return path != "/v1" and not path.startswith(_NOT_PAGES)


def install(app: FastAPI) -> None:
    renderer = Renderer()
    app.state.renderer = renderer
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for views in (signin, overview, exchanges, assets, records, trade, logs, security):
        app.include_router(views.router)

    @app.exception_handler(NotSignedIn)
    async def _sign_in_first(request: Request, exc: NotSignedIn) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        if request.method != "GET":
            target = "/"
        location = "/login?next=" + quote(target, safe="/")
        if request.headers.get("hx-request"):
            # htmx follows HX-Redirect with a full page load
            return Response(status_code=204, headers={"HX-Redirect": location})
        return RedirectResponse(location, status_code=303)


def error_page(request: Request, status: int, code: str, message: str, remedy: str) -> Response:
    """The HTML form of a problem, for the dashboard's paths."""
    renderer: Renderer = request.app.state.renderer
    return renderer.page(
        request,
        "error.html",
        {"who": None, "status": status, "code": code, "message": message, "remedy": remedy},
        status=status,
    )
