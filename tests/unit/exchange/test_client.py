"""``ExchangeClient`` is an allow-list with no path to withdrawals or transfers, and
``build_ccxt`` points ccxt at an operator's endpoint the way the simulator needs (no network)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import ccxt
import pytest

from tresor.adapters.exchange import CcxtGateway, ExchangeClient
from tresor.adapters.exchange.client import build_ccxt, rewrite_hosts
from tresor.domain.connections import Credentials, ExchangeTarget
from tresor.domain.errors import UnknownExchange, ValidationFailed
from tresor.domain.secrets import Secret

KEY = Secret("k" * 64)
SECRET = Secret("s" * 64)
CREDS = Credentials(api_key=KEY, secret=SECRET)
SIM = ExchangeTarget(exchange="binance", endpoint="sim", url="http://127.0.0.1:8900")

ALLOWED = {
    # reading
    "load_markets",
    "fetch_time",
    "fetch_balance",
    "fetch_ticker",
    "fetch_order_book",
    "fetch_ohlcv",
    "fetch_my_trades",
    "fetch_orders",
    "fetch_open_orders",
    "fetch_order",
    "fetch_deposits",
    "fetch_withdrawals",
    "fetch_tickers",
    "markets",
    "timeframes",  # candle timeframes ccxt knows (no request)
    "timeframe_seconds",
    "rate_limit_ms",
    "binance_raw",  # a fixed map of read endpoints (test below)
    # trading
    "precision_mode",  # how the markets' precisions read (no request)
    "create_order",
    "fetch_order_by_client_id",  # the lookup that keeps an order from being placed twice
    "fetch_order_trades",
    "cancel_order",
    "order_room",  # a look at the key's order budget (no request)
    # what the key may do
    "binance_api_restrictions",
    "binance_account",
    "okx_account_config",
    "kucoin_api_key_info",
    "kraken_api_key_info",
    # the client itself
    "adopt_markets",  # markets shared between the clients of one endpoint (no request)
    "lend_markets",
    "open",
    "close",
    "closed",
    "has",
    "exchange",
}


@pytest.fixture
async def client() -> AsyncIterator[ExchangeClient]:
    c = ExchangeClient.open(SIM, CREDS)
    yield c
    await c.close()


def test_the_public_surface_is_exactly_the_allow_list() -> None:
    assert {n for n in dir(ExchangeClient) if not n.startswith("_")} == ALLOWED


def test_no_attribute_can_withdraw_or_transfer(client: ExchangeClient) -> None:
    risky = {n for n in dir(client) if "withdraw" in n.lower() or "transfer" in n.lower()}
    # the history of past withdrawals is a read; nothing else mentions them
    assert risky == {"fetch_withdrawals"}
    assert hasattr(client._ex, "withdraw")  # what is being kept out of reach


@pytest.mark.parametrize(
    "name",
    [
        "withdraw",
        "transfer",
        "request",
        "fetch",
        "fetch2",
        "private_post_capital_withdraw_apply",
        "sapi_post_asset_transfer",
        "sapiPostCapitalWithdrawApply",
        "fetch_deposit_address",
        "apiKey",
        "secret",
    ],
)
def test_arbitrary_attributes_are_not_forwarded_to_ccxt(client: ExchangeClient, name: str) -> None:
    with pytest.raises(AttributeError):
        getattr(client, name)


def test_the_client_defines_no_attribute_forwarding_and_takes_no_new_attributes(
    client: ExchangeClient,
) -> None:
    assert "__getattr__" not in vars(ExchangeClient)
    assert ExchangeClient.__getattribute__ is object.__getattribute__
    with pytest.raises(AttributeError):
        client.withdraw = lambda: None  # type: ignore[attr-defined]


def test_repr_shows_no_credentials(client: ExchangeClient) -> None:
    assert KEY.reveal() not in repr(client)


async def test_hosts_are_rewritten_in_every_url_keeping_paths() -> None:
    ex = build_ccxt(SIM, CREDS)
    try:
        urls = ex.urls["api"]
        assert urls["sapi"] == "http://127.0.0.1:8900/sapi/v1"
        assert urls["public"] == "http://127.0.0.1:8900/api/v3"
        assert all(u.startswith("http://127.0.0.1:8900") for u in urls.values())
    finally:
        await ex.close()


def test_rewrite_hosts_handles_nested_tables_and_templates() -> None:
    api = {"rest": "https://{hostname}", "v": {"a": "https://x.example/p/q"}, "n": None}
    assert rewrite_hosts(api, "http://h:1") == {
        "rest": "http://h:1",
        "v": {"a": "http://h:1/p/q"},
        "n": None,
    }


async def test_binance_on_an_endpoint_gets_the_spot_error_table_and_spot_options() -> None:
    ex = build_ccxt(SIM, CREDS, timeout_ms=1234)
    try:
        # -1099 is an AuthenticationError in Binance's spot table only
        assert ex.exceptions["exact"]["-1099"] is ccxt.AuthenticationError
        assert ex.options["fetchMarkets"]["types"] == ["spot"]
        assert ex.options["fetchCurrencies"] is False
        assert ex.options["fetchMargins"] is False
        assert ex.options["fetchOpenOrders"]["warnWithoutSymbol"] is False
        assert ex.enableRateLimit is True
        assert ex.timeout == 1234
        assert ex.timeout_on_exit == 0
        assert ex.apiKey == KEY.reveal()
    finally:
        await ex.close()


async def test_the_real_host_keeps_ccxts_own_urls_and_error_tables() -> None:
    ex = build_ccxt(ExchangeTarget(exchange="binance"), CREDS)
    try:
        assert ex.urls["api"]["sapi"] == "https://api.binance.com/sapi/v1"
        assert "-1099" not in ex.exceptions["exact"]
        assert ex.timeout_on_exit > 0
    finally:
        await ex.close()


async def test_a_passphrase_is_given_to_ccxt_as_its_password() -> None:
    creds = Credentials(api_key=KEY, secret=SECRET, passphrase=Secret("pass-phrase"))
    ex = build_ccxt(ExchangeTarget("okx", "okx-sim", "http://127.0.0.1:9"), creds)
    try:
        assert ex.password == "pass-phrase"
        assert ex.urls["api"]["rest"] == "http://127.0.0.1:9"
    finally:
        await ex.close()


@pytest.mark.parametrize("url", ["ftp://127.0.0.1", "http://127.0.0.1:1/api", "127.0.0.1:80"])
def test_an_endpoint_url_must_be_a_scheme_and_a_host(url: str) -> None:
    with pytest.raises(ValidationFailed):
        build_ccxt(ExchangeTarget("binance", "bad", url), CREDS)


def test_an_unknown_exchange_is_refused() -> None:
    with pytest.raises(UnknownExchange):
        build_ccxt(ExchangeTarget("no-such-exchange"), CREDS)


async def test_verbose_output_goes_to_the_ccxt_logger_not_stdout(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="ccxt")
    ex = build_ccxt(SIM, CREDS, verbose=True)
    try:
        ex.log("\nfetch Request:", "binance", "GET")
    finally:
        await ex.close()
    assert "fetch Request: binance GET" in caplog.text
    assert capsys.readouterr().out == ""


async def test_gateway_supports_ccxt_exchange_ids_only() -> None:
    class Clock:
        def now(self):  # type: ignore[no-untyped-def]
            raise AssertionError("not called")

    gateway = CcxtGateway(egress_ips=(), clock=Clock())
    try:
        assert gateway.supports("binance")
        assert gateway.supports("kraken")
        assert not gateway.supports("no-such-exchange")
        with pytest.raises(UnknownExchange):
            await gateway.probe(ExchangeTarget("no-such-exchange"), CREDS)
    finally:
        await gateway.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        gateway.connect(SIM, CREDS)


def test_raw_binance_calls_are_a_fixed_list_of_reads(client: ExchangeClient) -> None:
    from tresor.adapters.exchange.client import _BINANCE_RAW

    assert all(
        name.startswith(("private_get_", "public_get_", "sapi_get_"))
        for name in _BINANCE_RAW.values()
    )
    assert "sapi_get_capital_withdraw_history" in _BINANCE_RAW.values()  # history, a read


async def test_a_raw_call_outside_the_list_is_refused(client: ExchangeClient) -> None:
    with pytest.raises(ValueError, match="not an allowed"):
        await client.binance_raw("withdraw", {})
