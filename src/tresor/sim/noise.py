"""Deterministic, random-access price paths.

A price path must be cheap to evaluate at any instant (a kline from last month, the mid price
now, the price at which a historical trade happened) and always give the same answer for the
same seed. A step-by-step random walk cannot be read at an arbitrary instant without replaying
it, so the path is a sum of *value noise* octaves instead: at each time scale, a hashed value
in [-1, 1] at every multiple of the scale, interpolated linearly in between. Summing octaves
from seconds to a month gives the jagged, multi-scale movement of a real market, and the value
at time ``t`` is a few hashes away, whatever ``t`` is.
"""

from __future__ import annotations

import math

_MASK = (1 << 64) - 1


def mix64(x: int) -> int:
    """splitmix64's finaliser: a fast, well-spread 64-bit integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def key_of(*parts: int | str) -> int:
    """A 64-bit key from strings and integers, stable across processes (unlike ``hash``)."""
    h = 0x243F6A8885A308D3
    for part in parts:
        if isinstance(part, str):
            for byte in part.encode():
                h = mix64(h ^ byte)
        else:
            h = mix64(h ^ (part & _MASK))
    return h


def unit(key: int, i: int) -> float:
    """A uniform value in [0, 1) for (key, i)."""
    return mix64(key ^ mix64(i & _MASK)) / 18446744073709551616.0


def signed(key: int, i: int) -> float:
    """A uniform value in [-1, 1) for (key, i)."""
    return 2.0 * unit(key, i) - 1.0


# (scale in seconds, amplitude in log-price units). Daily moves of a few percent, monthly of
# ten-odd percent, second-to-second jitter of a few basis points: the texture of a crypto pair.
VOLATILE_OCTAVES: tuple[tuple[float, float], ...] = (
    (4.0, 0.0003),
    (60.0, 0.0012),
    (600.0, 0.003),
    (3600.0, 0.007),
    (21600.0, 0.015),
    (86400.0, 0.03),
    (604800.0, 0.06),
    (2592000.0, 0.12),
)
STABLE_OCTAVES: tuple[tuple[float, float], ...] = (
    (60.0, 0.00004),
    (3600.0, 0.00008),
    (86400.0, 0.0002),
)
# A venue's own deviation from the world price: enough for arbitrage, not for nonsense.
VENUE_OCTAVES: tuple[tuple[float, float], ...] = (
    (15.0, 0.0004),
    (300.0, 0.0008),
    (7200.0, 0.0015),
)


class Path:
    """A log-price offset path: ``value(t_seconds)`` is the sum of the octaves at t.

    Consecutive reads are usually close in time, so each octave remembers the two knots it
    last interpolated between and skips the hashing when they are still the right ones.
    """

    __slots__ = ("_amp", "_inv", "_keys", "_knot", "_left", "_right")

    def __init__(self, key: int, octaves: tuple[tuple[float, float], ...]) -> None:
        self._inv = [1.0 / scale for scale, _ in octaves]
        self._amp = [amp for _, amp in octaves]
        self._keys = [key_of(key, n) for n in range(len(octaves))]
        self._knot = [None] * len(octaves)  # type: list[int | None]
        self._left = [0.0] * len(octaves)
        self._right = [0.0] * len(octaves)

    def value(self, t: float) -> float:
        total = 0.0
        knot, left, right = self._knot, self._left, self._right
        for n, inv_scale in enumerate(self._inv):
            x = t * inv_scale
            i = math.floor(x)
            if knot[n] != i:
                key = self._keys[n]
                knot[n] = i
                left[n] = signed(key, i)
                right[n] = signed(key, i + 1)
            a = left[n]
            total += self._amp[n] * (a + (right[n] - a) * (x - i))
        return total
