"""Binance's error catalogue, as the simulator answers it.

Every answer the simulator gives for a bad request is a ``SimError``: an HTTP status, a Binance
error ``code`` and the exact ``msg`` text of Binance's "Error codes for Binance" document, because
clients (ccxt among them) match on both. The tree is flat on purpose::

    SimError(http_status, code, msg, retry_after=None, headers=())
      raised by the request pipeline (auth, limits, faults) and by the endpoint handlers,
      rendered by ``app.py`` as ``{"code": code, "msg": msg}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SimError(Exception):
    """A Binance error answer."""

    http_status: int
    code: int
    msg: str
    retry_after: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.http_status} {self.code} {self.msg}"


# Exact texts (Binance spot errors.md). %s placeholders are filled by the helpers below.
UNKNOWN = (-1000, "An unknown error occurred while processing the request.")
INTERNAL = (-1001, "Internal error; unable to process your request. Please try again.")
UNAUTHORIZED = (-1002, "You are not authorized to execute this request.")
TIMEOUT = (
    -1007,
    "Timeout waiting for response from backend server. Send status unknown; "
    "execution status unknown.",
)
SERVER_BUSY = (
    -1008,
    "Server is currently overloaded with other requests. Please try again in a few minutes.",
)
UNSUPPORTED_OPERATION = (-1020, "This operation is not supported.")
INVALID_TIMESTAMP = (-1021, "Timestamp for this request is outside of the recvWindow.")
INVALID_SIGNATURE = (-1022, "Signature for this request is not valid.")
NO_SUCH_ORDER = (-2013, "Order does not exist.")
BAD_API_KEY_FMT = (-2014, "API-key format invalid.")
REJECTED_MBX_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")
MAINTENANCE = (-1016, "This service is no longer available.")
INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
UNKNOWN_ORDER = "Unknown order sent."
DUPLICATE_ORDER = "Duplicate order sent."
MARKET_CLOSED = "Market is closed."


def err(pair: tuple[int, str], http_status: int = 400) -> SimError:
    code, msg = pair
    return SimError(http_status, code, msg)


def too_much_weight(limit: int, retry_after: int) -> SimError:
    return SimError(
        429,
        -1003,
        f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API.",
        retry_after=retry_after,
    )


def ip_banned(until_ms: int, retry_after: int) -> SimError:
    return SimError(
        418,
        -1003,
        f"Way too much request weight used; IP banned until {until_ms}. "
        "Please use WebSocket Streams for live updates to avoid bans.",
        retry_after=retry_after,
    )


def too_many_orders(limit: int, interval: str, retry_after: int) -> SimError:
    return SimError(
        429,
        -1015,
        f"Too many new orders; current limit is {limit} orders per {interval}.",
        retry_after=retry_after,
    )


def illegal_chars(name: str) -> SimError:
    return SimError(
        400,
        -1100,
        f"Illegal characters found in parameter '{name}'; "
        "legal range is '^[a-zA-Z0-9-_.]{1,36}$'.",
    )


def duplicate_param() -> SimError:
    return SimError(400, -1101, "Duplicate values for a parameter detected.")


def unread_params(read: int, sent: int) -> SimError:
    return SimError(
        400,
        -1104,
        f"Not all sent parameters were read; read '{read}' parameter(s) but was sent '{sent}'.",
    )


def mandatory(name: str) -> SimError:
    return SimError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def mandatory_one_of(a: str, b: str) -> SimError:
    return SimError(400, -1102, f"Param '{a}' or '{b}' must be sent, but both were empty/null!")


def empty_param(name: str) -> SimError:
    return SimError(400, -1105, f"Parameter '{name}' was empty.")


def not_required(name: str) -> SimError:
    return SimError(400, -1106, f"Parameter '{name}' sent when not required.")


def too_many_params() -> SimError:
    return SimError(400, -1101, "Too many parameters sent for this endpoint.")


def bad_precision() -> SimError:
    return SimError(400, -1111, "Parameter 'quantity' has too much precision.")


def bad_precision_of(name: str) -> SimError:
    return SimError(400, -1111, f"Parameter '{name}' has too much precision.")


def tif_not_required() -> SimError:
    return SimError(400, -1106, "Parameter 'timeInForce' sent when not required.")


def invalid_tif() -> SimError:
    return SimError(400, -1115, "Invalid timeInForce.")


def invalid_order_type() -> SimError:
    return SimError(400, -1116, "Invalid orderType.")


def invalid_side() -> SimError:
    return SimError(400, -1117, "Invalid side.")


def invalid_interval() -> SimError:
    return SimError(400, -1120, "Invalid interval.")


def invalid_symbol() -> SimError:
    return SimError(400, -1121, "Invalid symbol.")


def bad_recv_window() -> SimError:
    return SimError(
        400, -1102, "'recvWindow' contains unexpected value. Cannot be greater than 60000."
    )


def timestamp_ahead() -> SimError:
    return SimError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def window_too_long(hours: int) -> SimError:
    return SimError(400, -1127, f"More than {hours} hours between startTime and endTime.")


def bad_combination() -> SimError:
    return SimError(400, -1128, "Combination of optional parameters invalid.")


def invalid_value(name: str) -> SimError:
    return SimError(400, -1130, f"Invalid data sent for a parameter. (parameter: '{name}')")


def illegal_value(name: str, value: str) -> SimError:
    return SimError(
        400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{value}'."
    )


def filter_failure(name: str) -> SimError:
    return SimError(400, -1013, f"Filter failure: {name}")


def market_closed() -> SimError:
    """A new order on a symbol that is not TRADING. errors.md lists "Market is closed." ("The
    symbol is not trading.") among the order-placement messages, which -1013 INVALID_MESSAGE
    points to; -1013 is the code the live exchange answers it with (python-binance issue 1329,
    ccxt PR 6570: ``{"code":-1013,"msg":"Market is closed."}``)."""
    return SimError(400, -1013, MARKET_CLOSED)


def new_order_rejected(msg: str) -> SimError:
    return SimError(400, -2010, msg)


def cancel_rejected(msg: str = UNKNOWN_ORDER) -> SimError:
    return SimError(400, -2011, msg)
