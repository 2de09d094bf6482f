"""Request rate budgets, modelled on Binance's own accounting.

Binance counts in fixed windows aligned to the epoch: REQUEST_WEIGHT per UTC minute and per IP,
ORDERS per 10 s and per day and per account (``shared/reference/exchanges.md``). A ``Bucket`` is
one such counter; a request is charged to every bucket it counts against (the IP's weight, the
key's orders) at once, or to none.

Headroom is the caller's choice: give ``limit`` below the exchange's own (say 5,400 of 6,000) to
leave room for clocks that disagree and for requests made outside Tresor.
"""

from __future__ import annotations

from dataclasses import dataclass

MICROSECONDS = 1_000_000


@dataclass(frozen=True, slots=True)
class Bucket:
    """At most ``limit`` units of weight per window of ``window_seconds``, windows aligned to the
    epoch (so a 60 s window is a UTC minute). ``key`` names the counter, e.g.
    ``binance:ip:203.0.113.7:weight:1m``; buckets with the same key share their count."""

    key: str
    limit: int
    window_seconds: float

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a bucket needs a key")
        if self.limit < 1:
            raise ValueError(f"bucket {self.key!r}: limit must be at least 1, not {self.limit}")
        if self.window_us < 1:
            raise ValueError(f"bucket {self.key!r}: window must be positive")

    @property
    def window_us(self) -> int:
        """The window's length in whole microseconds (what the windows are computed in)."""
        return round(self.window_seconds * MICROSECONDS)

    def window_index(self, now: float) -> int:
        """The number of the window holding ``now`` (seconds since the epoch)."""
        return int(now * MICROSECONDS) // self.window_us

    def window_end(self, index: int) -> float:
        """When window ``index`` ends, in seconds since the epoch."""
        return (index + 1) * self.window_us / MICROSECONDS

    def check_weight(self, weight: int) -> None:
        """Raises ``ValueError`` for a weight that could never be charged to this bucket (a
        programming error: waiting would never end)."""
        if weight < 0:
            raise ValueError(f"weight must not be negative, not {weight}")
        if weight > self.limit:
            raise ValueError(
                f"weight {weight} exceeds the limit {self.limit} of bucket {self.key!r}"
            )
