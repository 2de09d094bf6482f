"""Pages of a listing and the opaque cursors that lead from one page to the next.

A cursor is the keyset of the last item of a page (``RecordQuery.before``, an id for the
request log and the events), tagged with the listing it came from, as JSON in URL-safe base64
without padding. It is opaque to clients: they pass ``next_cursor`` back unchanged. Anything
else (made up, truncated, from another listing) is ``ValidationFailed``, never a crash.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Generic, TypeVar

from tresor.domain.errors import ValidationFailed

T = TypeVar("T")
MAX_CURSOR = 1024  # characters; a real cursor is far shorter
_MAX_PART = 256  # characters of one text part of a keyset
_INT64 = 2**63

RecordKey = tuple[int, str, str, str]  # (time, connection, market or kind, id): newest first


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """One page, newest first; ``next_cursor`` is None on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None


def encode(listing: str, *key: int | str) -> str:
    raw = json.dumps([listing, *key], separators=(",", ":"), ensure_ascii=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad(listing: str) -> ValidationFailed:
    return ValidationFailed(
        f"The cursor is not one the {listing} listing gave.",
        remedy="Pass the 'next_cursor' of the previous page unchanged, or leave 'cursor' out "
        "to start from the newest.",
        details={"field": "cursor"},
    )


def _parts(listing: str, cursor: str) -> list[object]:
    if len(cursor) > MAX_CURSOR:
        raise _bad(listing)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError) as e:
        raise _bad(listing) from e
    if not isinstance(parts, list) or not parts or parts[0] != listing:
        raise _bad(listing)
    return parts[1:]


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64


def _text(value: object) -> bool:
    """Text a database takes in a comparison: no NUL (PostgreSQL refuses it), no lone
    surrogate (not encodable), bounded."""
    if not isinstance(value, str) or len(value) > _MAX_PART or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode_key(listing: str, cursor: str) -> RecordKey:
    """The keyset of a records cursor.

    Raises:
        ValidationFailed: the cursor is not one ``listing`` gave.
    """
    parts = _parts(listing, cursor)
    if len(parts) != 4:
        raise _bad(listing)
    time, connection, part, item = parts
    if not (
        isinstance(time, int)
        and _int(time)
        and isinstance(connection, str)
        and isinstance(part, str)
        and isinstance(item, str)
        and all(_text(t) for t in (connection, part, item))
    ):
        raise _bad(listing)
    return (time, connection, part, item)


def decode_time_id(listing: str, cursor: str) -> tuple[int, str]:
    """The keyset of a cursor over items ordered by (time, id), newest first (placed orders).

    Raises:
        ValidationFailed: the cursor is not one ``listing`` gave.
    """
    parts = _parts(listing, cursor)
    if len(parts) != 2:
        raise _bad(listing)
    time, item = parts
    if not (isinstance(time, int) and _int(time) and isinstance(item, str) and _text(item)):
        raise _bad(listing)
    return (time, item)


def decode_id(listing: str, cursor: str) -> int:
    """The id of an id-ordered cursor (request log, events).

    Raises:
        ValidationFailed: the cursor is not one ``listing`` gave.
    """
    parts = _parts(listing, cursor)
    (found,) = parts if len(parts) == 1 else (None,)
    if not (isinstance(found, int) and _int(found) and found >= 0):
        raise _bad(listing)
    return found
