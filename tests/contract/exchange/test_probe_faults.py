"""The exchange's own trouble (maintenance, rate limits, a clock it disagrees on, errors and
silence) ends up in the probe's report as such, never as a bad key and never as an exception."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.contract.exchange.conftest import FUNDS, UtcClock, credentials, target
from tests.support.simclient import TRADE, SimAdmin
from tresor.adapters.exchange import CcxtGateway
from tresor.domain.connections import (
    Ability,
    CapabilityReport,
    ConnectionStatus,
    ExchangeTarget,
    KeyRole,
    judge,
)
from tresor.domain.errors import RateLimited
from tresor.sim.server import free_port


async def probe_trade_key(sim: SimAdmin, gateway: CcxtGateway) -> CapabilityReport:
    key = sim.key(sim.account(FUNDS), TRADE)
    return await gateway.probe(target(sim), credentials(key))


def failure_code(report: CapabilityReport) -> str:
    assert report.failure is not None
    return report.failure.code


async def test_maintenance_is_exchange_unavailable(sim: SimAdmin, gateway: CcxtGateway) -> None:
    sim.faults(maintenance=True)
    report = await probe_trade_key(sim, gateway)
    assert failure_code(report) == "exchange_unavailable"
    assert report.authenticates is Ability.UNKNOWN
    verdict = judge(report, KeyRole.TRADE, datetime.now(UTC))
    assert verdict.status is ConnectionStatus.EXCHANGE_UNAVAILABLE


async def test_exhausted_request_weight_is_rate_limited_with_retry_after(
    sim: SimAdmin, gateway: CcxtGateway
) -> None:
    sim.faults(weight_limit=5)  # /api/v3/time (1) passes, /api/v3/account (20) does not
    report = await probe_trade_key(sim, gateway)
    assert failure_code(report) == "rate_limited"
    assert report.authenticates is Ability.UNKNOWN
    verdict = judge(report, KeyRole.TRADE, datetime.now(UTC))
    assert verdict.status is ConnectionStatus.RATE_LIMITED
    assert verdict.refusal is not None


async def test_exhausted_request_weight_carries_the_exchanges_retry_after(
    sim: SimAdmin, gateway: CcxtGateway
) -> None:
    sim.faults(weight_limit=5)
    key = sim.key(sim.account(FUNDS), TRADE)
    async with gateway.connect(target(sim), credentials(key)) as client:
        with pytest.raises(RateLimited) as caught:
            await client.fetch_balance()
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 60
    assert caught.value.details["retry_after"] == caught.value.retry_after


@pytest.mark.parametrize("offset_ms", [30_000, -5_000])
async def test_a_clock_the_exchange_rejects_is_clock_skew_with_the_measured_offset(
    sim: SimAdmin, gateway: CcxtGateway, offset_ms: int
) -> None:
    sim.faults(clock_offset_ms=offset_ms)
    report = await probe_trade_key(sim, gateway)
    assert failure_code(report) == "clock_skew"
    assert report.clock_offset_ms is not None
    assert abs(report.clock_offset_ms - offset_ms) < 1000
    assert report.failure is not None
    assert f"{abs(offset_ms) / 1000:.0f}" in report.failure.message
    assert report.authenticates is Ability.UNKNOWN


async def test_a_clock_offset_inside_the_window_is_measured_and_accepted(
    sim: SimAdmin, gateway: CcxtGateway
) -> None:
    sim.faults(clock_offset_ms=2_500)
    report = await probe_trade_key(sim, gateway)
    assert report.failure is None
    assert report.clock_offset_ms is not None
    assert abs(report.clock_offset_ms - 2_500) < 1000


@pytest.mark.parametrize("fault", ["error_503_html", "error_5xx"])
async def test_server_errors_are_exchange_unavailable(
    sim: SimAdmin, gateway: CcxtGateway, fault: str
) -> None:
    sim.faults(**{fault: {"share": 1.0}})
    report = await probe_trade_key(sim, gateway)
    assert failure_code(report) == "exchange_unavailable"


async def test_an_exchange_that_does_not_answer_in_time_is_unavailable(sim: SimAdmin) -> None:
    sim.faults(hang={"share": 1.0, "seconds": 1})
    gateway = CcxtGateway(egress_ips=(), clock=UtcClock(), timeout_ms=200)
    try:
        report = await probe_trade_key(sim, gateway)
    finally:
        await gateway.aclose()
    assert failure_code(report) == "exchange_unavailable"
    assert report.failure is not None
    assert report.failure.checks == ()


async def test_an_endpoint_nobody_listens_on_is_unavailable(
    sim: SimAdmin, gateway: CcxtGateway
) -> None:
    key = sim.key(sim.account(FUNDS), TRADE)
    nowhere = ExchangeTarget("binance", "nowhere", f"http://127.0.0.1:{free_port()}")
    report = await gateway.probe(nowhere, credentials(key))
    assert failure_code(report) == "exchange_unavailable"
