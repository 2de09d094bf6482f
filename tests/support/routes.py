"""Every route of an app, with its full path: FastAPI keeps an included router as one entry
of ``app.routes`` (``_IncludedRouter``), so a plain walk of ``app.routes`` sees none of the
routes inside it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute


def _walk(routes: Iterable[Any], prefix: str) -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
            continue
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(inner.routes, prefix + (getattr(context, "prefix", "") or ""))


def every_route(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every API route of ``app``, HEAD left out."""
    return {
        (method, path)
        for path, route in _walk(app.routes, "")
        for method in route.methods
        if method != "HEAD"
    }
