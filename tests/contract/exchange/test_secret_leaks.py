"""No secret leaves the gateway: not in ccxt's debug logs or its verbose output (which ccxt
prints to stdout unless told otherwise), not in reports, not in errors or their causes."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from tests.contract.exchange.conftest import FUNDS, UtcClock, credentials, target
from tests.support.simclient import READ_ONLY, TRADE, SimAdmin
from tresor.adapters.exchange import CcxtGateway
from tresor.domain.connections import report_to_dict
from tresor.domain.errors import ExchangeUnavailable, KeyRefusedAmbiguously, TresorError

HEX_SIGNATURE = re.compile(r"\b[0-9a-f]{64}\b")


@pytest.fixture
async def verbose_gateway() -> AsyncIterator[CcxtGateway]:
    gateway = CcxtGateway(egress_ips=("203.0.113.7",), clock=UtcClock(), verbose=True)
    yield gateway
    await gateway.aclose()


def secrets_of(*keys: dict[str, Any]) -> list[str]:
    return [k[field] for k in keys for field in ("api_key", "secret")]


def error_text(error: TresorError) -> str:
    cause = error.__cause__
    return " ".join(
        [
            error.message,
            error.remedy,
            json.dumps(error.details, default=str),
            repr(error),
            str(error),
            f"{type(cause).__name__}: {cause}" if cause is not None else "",
            str(error.__context__),
        ]
    )


async def test_no_secret_in_ccxt_debug_logs_verbose_output_or_reports(
    sim: SimAdmin,
    verbose_gateway: CcxtGateway,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG, logger="ccxt")
    good = sim.key(sim.account(FUNDS), TRADE)
    reader = sim.key(sim.account(FUNDS), READ_ONLY)
    fenced = sim.key(sim.account(FUNDS), TRADE, ip_whitelist=["198.51.100.1"])
    forged = {**sim.key(sim.account(FUNDS), TRADE), "secret": "f" * 64}
    reports = [
        await verbose_gateway.probe(target(sim), credentials(key))
        for key in (good, reader, fenced, forged)
    ]
    errors: list[TresorError] = []
    async with verbose_gateway.connect(target(sim), credentials(good)) as client:
        ticker = await client.fetch_ticker("BTC/USDT")
        price = (Decimal(str(ticker["bid"])) * Decimal("0.98")).quantize(Decimal("0.01"))
        order = await client.create_order(
            symbol="BTC/USDT", side="buy", order_type="limit", amount=Decimal("0.001"), price=price
        )
        await client.cancel_order(order["id"], "BTC/USDT")
    async with verbose_gateway.connect(target(sim), credentials(reader)) as client:
        with pytest.raises(KeyRefusedAmbiguously) as refused:
            await client.create_order(
                symbol="BTC/USDT", side="buy", order_type="limit", amount=Decimal("1"), price=price
            )
        errors.append(refused.value)

    out, err = capsys.readouterr()
    logs = caplog.text
    assert "fetch Request: binance POST" in logs  # ccxt's verbose output went to the log
    assert "apiRestrictions" in logs
    assert "X-MBX-APIKEY': '**********'" in logs
    assert "signature=**********" in logs
    assert "fetch Request" not in out
    everything = "\n".join(
        [logs, out, err]
        + [json.dumps(report_to_dict(r)) + repr(r) for r in reports]
        + [error_text(e) for e in errors]
    )
    for secret in secrets_of(good, reader, fenced, forged):
        assert secret not in everything
    assert not HEX_SIGNATURE.search(everything)
    assert [r.failure.code if r.failure else None for r in reports] == [
        None,
        None,
        "key_refused",
        "invalid_credentials",
    ]


async def test_a_timed_out_signed_request_leaves_no_signature_in_the_error(
    sim: SimAdmin, caplog: pytest.LogCaptureFixture
) -> None:
    """ccxt names the failed URL, signed query string included, in a timeout's message."""
    caplog.set_level(logging.DEBUG, logger="ccxt")
    sim.faults(hang={"share": 1.0, "seconds": 1}, paths=["/sapi/v1/account/apiRestrictions"])
    key = sim.key(sim.account(FUNDS), TRADE)
    gateway = CcxtGateway(egress_ips=(), clock=UtcClock(), timeout_ms=200, verbose=True)
    try:
        async with gateway.connect(target(sim), credentials(key)) as client:
            with pytest.raises(ExchangeUnavailable) as caught:
                await client.binance_api_restrictions()
    finally:
        await gateway.aclose()
    text = error_text(caught.value) + caplog.text
    assert "apiRestrictions?timestamp=" in caught.value.details["exchange_message"]
    assert "signature=**********" in caught.value.details["exchange_message"]
    assert caught.value.__cause__ is not None
    assert caught.value.__cause__.__traceback__ is None
    assert caught.value.__context__ is None
    for secret in secrets_of(key):
        assert secret not in text
    assert not HEX_SIGNATURE.search(text)
