"""The reading pages' filters, as a plain GET form sends them: every field, the empty ones as
``""``. Here an empty field means "no filter", and a value is checked with a message that names
the field and the fix (``ValidationFailed``: the page shows it beside the form, status 422),
where a FastAPI ``Query`` pattern could only say that the request has the wrong shape.

Dates and times are read in the user's time zone: ``2024-01-31`` as that whole day (``since``
from its start, ``until`` up to the end of it), an ISO 8601 time with an offset as it says, one
without in the user's zone.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Query, Request

from tresor.domain.errors import ValidationFailed
from tresor.entrypoints.api.params import to_ms
from tresor.entrypoints.web.session import WebUser, container_of

PAGE_SIZE = 50
PAGE_SIZES = (25, 50, 100, 250, 500, 1000)
# an empty value (the form's "all connections", the first page) is no filter
ConnectionField = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9]*$")]
CursorField = Annotated[str | None, Query(max_length=1024, pattern=r"^[A-Za-z0-9_=-]*$")]

_SYMBOL = re.compile(r"^[A-Za-z0-9._-]{1,32}/[A-Za-z0-9._:-]{1,32}$")
_ASSET = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def blank(value: str | None) -> str | None:
    """``value`` without surrounding spaces; None when nothing is left."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def _invalid(name: str, message: str, remedy: str) -> ValidationFailed:
    return ValidationFailed(message, remedy=remedy, details={"field": name})


def moment_ms(value: str | None, name: str, zone: ZoneInfo, *, end: bool = False) -> int | None:
    """Epoch ms of a date or a time from a form; a date's end (``end``) is the next day's start.

    Raises: ValidationFailed (neither a date nor an ISO 8601 time, or outside 1970-9998)."""
    text = blank(value)
    if text is None:
        return None
    try:
        if _DAY.fullmatch(text):
            day = date.fromisoformat(text)
            if end:
                day += timedelta(days=1)
            moment = datetime.combine(day, time(), tzinfo=zone)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
    except (ValueError, OverflowError) as e:
        raise _invalid(
            name,
            f"'{name}' is not a date: {text[:40]!r}.",
            f"Give '{name}' as a date (2024-01-31) or an ISO 8601 time (2024-01-31T08:00:00Z).",
        ) from e
    return to_ms(moment, name)


def symbol(value: str | None) -> str | None:
    """A market such as ``BTC/USDT`` (upper-cased), or None. Raises: ValidationFailed."""
    text = blank(value)
    if text is None:
        return None
    if not _SYMBOL.fullmatch(text):
        raise _invalid(
            "symbol",
            f"'symbol' is not a market: {text[:40]!r}.",
            "Give a market as BASE/QUOTE, e.g. BTC/USDT, or leave it empty.",
        )
    return text.upper()


def asset(value: str | None) -> str | None:
    """An asset such as ``BTC`` (upper-cased), or None. Raises: ValidationFailed."""
    text = blank(value)
    if text is None:
        return None
    if not _ASSET.fullmatch(text):
        raise _invalid(
            "asset",
            f"'asset' is not an asset name: {text[:40]!r}.",
            "Give an asset's symbol, e.g. BTC, or leave it empty.",
        )
    return text.upper()


def choice(value: str | None, name: str, allowed: Collection[str]) -> str | None:
    """One of ``allowed``, or None. Raises: ValidationFailed."""
    text = blank(value)
    if text is None:
        return None
    if text not in allowed:
        raise _invalid(
            name,
            f"'{name}' cannot be {text[:40]!r}.",
            f"Choose one of: {', '.join(allowed)}; or leave it empty.",
        )
    return text


def page_sizes(limit: int) -> list[int]:
    """The choices of rows a page, with the one asked for (a link may carry any)."""
    sizes = set(PAGE_SIZES)
    if 1 <= limit <= PAGE_SIZES[-1]:
        sizes.add(limit)
    return sorted(sizes)


def url(path: str, params: Mapping[str, str | None], **more: str | None) -> str:
    """``path`` with the non-empty ``params`` and ``more`` as its query."""
    found = {k: v for k, v in {**params, **more}.items() if v}
    return f"{path}?{urlencode(found)}" if found else path


def pager(
    path: str,
    params: Mapping[str, str | None],
    limit: int,
    cursor: str | None,
    following: str | None,
) -> dict[str, str | bool | None]:
    """What the ``pages`` macro links to: the newest page once past it (``paged``), the next one
    (the cursor ``following``) while there is one, both with the filters and the page size."""
    return {
        "paged": bool(blank(cursor)),
        "newest_url": url(path, params, limit=str(limit)),
        "next_url": url(path, params, limit=str(limit), cursor=following) if following else None,
    }


async def connection_labels(request: Request, who: WebUser) -> dict[str, str]:
    """The user's connections' labels by id, in the labels' order (for filters and rows)."""
    connections = await container_of(request).connections.all(who.user_id)
    return {c.id: c.label for c in sorted(connections, key=lambda c: c.label)}
