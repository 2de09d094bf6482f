"""Rate limits as Binance documents them.

- REQUEST_WEIGHT: a fixed one-minute window per IP; every response reports the weight used in
  the current window (``X-MBX-USED-WEIGHT-1M``). Over the limit: 429, ``Retry-After`` (seconds to
  the next window), -1003. An IP that keeps sending while limited (``ban_after_429s`` rejected
  requests in one window) is banned: 418 and ``Retry-After`` until the ban ends, for 2 minutes
  on a first offence and twice as long on each repeat, up to 3 days.
- /sapi endpoints have their own buckets: 12,000 per minute per IP and 180,000 per minute per
  account (UID), always 429, never a ban.
- ORDERS: per account, 100 per 10 seconds and 200,000 per UTC day by default. Only accepted
  orders count, and an order that fills at once gives its count back (Binance's "order count
  decrement" rule). Over the limit: 429, -1015.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tresor.sim import errors as e

MINUTE_MS = 60_000
BAN_FIRST_MS = 2 * MINUTE_MS
BAN_MAX_MS = 3 * 86_400_000


@dataclass
class _Window:
    start: int = -1
    used: int = 0
    rejected: int = 0


@dataclass
class _Offender:
    offences: int = 0
    banned_until: int = 0


@dataclass
class LimitConfig:
    weight_per_minute: int = 6000
    sapi_ip_per_minute: int = 12_000
    sapi_uid_per_minute: int = 180_000
    orders_per_10s: int = 100
    orders_per_day: int = 200_000
    ban_after_429s: int = 5


@dataclass
class RateLimiter:
    config: LimitConfig = field(default_factory=LimitConfig)
    _ip: dict[str, _Window] = field(default_factory=dict)
    _sapi_ip: dict[str, _Window] = field(default_factory=dict)
    _sapi_uid: dict[int, _Window] = field(default_factory=dict)
    _offenders: dict[str, _Offender] = field(default_factory=dict)
    _orders_10s: dict[int, _Window] = field(default_factory=dict)
    _orders_day: dict[int, _Window] = field(default_factory=dict)

    def reset(self) -> None:
        for table in (
            self._ip,
            self._sapi_ip,
            self._sapi_uid,
            self._offenders,
            self._orders_10s,
            self._orders_day,
        ):
            table.clear()

    @staticmethod
    def _window(table: dict, key: object, now: int, size: int) -> _Window:  # type: ignore[type-arg]
        start = now - now % size
        win = table.get(key)
        if win is None:
            win = table[key] = _Window(start=start)
        elif win.start != start:
            win.start, win.used, win.rejected = start, 0, 0
        return win

    def used_weight(self, ip: str, now: int) -> int:
        return self._window(self._ip, ip, now, MINUTE_MS).used

    def charge_ip(self, ip: str, weight: int, now: int, limit: int | None = None) -> int:
        """Charge ``weight`` to the IP's minute; return the weight used. Raises 418 or 429."""
        offender = self._offenders.get(ip)
        if offender is not None and offender.banned_until > now:
            retry = -(-(offender.banned_until - now) // 1000)
            raise e.ip_banned(offender.banned_until, retry)
        win = self._window(self._ip, ip, now, MINUTE_MS)
        cap = limit if limit is not None else self.config.weight_per_minute
        if win.used + weight > cap:
            win.rejected += 1
            retry = -(-(win.start + MINUTE_MS - now) // 1000)
            if win.rejected > self.config.ban_after_429s:
                offender = self._offenders.setdefault(ip, _Offender())
                duration = min(BAN_MAX_MS, BAN_FIRST_MS * 2**offender.offences)
                offender.offences += 1
                offender.banned_until = now + duration
                win.rejected = 0
                raise e.ip_banned(offender.banned_until, duration // 1000)
            error = e.too_much_weight(cap, retry)
            error.headers.append((b"x-mbx-used-weight-1m", str(win.used).encode()))
            raise error
        win.used += weight
        return win.used

    def charge_sapi(
        self, ip: str, uid: int | None, ip_weight: int, uid_weight: int, now: int
    ) -> tuple[str, int]:
        """Charge a /sapi call; return the header name and value to report."""
        if uid_weight and uid is not None:
            win = self._window(self._sapi_uid, uid, now, MINUTE_MS)
            if win.used + uid_weight > self.config.sapi_uid_per_minute:
                retry = -(-(win.start + MINUTE_MS - now) // 1000)
                raise e.SimError(
                    429,
                    -1003,
                    "Too much request weight used; current limit is "
                    f"{self.config.sapi_uid_per_minute} request weight per 1 MINUTE."
                    " Please use WebSocket Streams for live updates to avoid polling"
                    " the API.",
                    retry_after=retry,
                )
            win.used += uid_weight
            return "x-sapi-used-uid-weight-1m", win.used
        win = self._window(self._sapi_ip, ip, now, MINUTE_MS)
        if win.used + ip_weight > self.config.sapi_ip_per_minute:
            retry = -(-(win.start + MINUTE_MS - now) // 1000)
            raise e.SimError(
                429,
                -1003,
                "Too much request weight used; current limit is "
                f"{self.config.sapi_ip_per_minute} request weight per 1 MINUTE. "
                "Please use WebSocket Streams for live updates to avoid polling "
                "the API.",
                retry_after=retry,
            )
        win.used += ip_weight
        return "x-sapi-used-ip-weight-1m", win.used

    def check_orders(self, account_id: int, now: int, limit_10s: int | None = None) -> None:
        cap_10s = limit_10s if limit_10s is not None else self.config.orders_per_10s
        w10 = self._window(self._orders_10s, account_id, now, 10_000)
        if w10.used >= cap_10s:
            raise e.too_many_orders(cap_10s, "10 SECOND", -(-(w10.start + 10_000 - now) // 1000))
        day = self._window(self._orders_day, account_id, now, 86_400_000)
        if day.used >= self.config.orders_per_day:
            raise e.too_many_orders(
                self.config.orders_per_day, "1 DAY", -(-(day.start + 86_400_000 - now) // 1000)
            )

    def count_order(self, account_id: int, now: int, filled_at_once: bool) -> tuple[int, int]:
        """Count an accepted order; return the 10-second and daily counts for the headers."""
        w10 = self._window(self._orders_10s, account_id, now, 10_000)
        day = self._window(self._orders_day, account_id, now, 86_400_000)
        if not filled_at_once:
            w10.used += 1
            day.used += 1
        return w10.used, day.used
