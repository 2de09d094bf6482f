"""Every ccxt exception becomes the domain error that says what to do, with no secret in it."""

from __future__ import annotations

import json

import ccxt
import pytest

from tresor.adapters.exchange.errors import (
    exchange_code,
    refusal_checks,
    retry_after,
    translate,
)
from tresor.domain.errors import (
    ClockSkew,
    ExchangeUnavailable,
    InvalidCredentials,
    IpNotAllowed,
    KeyRefusedAmbiguously,
    KeyRejected,
    NotFound,
    RateLimited,
    TradePermissionMissing,
    TresorError,
    ValidationFailed,
)

KEY = "Kq7PZ2mVbXc9LrT4hYw1NsD8eFgJ3aU6oIpQ5zRx0CvBnM2lKjH7gF4dS1aZ9qWe"
SECRET = "s3cr3tVALUEthatMUSTneverLEAKanywhereATall0123456789abcdefABCDEF01"
SIGNATURE = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
REFUSED = 'binance {"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}'
EGRESS = ("203.0.113.7", "198.51.100.9")


def tr(
    exc: BaseException,
    exchange: str = "binance",
    *,
    trading: bool = False,
    response_headers: dict[str, str] | None = None,
) -> TresorError:
    return translate(
        exc,
        exchange=exchange,
        egress_ips=EGRESS,
        secrets=(KEY, SECRET),
        response_headers=response_headers,
        trading=trading,
    )


@pytest.mark.parametrize(
    ("exc", "expected", "code"),
    [
        (ccxt.AuthenticationError(REFUSED), KeyRefusedAmbiguously, "key_refused"),
        (ccxt.DDoSProtection(REFUSED), KeyRefusedAmbiguously, "key_refused"),
        (
            ccxt.AuthenticationError('binance {"code":-1022,"msg":"Signature ... not valid."}'),
            InvalidCredentials,
            "invalid_credentials",
        ),
        (
            ccxt.AuthenticationError('binance {"code":-2014,"msg":"API-key format invalid."}'),
            InvalidCredentials,
            "invalid_credentials",
        ),
        (ccxt.AccountSuspended("suspended"), KeyRejected, "key_rejected"),
        (ccxt.PermissionDenied("no permission"), KeyRejected, "key_rejected"),
        (ccxt.AccountNotEnabled("not enabled"), KeyRejected, "key_rejected"),
        (ccxt.InvalidNonce('binance {"code":-1021}'), ClockSkew, "clock_skew"),
        (ccxt.DDoSProtection('binance {"code":-1003}'), RateLimited, "rate_limited"),
        (ccxt.RateLimitExceeded('binance {"code":-1015}'), RateLimited, "rate_limited"),
        (ccxt.OnMaintenance("System is under maintenance."), ExchangeUnavailable, None),
        (ccxt.ExchangeNotAvailable("503"), ExchangeUnavailable, None),
        (ccxt.RequestTimeout("binance GET url"), ExchangeUnavailable, None),
        (ccxt.NetworkError("reset"), ExchangeUnavailable, None),
        (ccxt.BadResponse("garbage"), ExchangeUnavailable, None),
        (ccxt.RestrictedLocation("not served here"), ExchangeUnavailable, None),
        (ccxt.InsufficientFunds("binance -2010"), ValidationFailed, "validation_failed"),
        (ccxt.OrderNotFound("binance -2013"), NotFound, "not_found"),
        (ccxt.InvalidOrder("binance -1013"), ValidationFailed, None),
        (ccxt.BadSymbol("binance -1121"), ValidationFailed, None),
        (ccxt.BadRequest("binance -1102"), ValidationFailed, None),
        (ccxt.ArgumentsRequired("symbol"), ValidationFailed, None),
        (ccxt.NotSupported("no"), ValidationFailed, None),
        (ccxt.MarketClosed("closed"), ValidationFailed, None),
        (ccxt.ExchangeError("binance {}"), ExchangeUnavailable, None),
        (ccxt.BaseError("odd"), ExchangeUnavailable, None),
    ],
)
def test_each_ccxt_error_becomes_the_domain_error_naming_what_to_do(
    exc: BaseException, expected: type[TresorError], code: str | None
) -> None:
    error = tr(exc)
    assert type(error) is expected
    if code is not None:
        assert error.code == code
    assert error.details["exchange_error"] == type(exc).__name__


