"""The simulator's own admin API under ``/_sim/`` (not part of Binance; JSON in and out).

POST   /_sim/accounts                  {"balances": {"USDT": "10000"}} -> {"account_id"}
GET    /_sim/accounts/{id}             balances and counts
POST   /_sim/accounts/{id}/keys        {"permissions": {...}, "ip_whitelist": [...],
                                        "trading_expiration": ms} -> {"api_key", "secret"}
DELETE /_sim/keys/{api_key}            revoke a key
POST   /_sim/accounts/{id}/history     {"days", "trades", "symbols", "seed", "open_orders"}
GET    /_sim/accounts/{id}/truth       every order, trade, deposit, withdrawal and balance
POST   /_sim/faults / GET / DELETE     injected faults (see faults.py)
DELETE /_sim/limits                    forget request weights, order counts and bans
POST   /_sim/symbols                   {"symbol": "BTCUSDT", "status": "HALT"} -> the status;
                                       HALT, BREAK or END_OF_DAY close the market, TRADING
                                       reopens it
GET    /_sim/symbols                   the symbols that are not TRADING, with their status
GET    /_sim/info                      the venue: seed, symbols, limits
"""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import orjson

from tresor.sim.api_exchange_info import SYMBOLS_CACHE
from tresor.sim.engine import SYMBOL_STATUSES
from tresor.sim.faults import FaultConfigError, Faults
from tresor.sim.history import HistoryError, HistorySpec, generate
from tresor.sim.market import f8
from tresor.sim.state import PERMISSION_FLAGS, Account

if TYPE_CHECKING:
    from tresor.sim.app import SimApp

Answer = tuple[int, Any]
MAX_AMOUNT = Decimal("1e15")  # more than any real balance, small enough to render exactly


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def handle(app: SimApp, method: str, path: str, scope: dict[str, Any], body: bytes) -> Answer:
    parts = [p for p in path.split("/") if p][1:]  # drop "_sim"
    try:
        payload = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        return 400, {"error": "the body must be JSON"}
    try:
        return _route(app, method, parts, payload)
    except AdminError as err:
        return err.status, {"error": err.message}


def _route(app: SimApp, method: str, parts: list[str], payload: Any) -> Answer:
    sim = app.sim
    venue = sim.venue
    now = app.now()
    match method, parts:
        case "GET", ["info"]:
            cfg = sim.limits.config
            return 200, {
                "seed": venue.market.seed,
                "symbols": len(venue.market.pairs),
                "weight_per_minute": cfg.weight_per_minute,
                "orders_per_10s": cfg.orders_per_10s,
                "server_time": now,
            }
        case "POST", ["accounts"]:
            balances = _balances(payload.get("balances", {}) if isinstance(payload, dict) else None)
            account = venue.create_account(balances, now)
            return 201, {"account_id": account.account_id}
        case "GET", ["accounts", account_id]:
            account = _account(app, account_id)
            return 200, {
                "account_id": account.account_id,
                "uid": account.uid,
                "balances": _balances_json(account),
                "orders": sum(len(v) for v in account.orders.values()),
                "trades": sum(len(v) for v in account.trades.values()),
            }
        case "POST", ["accounts", account_id, "keys"]:
            return _create_key(app, _account(app, account_id), payload, now)
        case "DELETE", ["keys", api_key]:
            if venue.keys.pop(api_key, None) is None:
                raise AdminError(404, "no such key")
            return 200, {"revoked": api_key}
        case "POST", ["accounts", account_id, "history"]:
            return _history(app, _account(app, account_id), payload, now)
        case "GET", ["accounts", account_id, "truth"]:
            return 200, truth(app, _account(app, account_id), now)
        case "POST", ["faults"]:
            try:
                sim.faults = Faults.parse(payload)
            except FaultConfigError as err:
                raise AdminError(400, str(err)) from err
            return 200, {"faults": sim.faults.raw}
        case "GET", ["faults"]:
            return 200, {"faults": sim.faults.raw}
        case "DELETE", ["faults"]:
            sim.faults = Faults()
            return 200, {"faults": {}}
        case "DELETE", ["limits"]:
            sim.limits.reset()
            return 200, {"limits": "reset"}
        case "POST", ["symbols"]:
            return _symbol_status(app, payload, now)
        case "GET", ["symbols"]:
            return 200, {"statuses": dict(sorted(venue.symbol_status.items()))}
    raise AdminError(404, f"no admin route {method} /_sim/{'/'.join(parts)}")


