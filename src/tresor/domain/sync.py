"""A connection's sync: its settings, its health, and the events users are alerted with.

Health rules (issue 4):

- a transient failure (network, 5xx, timeout) is retried with exponential backoff and jitter;
  after ``FAILURES_BEFORE_STATUS`` failed attempts the connection's status changes and an alert
  event is recorded;
- when the exchange is unavailable (maintenance, 503), the connection's jobs pause until
  ``paused_until_ms`` and then resume by themselves;
- a connection with no successful sync for ``stale_after`` raises a ``sync_stale`` alert, once
  until it syncs again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

FAILURES_BEFORE_STATUS = 3
DEFAULT_BALANCE_INTERVAL_S = 300
MIN_BALANCE_INTERVAL_S = 10
DEFAULT_BACKFILL_DAYS = 90
MAX_BACKFILL_DAYS = 3650
DEFAULT_STALE_AFTER_S = 300


@dataclass(frozen=True, slots=True)
class SyncState:
    connection_id: str
    balance_interval_s: int = DEFAULT_BALANCE_INTERVAL_S
    backfill_days: int = DEFAULT_BACKFILL_DAYS
    last_attempt_ms: int | None = None
    last_success_ms: int | None = None
    failures: int = 0
    last_error_code: str | None = None
    last_error_message: str | None = None
    paused_until_ms: int | None = None
    stale_alerted: bool = False
    lease_owner: str | None = None
    lease_until_ms: int | None = None
    next_balance_ms: int = 0
    next_history_ms: int = 0

    def paused(self, now_ms: int) -> bool:
        return self.paused_until_ms is not None and now_ms < self.paused_until_ms


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class EventKind(StrEnum):
    SYNC_FAILING = "sync_failing"  # FAILURES_BEFORE_STATUS attempts in a row failed
    SYNC_RECOVERED = "sync_recovered"
    SYNC_PAUSED = "sync_paused"  # the exchange is unavailable; jobs wait
    SYNC_STALE = "sync_stale"  # no successful sync for too long
    STATUS_CHANGED = "status_changed"
    BACKFILL_DONE = "backfill_done"


@dataclass(frozen=True, slots=True)
class Event:
    user_id: str
    connection_id: str | None
    at_ms: int
    kind: EventKind
    severity: Severity
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


def backoff_seconds(
    attempt: int, *, base: float = 1.0, cap: float = 60.0, rng: random.Random | None = None
) -> float:
    """Exponential backoff with full jitter: a random wait in [0, min(cap, base * 2**attempt)]
    (AWS Architecture Blog, "Exponential Backoff And Jitter")."""
    ceiling = min(cap, base * (2 ** max(0, attempt)))
    return (rng or random).uniform(0, ceiling)


@dataclass(frozen=True, slots=True)
class SyncJob:
    """One connection's due sync, handed from the process that claimed it to the worker that
    runs it. ``lease_owner`` is the token of the claim: the worker renews the lease under it
    while it works, and drops the job if the lease has passed to another claim meanwhile. What
    is due (balances, history) is read from the connection's state when the job runs."""

    connection_id: str
    lease_owner: str

    def as_dict(self) -> dict[str, Any]:
        return {"connection_id": self.connection_id, "lease_owner": self.lease_owner}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SyncJob:
        return cls(str(data["connection_id"]), str(data["lease_owner"]))
