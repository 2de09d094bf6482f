"""The listed spot pairs: several hundred, with filters shaped like the real exchange's.

Base assets carry a reference USD price; the pairs are built from a fixed base list crossed with
the common quote assets (every base against USDT, the larger ones against FDUSD, USDC, BTC, ETH,
BNB and a few fiat currencies), as on Binance. Tick and step sizes follow the pair's price so that
one tick is about a thousandth of a percent and one step worth ten cents to a dollar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from tresor.sim.noise import key_of, unit

# (asset, reference USD price). Ordered roughly by size: position decides the extra quotes.
_KNOWN_BASES: tuple[tuple[str, float], ...] = (
    ("BTC", 91000.0),
    ("ETH", 3100.0),
    ("BNB", 880.0),
    ("SOL", 140.0),
    ("XRP", 2.1),
    ("DOGE", 0.16),
    ("ADA", 0.45),
    ("TRX", 0.28),
    ("AVAX", 14.0),
    ("LINK", 13.5),
    ("DOT", 2.6),
    ("LTC", 86.0),
    ("BCH", 520.0),
    ("NEAR", 2.0),
    ("UNI", 6.5),
    ("ATOM", 2.8),
    ("XLM", 0.25),
    ("ETC", 13.0),
    ("FIL", 1.6),
    ("APT", 2.9),
    ("ARB", 0.22),
    ("OP", 0.34),
    ("INJ", 6.0),
    ("SUI", 1.7),
    ("SEI", 0.15),
    ("TIA", 0.7),
    ("AAVE", 180.0),
    ("MKR", 1400.0),
    ("LDO", 0.7),
    ("RUNE", 0.65),
    ("HBAR", 0.14),
    ("ICP", 4.2),
    ("VET", 0.013),
    ("ALGO", 0.14),
    ("EGLD", 8.0),
    ("SAND", 0.15),
    ("MANA", 0.17),
    ("AXS", 0.95),
    ("GRT", 0.05),
    ("THETA", 0.42),
    ("FTM", 0.5),
    ("EOS", 0.55),
    ("XTZ", 0.55),
    ("FLOW", 0.22),
    ("CHZ", 0.035),
    ("CRV", 0.4),
    ("SNX", 0.6),
    ("COMP", 30.0),
    ("ZEC", 450.0),
    ("DASH", 60.0),
    ("NEO", 4.0),
    ("KAVA", 0.15),
    ("ONE", 0.007),
    ("ZIL", 0.006),
    ("IOTA", 0.1),
    ("ENJ", 0.04),
    ("BAT", 0.16),
    ("ZRX", 0.18),
    ("1INCH", 0.16),
    ("SUSHI", 0.4),
    ("YFI", 4200.0),
    ("GMX", 9.0),
    ("DYDX", 0.25),
    ("IMX", 0.3),
    ("STX", 0.35),
    ("RNDR", 1.8),
    ("FET", 0.24),
    ("AGIX", 0.2),
    ("OCEAN", 0.3),
    ("WLD", 0.55),
    ("PEPE", 0.0000045),
    ("SHIB", 0.0000085),
    ("FLOKI", 0.00005),
    ("BONK", 0.0000095),
    ("WIF", 0.38),
    ("JUP", 0.22),
    ("PYTH", 0.07),
    ("ORDI", 4.2),
    ("TRB", 22.0),
    ("QNT", 75.0),
    ("KSM", 9.0),
    ("CELO", 0.2),
    ("MINA", 0.13),
    ("ROSE", 0.015),
    ("GALA", 0.008),
    ("APE", 0.3),
    ("BLUR", 0.04),
    ("MASK", 0.6),
    ("ENS", 11.0),
    ("CAKE", 2.2),
    ("RSR", 0.004),
    ("ANKR", 0.008),
    ("SKL", 0.012),
    ("STORJ", 0.15),
    ("LRC", 0.05),
    ("CELR", 0.004),
    ("HOT", 0.0006),
    ("IOST", 0.0018),
    ("ZEN", 9.0),
    ("WOO", 0.03),
    ("JASMY", 0.008),
    ("ACH", 0.012),
    ("CFX", 0.07),
    ("ID", 0.09),
    ("ARKM", 0.22),
    ("PENDLE", 2.5),
    ("ETHFI", 0.75),
    ("ENA", 0.25),
    ("W", 0.05),
    ("STRK", 0.1),
    ("ALT", 0.015),
    ("MANTA", 0.1),
    ("DYM", 0.1),
    ("PIXEL", 0.012),
    ("PORTAL", 0.025),
    ("AEVO", 0.05),
    ("BOME", 0.0008),
    ("NOT", 0.0007),
    ("IO", 0.35),
    ("ZK", 0.045),
    ("LISTA", 0.2),
    ("ZRO", 1.5),
    ("BANANA", 8.0),
    ("RARE", 0.04),
    ("SSV", 4.0),
    ("API3", 0.5),
    ("BAND", 0.35),
    ("COTI", 0.03),
    ("DENT", 0.0006),
    ("HIGH", 0.3),
    ("ILV", 8.0),
    ("JOE", 0.1),
    ("LQTY", 0.5),
    ("MAGIC", 0.1),
    ("NMR", 11.0),
    ("OGN", 0.05),
    ("PERP", 0.2),
    ("QTUM", 1.6),
    ("RVN", 0.008),
    ("SC", 0.0022),
    ("SXP", 0.06),
    ("TWT", 0.9),
    ("UMA", 0.9),
    ("WAXP", 0.012),
    ("XEC", 0.000011),
    ("YGG", 0.07),
    ("ZIL2", 0.01),
    ("ASTR", 0.015),
    ("BICO", 0.07),
)

STABLES = frozenset({"USDT", "USDC", "FDUSD"})
# Quote assets with their USD reference; stables first.
QUOTE_USD: dict[str, float] = {
    "USDT": 1.0,
    "USDC": 1.0,
    "FDUSD": 1.0,
    "BTC": 91000.0,
    "ETH": 3100.0,
    "BNB": 880.0,
    "EUR": 1.08,
    "TRY": 0.029,
    "BRL": 0.18,
}
# How many of the largest bases are listed against each extra quote.
_EXTRA_QUOTES: tuple[tuple[str, int], ...] = (
    ("FDUSD", 60),
    ("USDC", 60),
    ("BTC", 90),
    ("ETH", 40),
    ("BNB", 35),
    ("EUR", 20),
    ("TRY", 25),
    ("BRL", 15),
)
# Minimum order value by quote asset (NOTIONAL filter), as listed on the exchange.
_MIN_NOTIONAL: dict[str, Decimal] = {
    "USDT": Decimal("5"),
    "USDC": Decimal("5"),
    "FDUSD": Decimal("5"),
    "BTC": Decimal("0.0001"),
    "ETH": Decimal("0.001"),
    "BNB": Decimal("0.01"),
    "EUR": Decimal("5"),
    "TRY": Decimal("10"),
    "BRL": Decimal("10"),
}


@dataclass(frozen=True, slots=True)
class Pair:
    """One listed spot pair and its trading rules."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal
    ref_price: float
    liquidity_usd: float  # value of one order book level near the top, in USD
    trade_every_ms: int  # spacing of the synthetic public trade tape


