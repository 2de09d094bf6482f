"""Words the pages show for the codes the services use: a connection's status as a badge a
person reads at a glance, with what it means."""

from __future__ import annotations

from dataclasses import dataclass

from tresor.domain.connections import ConnectionStatus


@dataclass(frozen=True, slots=True)
class Badge:
    text: str
    tone: str  # ok | busy | warn | bad | off: the badge's colour (and an icon), never alone
    meaning: str


_BADGES = {
    ConnectionStatus.CONNECTED: Badge("Connected", "ok", "Keys work; Tresor syncs this account."),
    ConnectionStatus.VERIFYING: Badge(
        "Verifying", "busy", "The trade key is being checked by the worker."
    ),
    ConnectionStatus.INVALID_CREDENTIALS: Badge(
        "Invalid key", "bad", "The exchange refuses the key: replace it."
    ),
    ConnectionStatus.INSUFFICIENT_PERMISSIONS: Badge(
        "Missing permission", "bad", "The key lacks a right Tresor needs: see the report."
    ),
    ConnectionStatus.WITHDRAWAL_ENABLED: Badge(
        "Withdrawals enabled", "bad", "Refused: create a key without withdrawal rights."
    ),
    ConnectionStatus.IP_NOT_ALLOWED: Badge(
        "IP not allowed", "bad", "Whitelist Tresor's egress IPs on the exchange."
    ),
    ConnectionStatus.EXCHANGE_UNAVAILABLE: Badge(
        "Offline", "warn", "The exchange does not answer; Tresor retries with backoff."
    ),
    ConnectionStatus.RATE_LIMITED: Badge(
        "Rate limited", "warn", "The exchange asked Tresor to slow down; it resumes by itself."
    ),
    ConnectionStatus.EXPIRING: Badge(
        "Key expiring", "warn", "The key expires within a week: rotate it."
    ),
    ConnectionStatus.DISABLED: Badge("Disabled", "off", "Paused by you; enable it to sync."),
}


def badge(status: str) -> Badge:
    try:
        return _BADGES[ConnectionStatus(status)]
    except ValueError:
        return Badge(status.replace("_", " ").capitalize(), "warn", "")
