"""The redacting filter: registered secrets and anything credential-shaped are masked in
every record, formatted arguments and tracebacks included; no record is dropped."""

from __future__ import annotations

import logging
import sys

import pytest

from tresor.adapters.exchange.redact import CCXT_LOGGERS, MASK, SecretRedactor, redact

KEY = "Kq7PZ2mVbXc9LrT4hYw1NsD8eFgJ3aU6oIpQ5zRx0CvBnM2lKjH7gF4dS1aZ9qWe"
SECRET = "short+secret/with=chars"


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("GET /api/v3/account?timestamp=1&signature=abc123def", "abc123def"),
        ("{'X-MBX-APIKEY': 'plainkeyvalue'}", "plainkeyvalue"),
        ('{"KC-API-PASSPHRASE": "pass-phrase"}', "pass-phrase"),
        ("OK-ACCESS-SIGN: c2lnbmF0dXJl", "c2lnbmF0dXJl"),
        ("API-Key=krakenkey", "krakenkey"),
        ('{"apiKey": "k-123"}', "k-123"),
        ('{"secret": "topsecret"}', "topsecret"),
        (f"some text {KEY} more", KEY),
        ("hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 x", "9f86d0818"),
    ],
)
def test_credential_shaped_values_are_masked(text: str, hidden: str) -> None:
    redacted = redact(text)
    assert hidden not in redacted
    assert MASK in redacted


def test_registered_secrets_are_masked_also_url_encoded() -> None:
    text = f"body={SECRET} query=short%2Bsecret%2Fwith%3Dchars"
    redacted = redact(text, [SECRET])
    assert "short" not in redacted


def test_ordinary_log_text_is_left_alone() -> None:
    text = "GET http://127.0.0.1:8900/sapi/v1/capital/withdraw/history 200 x-mbx-used-weight: 21"
    assert redact(text) == text


def boom() -> None:
    raise ValueError(f"boom {SECRET}")


def make_record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            boom()
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("ccxt", logging.DEBUG, __file__, 1, msg, args or None, exc_info)


def test_filter_masks_arguments_and_tracebacks_and_keeps_the_record() -> None:
    redactor = SecretRedactor()
    redactor.add([SECRET])
    record = make_record("%s %s", "headers", {"X-MBX-APIKEY": "abc"}, exc=True)
    assert redactor.filter(record) is True
    formatted = logging.Formatter().format(record)
    assert SECRET not in formatted
    assert "'X-MBX-APIKEY': '**********'" in formatted
    assert "ValueError: boom **********" in formatted


def test_filter_survives_a_bad_format_string() -> None:
    redactor = SecretRedactor()
    redactor.add([SECRET])
    record = make_record("%d apples", SECRET)
    redactor.filter(record)
    assert SECRET not in record.getMessage()


def test_secrets_are_counted_so_one_close_does_not_unregister_another() -> None:
    redactor = SecretRedactor()
    redactor.add([SECRET, ""])
    redactor.add([SECRET])
    redactor.discard([SECRET])
    assert redactor.secrets() == (SECRET,)
    redactor.discard([SECRET])
    assert redactor.secrets() == ()


def test_installed_filter_redacts_records_of_the_ccxt_loggers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redactor = SecretRedactor()
    redactor.add([SECRET])
    redactor.install()
    try:
        caplog.set_level(logging.DEBUG, logger="ccxt")
        for name in CCXT_LOGGERS:
            logging.getLogger(name).debug("request %s", SECRET)
    finally:
        redactor.uninstall()
    assert len(caplog.records) == len(CCXT_LOGGERS)
    assert SECRET not in caplog.text
    assert all(redactor not in logging.getLogger(n).filters for n in CCXT_LOGGERS)