def _symbol_status(app: SimApp, payload: Any, now: int) -> Answer:
    if not isinstance(payload, dict) or set(payload) != {"symbol", "status"}:
        raise AdminError(400, 'the body must be {"symbol": "BTCUSDT", "status": "HALT"}')
    symbol, status = payload["symbol"], payload["status"]
    venue = app.sim.venue
    if not isinstance(symbol, str) or symbol not in venue.market.pairs:
        raise AdminError(404, f"no symbol {symbol!r}")
    if status not in SYMBOL_STATUSES:
        raise AdminError(400, f"status must be one of {', '.join(SYMBOL_STATUSES)}")
    venue.set_status(symbol, status, now)
    app.sim.cache.pop(SYMBOLS_CACHE, None)
    return 200, {"symbol": symbol, "status": venue.status(symbol)}


def _account(app: SimApp, raw_id: str) -> Account:
    try:
        account = app.sim.venue.accounts.get(int(raw_id))
    except ValueError:
        account = None
    if account is None:
        raise AdminError(404, f"no account {raw_id}")
    return account


def _balances(raw: Any) -> dict[str, Decimal]:
    if not isinstance(raw, dict):
        raise AdminError(400, "balances must be an object of asset -> amount")
    out: dict[str, Decimal] = {}
    for asset, amount in raw.items():
        if not isinstance(asset, str) or not asset.isalnum() or not asset.isupper():
            raise AdminError(400, f"bad asset name {asset!r}")
        try:
            value = Decimal(str(amount))
        except InvalidOperation:
            raise AdminError(400, f"bad amount for {asset}: {amount!r}") from None
        if not value.is_finite() or value < 0 or value >= MAX_AMOUNT:
            raise AdminError(400, f"bad amount for {asset}: {amount!r}")
        out[asset] = value
    return out


def _balances_json(account: Account) -> dict[str, dict[str, str]]:
    return {
        asset: {"free": f8(b.free), "locked": f8(b.locked)}
        for asset, b in sorted(account.balances.items())
    }


def _create_key(app: SimApp, account: Account, payload: Any, now: int) -> Answer:
    if not isinstance(payload, dict):
        raise AdminError(400, "the body must be a JSON object")
    permissions = payload.get("permissions", {})
    if not isinstance(permissions, dict) or not all(
        isinstance(v, bool) for v in permissions.values()
    ):
        raise AdminError(400, "permissions must be an object of flag -> true/false")
    unknown = set(permissions) - set(PERMISSION_FLAGS)
    if unknown:
        raise AdminError(400, f"unknown permission flag(s): {', '.join(sorted(unknown))}")
    whitelist = payload.get("ip_whitelist", [])
    if not isinstance(whitelist, list) or not all(isinstance(ip, str) for ip in whitelist):
        raise AdminError(400, "ip_whitelist must be a list of IP addresses")
    expiration = payload.get("trading_expiration", 0)
    if not isinstance(expiration, int) or isinstance(expiration, bool) or expiration < 0:
        raise AdminError(400, "trading_expiration must be a time in milliseconds")
    key = app.sim.venue.create_key(account, permissions, whitelist, now, expiration)
    return 201, {
        "api_key": key.api_key,
        "secret": key.secret,
        "permissions": key.restrictions_json(),
    }


def _history(app: SimApp, account: Account, payload: Any, now: int) -> Answer:
    if not isinstance(payload, dict):
        raise AdminError(400, "the body must be a JSON object")
    unknown = set(payload) - {"days", "trades", "symbols", "seed", "open_orders"}
    if unknown:
        raise AdminError(400, f"unknown history field(s): {', '.join(sorted(unknown))}")
    symbols = payload.get("symbols") or []
    if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
        raise AdminError(400, "symbols must be a list of symbol names")
    spec = HistorySpec(
        days=_whole(payload, "days", 90),
        trades=_whole(payload, "trades", 1000),
        symbols=tuple(symbols),
        seed=_whole(payload, "seed", 1),
        open_orders=_whole(payload, "open_orders", 3),
    )
    if spec.open_orders > 100:
        raise AdminError(400, "open_orders must be at most 100")
    started = time.perf_counter()
    try:
        counts = generate(app.sim.venue, account, spec, now)
    except HistoryError as err:
        raise AdminError(400, str(err)) from err
    counts_out: dict[str, Any] = dict(counts)
    counts_out["seconds"] = round(time.perf_counter() - started, 3)
    return 201, counts_out


def _whole(payload: dict[str, Any], name: str, default: int) -> int:
    value = payload.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise AdminError(400, f"{name} must be a whole number >= 0")
    return value


def truth(app: SimApp, account: Account, now: int) -> dict[str, Any]:
    """The account as the exchange knows it: what a complete sync must reproduce."""
    app.sim.venue.settle_account(account, now)
    orders = [o.query_json() for sym in sorted(account.orders) for o in account.orders[sym]]
    trades = [t.json() for sym in sorted(account.trades) for t in account.trades[sym]]
    return {
        "account_id": account.account_id,
        "server_time": now,
        "balances": _balances_json(account),
        "orders": orders,
        "trades": trades,
        "deposits": [d.json() for d in account.deposits],
        "withdrawals": [w.json() for w in account.withdrawals],
    }
