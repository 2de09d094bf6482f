"""``Secret``: a value that must never be shown.

Its ``repr`` and ``str`` are a mask, it refuses to be pickled or formatted into a log line by
accident, and the clear value is read only through ``reveal()``, which is called where an
exchange client is built and nowhere else.
"""

from __future__ import annotations

import hmac
from typing import NoReturn

MASK = "**********"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret holds a string")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def hint(self) -> str:
        """The first and last four characters (``abcd…wxyz``), or a mask for short values."""
        return hint(self._value)

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


def hint(value: str) -> str:
    if len(value) < 12:
        return "…" * 3
    return f"{value[:4]}…{value[-4:]}"
