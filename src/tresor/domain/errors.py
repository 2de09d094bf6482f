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
    │   ├── ConnectionLimitReached      connection_limit_reached
    │   └── WeakPassword                password_too_weak (too short or too long)
    ├── NotFound                        not_found (also for objects of another user)
    ├── AccessDenied                    the caller may not do this
    │   ├── InvalidClient               invalid_client
    │   ├── InvalidGrant                invalid_grant
    │   ├── InvalidToken                invalid_token
    │   ├── InsufficientScope           insufficient_scope
    │   ├── ClientIpNotAllowed          client_ip_not_allowed
    │   ├── TooManyAttempts             too_many_attempts (also signing in to the dashboard)
    │   ├── SignInFailed                sign_in_failed (unknown user and wrong password alike)
    │   ├── TwoFactorRequired           two_factor_required (the password was right; send a code)
    │   ├── InvalidTwoFactorCode        two_factor_invalid (wrong, used or replayed code)
    │   ├── TwoFactorUnreadable         two_factor_unreadable (its stored secret cannot be read)
    │   └── SessionExpired              session_expired (dashboard: sign in again)
    ├── OrderRefused                    the order was not placed: Tresor's pre-trade checks or
    │   │                               the exchange said no (fix the order and send it again)
    │   ├── InvalidOrder                invalid_order (details.rule names the failing rule)
    │   ├── InsufficientFunds           insufficient_funds (details: asset, needed, available)
    │   ├── MarketClosed                market_closed (halted, in a break or delisted)
    │   └── TradeKeyRequired            trade_key_required (the connection has only a read key)
    ├── Conflict                        the request clashes with an earlier one or a state
    │   ├── IdempotencyKeyReused        idempotency_key_reused (same key, another request)
    │   ├── IdempotencyInProgress       idempotency_in_progress (same key, still being handled)
    │   └── OrderNotOpen                order_not_open (cancel or replace of a finished order)
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
        ├── ClockSkew                   clock_skew
        └── TradingWorkerUnavailable    trading_worker_unavailable (distributed mode: no worker
                                        answered an API process's trading request in time)
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


class WeakPassword(InputError):
    code = "password_too_weak"
    default_message = "That password is too weak."
    default_remedy = "Choose a longer passphrase, for example a few unrelated words."


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


class SignInFailed(AccessDenied):
    """The same for an unknown user and a wrong password, so it tells nobody which names
    exist."""

    code = "sign_in_failed"
    default_message = "The user name or the password is wrong."
    default_remedy = (
        "Check both and try again; after several failures, wait a few minutes. An "
        "administrator can set a new password: tresor admin set-password NAME."
    )


class TwoFactorRequired(AccessDenied):
    code = "two_factor_required"
    default_message = "This account signs in with a two-factor code as well."
    default_remedy = (
        "Enter the 6-digit code your authenticator app shows, or one of your recovery codes."
    )


class InvalidTwoFactorCode(AccessDenied):
    code = "two_factor_invalid"
    default_message = "The two-factor code is wrong or was already used."
    default_remedy = (
        "Enter the code your authenticator app shows now (check the phone's clock if codes keep "
        "failing), or an unused recovery code."
    )


class TwoFactorUnreadable(AccessDenied):
    code = "two_factor_unreadable"
    default_message = (
        "This account's two-factor secret cannot be read: it is damaged, or the vault's key "
        "changed without it being re-wrapped."
    )
    default_remedy = (
        "Sign in with one of your recovery codes and set two-factor up again, or ask an "
        "administrator: tresor admin reset-two-factor NAME."
    )


class SessionExpired(AccessDenied):
    code = "session_expired"
    default_message = "You are signed out: the session ended or was unused for too long."
    default_remedy = "Sign in again."


# -- orders ------------------------------------------------------------------------------------
class OrderRefused(TresorError):
    code = "order_refused"
    default_message = "The order was not placed."
    default_remedy = "Correct the order and send it again."


class InvalidOrder(OrderRefused):
    code = "invalid_order"
    default_message = "The order breaks one of the market's rules."
    default_remedy = (
        "Fix the value named in 'rule' (the details give the market's limit), then send it again."
    )

    def __init__(self, rule: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rule = rule
        self.details.setdefault("rule", rule)


class InsufficientFunds(OrderRefused):
    code = "insufficient_funds"
    default_message = "The account does not have enough free balance for this order."
    default_remedy = (
        "Lower the amount, deposit more on the exchange, or cancel open orders that lock funds."
    )


class MarketClosed(OrderRefused):
    code = "market_closed"
    default_message = "The market is not trading now (halted, in a break or delisted)."
    default_remedy = "Wait until the exchange reopens the market, or trade another symbol."


class TradeKeyRequired(OrderRefused):
    code = "trade_key_required"
    default_message = "This connection has no key that may trade; its read key is never used to."
    default_remedy = (
        "Add a trade key to the connection (read + trade, withdrawals disabled) with "
        "PUT /v1/connections/{id}/keys/trade, then send the order again."
    )


# -- conflicts ---------------------------------------------------------------------------------
class Conflict(TresorError):
    code = "conflict"
    default_message = "The request conflicts with an earlier one or with the object's state."
    default_remedy = "Read the object's current state, then decide what to send."


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used for a different request."
    default_remedy = (
        "Use a new Idempotency-Key for a new request; resend the same key only with the very "
        "same request to get its original result."
    )


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    default_message = "A request with this Idempotency-Key is still being handled."
    default_remedy = "Wait a moment, then send the same request again to get its result."


class OrderNotOpen(Conflict):
    code = "order_not_open"
    default_message = "The order is no longer open."
    default_remedy = "Read the order (GET /v1/orders/{id}) to see how it ended."


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


class TradingWorkerUnavailable(ExchangeTrouble):
    code = "trading_worker_unavailable"
    default_message = "No trading worker answered in time."
    default_remedy = (
        "Send the same request again with the same Idempotency-Key: it is never carried out "
        "twice. If it keeps happening, the operator should check that 'tresor worker' runs."
    )


def error_to_dict(error: TresorError) -> dict[str, Any]:
    """What an error says, to be kept and raised again (``error_from_dict``)."""
    return {
        "code": error.code,
        "message": error.message,
        "remedy": error.remedy,
        "details": error.details,
    }


def _kinds(cls: type[TresorError]) -> list[type[TresorError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _kinds(sub)
    return found


def error_from_dict(data: dict[str, Any]) -> TresorError:
    """The error ``error_to_dict`` kept, as an instance of the class with its code (the same
    message, remedy and details; a code no class has comes back as a ``TresorError``)."""
    code = data.get("code")
    cls = next((c for c in _kinds(TresorError) if c.code == code), TresorError)
    error = cls.__new__(cls)
    TresorError.__init__(
        error,
        str(data.get("message") or ""),
        remedy=str(data.get("remedy") or "") or None,
        details=dict(data.get("details") or {}),
    )
    for name, value in error.details.items():  # e.g. InvalidOrder.rule, RateLimited.retry_after
        if name in ("rule", "retry_after") and not hasattr(error, name):
            setattr(error, name, value)
    return error
