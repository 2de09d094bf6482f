"""Keeping exchange secrets out of text: log records (ccxt's own debug and verbose output
included) and the messages of translated errors.

Two kinds of thing are redacted:

- the secrets of the clients that are open right now (API keys, secrets, passphrases), which
  the gateway registers when it builds a client and forgets when it closes it;
- anything that *looks* like a credential whoever it belongs to: ``signature=...`` in a query
  string or body, the value of an authentication header (``X-MBX-APIKEY``, ``KC-API-*``,
  ``OK-ACCESS-*``, Kraken's ``API-Key``/``API-Sign``), ``apiKey``/``secret``/``password`` fields,
  and long runs of letters and digits shaped like a Binance key or a hex signature.

ccxt logs through ``logging.getLogger("ccxt.base.exchange")`` and prints its ``verbose`` output
with ``print``; the clients the gateway builds log both through the ``ccxt`` logger instead
(see ``client.py``), and the filter is installed on both loggers. A logger's filters only see
records created on that logger, not those propagated from its children, hence both.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable
from urllib.parse import quote

MASK = "**********"
CCXT_LOGGERS = ("ccxt", "ccxt.base.exchange")

# Header names and fields whose value is a credential (case-insensitive), followed by the
# separator as it appears in a dict repr, JSON, a query string or an HTTP header line.
_FIELD = re.compile(
    r"(?i)(x-mbx-apikey|kc-api-key|kc-api-sign|kc-api-passphrase|ok-access-key|ok-access-sign"
    r"|ok-access-passphrase|api-key|api-sign|apikey|api_key|secret|password|passphrase"
    r"|signature)"
    r"(['\"]?\s*[:=]\s*['\"]?)"
    r"([^'\"\s,&}\]]+)"
)
# A Binance key is 64 letters and digits; an HMAC-SHA256 signature is 64 hex digits. Long
# runs like these are never anything a log reader needs.
_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{40,}"
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with ``secrets`` (and their URL-encoded forms) and credential-shaped values
    replaced by a mask."""
    for value in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(value, MASK)
        encoded = quote(value, safe="")
        if encoded != value:
            text = text.replace(encoded, MASK)
    text = _FIELD.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return _TOKEN.sub(MASK, text)


class SecretRedactor(logging.Filter):
    """A logging filter that redacts every record it sees, in place, and never drops one.

    The secrets of open clients are registered with ``add`` and forgotten with ``discard``
    (counted, so two clients with the same key do not unregister each other).
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            self._secrets.update(v for v in values if v)

    def discard(self, values: Iterable[str]) -> None:
        with self._lock:
            self._secrets.subtract(v for v in values if v)
            for value in [v for v, n in self._secrets.items() if n <= 0]:
                del self._secrets[value]

    def secrets(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._secrets)

    def redact(self, text: str) -> str:
        return redact(text, self.secrets())

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a format string that does not match its arguments
            message = f"{record.msg} {record.args}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True

    def install(self, names: Iterable[str] = CCXT_LOGGERS) -> None:
        for name in names:
            logging.getLogger(name).addFilter(self)

    def uninstall(self, names: Iterable[str] = CCXT_LOGGERS) -> None:
        for name in names:
            logging.getLogger(name).removeFilter(self)
