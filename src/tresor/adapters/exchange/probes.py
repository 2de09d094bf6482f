"""What a key may do, from each exchange's own permission endpoint, as a ``CapabilityReport``.

Reading each exchange's answer is a pure function (``parse_binance``, ``parse_okx``,
``parse_kucoin``, ``parse_kraken``) returning ``KeyFacts``; ``probe_key`` makes the calls:

- the clock offset first, from the exchange's public time (``fetch_time``) against the local
  clock ccxt signs with: offset = server time - the midpoint of the request, in ms, positive
  when the exchange is ahead;
- then the permission calls: Binance ``GET /sapi/v1/account/apiRestrictions`` and
  ``GET /api/v3/account``; OKX ``GET /api/v5/account/config``; KuCoin ``GET /api/v1/user/api-key``;
  Kraken ``POST /0/private/GetApiKeyInfo`` (when ccxt has it); any other exchange:
  ``fetch_balance`` to authenticate, every right but reading UNKNOWN.

A key the exchange refuses, an exchange that is down or rate-limiting, a clock it rejects:
each becomes ``CapabilityReport.failed`` with the domain error, never an exception.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tresor.adapters.exchange.client import ExchangeClient
from tresor.domain.connections import RIGHTS, Ability, CapabilityReport
from tresor.domain.errors import ClockSkew, ExchangeTrouble, KeyRejected

NO_ENDPOINT = "this exchange has no permission endpoint"
YES, NO, UNKNOWN = Ability.YES, Ability.NO, Ability.UNKNOWN


@dataclass(frozen=True)
class KeyFacts:
    """What an exchange's permission answer says, before it becomes a report."""

    rights: dict[str, Ability]
    unknown_reasons: dict[str, str] = field(default_factory=dict)
    ip_restricted: Ability = UNKNOWN
    expires_at: datetime | None = None
    account_type: str | None = None


def _facts(
    rights: Mapping[str, Ability],
    reasons: Mapping[str, str],
    **extra: Any,
) -> KeyFacts:
    """Every right present; a reason for each UNKNOWN one (and only for those)."""
    full = {name: rights.get(name, UNKNOWN) for name in RIGHTS}
    why = {
        n: reasons.get(n, "the exchange's answer does not say")
        for n in RIGHTS
        if full[n] is UNKNOWN
    }
    return KeyFacts(rights=full, unknown_reasons=why, **extra)


def _flag(value: object) -> Ability:
    if value is True:
        return YES
    if value is False:
        return NO
    return UNKNOWN


def _yes(condition: bool) -> Ability:
    return YES if condition else NO


def _ms_time(value: object) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return None


def _seconds_time(value: object) -> datetime | None:
    try:
        seconds = int(str(value))
    except ValueError:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds > 0 else None


def unknown_facts(reason: str, *, read: Ability = YES) -> KeyFacts:
    """A key that authenticated (so it can read) on an exchange that will not say more."""
    return _facts({"read": read}, dict.fromkeys(RIGHTS, reason))


# -- Binance ---------------------------------------------------------------------------------
BINANCE_FLAGS = {
    "read": "enableReading",
    "spot_trade": "enableSpotAndMarginTrading",
    "margin": "enableMargin",  # 'Enable Margin Loan, Repay & Transfer'
    "futures": "enableFutures",
    "withdraw": "enableWithdrawals",
    "internal_transfer": "enableInternalTransfer",
}


def parse_binance(
    restrictions: Mapping[str, Any], account: Mapping[str, Any] | None = None
) -> KeyFacts:
    """``GET /sapi/v1/account/apiRestrictions`` (+ ``GET /api/v3/account`` when read)."""
    rights: dict[str, Ability] = {}
    reasons: dict[str, str] = {}
    for right, flag in BINANCE_FLAGS.items():
        rights[right] = _flag(restrictions.get(flag))
        reasons[right] = f"Binance's answer has no '{flag}' flag"
    if restrictions.get("permitsUniversalTransfer") is True:
        # a universal transfer moves funds between the account's own wallets too
        rights["internal_transfer"] = YES
    account_type = None
    if account is not None:
        if account.get("canTrade") is False:
            # the account itself is barred from trading, whatever the key allows
            rights["spot_trade"] = NO
        account_type = str(account["accountType"]) if account.get("accountType") else None
    return _facts(
        rights,
        reasons,
        ip_restricted=_flag(restrictions.get("ipRestrict")),
        expires_at=_ms_time(restrictions.get("tradingAuthorityExpirationTime")),
        account_type=account_type,
    )


