"""Rate limits as Binance documents them: weight windows, 429s, 418 bans and order counts."""

from __future__ import annotations

import pytest

from tests.unit.sim.asgi_client import NOW, client, fixed_app
from tresor.sim.errors import SimError
from tresor.sim.limits import BAN_MAX_MS, LimitConfig, RateLimiter

MINUTE = 60_000
T0 = 1_750_000_020_000  # the first second of a minute window
IP = "10.0.0.1"


def limiter(**config: int) -> RateLimiter:
    return RateLimiter(LimitConfig(**config))


def test_weight_adds_up_within_a_minute_and_resets_at_the_next() -> None:
    lim = limiter(weight_per_minute=100)
    assert lim.charge_ip(IP, 60, T0 + 1_000) == 60
    assert lim.charge_ip(IP, 30, T0 + 59_999) == 90
    assert lim.used_weight(IP, T0 + 59_999) == 90
    assert lim.used_weight(IP, T0 + MINUTE) == 0
    assert lim.charge_ip(IP, 10, T0 + MINUTE) == 10


def test_weight_is_counted_per_ip() -> None:
    lim = limiter(weight_per_minute=100)
    lim.charge_ip(IP, 100, T0)
    assert lim.charge_ip("10.0.0.2", 100, T0) == 100


def test_over_the_limit_answers_429_with_seconds_to_the_next_window() -> None:
    lim = limiter(weight_per_minute=100)
    lim.charge_ip(IP, 90, T0)
    with pytest.raises(SimError) as caught:
        lim.charge_ip(IP, 20, T0 + 45_500)
    err = caught.value
    assert (err.http_status, err.code) == (429, -1003)
    assert err.msg == (
        "Too much request weight used; current limit is 100 request weight per "
        "1 MINUTE. Please use WebSocket Streams for live updates to avoid polling "
        "the API."
    )
    assert err.retry_after == 15  # 14.5 s rounded up
    assert (b"x-mbx-used-weight-1m", b"90") in err.headers
    assert lim.used_weight(IP, T0 + 45_500) == 90  # a rejected request is not charged


def test_a_lower_limit_for_one_call_overrides_the_configured_one() -> None:
    lim = limiter(weight_per_minute=6000)
    lim.charge_ip(IP, 5, T0, limit=10)
    with pytest.raises(SimError, match="current limit is 10 request weight"):
        lim.charge_ip(IP, 6, T0, limit=10)


def test_an_ip_that_keeps_sending_after_429s_is_banned_with_418() -> None:
    lim = limiter(weight_per_minute=10, ban_after_429s=3)
    lim.charge_ip(IP, 10, T0)
    for _ in range(3):
        with pytest.raises(SimError) as caught:
            lim.charge_ip(IP, 1, T0 + 1_000)
        assert caught.value.http_status == 429
    with pytest.raises(SimError) as caught:
        lim.charge_ip(IP, 1, T0 + 2_000)
    ban = caught.value
    until = T0 + 2_000 + 2 * MINUTE
    assert (ban.http_status, ban.code, ban.retry_after) == (418, -1003, 120)
    assert ban.msg == (
        f"Way too much request weight used; IP banned until {until}. "
        "Please use WebSocket Streams for live updates to avoid bans."
    )
    # still banned in the next window, with the time left; other IPs are not affected
    with pytest.raises(SimError) as caught:
        lim.charge_ip(IP, 1, until - 1_500)
    assert (caught.value.http_status, caught.value.retry_after) == (418, 2)
    assert lim.charge_ip("10.0.0.2", 1, T0 + 3_000) == 1
    assert lim.charge_ip(IP, 1, until) == 1


