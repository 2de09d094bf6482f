"""Domain errors: each names what the caller must do, with a stable ``code``, a plain
``message`` and a ``remedy``. The API renders them as RFC 9457 problem+json; the CLI prints the
message and the remedy. The tree::

    TresorError
    ├── InputError                      the request itself is wrong (fix it and retry)
    │   ├── ValidationFailed            validation_failed
    │   ├── InvalidScope                invalid_scope (OAuth2)
    │   ├── UnknownExchange             unknown_exchange
    │   ├── UnknownEndpoint             unknown_endpoint
    │   ├── UnknownSymbol               unknown_symbol (market data)
    │   ├── UnsupportedTimeframe        unsupported_timeframe (market data)
    │   ├── DuplicateLabel              duplicate_label
    │   └── ConnectionLimitReached      connection_limit_reached
    ├── NotFound                        not_found (also for objects of another user)
    ├── AccessDenied                    the caller may not do this
    │   ├── InvalidClient               invalid_client
    │   ├── InvalidGrant                invalid_grant
    │   ├── InvalidToken                invalid_token
    │   ├── InsufficientScope           insufficient_scope
    │   ├── ClientIpNotAllowed          client_ip_not_allowed
    │   └── TooManyAttempts             too_many_attempts
    ├── KeyRejected                     the exchange key cannot be used as given
    │   ├── WithdrawPermissionEnabled   withdraw_permission_enabled (never overridable)
    │   ├── TradePermissionMissing      trade_permission_missing
    │   ├── InvalidCredentials          invalid_credentials
    │   ├── IpNotAllowed                ip_not_allowed
    │   ├── KeyExpired                  key_expired
    │   └── KeyRefusedAmbiguously       key_refused (the exchange will not say which check failed)
    └── ExchangeTrouble                 the exchange, not the key (retry later)
        ├── ExchangeUnavailable         exchange_unavailable
        ├── RateLimited                 rate_limited
        ├── RateBudgetExhausted         rate_budget_exhausted (our own budget, not the exchange;
        │                               retry_after: when it has room again, if known)
        └── ClockSkew                   clock_skew
"""

from __future__ import annotations

from typing import Any, ClassVar


