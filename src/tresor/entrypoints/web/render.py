"""Rendering pages: one Jinja2 environment (autoescaped, templates from this package) and the
filters the templates format money and time with.

Amounts stay ``Decimal`` up to the template; the filters only format them (thousands
separators, a fixed number of places), never compute with floats. Times are epoch ms, shown in
the user's time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from tresor.domain.valuation import USD_PEGGED

TEMPLATES = Path(__file__).parent / "templates"

# every page: this origin only, no inline script or style, no framing, nothing cached
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None


def money(value: object, places: int = 2) -> str:
    """``Decimal("12345.678")`` as ``12,345.68``; None as an em dash."""
    amount = _decimal(value)
    if amount is None or not amount.is_finite():
        return "—"
    exp = Decimal(1).scaleb(-places)
    return f"{amount.quantize(exp, rounding=ROUND_HALF_EVEN):,.{places}f}"


def amount(value: object) -> str:
    """An asset amount as exact as it is, without trailing zeros or an exponent."""
    found = _decimal(value)
    if found is None or not found.is_finite():
        return "—"
    if found == 0:
        return "0"
    text = f"{found:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    whole, dot, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-') or '0'):,}{dot}{frac}"


def approx(value: object, places: int = 8) -> str:
    """A computed amount (a plan's: a value divided by a price, 28 digits) as an exchange
    would show it: at most ``places`` decimals, then as ``amount``."""
    found = _decimal(value)
    if found is None or not found.is_finite():
        return "—"
    return amount(found.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN))


def percent(value: object, places: int = 2) -> str:
    found = _decimal(value)
    return "—" if found is None else f"{money(found, places)} %"


def signed(value: object, places: int = 2) -> str:
    found = _decimal(value)
    if found is None:
        return "—"
    return ("+" if found > 0 else "") + money(found, places)


# quotes shown with cents; any other (BTC, ETH, ...) with 8 places, as exchanges show them
_CENTS = frozenset({*USD_PEGGED, "USD", "EUR", "GBP", "CHF", "JPY", "CAD", "AUD", "TRY", "BRL"})


def places_for(quote: str) -> int:
    return 2 if quote.upper() in _CENTS else 8


@pass_context
def _money_in_quote(context: Context, value: object, places: int | None = None) -> str:
    """``money`` with the places of the viewer's quote currency unless given."""
    if places is None:
        places = places_for(getattr(context.get("who"), "quote", "USD"))
    return money(value, places)


@pass_context
def _signed_in_quote(context: Context, value: object, places: int | None = None) -> str:
    if places is None:
        places = places_for(getattr(context.get("who"), "quote", "USD"))
    return signed(value, places)


def age(seconds: object) -> str:
    """``75`` as ``1 min ago``."""
    if not isinstance(seconds, int | float):
        return "never"
    s = int(seconds)
    if s < 60:
        return f"{s} s ago"
    if s < 3600:
        return f"{s // 60} min ago"
    if s < 86_400:
        return f"{s // 3600} h ago"
    return f"{s // 86_400} d ago"


class Renderer:
    """Templates and their filters; ``page`` answers a request with one."""

    def __init__(self) -> None:
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(("html",), default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        env.filters.update(
            money=_money_in_quote,
            amount=amount,
            approx=approx,
            percent=percent,
            signed=_signed_in_quote,
            age=age,
        )
        self.env = env

    def page(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        who = context.get("who")
        zone = _zone(getattr(who, "timezone", "UTC"))

        def when(ms: object, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
            if not isinstance(ms, int):
                return "—"
            return datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone).strftime(fmt)

        html = self.env.get_template(template).render(
            request=request, path=request.url.path, when=when, **context
        )
        return HTMLResponse(
            html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})}
        )


def when_short(ms: int, zone: str) -> str:
    """An instant in ``zone``, as ``Dec 07 14:05``."""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(_zone(zone)).strftime("%b %d %H:%M")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")
