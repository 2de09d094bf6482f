"""Valuing assets in a quote currency from an exchange's own prices.

Prices come as ``{"BASE/QUOTE": last price}`` (one ticker request on most exchanges). An
asset's value in ``quote`` is found, in order: it is the quote itself (for USD: one of
``USD_PEGGED``); for each quote currency in turn (USD: each of ``USD_PEGGED``), the direct
market (``ASSET/QUOTE``) and then the inverse one (``QUOTE/ASSET``); a bridge through one of
``BRIDGES`` (the asset's market with the bridge, direct or inverse, times the bridge's price
found as before). docs/portfolio.md states the same order. "USD" has no market on most crypto
exchanges: it is reached through the USD-pegged stablecoins in ``USD_PEGGED``, each taken at
1 USD (documented in docs/portfolio.md: a de-pegged stablecoin is mispriced by its de-peg).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

ONE = Decimal(1)
USD = "USD"
USD_PEGGED = ("USD", "USDT", "USDC", "FDUSD", "TUSD", "BUSD", "DAI")
BRIDGES = ("BTC", "ETH", "BNB", "USDT", "USDC")


def _quotes(quote: str) -> tuple[str, ...]:
    return USD_PEGGED if quote == USD else (quote,)


def price_in(asset: str, quote: str, prices: Mapping[str, Decimal]) -> Decimal | None:
    """The price of one ``asset`` in ``quote``, or None when no market leads there."""
    direct = _direct(asset, quote, prices)
    if direct is not None:
        return direct
    for bridge in BRIDGES:
        if bridge == asset:
            continue
        first = _pair(asset, bridge, prices)
        if first is None:
            continue
        second = _direct(bridge, quote, prices)
        if second is not None:
            return first * second
    return None


def _direct(asset: str, quote: str, prices: Mapping[str, Decimal]) -> Decimal | None:
    for q in _quotes(quote):
        if asset == q:
            return ONE
    for q in _quotes(quote):
        found = _pair(asset, q, prices)
        if found is not None:
            return found
    return None


def _pair(base: str, quote: str, prices: Mapping[str, Decimal]) -> Decimal | None:
    if base == quote:
        return ONE
    price = prices.get(f"{base}/{quote}")
    if price is not None and price > 0:
        return price
    inverse = prices.get(f"{quote}/{base}")
    if inverse is not None and inverse > 0:
        return ONE / inverse
    return None


def prices_for(
    assets: Iterable[str], quote: str, prices: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """``{asset: price in quote}`` for every asset that can be priced."""
    out: dict[str, Decimal] = {}
    for asset in assets:
        price = price_in(asset, quote, prices)
        if price is not None:
            out[asset] = price
    return out
