"""The health rules around a connection's sync runs (issue 4): what a failed run changes and
records, what a successful one restores, and the stale-data alert.

- each request is tried ``policy.attempts`` times (``SyncService``); a run that still fails
  changes the connection's status (``status_for``) and records ``sync_failing``;
- an unavailable exchange pauses the connection's jobs, ``pause_base_s`` doubling up to
  ``pause_cap_s``, with ``sync_paused``; they resume by themselves;
- the next success restores the status from the keys and records ``sync_recovered``;
- ``check_stale``: no successful sync for ``stale_after_s`` raises ``sync_stale`` once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from tresor.domain.connections import ConnectionStatus, combine
from tresor.domain.errors import (
    ExchangeUnavailable,
    IpNotAllowed,
    KeyRejected,
    RateBudgetExhausted,
    RateLimited,
    TresorError,
)
from tresor.domain.sync import FAILURES_BEFORE_STATUS, Event, EventKind, Severity, SyncState
from tresor.domain.valuation import USD
from tresor.services.ports import Clock, SyncStore, UnitOfWorkFactory

# the statuses a failed sync sets, which a successful one may lift
SYNC_STATUSES = (
    ConnectionStatus.EXCHANGE_UNAVAILABLE,
    ConnectionStatus.RATE_LIMITED,
    ConnectionStatus.INVALID_CREDENTIALS,
    ConnectionStatus.IP_NOT_ALLOWED,
)


@dataclass(frozen=True)
class SyncPolicy:
    attempts: int = FAILURES_BEFORE_STATUS  # per request, before the run fails
    backoff_base: float = 0.5  # seconds; doubled per attempt, with full jitter
    backoff_cap: float = 30.0
    pause_base_s: float = 30.0  # an unavailable exchange: pause 30 s, 60 s ... up to the cap
    pause_cap_s: float = 600.0
    stale_after_s: float = 300.0
    concurrency: int = 4  # markets read at once per connection
    empty_rescan_s: float = 86_400.0  # markets where nothing was found: read again daily
    quote: str = USD


def status_for(error: TresorError) -> ConnectionStatus:
    if isinstance(error, IpNotAllowed):
        return ConnectionStatus.IP_NOT_ALLOWED
    if isinstance(error, KeyRejected):
        return ConnectionStatus.INVALID_CREDENTIALS
    if isinstance(error, RateLimited | RateBudgetExhausted):
        return ConnectionStatus.RATE_LIMITED
    return ConnectionStatus.EXCHANGE_UNAVAILABLE


class SyncHealth:
    def __init__(
        self, *, uow: UnitOfWorkFactory, store: SyncStore, clock: Clock, policy: SyncPolicy
    ) -> None:
        self._uow = uow
        self._store = store
        self._clock = clock
        self.policy = policy

    def now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    async def failed(
        self, user_id: str, status: ConnectionStatus, state: SyncState, error: TresorError
    ) -> None:
        now = self.now_ms()
        failures = state.failures + 1
        new_status = status_for(error)
        paused_until = None
        if isinstance(error, ExchangeUnavailable):
            pause = min(
                self.policy.pause_cap_s, self.policy.pause_base_s * 2 ** max(0, failures - 1)
            )
            paused_until = now + int(pause * 1000)
            await self._event(
                user_id,
                state.connection_id,
                EventKind.SYNC_PAUSED,
                Severity.WARNING,
                f"The exchange is unavailable; sync pauses for {pause:.0f} s and resumes "
                "by itself.",
                {"code": error.code, "resume_at_ms": paused_until},
            )
        await self._store.save_state(
            replace(
                state,
                failures=failures,
                last_error_code=error.code,
                last_error_message=error.message,
                paused_until_ms=paused_until,
                next_history_ms=paused_until or now,
                next_balance_ms=paused_until or now,
            )
        )
        # a run is already ``attempts`` requests: the status changes at the first failed run
        if status is not ConnectionStatus.DISABLED and status is not new_status:
            await self._set_status(state.connection_id, user_id, new_status)
            await self._event(
                user_id,
                state.connection_id,
                EventKind.SYNC_FAILING,
                Severity.ERROR,
                f"Sync failed after {self.policy.attempts} attempts: {error.message}",
                {"code": error.code, "remedy": error.remedy, "status": new_status.value},
            )

    async def succeeded(
        self, user_id: str, status: ConnectionStatus, state: SyncState, *, history: bool
    ) -> None:
        now = self.now_ms()
        recovered = state.failures > 0 or state.stale_alerted
        next_balance = now + state.balance_interval_s * 1000
        next_history = next_balance if history else state.next_history_ms
        # a sync asked for while this one ran ("Sync now", an earlier time configured) moved
        # the stored times since ``state`` was read: an earlier one stands
        stored = await self._store.state(state.connection_id)
        if stored is not None:
            if stored.next_balance_ms != state.next_balance_ms:
                next_balance = min(next_balance, stored.next_balance_ms)
            if stored.next_history_ms != state.next_history_ms:
                next_history = min(next_history, stored.next_history_ms)
        await self._store.save_state(
            replace(
                state,
                last_success_ms=now,
                failures=0,
                last_error_code=None,
                last_error_message=None,
                paused_until_ms=None,
                stale_alerted=False,
                next_balance_ms=next_balance,
                next_history_ms=next_history,
            )
        )
        if status in SYNC_STATUSES:
            restored = await self._set_status(state.connection_id, user_id, None)
            if restored is not status:
                recovered = True
        if recovered:
            await self._event(
                user_id,
                state.connection_id,
                EventKind.SYNC_RECOVERED,
                Severity.INFO,
                "Sync works again.",
                {},
            )

    async def _set_status(
        self, connection_id: str, user_id: str, status: ConnectionStatus | None
    ) -> ConnectionStatus | None:
        """Set ``status`` or, with None, lift a failure's status back to what the keys say;
        never on a disabled connection. Returns the status set, if any."""
        async with self._uow() as uow:
            connection = await uow.connections.get(connection_id, user_id)
            if connection is None or connection.status is ConnectionStatus.DISABLED:
                return None
            if status is None:
                if connection.status not in SYNC_STATUSES:
                    return None
                status = combine([k.status for k in connection.keys])
            await uow.connections.update(
                replace(connection, status=status, updated_at=self._clock.now())
            )
            await uow.commit()
            return status

    async def check_stale(self, owners: Mapping[str, str]) -> int:
        """Raise a ``sync_stale`` alert for each connection (``owners``: connection id to user
        id) with no successful sync for ``policy.stale_after_s``, once until it syncs again.
        Returns how many were raised."""
        now = self.now_ms()
        raised = 0
        for connection_id, state in (await self._store.states(list(owners))).items():
            last = state.last_success_ms
            if state.stale_alerted or last is None:
                continue
            if now - last < self.policy.stale_after_s * 1000:
                continue
            await self._store.save_state(replace(state, stale_alerted=True))
            await self._event(
                owners[connection_id],
                connection_id,
                EventKind.SYNC_STALE,
                Severity.WARNING,
                f"No successful sync for {(now - last) // 1000} s.",
                {"last_success_ms": last},
            )
            raised += 1
        return raised

    async def _event(
        self,
        user_id: str,
        connection_id: str,
        kind: EventKind,
        severity: Severity,
        message: str,
        details: dict[str, object],
    ) -> None:
        await self._store.add_event(
            Event(user_id, connection_id, self.now_ms(), kind, severity, message, dict(details))
        )
