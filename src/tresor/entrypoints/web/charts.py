"""Charts drawn on the server as SVG: a line over time and a donut of shares.

No chart library is shipped to the browser: the page is complete without JavaScript, and an
SVG of a few kilobytes costs less than any script that would draw it. Coordinates are floats
(pixels); the values they come from stay ``Decimal`` everywhere else, and every figure a chart
shows is also written as text beside it (the title, the legend, a table).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

# a palette with enough contrast on white (WCAG non-text contrast 3:1)
PALETTE = (
    "#1f6feb",
    "#d1242f",
    "#1a7f37",
    "#9a6700",
    "#8250df",
    "#bf3989",
    "#0969da",
    "#57606a",
)


@dataclass(frozen=True, slots=True)
class Slice:
    label: str
    share: Decimal  # percent
    colour: str


def line_chart(
    points: Sequence[tuple[int, Decimal | None]],
    *,
    title: str,
    width: int = 720,
    height: int = 220,
) -> Markup:
    """A line through ``(time_ms, value)``; points without a value leave a gap."""
    known = [(t, v) for t, v in points if v is not None]
    label = escape(title)
    if len(known) < 2:
        return _svg(
            f'<svg class="chart" role="img" aria-label="{label}" viewBox="0 0 {width} {height}">'
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="chart-empty">'
            "Not enough history yet: the chart fills in as Tresor syncs.</text></svg>"
        )
    pad_l, pad_r, pad_t, pad_b = 64, 12, 12, 28
    t0, t1 = points[0][0], points[-1][0]
    lo = min(v for _, v in known)
    hi = max(v for _, v in known)
    if hi == lo:
        hi, lo = hi + 1, lo - 1 if lo >= 1 else Decimal(0)
    span_t = max(t1 - t0, 1)
    span_v = float(hi - lo)

    def x(t: int) -> float:
        return pad_l + (t - t0) / span_t * (width - pad_l - pad_r)

    def y(v: Decimal) -> float:
        return pad_t + (1 - float(v - lo) / span_v) * (height - pad_t - pad_b)

    segments: list[list[str]] = [[]]
    for t, v in points:
        if v is None:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append(f"{x(t):.1f},{y(v):.1f}")
    paths = "".join(f'<polyline class="chart-line" points="{" ".join(s)}"/>' for s in segments if s)
    ticks = ""
    for i in range(5):
        v = lo + (hi - lo) * Decimal(i) / 4
        ticks += (
            f'<line class="chart-grid" x1="{pad_l}" x2="{width - pad_r}" '
            f'y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
            f'<text class="chart-tick" x="{pad_l - 6}" y="{y(v) + 4:.1f}" '
            f'text-anchor="end">{_short(v)}</text>'
        )
    return _svg(
        f'<svg class="chart" role="img" aria-label="{label}" viewBox="0 0 {width} {height}" '
        f">{ticks}{paths}</svg>"
    )


def slices(shares: Sequence[tuple[str, Decimal | None]], *, top: int = 7) -> list[Slice]:
    """The largest ``top`` shares, the rest as "Other"."""
    priced = [(label, share) for label, share in shares if share is not None and share > 0]
    head = priced[:top]
    rest = sum((s for _, s in priced[top:]), Decimal(0))
    found = [
        Slice(label, share, PALETTE[i % len(PALETTE)]) for i, (label, share) in enumerate(head)
    ]
    if rest > 0:
        found.append(Slice("Other", rest, PALETTE[-1]))
    return found


def donut(parts: Sequence[Slice], *, title: str, size: int = 180) -> Markup:
    """A donut of ``parts`` (shares in percent, adding up to 100)."""
    label = escape(title)
    r, stroke = size / 2 - 14, 26
    c = size / 2
    if not parts:
        return _svg(
            f'<svg class="donut" role="img" aria-label="{label}" viewBox="0 0 {size} {size}">'
            f'<circle cx="{c}" cy="{c}" r="{r}" class="donut-empty" stroke-width="{stroke}"/>'
            "</svg>"
        )
    circumference = 2 * math.pi * r
    offset = 0.0
    arcs = ""
    for part in parts:
        length = float(part.share) / 100 * circumference
        arcs += (
            f'<circle cx="{c}" cy="{c}" r="{r:.2f}" fill="none" stroke="{part.colour}" '
            f'stroke-width="{stroke}" stroke-dasharray="{length:.2f} {circumference:.2f}" '
            f'stroke-dashoffset="{-offset:.2f}" transform="rotate(-90 {c} {c})">'
            f"<title>{escape(part.label)}: {part.share:.2f} %</title></circle>"
        )
        offset += length
    return _svg(
        f'<svg class="donut" role="img" aria-label="{label}" viewBox="0 0 {size} {size}">'
        f"{arcs}</svg>"
    )


def _svg(markup: str) -> Markup:
    """Markup built here from numbers and ``escape``d labels only."""
    return Markup(markup)  # noqa: S704 (every text in it went through escape())


def _short(value: Decimal) -> str:
    """An axis label: ``12.3k``, ``4.56M``."""
    v = float(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"{v / size:.3g}{unit}"
    return f"{v:.4g}"
