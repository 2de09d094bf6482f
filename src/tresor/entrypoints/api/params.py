"""Query parameters shared by the read routes, each bounded so that any value a client sends
is either used or refused as ``validation_failed``, never passed on to break a query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Query

from tresor.domain.errors import ValidationFailed
from tresor.services.portfolio import MAX_LIMIT

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
_UNITS_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}

ConnectionFilter = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9]+$",
        description="Only this connection (yours; another id is 404).",
    ),
]
Since = Annotated[
    datetime | None,
    Query(description="From this time, included (ISO 8601; without an offset: UTC)."),
]
Until = Annotated[
    datetime | None,
    Query(description="Up to this time, excluded (ISO 8601; without an offset: UTC)."),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z0-9_-]+=*$",
        description="The 'next_cursor' of the previous page, unchanged.",
    ),
]
SymbolFilter = Annotated[
    str | None,
    Query(
        min_length=3,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]{1,32}/[A-Za-z0-9._:-]{1,32}$",
        description="A unified symbol, e.g. BTC/USDT.",
    ),
]
AssetFilter = Annotated[
    str | None,
    Query(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$", examples=["BTC"]),
]
Quote = Annotated[
    str,
    Query(
        min_length=2,
        max_length=16,
        pattern=r"^[A-Za-z0-9]+$",
        description="The currency to value in. USD is reached through USD stablecoins.",
    ),
]
Interval = Annotated[
    str | None,
    Query(
        pattern=r"^[1-9][0-9]{0,8}[smhdw]$",
        description="Bucket length: a number and s, m, h, d or w (e.g. 15m, 1h, 1d). "
        "Default: a round interval giving at most about 500 points.",
    ),
]


def to_ms(value: datetime | None, name: str) -> int | None:
    """Epoch milliseconds of a query time (naive: UTC).

    Raises: ValidationFailed (before 1970 or after 9998)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    ms = (value - EPOCH) // timedelta(milliseconds=1)  # aware subtraction cannot overflow
    if not 0 <= ms < (LATEST - EPOCH) // timedelta(milliseconds=1):
        raise ValidationFailed(
            f"'{name}' must be between 1970 and 9998.",
            remedy=f"Give '{name}' as an ISO 8601 time, e.g. 2024-01-31T00:00:00Z.",
            details={"field": name},
        )
    return ms


def interval_ms(value: str | None) -> int | None:
    return None if value is None else int(value[:-1]) * _UNITS_MS[value[-1]]
