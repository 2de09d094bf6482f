"""Signed requests: the API key header, HMAC-SHA256 signature, timestamp window, IP allow-list
and key permissions, checked in the order the exchange reports them."""

from __future__ import annotations

import hashlib
import hmac
import re

from tresor.sim import errors as e
from tresor.sim.params import Params
from tresor.sim.state import ApiKey

API_KEY_RE = re.compile(r"^[A-Za-z0-9]{64}$")
RECV_WINDOW_RE = re.compile(r"^[0-9]{1,5}(\.[0-9]{1,3})?$")
MAX_RECV_WINDOW = 60_000
DEFAULT_RECV_WINDOW = 5_000


def _strip_signature(raw: str) -> str:
    if "signature=" not in raw:
        return raw
    return "&".join(part for part in raw.split("&") if not part.startswith("signature="))


def signed_payload(query: str, body: str) -> str:
    """Binance's ``totalParams``: the query string then the body, without the signature."""
    return _strip_signature(query) + _strip_signature(body)


def check_signed(
    *,
    keys: dict[str, ApiKey],
    api_key: str | None,
    params: Params,
    query: str,
    body: str,
    now: int,
    ip: str,
    trade: bool,
) -> ApiKey:
    """Authenticate a SIGNED request; return its key or raise the exchange's error."""
    if not api_key or not API_KEY_RE.match(api_key):
        raise e.err(e.BAD_API_KEY_FMT, 401)
    timestamp = params.required_time_ms("timestamp")
    signature = params.require("signature")
    window_raw = params.raw("recvWindow")
    recv_window: float = DEFAULT_RECV_WINDOW
    if window_raw is not None:
        if not RECV_WINDOW_RE.match(window_raw):
            raise e.illegal_value("recvWindow", "^[0-9]{1,5}(\\.[0-9]{1,3})?$")
        recv_window = float(window_raw)
        if recv_window > MAX_RECV_WINDOW:
            raise e.bad_recv_window()
    key = keys.get(api_key)
    if key is None:
        raise e.err(e.REJECTED_MBX_KEY, 401)
    expected = hmac.new(
        key.secret.encode(), signed_payload(query, body).encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise e.err(e.INVALID_SIGNATURE)
    if timestamp >= now + 1000:
        raise e.timestamp_ahead()
    if now - timestamp > recv_window:
        raise e.err(e.INVALID_TIMESTAMP)
    if key.ip_whitelist and ip not in key.ip_whitelist:
        raise e.err(e.REJECTED_MBX_KEY, 401)
    perms = key.permissions
    if trade:
        expired = key.trading_expiration and now > key.trading_expiration
        if not perms.get("enableSpotAndMarginTrading") or expired:
            raise e.err(e.REJECTED_MBX_KEY, 401)
    elif not perms.get("enableReading"):
        raise e.err(e.REJECTED_MBX_KEY, 401)
    return key