# -- OKX -------------------------------------------------------------------------------------
OKX_ACCOUNT_MODES = {
    "1": "spot",
    "2": "futures",
    "3": "multi_currency_margin",
    "4": "portfolio_margin",
}


def parse_okx(payload: Mapping[str, Any]) -> KeyFacts:
    """``GET /api/v5/account/config``: ``perm`` is a comma list of read_only, trade, withdraw;
    ``ip`` a comma list of allowed IPs ("" for none); ``acctLv`` the account mode."""
    data = payload.get("data")
    entry = data[0] if isinstance(data, list) and data and isinstance(data[0], Mapping) else {}
    perm = entry.get("perm")
    if not isinstance(perm, str):
        return unknown_facts("OKX's answer has no 'perm' field")
    perms = {p.strip() for p in perm.split(",") if p.strip()}
    trade = "trade" in perms
    mode = str(entry.get("acctLv", ""))
    rights = {
        "read": YES,  # the call itself needs the Read permission
        "spot_trade": _yes(trade),
        "withdraw": _yes("withdraw" in perms),
        # OKX's funds transfer between the account's own wallets needs the Trade permission
        "internal_transfer": _yes(trade),
    }
    reasons = {}
    if not trade:
        rights["margin"] = rights["futures"] = NO
    elif mode in ("2", "3", "4"):
        rights["margin"] = rights["futures"] = YES
    elif mode == "1":  # spot mode: no derivatives; margin only with spot borrowing enabled
        rights["futures"] = NO
        rights["margin"] = _yes(entry.get("enableSpotBorrow") is True)
    else:
        reasons["margin"] = reasons["futures"] = (
            f"OKX's answer has no known account mode ({mode!r})"
        )
    ips = entry.get("ip")
    return _facts(
        rights,
        reasons,
        ip_restricted=_yes(bool(ips.strip())) if isinstance(ips, str) else UNKNOWN,
        account_type=OKX_ACCOUNT_MODES.get(mode),
    )


# -- KuCoin ----------------------------------------------------------------------------------
def parse_kucoin(payload: Mapping[str, Any]) -> KeyFacts:
    """``GET /api/v1/user/api-key``: ``permission`` is a comma list such as "General,Spot"
    (General, Spot, Margin, Futures, Earn, InnerTransfer, FlexTransfers, Withdrawal; older keys
    say Trade for spot and Transfer for withdrawals); ``ipWhitelist`` a comma list."""
    data = payload.get("data")
    entry: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
    permission = entry.get("permission")
    if not isinstance(permission, str):
        return unknown_facts("KuCoin's answer has no 'permission' field")
    perms = {p.strip().lower() for p in permission.split(",") if p.strip()}
    rights = {
        "read": _yes("general" in perms),
        "spot_trade": _yes(bool(perms & {"spot", "trade"})),
        "margin": _yes("margin" in perms),
        "futures": _yes("futures" in perms),
        # 'Transfer' is the older name of the withdrawal permission: treat it as one
        "withdraw": _yes(bool(perms & {"withdrawal", "withdraw", "transfer"})),
        "internal_transfer": _yes(bool(perms & {"innertransfer", "flextransfers"})),
    }
    ips = entry.get("ipWhitelist")
    if isinstance(ips, list):
        ips = ",".join(str(i) for i in ips)
    master = entry.get("isMaster")
    return _facts(
        rights,
        {},
        ip_restricted=_yes(bool(ips.strip())) if isinstance(ips, str) else UNKNOWN,
        account_type=None if master is None else ("master" if master else "sub-account"),
    )


