"""CSV downloads of the record listings: every row the filters match, read from the service a
page at a time while the response streams, so an export of a long history holds one page in
memory, not the whole of it.

The columns are the REST API's fields (``GET /v1/trades`` ...), with the same values: amounts
as exact decimal strings, times in ISO 8601 UTC beside their epoch ms, ``true``/``false``,
empty for null.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return) as a formula, and some of the text comes from outside Tresor (a client order id, an
address). Such a text cell gets a leading ``'`` (OWASP, "CSV Injection"); a number, negative
ones included, is written as it is.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from tresor.domain.paging import Listing
from tresor.entrypoints.web.render import SECURITY_HEADERS

R = TypeVar("R")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")


def safe_cell(value: object) -> str:
    """One cell's text: null empty, booleans as ``true``/``false``, a formula-like text
    quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.startswith(_FORMULA) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def lines(rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def columns(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def row_of(public: BaseModel) -> list[Any]:
    """A public model's values, in its fields' order, as its JSON gives them."""
    return list(public.model_dump(mode="json").values())


async def rows(
    first: Listing[R],
    following: Callable[[str], Awaitable[Listing[R]]],
    model: type[BaseModel],
    public: Callable[[R], BaseModel],
) -> AsyncIterator[str]:
    """The header, then each page's rows: ``first``, then ``following(next_cursor)`` until a
    page has no next cursor."""
    yield lines([columns(model)])
    page = first
    while True:
        yield lines(row_of(public(r)) for r in page.items)
        if page.next_cursor is None:
            return
        page = await following(page.next_cursor)


def download(name: str, body: AsyncIterator[str]) -> StreamingResponse:
    """A ``text/csv`` attachment called ``name``."""
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    return StreamingResponse(body, media_type="text/csv; charset=utf-8", headers=headers)
