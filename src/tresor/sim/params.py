"""Request parameters: parsing the query string and form body, and typed reads with the
exchange's own -11xx errors for anything malformed."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from urllib.parse import unquote_plus

from tresor.sim import errors as e

DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
DECIMAL_RANGE = "^([0-9]{1,20})(\\.[0-9]{1,20})?$"
INT_RE = re.compile(r"^-?[0-9]{1,20}$")
INT_RANGE = "^-?[0-9]{1,20}$"
SYMBOL_RE = re.compile(r"^[A-Z0-9-_.]{1,20}$")
# Millisecond times have 13 digits (until the year 33658), microsecond ones 16.
MICROSECONDS_FROM = 10**15


def split_pairs(raw: str) -> list[tuple[str, str]]:
    """``a=1&b=2`` into decoded pairs, keeping blanks and order."""
    pairs: list[tuple[str, str]] = []
    if not raw:
        return pairs
    for part in raw.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


class Params:
    """The parameters of one request: query string and form body merged, query winning."""

    __slots__ = ("_read", "values")

    def __init__(self, query: list[tuple[str, str]], body: list[tuple[str, str]]) -> None:
        values: dict[str, str] = {}
        for source in (body, query):  # query last, so it wins
            seen: set[str] = set()
            for name, value in source:
                if name in seen:
                    raise e.duplicate_param()
                seen.add(name)
                values[name] = value
        self.values = values
        self._read: set[str] = set()

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def raw(self, name: str) -> str | None:
        self._read.add(name)
        value = self.values.get(name)
        if value is not None and value == "":
            raise e.empty_param(name)
        return value

    def require(self, name: str) -> str:
        value = self.raw(name)
        if value is None:
            raise e.mandatory(name)
        return value

    def symbol(self, required: bool = True) -> str | None:
        value = self.require("symbol") if required else self.raw("symbol")
        if value is not None and not SYMBOL_RE.match(value):
            raise e.illegal_value("symbol", "^[A-Z0-9-_.]{1,20}$")
        return value

    def symbols_list(self) -> list[str] | None:
        value = self.raw("symbols")
        if value is None:
            return None
        try:
            parsed = json.loads(value)
        except ValueError:
            raise e.illegal_value(
                "symbols", '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
            ) from None
        if (
            not isinstance(parsed, list)
            or not parsed
            or not all(isinstance(s, str) for s in parsed)
        ):
            raise e.illegal_value(
                "symbols", '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
            )
        return [str(s) for s in parsed]

    def integer(
        self, name: str, *, required: bool = False, default: int | None = None
    ) -> int | None:
        value = self.require(name) if required else self.raw(name)
        if value is None:
            return default
        if not INT_RE.match(value):
            raise e.illegal_value(name, INT_RANGE)
        return int(value)

    def time_ms(self, name: str, *, required: bool = False) -> int | None:
        """A time parameter (``timestamp``, ``startTime``, ``endTime``) in milliseconds.

        Binance takes every time parameter in milliseconds or microseconds ("General API
        Information"); sixteen digits mean microseconds.
        """
        value = self.integer(name, required=required)
        if value is not None and value >= MICROSECONDS_FROM:
            return value // 1000
        return value

    def required_time_ms(self, name: str) -> int:
        value = self.time_ms(name, required=True)
        if value is None:  # require() has raised already; this narrows the type
            raise e.mandatory(name)
        return value

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        value = self.require(name) if required else self.raw(name)
        if value is None:
            return None
        if not DECIMAL_RE.match(value):
            raise e.illegal_value(name, DECIMAL_RANGE)
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise e.illegal_value(name, DECIMAL_RANGE) from None
        if number.as_tuple().exponent < -8:  # type: ignore[operator]
            raise e.bad_precision_of(name)
        return number

    def enum(
        self, name: str, allowed: tuple[str, ...], error: e.SimError, *, required: bool = False
    ) -> str | None:
        value = self.require(name) if required else self.raw(name)
        if value is None:
            return None
        if value not in allowed:
            raise error
        return value

    def choice(self, name: str, allowed: tuple[str, ...], error: e.SimError) -> str:
        """A mandatory enum parameter."""
        value = self.require(name)
        if value not in allowed:
            raise error
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise e.illegal_value(name, "^(true|false)$")
        return lowered == "true"

    def limit(self, default: int, maximum: int, name: str = "limit") -> int:
        sent = self.integer(name)
        value = default if sent is None else sent
        if value <= 0:
            raise e.invalid_value(name)
        return min(value, maximum)

    def check_all_read(self, always: frozenset[str] = frozenset()) -> None:
        """Binance's -1104 for parameters the endpoint does not know."""
        sent = len(self.values)
        read = len([n for n in self.values if n in self._read or n in always])
        if read != sent:
            raise e.unread_params(read, sent)
