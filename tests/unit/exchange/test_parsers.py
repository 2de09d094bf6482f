"""Each exchange's permission answer, shaped as its API documentation shows it, read into the
rights Tresor reports. Identifiers and keys in the samples are placeholders."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.exchange.samples import (
    BINANCE_ACCOUNT,
    BINANCE_RESTRICTIONS,
    KRAKEN_KEY_INFO,
    KUCOIN_KEY_INFO,
    OKX_CONFIG,
)
from tresor.adapters.exchange.probes import (
    parse_binance,
    parse_kraken,
    parse_kucoin,
    parse_okx,
    unknown_facts,
)
from tresor.domain.connections import RIGHTS, Ability

YES, NO, UNKNOWN = Ability.YES, Ability.NO, Ability.UNKNOWN


def assert_complete(rights: dict[str, Ability], reasons: dict[str, str]) -> None:
    """Every right is reported, and exactly the UNKNOWN ones carry a reason."""
    assert set(rights) == set(RIGHTS)
    assert set(reasons) == {name for name, ability in rights.items() if ability is UNKNOWN}


# -- Binance ---------------------------------------------------------------------------------
def test_binance_documented_sample_is_a_read_only_key_with_an_expiry() -> None:
    facts = parse_binance(BINANCE_RESTRICTIONS, BINANCE_ACCOUNT)
    assert facts.rights == {
        "read": YES,
        "spot_trade": NO,
        "margin": NO,
        "futures": NO,
        "withdraw": NO,
        "internal_transfer": NO,
    }
    assert facts.ip_restricted is NO
    assert facts.expires_at == datetime(2021, 8, 15, tzinfo=UTC)
    assert facts.account_type == "SPOT"
    assert_complete(facts.rights, facts.unknown_reasons)


def test_binance_withdrawals_and_ip_restriction_are_read() -> None:
    facts = parse_binance({**BINANCE_RESTRICTIONS, "enableWithdrawals": True, "ipRestrict": True})
    assert facts.rights["withdraw"] is YES
    assert facts.ip_restricted is YES
    assert facts.account_type is None


def test_binance_universal_transfer_counts_as_internal_transfer() -> None:
    facts = parse_binance({**BINANCE_RESTRICTIONS, "permitsUniversalTransfer": True})
    assert facts.rights["internal_transfer"] is YES


def test_binance_account_barred_from_trading_cannot_trade_whatever_the_key_says() -> None:
    restrictions = {**BINANCE_RESTRICTIONS, "enableSpotAndMarginTrading": True}
    assert parse_binance(restrictions, BINANCE_ACCOUNT).rights["spot_trade"] is YES
    barred = {**BINANCE_ACCOUNT, "canTrade": False}
    assert parse_binance(restrictions, barred).rights["spot_trade"] is NO


def test_binance_missing_flags_are_unknown_with_the_flag_named() -> None:
    facts = parse_binance({"enableReading": True, "tradingAuthorityExpirationTime": 0})
    assert facts.rights["read"] is YES
    assert facts.rights["withdraw"] is UNKNOWN
    assert "enableWithdrawals" in facts.unknown_reasons["withdraw"]
    assert facts.expires_at is None
    assert facts.ip_restricted is UNKNOWN
    assert_complete(facts.rights, facts.unknown_reasons)


# -- OKX -------------------------------------------------------------------------------------
def test_okx_documented_sample_can_read_trade_and_withdraw() -> None:
    facts = parse_okx(OKX_CONFIG)
    assert facts.rights == {
        "read": YES,
        "spot_trade": YES,
        "margin": YES,
        "futures": YES,
        "withdraw": YES,
        "internal_transfer": YES,
    }
    assert facts.ip_restricted is NO
    assert facts.account_type == "futures"
    assert_complete(facts.rights, facts.unknown_reasons)


def okx(**entry: Any) -> dict[str, Any]:
    return {**OKX_CONFIG, "data": [{**OKX_CONFIG["data"][0], **entry}]}


def test_okx_read_only_key_in_spot_mode() -> None:
    facts = parse_okx(okx(perm="read_only", acctLv="1", ip="192.0.2.1,192.0.2.2"))
    assert facts.rights["spot_trade"] is NO
    assert facts.rights["withdraw"] is NO
    assert facts.rights["margin"] is NO
    assert facts.rights["futures"] is NO
    assert facts.ip_restricted is YES
    assert facts.account_type == "spot"


@pytest.mark.parametrize(("borrow", "margin"), [(True, YES), (False, NO)])
def test_okx_spot_mode_trades_margin_only_with_spot_borrowing(
    borrow: bool, margin: Ability
) -> None:
    facts = parse_okx(okx(perm="read_only,trade", acctLv="1", enableSpotBorrow=borrow))
    assert facts.rights["spot_trade"] is YES
    assert facts.rights["futures"] is NO
    assert facts.rights["margin"] is margin


def test_okx_unknown_account_mode_leaves_derivatives_unknown() -> None:
    facts = parse_okx(okx(perm="read_only,trade", acctLv="9"))
    assert facts.rights["futures"] is UNKNOWN
    assert "account mode" in facts.unknown_reasons["futures"]
    assert_complete(facts.rights, facts.unknown_reasons)


def test_okx_answer_without_perm_is_unknown_but_readable() -> None:
    facts = parse_okx({"code": "0", "data": []})
    assert facts.rights["read"] is YES
    assert facts.rights["withdraw"] is UNKNOWN
    assert "perm" in facts.unknown_reasons["withdraw"]


# -- KuCoin ----------------------------------------------------------------------------------
def test_kucoin_documented_sample_is_a_spot_key_on_an_ip_allow_list() -> None:
    facts = parse_kucoin(KUCOIN_KEY_INFO)
    assert facts.rights == {
        "read": YES,
        "spot_trade": YES,
        "margin": NO,
        "futures": NO,
        "withdraw": NO,
        "internal_transfer": NO,
    }
    assert facts.ip_restricted is YES
    assert facts.account_type == "master"
    assert_complete(facts.rights, facts.unknown_reasons)


@pytest.mark.parametrize(
    ("permission", "right"),
    [
        ("General,Withdrawal", "withdraw"),
        ("General,Transfer", "withdraw"),  # the older name of the withdrawal permission
        ("General,InnerTransfer", "internal_transfer"),
        ("General,FlexTransfers", "internal_transfer"),
        ("General, Margin", "margin"),
        ("General,Futures", "futures"),
        ("General,Trade", "spot_trade"),
    ],
)
def test_kucoin_permission_names_map_to_rights(permission: str, right: str) -> None:
    info = {**KUCOIN_KEY_INFO, "data": {**KUCOIN_KEY_INFO["data"], "permission": permission}}
    assert parse_kucoin(info).rights[right] is YES


def test_kucoin_key_without_ip_allow_list_and_of_a_sub_account() -> None:
    data = {**KUCOIN_KEY_INFO["data"], "ipWhitelist": "", "isMaster": False}
    facts = parse_kucoin({"code": "200000", "data": data})
    assert facts.ip_restricted is NO
    assert facts.account_type == "sub-account"


def test_kucoin_answer_without_permission_is_unknown() -> None:
    facts = parse_kucoin({"code": "200000", "data": {}})
    assert facts.rights["spot_trade"] is UNKNOWN
    assert "permission" in facts.unknown_reasons["spot_trade"]


# -- Kraken ----------------------------------------------------------------------------------
def test_kraken_documented_sample_can_trade_and_withdraw() -> None:
    facts = parse_kraken(KRAKEN_KEY_INFO)
    assert facts.rights == {
        "read": YES,
        "spot_trade": YES,
        "margin": UNKNOWN,
        "futures": NO,
        "withdraw": YES,
        "internal_transfer": YES,
    }
    assert "Modify Orders" in facts.unknown_reasons["margin"]
    assert facts.ip_restricted is NO
    assert facts.expires_at is None
    assert_complete(facts.rights, facts.unknown_reasons)


def test_kraken_query_only_key_with_expiry_and_allow_list() -> None:
    result = {
        **KRAKEN_KEY_INFO["result"],
        "permissions": ["query-funds", "query-closed-trades"],
        "validUntil": "1900000000",
        "ipAllowlist": ["192.0.2.0/24"],
    }
    facts = parse_kraken({"error": [], "result": result})
    assert facts.rights["spot_trade"] is NO
    assert facts.rights["margin"] is NO
    assert facts.rights["withdraw"] is NO
    assert facts.expires_at == datetime.fromtimestamp(1900000000, tz=UTC)
    assert facts.ip_restricted is YES
    assert_complete(facts.rights, facts.unknown_reasons)


def test_kraken_answer_without_permissions_is_unknown() -> None:
    facts = parse_kraken({"error": [], "result": {}})
    assert facts.rights["withdraw"] is UNKNOWN


def test_unknown_facts_give_every_right_but_reading_a_reason() -> None:
    facts = unknown_facts("this exchange has no permission endpoint")
    assert facts.rights["read"] is YES
    assert set(facts.unknown_reasons) == set(RIGHTS) - {"read"}
    assert set(facts.unknown_reasons.values()) == {"this exchange has no permission endpoint"}
