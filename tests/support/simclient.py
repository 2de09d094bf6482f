"""Test-side helpers around a running simulator: its admin API and a ccxt client for it."""

from __future__ import annotations

import re
from typing import Any

import ccxt
import ccxt.async_support as accxt
import httpx

from tresor.sim.server import RunningSim

TRADE = {"enableReading": True, "enableSpotAndMarginTrading": True}
READ_ONLY = {"enableReading": True}


class SimAdmin:
    """The ``/_sim/`` admin API of one running venue."""

    def __init__(self, running: RunningSim) -> None:
        self.running = running
        self.url = running.url
        self.http = httpx.Client(base_url=running.url, timeout=30)

    @property
    def app(self) -> Any:
        return self.running.app

    def account(self, balances: dict[str, str] | None = None) -> int:
        r = self.http.post("/_sim/accounts", json={"balances": balances or {}})
        r.raise_for_status()
        return int(r.json()["account_id"])

    def key(
        self,
        account_id: int,
        permissions: dict[str, bool] | None = None,
        ip_whitelist: list[str] | None = None,
        trading_expiration: int = 0,
    ) -> dict[str, Any]:
        r = self.http.post(
            f"/_sim/accounts/{account_id}/keys",
            json={
                "permissions": TRADE if permissions is None else permissions,
                "ip_whitelist": ip_whitelist or [],
                "trading_expiration": trading_expiration,
            },
        )
        r.raise_for_status()
        return dict(r.json())

    def revoke(self, api_key: str) -> None:
        self.http.delete(f"/_sim/keys/{api_key}").raise_for_status()

    def history(self, account_id: int, **spec: Any) -> dict[str, Any]:
        r = self.http.post(f"/_sim/accounts/{account_id}/history", json=spec)
        r.raise_for_status()
        return dict(r.json())

    def truth(self, account_id: int) -> dict[str, Any]:
        r = self.http.get(f"/_sim/accounts/{account_id}/truth")
        r.raise_for_status()
        return dict(r.json())

    def faults(self, **config: Any) -> None:
        r = self.http.post("/_sim/faults", json=config)
        r.raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete("/_sim/faults").raise_for_status()

    def reset_limits(self) -> None:
        self.http.delete("/_sim/limits").raise_for_status()

    def close(self) -> None:
        self.http.close()


def local_urls(base: str) -> dict[str, str]:
    """ccxt's binance URL table with every host replaced by the simulator's (paths kept)."""
    return {k: re.sub(r"^https?://[^/]+", base, v) for k, v in ccxt.binance().urls["api"].items()}


def ccxt_options(base: str, key: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Documented ccxt options only: URLs, spot-only markets, and Binance's spot error table
    (ccxt applies it only to URLs on the real host, so it is passed explicitly)."""
    config: dict[str, Any] = {
        "urls": {"api": local_urls(base)},
        "enableRateLimit": False,
        "options": {
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "fetchOpenOrders": {"warnWithoutSymbol": False},
        },
        "exceptions": {"exact": ccxt.binance().exceptions["spot"]["exact"]},
    }
    if key is not None:
        config["apiKey"] = key["api_key"]
        config["secret"] = key["secret"]
    for name, value in extra.items():
        if name == "options":
            config["options"].update(value)
        else:
            config[name] = value
    return config


def binance(base: str, key: dict[str, Any] | None = None, **extra: Any) -> ccxt.binance:
    return ccxt.binance(ccxt_options(base, key, **extra))


def async_binance(base: str, key: dict[str, Any] | None = None, **extra: Any) -> accxt.binance:
    return accxt.binance(ccxt_options(base, key, **extra))
