"""A key's capability report as a checklist a person reads: each line says what the exchange
answered (yes, no, unknown), whether that is what Tresor wants of a key in this role, and what
to do when it is not.

The report and the verdict are the services' (``domain.connections.judge`` decided whether the
key is accepted; its warnings and failure come with their own remedies): this module only
words them, with the remedies the policy does not give (a right Tresor does not need, a key
open to every IP address, a clock far off).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tresor.domain.connections import (
    EXPIRY_WARNING,
    Ability,
    CapabilityReport,
    KeyRole,
    Problem,
    StoredKey,
)
from tresor.domain.errors import ClockSkew, TradePermissionMissing, WithdrawPermissionEnabled

CLOCK_WARN_MS = 1_000  # Binance refuses signed requests 5 s off (recvWindow); warn well before
_NOT_NEEDED = "Tresor does not use it: disable it on the key for least privilege."


@dataclass(frozen=True, slots=True)
class Check:
    label: str
    answer: str  # what the exchange said: yes | no | unknown, or a value ("+12 ms")
    tone: str  # ok | warn | bad | info: whether that is what Tresor wants
    detail: str = ""
    remedy: str = ""
    at_ms: int | None = None  # a time to show in the user's zone after the detail


def ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _right(
    report: CapabilityReport,
    name: str,
    label: str,
    *,
    want: Ability,
    remedy: str,
    bad: bool = False,
    unknown: str = "info",
) -> Check:
    """A right the key should (``want`` YES) or should not (NO) have; ``bad``: a mismatch
    refuses the key, else it is a warning; ``unknown``: the tone of no answer."""
    found = report.right(name)
    if found is Ability.UNKNOWN:
        reason = report.unknown_reasons.get(name, "the exchange does not say")
        return Check(label, "unknown", unknown, reason[:1].upper() + reason[1:] + ".", remedy)
    if found is want:
        return Check(label, found.value, "ok")
    return Check(label, found.value, "bad" if bad else "warn", "", remedy)


def checklist(key: StoredKey, egress_ips: tuple[str, ...], now: datetime) -> list[Check]:
    """The lines of ``key``'s report; empty when it has none yet (a trade key the worker has
    not verified)."""
    report = key.report
    if report is None:
        return []
    trade = key.role is KeyRole.TRADE
    failure = report.failure
    lines = [
        Check(
            "Accepted by the exchange",
            report.authenticates.value,
            {"yes": "ok", "no": "bad"}.get(report.authenticates.value, "warn"),
            failure.message if failure else "",
            failure.remedy if failure else "",
        ),
        _right(
            report,
            "read",
            "Reading",
            want=Ability.YES,
            remedy="Enable reading on the key (Binance: “Enable Reading”).",
        ),
        _right(
            report,
            "spot_trade",
            "Spot trading" if trade else "Spot trading (a read key needs none)",
            want=Ability.YES if trade else Ability.NO,
            remedy=TradePermissionMissing.default_remedy
            if trade
            else "For least privilege, disable trading on this key on the exchange.",
            bad=trade,
            unknown="warn" if trade else "info",
        ),
        _right(
            report,
            "withdraw",
            "Withdrawals",
            want=Ability.NO,
            remedy=WithdrawPermissionEnabled.default_remedy,
            bad=True,
            unknown="warn",
        ),
        _right(
            report,
            "internal_transfer",
            "Transfers between accounts",
            want=Ability.NO,
            remedy=_NOT_NEEDED,
        ),
        _right(report, "margin", "Margin loans", want=Ability.NO, remedy=_NOT_NEEDED),
        _right(report, "futures", "Futures", want=Ability.NO, remedy=_NOT_NEEDED),
        _ip(report, egress_ips),
        _expiry(report, trade=trade, now=now),
        _clock(report),
    ]
    if report.account_type:
        lines.append(Check("Account type", report.account_type, "info"))
    return lines


def _ip(report: CapabilityReport, egress_ips: tuple[str, ...]) -> Check:
    where = ", ".join(egress_ips) if egress_ips else "the addresses your operator gives"
    remedy = f"Restrict the key to Tresor's IP addresses ({where}) on the exchange."
    label = "Restricted to trusted IP addresses"
    if report.ip_restricted is Ability.YES:
        return Check(label, "yes", "ok")
    if report.ip_restricted is Ability.NO:
        return Check(
            label, "no", "warn", "Anyone holding the key can use it from anywhere.", remedy
        )
    return Check(label, "unknown", "info", "The exchange does not say.", remedy)


def _expiry(report: CapabilityReport, *, trade: bool, now: datetime) -> Check:
    label = "Trading rights expiry" if trade else "Trading rights expiry (not used)"
    expires = report.expires_at
    if expires is None:
        return Check(label, "no expiry", "ok")
    remedy = "Renew them on the exchange before then, or rotate to a new key."
    if not trade:
        return Check(label, "expire", "info", "A read key reads on after", "", ms(expires))
    if expires <= now:
        return Check(label, "expired", "bad", "Expired on", remedy, ms(expires))
    if expires - now <= EXPIRY_WARNING:
        return Check(label, "expiring", "warn", "They expire on", remedy, ms(expires))
    return Check(label, "expires", "ok", "They expire on", remedy, ms(expires))


def _clock(report: CapabilityReport) -> Check:
    label = "Clock offset from the exchange"
    offset = report.clock_offset_ms
    if offset is None:
        return Check(label, "unknown", "info", "The exchange's time could not be read.")
    answer = f"{offset:+d} ms"
    if abs(offset) <= CLOCK_WARN_MS:
        return Check(label, answer, "ok")
    ahead = "ahead of" if offset > 0 else "behind"
    return Check(
        label,
        answer,
        "warn",
        f"The exchange's clock is {abs(offset)} ms {ahead} Tresor's.",
        ClockSkew.default_remedy,
    )


def problems(key: StoredKey) -> list[Problem]:
    """The key's findings with their remedies: the policy's warnings, then the failure that
    stopped the check (once, though it is also among the warnings after a test)."""
    found = list(key.warnings)
    failure = key.report.failure if key.report else None
    if failure is not None and all(p.code != failure.code for p in found):
        found.append(failure)
    return found