def test_bans_double_for_repeat_offenders_and_stop_growing_at_three_days() -> None:
    lim = limiter(weight_per_minute=1, ban_after_429s=1)
    now = T0
    seconds = []
    for _ in range(14):
        lim.charge_ip(IP, 1, now)
        with pytest.raises(SimError):
            lim.charge_ip(IP, 1, now)
        with pytest.raises(SimError) as caught:
            lim.charge_ip(IP, 1, now)
        assert caught.value.http_status == 418
        assert caught.value.retry_after is not None
        seconds.append(caught.value.retry_after)
        now += caught.value.retry_after * 1000
        now += MINUTE - now % MINUTE  # a fresh window once the ban is over
    assert seconds[:4] == [120, 240, 480, 960]
    assert seconds == [min(120 * 2**k, BAN_MAX_MS // 1000) for k in range(14)]
    assert seconds[-1] == 3 * 86_400


def test_reset_forgets_weights_and_bans() -> None:
    lim = limiter(weight_per_minute=1, ban_after_429s=0)
    lim.charge_ip(IP, 1, T0)
    with pytest.raises(SimError):
        lim.charge_ip(IP, 1, T0)
    lim.reset()
    assert lim.charge_ip(IP, 1, T0) == 1


def test_sapi_buckets_answer_429_but_never_ban() -> None:
    lim = limiter(sapi_ip_per_minute=5, ban_after_429s=1)
    assert lim.charge_sapi(IP, None, 5, 0, T0) == ("x-sapi-used-ip-weight-1m", 5)
    for _ in range(5):
        with pytest.raises(SimError) as caught:
            lim.charge_sapi(IP, None, 1, 0, T0)
        assert (caught.value.http_status, caught.value.code) == (429, -1003)
    assert lim.charge_ip(IP, 1, T0) == 1  # the /api weight is a separate bucket


def test_sapi_uid_bucket_counts_per_account() -> None:
    lim = limiter(sapi_uid_per_minute=10)
    assert lim.charge_sapi(IP, 7, 0, 10, T0) == ("x-sapi-used-uid-weight-1m", 10)
    with pytest.raises(SimError, match="current limit is 10 request weight"):
        lim.charge_sapi(IP, 7, 0, 1, T0)
    assert lim.charge_sapi(IP, 8, 0, 1, T0) == ("x-sapi-used-uid-weight-1m", 1)


def test_new_orders_over_the_ten_second_limit_get_1015() -> None:
    lim = limiter(orders_per_10s=3)
    for n in range(1, 4):
        lim.check_orders(1, T0)
        assert lim.count_order(1, T0, filled_at_once=False) == (n, n)
    with pytest.raises(SimError) as caught:
        lim.check_orders(1, T0 + 2_500)
    err = caught.value
    assert (err.http_status, err.code) == (429, -1015)
    assert err.msg == "Too many new orders; current limit is 3 orders per 10 SECOND."
    assert err.retry_after == 8  # 7.5 s to the next 10-second window, rounded up
    lim.check_orders(2, T0)  # another account has its own count
    lim.check_orders(1, T0 + 10_000)  # the next window starts afresh


def test_orders_filled_at_once_give_their_count_back() -> None:
    lim = limiter(orders_per_10s=2)
    for _ in range(5):
        lim.check_orders(1, T0)
        assert lim.count_order(1, T0, filled_at_once=True) == (0, 0)
    assert lim.count_order(1, T0, filled_at_once=False) == (1, 1)


def test_the_daily_order_limit_is_reported_per_day() -> None:
    lim = limiter(orders_per_10s=100, orders_per_day=2)
    lim.count_order(1, T0, filled_at_once=False)
    lim.count_order(1, T0 + 20_000, filled_at_once=False)
    with pytest.raises(SimError) as caught:
        lim.check_orders(1, T0 + 40_000)
    assert caught.value.msg == "Too many new orders; current limit is 2 orders per 1 DAY."
    day_end = T0 - T0 % 86_400_000 + 86_400_000
    assert caught.value.retry_after == -(-(day_end - T0 - 40_000) // 1000)


async def test_every_answer_reports_the_used_weight_and_429_carries_retry_after() -> None:
    app = fixed_app(weight_per_minute=3)
    async with client(app) as http:
        used = []
        for _ in range(3):
            r = await http.get("/api/v3/ping")
            assert r.status_code == 200
            used.append(r.headers["x-mbx-used-weight-1m"])
        r = await http.get("/api/v3/ping")
    assert used == ["1", "2", "3"]
    assert r.status_code == 429
    assert r.json()["code"] == -1003
    assert r.headers["x-mbx-used-weight-1m"] == "3"
    assert r.headers["retry-after"] == str(-(-(MINUTE - NOW % MINUTE) // 1000))