def _pow10(exp: int) -> Decimal:
    return Decimal(1).scaleb(exp)


def _make_pair(base: str, base_usd: float, quote: str, rank: int) -> Pair:
    price = base_usd / QUOTE_USD[quote]
    tick_exp = max(-8, math.floor(math.log10(price)) - 5)
    # a step worth about $0.1-$1 of the base asset, no finer than 1e-8, no coarser than 1
    step_exp = min(0, max(-8, math.floor(math.log10(1.0 / base_usd))))
    step = _pow10(step_exp)
    max_qty = _pow10(min(10, max(2, round(math.log10(1e8 / base_usd))))) * 9
    liquidity = max(800.0, 200000.0 / (1 + rank) ** 1.1)
    if quote not in STABLES:
        liquidity *= 0.3
    every_ms = int(min(8000, max(150, 40 * (1 + rank))))
    return Pair(
        symbol=base + quote,
        base=base,
        quote=quote,
        tick_size=_pow10(tick_exp),
        max_price=_pow10(math.floor(math.log10(price)) + 3),
        step_size=step,
        min_qty=step,
        max_qty=max_qty,
        market_max_qty=max_qty / 10,
        min_notional=_MIN_NOTIONAL[quote],
        max_notional=Decimal("9000000"),
        ref_price=price,
        liquidity_usd=liquidity,
        trade_every_ms=every_ms,
    )


def asset_usd_refs() -> dict[str, float]:
    refs = dict(QUOTE_USD)
    for asset, usd in _KNOWN_BASES:
        refs.setdefault(asset, usd)
    return refs


def build_pairs(extra_bases: int = 0, seed: int = 0) -> list[Pair]:
    """The listed pairs. ``extra_bases`` adds invented small-cap assets (``TKN001``...)."""
    bases = list(_KNOWN_BASES)
    key = key_of("extra-bases", seed)
    for n in range(extra_bases):
        usd = 10 ** (-4 + 6 * unit(key, n))
        bases.append((f"TKN{n + 1:03d}", usd))
    pairs: list[Pair] = []
    for rank, (base, usd) in enumerate(bases):
        pairs.append(_make_pair(base, usd, "USDT", rank))
        for quote, top in _EXTRA_QUOTES:
            if rank < top and base != quote:
                pairs.append(_make_pair(base, usd, quote, rank))
    # the stable and major crosses every exchange lists
    for base, quote in (
        ("USDC", "USDT"),
        ("FDUSD", "USDT"),
        ("EUR", "USDT"),
        ("USDT", "TRY"),
        ("USDT", "BRL"),
        ("BTC", "EUR"),
        ("ETH", "BTC"),
    ):
        if not any(p.symbol == base + quote for p in pairs):
            pairs.append(_make_pair(base, QUOTE_USD.get(base, 1.0), quote, 0))
    return pairs


def pairs_for(symbols: list[str] | None, extra_bases: int = 0, seed: int = 0) -> list[Pair]:
    """The default listing, or only the named symbols (each must be a known base+quote)."""
    listing = build_pairs(extra_bases=extra_bases, seed=seed)
    if not symbols:
        return listing
    by_symbol = {p.symbol: p for p in listing}
    refs = asset_usd_refs()
    chosen: list[Pair] = []
    for sym in symbols:
        if sym in by_symbol:
            chosen.append(by_symbol[sym])
            continue
        for quote in QUOTE_USD:
            base = sym[: -len(quote)]
            if sym.endswith(quote) and base in refs:
                chosen.append(_make_pair(base, refs[base], quote, 10))
                break
        else:
            raise ValueError(f"unknown symbol {sym!r}: use BASE+QUOTE of known assets")
    return chosen