def test_binance_refusal_lists_the_checks_in_order_with_the_egress_ips() -> None:
    error = tr(ccxt.AuthenticationError(REFUSED))
    checks = error.details["checks"]
    assert checks == refusal_checks(EGRESS, trading=False)
    assert "copied exactly" in checks[0]
    assert "deleted" in checks[1]
    assert "203.0.113.7, 198.51.100.9" in checks[2]
    assert "'Enable Reading'" in checks[3]
    assert "Trading" not in checks[3]
    assert error.details["exchange_code"] == "-2015"


def test_refusal_of_a_trade_names_the_trading_permission() -> None:
    error = tr(ccxt.DDoSProtection(REFUSED), trading=True)
    assert "'Enable Spot & Margin Trading'" in error.details["checks"][3]


def test_refusal_without_configured_egress_ips_says_to_ask_the_operator() -> None:
    error = translate(ccxt.AuthenticationError(REFUSED), exchange="binance")
    assert "ask them" in error.details["checks"][2]


def test_minus_2015_means_nothing_special_outside_binance() -> None:
    error = tr(ccxt.AuthenticationError('{"code":-2015}'), exchange="kraken")
    assert type(error) is InvalidCredentials


def test_a_permission_denied_trade_is_a_missing_trade_permission() -> None:
    error = tr(ccxt.PermissionDenied("This account may not place or cancel orders."), trading=True)
    assert type(error) is TradePermissionMissing


@pytest.mark.parametrize(
    ("exchange", "message"),
    [
        ("okx", 'okx {"msg":"IP not trusted","code":"50110"}'),
        ("kucoin", 'kucoin {"code":"400006","msg":"IP not in whitelist"}'),
    ],
)
def test_ip_allow_list_codes_are_ip_not_allowed(exchange: str, message: str) -> None:
    error = tr(ccxt.PermissionDenied(message), exchange=exchange)
    assert type(error) is IpNotAllowed
    assert error.details["egress_ips"] == list(EGRESS)


def test_rate_limit_carries_retry_after_from_the_answer() -> None:
    error = tr(ccxt.DDoSProtection("429"), response_headers={"retry-after": "42"})
    assert isinstance(error, RateLimited)
    assert error.retry_after == 42
    assert error.details["retry_after"] == 42


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"RETRY-AFTER": " 1.5 "}, 1.5),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
        ({"Retry-After": "-3"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_reads_delta_seconds_only(
    headers: dict[str, str] | None, seconds: float | None
) -> None:
    assert retry_after(headers) == seconds


def test_exchange_codes_are_found_in_ccxt_texts() -> None:
    assert exchange_code(REFUSED) == "-2015"
    assert exchange_code('okx {"msg":"x","code":"50110"}') == "50110"
    assert exchange_code("binance GET http://host/api/v3/time") is None


def test_secrets_and_signatures_never_reach_the_translated_error() -> None:
    leaky = ccxt.RequestTimeout(
        f"binance GET http://127.0.0.1/api/v3/account?timestamp=1&signature={SIGNATURE} "
        f"{{'X-MBX-APIKEY': '{KEY}'}} secret={SECRET}"
    )
    error = tr(leaky)
    text = " ".join(
        [error.message, error.remedy, json.dumps(error.details), repr(error), str(error.__cause__)]
    )
    for secret in (KEY, SECRET, SIGNATURE):
        assert secret not in text
    assert "signature=**********" in error.details["exchange_message"]
    assert isinstance(error.__cause__, ccxt.RequestTimeout)
    assert error.__cause__.__traceback__ is None
    assert error.__suppress_context__


def test_the_exchange_message_is_kept_short() -> None:
    error = tr(ccxt.ExchangeError("binance " + "x" * 5000))
    assert len(error.details["exchange_message"]) == 500
