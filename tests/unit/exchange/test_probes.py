"""``probe_key`` for the exchanges the simulator does not speak (OKX, KuCoin, Kraken, any other
ccxt exchange), with a stand-in for the ccxt instance: which calls it makes, how it reads them,
and how failures land in the report rather than escaping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import ccxt
import pytest

from tests.unit.exchange.samples import KRAKEN_KEY_INFO, KUCOIN_KEY_INFO, OKX_CONFIG
from tresor.adapters.exchange.client import ExchangeClient
from tresor.adapters.exchange.probes import NO_ENDPOINT, clock_offset, probe_key
from tresor.domain.connections import RIGHTS, Ability
from tresor.domain.errors import ValidationFailed

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SERVER_MS = 1_767_323_045_000


class FakeCcxt:
    """Just enough of an async ccxt instance: answers or errors per method name."""

    apiKey = "fake-key"
    secret = "fake-secret"
    password = None
    last_response_headers: dict[str, str] | None = None

    def __init__(self, answers: dict[str, Any], *, fetch_time: bool = True) -> None:
        self.answers = answers
        self.has = {"fetchTime": fetch_time}
        self.calls: list[str] = []
        self.closed = False
        for name in answers:
            setattr(self, name, self._method(name))

    def _method(self, name: str) -> Any:
        async def call(*args: Any) -> Any:
            self.calls.append(name)
            answer = self.answers[name]
            if isinstance(answer, BaseException):
                raise answer
            return answer

        return call

    async def close(self) -> None:
        self.closed = True


def client_for(exchange: str, answers: dict[str, Any], **kw: Any) -> ExchangeClient:
    return ExchangeClient(FakeCcxt(answers, **kw), exchange=exchange, egress_ips=("203.0.113.7",))


def local_clock(*readings: float) -> Any:
    values = iter(readings)
    return lambda: next(values)


async def probe(client: ExchangeClient) -> Any:
    return await probe_key(client, lambda: NOW, local_clock(SERVER_MS - 50, SERVER_MS + 10))


async def test_okx_probe_reads_the_account_config() -> None:
    client = client_for("okx", {"fetch_time": SERVER_MS, "private_get_account_config": OKX_CONFIG})
    report = await probe(client)
    assert report.failure is None
    assert report.checked_at == NOW
    assert report.clock_offset_ms == 20
    assert report.right("withdraw") is Ability.YES
    assert report.account_type == "futures"
    assert client._ex.calls == ["fetch_time", "private_get_account_config"]


async def test_kucoin_probe_reads_the_api_key_info() -> None:
    client = client_for(
        "kucoin", {"fetch_time": SERVER_MS, "private_get_user_api_key": KUCOIN_KEY_INFO}
    )
    report = await probe(client)
    assert report.right("spot_trade") is Ability.YES
    assert report.ip_restricted is Ability.YES


async def test_kraken_probe_reads_get_api_key_info() -> None:
    client = client_for(
        "kraken", {"fetch_time": SERVER_MS, "private_post_getapikeyinfo": KRAKEN_KEY_INFO}
    )
    report = await probe(client)
    assert report.right("withdraw") is Ability.YES
    assert report.unknown_reasons.keys() == {"margin"}


async def test_kraken_without_the_implicit_method_authenticates_and_says_why_unknown() -> None:
    client = client_for("kraken", {"fetch_time": SERVER_MS, "fetch_balance": {"total": {}}})
    report = await probe(client)
    assert report.authenticates is Ability.YES
    assert report.right("read") is Ability.YES
    assert report.right("withdraw") is Ability.UNKNOWN
    assert "GetApiKeyInfo" in report.unknown_reasons["withdraw"]
    assert client._ex.calls == ["fetch_time", "fetch_balance"]


async def test_another_exchange_authenticates_with_the_balance_and_reports_unknown_rights() -> None:
    client = client_for("bitstamp", {"fetch_balance": {"total": {}}}, fetch_time=False)
    report = await probe(client)
    assert report.authenticates is Ability.YES
    assert report.clock_offset_ms is None
    assert {report.right(r) for r in RIGHTS if r != "read"} == {Ability.UNKNOWN}
    assert set(report.unknown_reasons.values()) == {NO_ENDPOINT}


async def test_a_refused_key_is_a_failed_report_not_an_exception() -> None:
    error = ccxt.AuthenticationError('okx {"msg":"Invalid OK-ACCESS-KEY","code":"50111"}')
    client = client_for("okx", {"fetch_time": SERVER_MS, "private_get_account_config": error})
    report = await probe(client)
    assert report.failure is not None
    assert report.failure.code == "invalid_credentials"
    assert report.authenticates is Ability.NO
    assert report.clock_offset_ms == 20


async def test_a_rejected_timestamp_is_clock_skew_with_the_measured_offset() -> None:
    error = ccxt.InvalidNonce('kucoin {"code":"400002","msg":"KC-API-TIMESTAMP Invalid"}')
    client = client_for("kucoin", {"fetch_time": SERVER_MS, "private_get_user_api_key": error})
    report = await probe_key(client, lambda: NOW, local_clock(SERVER_MS + 8000, SERVER_MS + 8000))
    assert report.failure is not None
    assert report.failure.code == "clock_skew"
    assert report.clock_offset_ms == -8000
    assert "8.0 s behind" in report.failure.message


async def test_an_exchange_that_is_down_fails_before_authentication() -> None:
    client = client_for("okx", {"fetch_time": ccxt.ExchangeNotAvailable("okx GET /time")})
    report = await probe(client)
    assert report.failure is not None
    assert report.failure.code == "exchange_unavailable"
    assert report.authenticates is Ability.UNKNOWN
    assert report.clock_offset_ms is None


async def test_a_request_tresor_got_wrong_is_raised_not_reported() -> None:
    error = ccxt.BadRequest("okx parameter error")
    client = client_for("okx", {"fetch_time": SERVER_MS, "private_get_account_config": error})
    with pytest.raises(ValidationFailed):
        await probe(client)


async def test_clock_offset_is_server_time_minus_the_request_midpoint() -> None:
    client = client_for("okx", {"fetch_time": 10_000})
    assert await clock_offset(client, local_clock(9_000, 9_100)) == 950
    no_time = client_for("okx", {}, fetch_time=False)
    assert await clock_offset(no_time, local_clock()) is None
