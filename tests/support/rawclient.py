"""Plain HTTP calls to a simulated venue, signed exactly as Binance documents, for the checks
ccxt hides (status codes, headers, exact error bodies)."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import httpx


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signed(
    http: httpx.Client,
    key: dict[str, Any],
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    timestamp: int | None = None,
) -> httpx.Response:
    """A SIGNED request: ``timestamp`` added, HMAC-SHA256 over the query (GET/DELETE) or the
    form body (POST), ``X-MBX-APIKEY`` set."""
    pairs = {**(params or {}), "timestamp": timestamp or int(time.time() * 1000)}
    payload = urlencode(pairs)
    payload += "&signature=" + sign(key["secret"], payload)
    headers = {"X-MBX-APIKEY": key["api_key"]}
    if method in ("GET", "DELETE"):
        return http.request(method, f"{path}?{payload}", headers=headers)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return http.request(method, path, content=payload, headers=headers)


def used_weight(response: httpx.Response) -> int:
    return int(response.headers["x-mbx-used-weight-1m"])