class TresorError(Exception):
    """Base of every error a user or client can be shown."""

    code: ClassVar[str] = "error"
    default_message: ClassVar[str] = "Something went wrong."
    default_remedy: ClassVar[str] = "Try again; if it keeps happening, report it."

    def __init__(
        self,
        message: str | None = None,
        *,
        remedy: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.remedy = remedy or self.default_remedy
        self.details = details or {}
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


# -- input -------------------------------------------------------------------------------------
class InputError(TresorError):
    code = "invalid_input"
    default_message = "The request is not valid."
    default_remedy = "Correct the request and send it again."


class ValidationFailed(InputError):
    code = "validation_failed"


class InvalidScope(InputError):
    code = "invalid_scope"
    default_message = "That scope is unknown or not allowed for this client."
    default_remedy = "Ask only for scopes the client has: read, trade and/or admin."


class UnknownExchange(InputError):
    code = "unknown_exchange"
    default_message = "That exchange is not supported."
    default_remedy = "Use the id of a supported exchange, for example 'binance'."


class UnknownEndpoint(InputError):
    code = "unknown_endpoint"
    default_message = "That endpoint is not configured on this Tresor."
    default_remedy = (
        "Leave 'endpoint' out to use the exchange itself, or use one of the endpoints the "
        "operator configured (TRESOR_ENDPOINTS)."
    )


class UnknownSymbol(InputError):
    code = "unknown_symbol"
    default_message = "The exchange has no market with that symbol."
    default_remedy = (
        "Give a unified symbol, BASE/QUOTE in capitals (e.g. BTC/USDT); "
        "GET /v1/markets/{endpoint}/symbols lists the endpoint's markets."
    )


class UnsupportedTimeframe(InputError):
    code = "unsupported_timeframe"
    default_message = "The exchange does not offer candles of that timeframe."
    default_remedy = "Use one of the timeframes listed in the details (and by GET /v1/markets)."


class DuplicateLabel(InputError):
    code = "duplicate_label"
    default_message = "You already have a connection with that label."
    default_remedy = "Choose another label, or rotate the keys of the existing connection."


class ConnectionLimitReached(InputError):
    code = "connection_limit_reached"
    default_message = "You have reached the maximum number of connections."
    default_remedy = (
        "Remove a connection you no longer use, or ask the operator to raise the limit."
    )


# -- not found ---------------------------------------------------------------------------------
class NotFound(TresorError):
    code = "not_found"
    default_message = "There is no such object."
    default_remedy = "Check the id; list your objects to find the right one."


# -- access ------------------------------------------------------------------------------------
class AccessDenied(TresorError):
    code = "access_denied"
    default_message = "You may not do this."
    default_remedy = "Use credentials that are allowed to do it."


class InvalidClient(AccessDenied):
    code = "invalid_client"
    default_message = "The client id or client secret is wrong."
    default_remedy = "Check the client id and secret; an administrator can issue a new client."


class InvalidGrant(AccessDenied):
    code = "invalid_grant"
    default_message = "The refresh token is invalid, expired or already used."
    default_remedy = "Request a new access token with your client credentials."


class InvalidToken(AccessDenied):
    code = "invalid_token"
    default_message = "The access token is missing, invalid, expired or revoked."
    default_remedy = "Request a new token at POST /v1/auth/token and send it as 'Bearer <token>'."


class InsufficientScope(AccessDenied):
    code = "insufficient_scope"
    default_message = "The access token does not have the scope this needs."
    default_remedy = "Request a token with the needed scope (read, trade or admin)."


class ClientIpNotAllowed(AccessDenied):
    code = "client_ip_not_allowed"
    default_message = "This client may not be used from your IP address."
    default_remedy = "Call from an allowed address, or ask an administrator to allow this one."


class TooManyAttempts(AccessDenied):
    code = "too_many_attempts"
    default_message = "Too many failed attempts."
    default_remedy = "Wait before trying again; check the credentials you are using."

    def __init__(self, retry_after: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_after = retry_after
        self.details.setdefault("retry_after", retry_after)


# -- exchange keys -----------------------------------------------------------------------------
class KeyRejected(TresorError):
    code = "key_rejected"
    default_message = "The exchange key cannot be used."
    default_remedy = "Check the key on the exchange and add it again."


class WithdrawPermissionEnabled(KeyRejected):
    code = "withdraw_permission_enabled"
    default_message = "This key can withdraw funds. Tresor never accepts such a key."
    default_remedy = (
        "On the exchange, edit the key and disable withdrawals (or create a new key without "
        "them), then add it again. Tresor has no use for withdrawals and refuses keys that allow "
        "them."
    )


class TradePermissionMissing(KeyRejected):
    code = "trade_permission_missing"
    default_message = "This key was given as a trade key but cannot trade."
    default_remedy = (
        "On the exchange, enable spot trading on the key (for Binance: 'Enable Spot & Margin "
        "Trading'; keep withdrawals disabled), or give it as a read key instead."
    )


class InvalidCredentials(KeyRejected):
    code = "invalid_credentials"
    default_message = "The exchange does not recognise this API key or secret."
    default_remedy = (
        "Copy the API key and secret again from the exchange (whole, without spaces); if the key "
        "was deleted or regenerated, create a new one."
    )


class IpNotAllowed(KeyRejected):
    code = "ip_not_allowed"
    default_message = "The key does not allow requests from Tresor's IP address."
    default_remedy = (
        "Add Tresor's egress IP address(es) to the key's IP allow-list on the exchange."
    )


class KeyExpired(KeyRejected):
    code = "key_expired"
    default_message = "The key's permissions have expired."
    default_remedy = "Renew the key's permissions on the exchange, or create a new key."


class KeyRefusedAmbiguously(KeyRejected):
    code = "key_refused"
    default_message = (
        "The exchange refused the key without saying why: the key is wrong, Tresor's IP "
        "address is not allowed, or the key lacks a permission."
    )
    default_remedy = "Go through the checks listed in the details, in order."


# -- the exchange itself -----------------------------------------------------------------------
class ExchangeTrouble(TresorError):
    code = "exchange_trouble"
    default_message = "The exchange could not be used just now."
    default_remedy = "Nothing is wrong with your key; Tresor will retry. Try again later."


class ExchangeUnavailable(ExchangeTrouble):
    code = "exchange_unavailable"
    default_message = "The exchange is unreachable, failing or under maintenance."


class RateLimited(ExchangeTrouble):
    code = "rate_limited"
    default_message = "The exchange asked Tresor to slow down."

    def __init__(self, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_after = retry_after
        if retry_after is not None:
            self.details.setdefault("retry_after", retry_after)


class RateBudgetExhausted(ExchangeTrouble):
    code = "rate_budget_exhausted"
    default_message = (
        "Tresor's request budget for this exchange had no room in time; the request was not sent."
    )
    default_remedy = (
        "Nothing is wrong with your key; Tresor keeps below the exchange's limits and will retry. "
        "If it keeps happening, sync less often or spread the connections over more IP addresses."
    )

    def __init__(
        self, bucket: str, timeout: float, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.bucket = bucket
        self.timeout = timeout
        self.retry_after = retry_after
        self.details.setdefault("bucket", bucket)
        self.details.setdefault("timeout", timeout)
        if retry_after is not None:
            self.details.setdefault("retry_after", round(retry_after, 3))


class ClockSkew(ExchangeTrouble):
    code = "clock_skew"
    default_message = "Tresor's clock and the exchange's clock disagree too much."
    default_remedy = "Synchronise the server's clock (NTP), then test the connection again."
