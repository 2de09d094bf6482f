"""Request parameters: Binance's -11xx errors, with their exact codes and texts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.sim.asgi_client import client, fixed_app
from tresor.sim import errors as e
from tresor.sim.params import Params, split_pairs


def params(query: str = "", body: str = "") -> Params:
    return Params(split_pairs(query), split_pairs(body))


def error_of(call: object) -> e.SimError:
    assert callable(call)
    with pytest.raises(e.SimError) as caught:
        call()
    return caught.value


def test_split_pairs_decodes_and_keeps_blank_values_in_order() -> None:
    assert split_pairs("b=2&a=%5B%22X%22%5D&c=&&d=x+y") == [
        ("b", "2"),
        ("a", '["X"]'),
        ("c", ""),
        ("d", "x y"),
    ]
    assert split_pairs("") == []


@pytest.mark.parametrize(("query", "body"), [("a=1&a=2", ""), ("", "a=1&a=1")])
def test_a_parameter_sent_twice_in_one_place_is_a_duplicate(query: str, body: str) -> None:
    err = error_of(lambda: params(query, body))
    assert (err.http_status, err.code, err.msg) == (
        400,
        -1101,
        "Duplicate values for a parameter detected.",
    )


def test_a_parameter_in_both_query_and_body_takes_the_query_value() -> None:
    p = params("symbol=BTCUSDT", "symbol=ETHUSDT&side=BUY")
    assert p.raw("symbol") == "BTCUSDT"
    assert p.raw("side") == "BUY"


def test_an_empty_parameter_is_reported_by_name() -> None:
    err = error_of(lambda: params("symbol=").raw("symbol"))
    assert (err.code, err.msg) == (-1105, "Parameter 'symbol' was empty.")


def test_a_missing_mandatory_parameter_is_reported_by_name() -> None:
    err = error_of(lambda: params("").require("timestamp"))
    assert (err.code, err.msg) == (
        -1102,
        "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
    )


@pytest.mark.parametrize("raw", ["12a", "1.5", "1" * 21, "+3", "--1"])
def test_malformed_integers_get_the_legal_range(raw: str) -> None:
    err = error_of(lambda: params(f"limit={raw}").integer("limit"))
    assert (err.code, err.msg) == (
        -1100,
        "Illegal characters found in parameter 'limit'; legal range is '^-?[0-9]{1,20}$'.",
    )


@pytest.mark.parametrize("raw", ["1e5", "-1", "1.2.3", ".5", "1,5", "NaN", "Infinity", "1."])
def test_malformed_decimals_get_the_legal_range(raw: str) -> None:
    err = error_of(lambda: params(f"quantity={raw}").decimal("quantity"))
    assert (err.code, err.msg) == (
        -1100,
        "Illegal characters found in parameter 'quantity'; legal range is "
        "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
    )


def test_decimals_beyond_eight_places_have_too_much_precision() -> None:
    assert params("price=0.00000001").decimal("price") == Decimal("0.00000001")
    err = error_of(lambda: params("price=0.000000001").decimal("price"))
    assert (err.code, err.msg) == (-1111, "Parameter 'price' has too much precision.")


def test_a_lowercase_symbol_has_illegal_characters() -> None:
    err = error_of(lambda: params("symbol=btcusdt").symbol())
    assert (err.code, err.msg) == (
        -1100,
        "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'.",
    )


@pytest.mark.parametrize("raw", ["[BTCUSDT]", "[]", '["BTCUSDT",1]', '{"a":1}', "nope"])
def test_a_malformed_symbols_list_has_illegal_characters(raw: str) -> None:
    err = error_of(lambda: params("", f"symbols={raw}").symbols_list())
    assert err.code == -1100
    assert err.msg.startswith("Illegal characters found in parameter 'symbols'")


def test_booleans_are_true_or_false_in_any_case() -> None:
    assert params("x=TRUE").boolean("x") is True
    assert params("x=false").boolean("x") is False
    assert params("").boolean("x", default=True) is True
    err = error_of(lambda: params("x=yes").boolean("x"))
    assert (err.code, err.msg) == (
        -1100,
        "Illegal characters found in parameter 'x'; legal range is '^(true|false)$'.",
    )


def test_limits_must_be_positive_and_are_capped() -> None:
    assert params("limit=5000").limit(500, 1000) == 1000
    assert params("").limit(500, 1000) == 500
    err = error_of(lambda: params("limit=0").limit(500, 1000))
    assert (err.code, err.msg) == (-1130, "Invalid data sent for a parameter. (parameter: 'limit')")


def test_unknown_parameters_are_counted_as_not_read() -> None:
    known = params("symbol=BTCUSDT&timestamp=1")
    known.raw("symbol")
    known.check_all_read(frozenset({"timestamp"}))  # every parameter read: no error
    p = params("symbol=BTCUSDT&foo=1&timestamp=1")
    p.raw("symbol")
    err = error_of(lambda: p.check_all_read(frozenset({"timestamp"})))
    assert (err.code, err.msg) == (
        -1104,
        "Not all sent parameters were read; read '2' parameter(s) but was sent '3'.",
    )


@pytest.mark.parametrize(
    ("path", "query", "code", "msg"),
    [
        (
            "/api/v3/depth",
            "symbol=BTCUSDT&symbol=BTCUSDT",
            -1101,
            "Duplicate values for a parameter detected.",
        ),
        (
            "/api/v3/depth",
            "symbol=BTCUSDT&foo=bar",
            -1104,
            "Not all sent parameters were read; read '1' parameter(s) but was sent '2'.",
        ),
        ("/api/v3/depth", "symbol=", -1105, "Parameter 'symbol' was empty."),
        (
            "/api/v3/depth",
            "",
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        ),
        ("/api/v3/depth", "symbol=NOPEUSDT", -1121, "Invalid symbol."),
        (
            "/api/v3/depth",
            "symbol=BTCUSDT&limit=x",
            -1100,
            "Illegal characters found in parameter 'limit'; legal range is '^-?[0-9]{1,20}$'.",
        ),
        ("/api/v3/klines", "symbol=BTCUSDT&interval=2m", -1120, "Invalid interval."),
        (
            "/api/v3/ticker/price",
            "symbol=BTCUSDT&symbols=%5B%22BTCUSDT%22%5D",
            -1128,
            "Combination of optional parameters invalid.",
        ),
    ],
)
async def test_malformed_requests_get_400_with_the_exact_error(
    path: str,
    query: str,
    code: int,
    msg: str,
) -> None:
    async with client(fixed_app()) as http:
        r = await http.get(f"{path}?{query}")
    assert r.status_code == 400
    assert r.json() == {"code": code, "msg": msg}
    assert int(r.headers["x-mbx-used-weight-1m"]) >= 1
