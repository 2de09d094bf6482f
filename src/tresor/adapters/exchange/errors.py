"""Every ccxt exception becomes the domain error named by what the caller must do.

A trade call (``trading=True``: create or cancel an order) first goes through the order
refusals, so each refusal of an order has a stable code (``order_refusals.trading_refusal``)::

    what the exchange said                      domain error (code, details.rule)
    ------------------------------------------  ------------------------------------------
    MarketClosed; Binance -1013 "Market is      MarketClosed (market_closed)
      closed."
    InsufficientFunds; Binance -2010 "Account   InsufficientFunds (insufficient_funds)
      has insufficient balance for requested
      action."
    DuplicateOrderId; Binance -2010 "Duplicate  Conflict (conflict), reason duplicate_order:
      order sent."                                an open order already has this client
                                                  order id (an earlier send got through)
    OrderNotFound on a cancel; Binance -2011    OrderNotOpen (order_not_open): the order
      "Unknown order sent."                       filled, was cancelled or expired (Binance
                                                  does not tell these from an unknown id)
    BadSymbol; Binance -1121 "Invalid symbol."  UnknownSymbol (unknown_symbol)
    Binance -1013/-2010 "Filter failure: X"     InvalidOrder, rule from the filter X:
      PRICE_FILTER                                price_precision (min_price / max_price
                                                  when the order sent shows which)
      LOT_SIZE                                    amount_precision (min_amount / max_amount)
      MARKET_LOT_SIZE                             max_amount (min_amount / amount_precision)
      NOTIONAL, MIN_NOTIONAL                      min_notional (max_notional)
      PERCENT_PRICE, PERCENT_PRICE_BY_SIDE        price_band
      MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS,        max_open_orders
        EXCHANGE_MAX_NUM_ORDERS
      any other filter                            exchange_rule
    Binance -1111 "Parameter 'quantity'|'price' InvalidOrder, amount_precision |
      has too much precision."                    price_precision
    OrderImmediatelyFillable "Order would       InvalidOrder, post_only
      immediately match and take."
    any other InvalidOrder (ccxt's own checks   InvalidOrder, the rule the order sent breaks
      included)                                   (``SentOrder``), else exchange_rule
    Binance -1015 "Too many new orders" (429)   RateLimited (rate_limited) with retry_after,
                                                  as in the table below
    -2015, -1022, -2014                         as in the table below (key errors)

Filter failures name the filter, not which of its rules failed; given the order that was sent
and the market's rules (``SentOrder``), the rule is the one Tresor's own check finds broken
(with its values and limits in the details), else the filter's row above. Binance facts:
binance-spot-api-docs errors.md ("Filter failures"; "Messages for -1010, -2010 and -2011")
and filters.md.

Every other error, and every error of a call that is not a trade, maps as follows (first
matching row wins; ccxt's classes are listed most specific first)::

    ccxt exception                             domain error (code)
    -----------------------------------------  ------------------------------------------------
    Binance -2015 "Invalid API-key, IP, or     KeyRefusedAmbiguously (key_refused), with
      permissions for action.", raised as        details["checks"], in order: key and secret
      AuthenticationError, or as DDoSProtection  copied exactly; key not deleted; Tresor's egress
      once a private call has worked (ccxt's     IP(s) on the key's allow-list; the key has the
      guess at a temporary ban)                  permission needed
    "IP not on the allow-list" codes           IpNotAllowed (ip_not_allowed)
      (OKX 50110, KuCoin 400006)
    AccountSuspended                           KeyRejected (key_rejected),
                                                 reason account_suspended
    PermissionDenied, AccountNotEnabled:
      in a trade call                          TradePermissionMissing (trade_permission_missing)
      otherwise                                KeyRejected (key_rejected),
                                                 reason permission_denied
    AuthenticationError (Binance -1022, -2014) InvalidCredentials (invalid_credentials)
    InvalidNonce (Binance -1021)               ClockSkew (clock_skew)
    DDoSProtection, RateLimitExceeded          RateLimited (rate_limited), retry_after from the
      (HTTP 429, 418; Binance -1003, -1015)      answer's Retry-After header when it has one
    RestrictedLocation                         ExchangeUnavailable,
                                                 reason restricted_location
    OnMaintenance, ExchangeNotAvailable,       ExchangeUnavailable (exchange_unavailable)
      RequestTimeout, NetworkError,
      BadResponse, CancelPending,
      any other OperationFailed
    InsufficientFunds                          ValidationFailed (validation_failed),
                                                 reason insufficient_funds
    OrderNotFound                              NotFound (not_found)
    InvalidOrder, BadSymbol, BadRequest,       ValidationFailed (validation_failed)
      ArgumentsRequired, NotSupported,
      OperationRejected (MarketClosed ...),
      InvalidAddress
    any other ccxt error (ExchangeError ...)   ExchangeUnavailable, reason unrecognised

Secrets never reach a translated error: its message and remedy are Tresor's own texts, and the
exchange's answer is kept in ``details["exchange_message"]`` only after ``redact``. The error's
``__cause__`` is a copy of the ccxt exception with a redacted message and no traceback (whose
frames hold the signed request), and the original is not chained as ``__context__`` either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import ccxt.async_support as ccxt

from tresor.adapters.exchange.order_refusals import SentOrder, trading_refusal
from tresor.adapters.exchange.redact import redact
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

__all__ = ["SentOrder", "exchange_code", "refusal_checks", "retry_after", "translate"]

MAX_EXCHANGE_MESSAGE = 500
BINANCE_REFUSED = "-2015"
# Codes that say "this IP is not on the key's allow-list" (OKX error codes: 50110;
# KuCoin: 400006).
IP_CODES = {"okx": {"50110"}, "kucoin": {"400006"}}
_CODE = re.compile(r"""["']code["']\s*:\s*["']?(-?\d+)""")


def exchange_code(message: str) -> str | None:
    """The exchange's own error code in a ccxt error text (``'binance {"code":-2015,...}'``)."""
    match = _CODE.search(message)
    return match.group(1) if match else None


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a ``Retry-After`` header (the delta-seconds form; a date is ignored)."""
    if not headers:
        return None
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                seconds = float(str(value).strip())
            except ValueError:
                return None
            return seconds if seconds >= 0 else None
    return None


def refusal_checks(egress_ips: Sequence[str], *, trading: bool) -> list[str]:
    """What to check, in order, when the exchange refuses a key without saying why."""
    if egress_ips:
        ip_check = (
            f"Tresor's egress IP address(es) {', '.join(egress_ips)} are on the key's IP "
            "allow-list (or the key has no IP restriction)."
        )
    else:
        ip_check = (
            "The IP address Tresor connects from is on the key's IP allow-list (or the key has "
            "no IP restriction); the operator has not listed Tresor's egress IPs (ask them)."
        )
    permission = "'Enable Reading'" + (" and 'Enable Spot & Margin Trading'" if trading else "")
    return [
        "The API key and the secret are copied exactly: whole, without spaces, from the same key.",
        "The key still exists on the exchange: it was not deleted, regenerated or disabled.",
        ip_check,
        f"The key has the permission this needs: {permission}.",
    ]


def _sanitised(exc: BaseException, secrets: Iterable[str]) -> BaseException:
    try:
        return type(exc)(redact(str(exc), secrets))
    except Exception:  # an exception class with another constructor
        return RuntimeError(redact(f"{type(exc).__name__}: {exc}", secrets))


def translate(
    exc: BaseException,
    *,
    exchange: str,
    egress_ips: Sequence[str] = (),
    secrets: Iterable[str] = (),
    response_headers: Mapping[str, str] | None = None,
    trading: bool = False,
    order: SentOrder | None = None,
) -> TresorError:
    """The domain error for ``exc`` (a ccxt exception), with secrets redacted.

    ``trading`` says the failed call was a trade (create or cancel an order): an order
    refusal then gets its own code (``trading_refusal``), and a missing permission means the
    trading permission. ``order`` is the order a create call sent, if known (it names the
    failing rule of a filter failure). ``response_headers`` are the failed answer's headers
    (``retry_after`` comes from them).
    """
    secrets = tuple(secrets)
    text = redact(str(exc), secrets)
    code = exchange_code(text)
    details: dict[str, object] = {
        "exchange": exchange,
        "exchange_error": type(exc).__name__,
        "exchange_message": text[:MAX_EXCHANGE_MESSAGE],
    }
    if code is not None:
        details["exchange_code"] = code
    error = None
    refused_key = exchange.startswith("binance") and code == BINANCE_REFUSED
    if trading and not refused_key:
        error = trading_refusal(exc, exchange=exchange, text=text, details=details, order=order)
    if error is None:
        error = _classify(exc, exchange, code, details, egress_ips, response_headers, trading)
    error.__cause__ = _sanitised(exc, secrets)
    error.__suppress_context__ = True
    return error


def _classify(
    exc: BaseException,
    exchange: str,
    code: str | None,
    details: dict[str, object],
    egress_ips: Sequence[str],
    headers: Mapping[str, str] | None,
    trading: bool,
) -> TresorError:
    binance = exchange.startswith("binance")
    if binance and code == BINANCE_REFUSED:
        details["checks"] = refusal_checks(egress_ips, trading=trading)
        return KeyRefusedAmbiguously(details=details)
    if code is not None and code in IP_CODES.get(exchange, set()):
        details["egress_ips"] = list(egress_ips)
        return IpNotAllowed(details=details)
    if isinstance(exc, ccxt.AccountSuspended):
        details["reason"] = "account_suspended"
        return KeyRejected(
            "The exchange says this account is suspended.",
            remedy="Contact the exchange's support to lift the suspension, then test again.",
            details=details,
        )
    if isinstance(exc, ccxt.PermissionDenied):
        if trading:
            return TradePermissionMissing(details=details)
        details["reason"] = "permission_denied"
        return KeyRejected(
            "The exchange says this key may not do this.",
            remedy="On the exchange, give the key the permission this needs (never withdrawals).",
            details=details,
        )
    if isinstance(exc, ccxt.AuthenticationError):
        return _invalid_credentials(code, details)
    if isinstance(exc, ccxt.InvalidNonce):
        return ClockSkew(details=details)
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return RateLimited(retry_after(headers), details=details)
    if isinstance(exc, ccxt.RestrictedLocation):
        details["reason"] = "restricted_location"
        return ExchangeUnavailable(
            "The exchange refuses requests from where Tresor connects.",
            remedy="Ask the operator to connect through an egress IP the exchange serves.",
            details=details,
        )
    if isinstance(exc, ccxt.OperationFailed):
        return ExchangeUnavailable(details=details)
    return _request_error(exc, details)


def _invalid_credentials(code: str | None, details: dict[str, object]) -> TresorError:
    if code == "-1022":
        return InvalidCredentials(
            "The exchange says the request signature is wrong: the secret does not match the key.",
            details=details,
        )
    return InvalidCredentials(details=details)


def _request_error(exc: BaseException, details: dict[str, object]) -> TresorError:
    if isinstance(exc, ccxt.InsufficientFunds):
        details["reason"] = "insufficient_funds"
        return ValidationFailed(
            "The account does not hold enough funds for this order.",
            remedy="Lower the amount, or fund the account on the exchange first.",
            details=details,
        )
    if isinstance(exc, ccxt.OrderNotFound):
        return NotFound("The exchange has no such order.", details=details)
    if isinstance(
        exc,
        ccxt.InvalidOrder
        | ccxt.BadRequest
        | ccxt.ArgumentsRequired
        | ccxt.NotSupported
        | ccxt.OperationRejected
        | ccxt.InvalidAddress,
    ):
        return ValidationFailed(
            "The exchange refused the request as given.",
            remedy="Check the symbol, amounts and prices against the market's rules.",
            details=details,
        )
    details["reason"] = "unrecognised"
    return ExchangeUnavailable(
        "The exchange answered with an error Tresor does not recognise.",
        details=details,
    )