# -- Kraken ----------------------------------------------------------------------------------
def parse_kraken(payload: Mapping[str, Any]) -> KeyFacts:
    """``POST /0/private/GetApiKeyInfo``: ``permissions`` such as query-funds, withdraw-funds,
    query-open-trades, modify-trades; ``ipAllowlist``; ``validUntil`` (Unix seconds, "0" for
    never)."""
    result = payload.get("result")
    entry: Mapping[str, Any] = result if isinstance(result, Mapping) else {}
    permissions = entry.get("permissions")
    if not isinstance(permissions, list):
        return unknown_facts("Kraken's answer has no 'permissions' list")
    perms = {str(p).strip().lower() for p in permissions}
    trade = "modify-trades" in perms
    withdraw = "withdraw-funds" in perms
    rights = {
        "read": _yes("query-funds" in perms),
        "spot_trade": _yes(trade),
        "margin": UNKNOWN if trade else NO,
        # Kraken Futures has keys of its own: a spot key cannot reach it
        "futures": NO,
        "withdraw": _yes(withdraw),
        # Kraken's transfers between wallets and subaccounts need 'Withdraw Funds'
        "internal_transfer": _yes(withdraw),
    }
    reasons = {
        "margin": "Kraken allows margin orders under 'Modify Orders' when the account is "
        "eligible; the key alone does not say"
    }
    ips = entry.get("ipAllowlist")
    return _facts(
        rights,
        reasons,
        ip_restricted=_yes(bool(ips)) if isinstance(ips, list) else UNKNOWN,
        expires_at=_seconds_time(entry.get("validUntil")),
    )


# -- the calls -------------------------------------------------------------------------------
async def _binance(client: ExchangeClient) -> KeyFacts:
    restrictions = await client.binance_api_restrictions()
    account = await client.binance_account()
    if restrictions is None:
        return await _generic(client)
    return parse_binance(restrictions, account)


async def _okx(client: ExchangeClient) -> KeyFacts:
    payload = await client.okx_account_config()
    return await _generic(client) if payload is None else parse_okx(payload)


async def _kucoin(client: ExchangeClient) -> KeyFacts:
    payload = await client.kucoin_api_key_info()
    return await _generic(client) if payload is None else parse_kucoin(payload)


async def _kraken(client: ExchangeClient) -> KeyFacts:
    payload = await client.kraken_api_key_info()
    if payload is None:
        await client.fetch_balance()
        return unknown_facts("this version of ccxt has no GetApiKeyInfo call for Kraken")
    return parse_kraken(payload)


async def _generic(client: ExchangeClient) -> KeyFacts:
    await client.fetch_balance()
    return unknown_facts(NO_ENDPOINT)


PROBES: dict[str, Callable[[ExchangeClient], Awaitable[KeyFacts]]] = {
    "binance": _binance,
    "okx": _okx,
    "kucoin": _kucoin,
    "kraken": _kraken,
}


def wall_ms() -> float:
    """The local clock ccxt signs requests with."""
    return time.time() * 1000


async def clock_offset(
    client: ExchangeClient, local_ms: Callable[[], float] = wall_ms
) -> int | None:
    """The exchange's clock minus ours, in ms (positive: the exchange is ahead); None when
    ccxt has no time call for the exchange."""
    if not client.has("fetchTime"):
        return None
    before = local_ms()
    server = await client.fetch_time()
    after = local_ms()
    return round(server - (before + after) / 2)


def _skew(error: ClockSkew, offset: int | None) -> ClockSkew:
    if offset is None:
        return error
    direction = "ahead of" if offset > 0 else "behind"
    return ClockSkew(
        f"The exchange refused the request's timestamp: its clock is {abs(offset) / 1000:.1f} s "
        f"{direction} Tresor's.",
        details={**error.details, "clock_offset_ms": offset},
    )


async def probe_key(
    client: ExchangeClient,
    now: Callable[[], datetime],
    local_ms: Callable[[], float] = wall_ms,
) -> CapabilityReport:
    """Authenticate with the client's key and report what it can do. Refusals and exchange
    trouble go into the report's ``failure``; other domain errors (a request Tresor got
    wrong) propagate."""
    offset: int | None = None
    try:
        offset = await clock_offset(client, local_ms)
        facts = await PROBES.get(client.exchange, _generic)(client)
    except ClockSkew as error:
        return CapabilityReport.failed(now(), _skew(error, offset), offset)
    except (KeyRejected, ExchangeTrouble) as error:
        return CapabilityReport.failed(now(), error, offset)
    return CapabilityReport(
        checked_at=now(),
        authenticates=YES,
        rights=facts.rights,
        clock_offset_ms=offset,
        ip_restricted=facts.ip_restricted,
        expires_at=facts.expires_at,
        account_type=facts.account_type,
        unknown_reasons=facts.unknown_reasons,
    )
