"""``/v1/markets``: public market data of the endpoints the operator configured
(``TRESOR_ENDPOINTS``): ticker, order book and candles, cached within the rate budget.

Scope ``read``. Every answer says when it was read from the exchange (``fetched_at``), how old
it is (``age_ms``) and whether it is ``stale`` (kept past its time to live because the exchange
could not be asked just now). See docs/market-data.md.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from tresor.entrypoints.api.deps import Markets, Reader
from tresor.entrypoints.api.params import Since, to_ms
from tresor.entrypoints.api.schemas_market import (
    CandlesAnswer,
    MarketEndpointList,
    MarketEndpointPublic,
    OrderBookAnswer,
    SymbolList,
    TickerAnswer,
)

router = APIRouter(prefix="/v1/markets", tags=["markets"])
MAX_DEPTH = 5000  # Binance's deepest book (GET /api/v3/depth)
MAX_CANDLES = 1000  # Binance's most candles per request (GET /api/v3/klines)

ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "missing or invalid token"},
    403: {"description": "the token lacks the 'read' scope"},
    422: {
        "description": "invalid parameters (validation_failed), no such endpoint "
        "(unknown_endpoint), symbol (unknown_symbol) or timeframe (unsupported_timeframe)"
    },
    503: {
        "description": "the exchange could not be asked and nothing is cached: "
        "rate_budget_exhausted or rate_limited (with Retry-After), exchange_unavailable"
    },
}

Endpoint = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="An endpoint name from GET /v1/markets.",
    ),
]
Symbol = Annotated[
    str,
    Query(
        min_length=3,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]{1,32}/[A-Za-z0-9._:-]{1,32}$",
        description="A unified symbol, BASE/QUOTE.",
        examples=["BTC/USDT"],
    ),
]
Depth = Annotated[int, Query(ge=1, le=MAX_DEPTH, description="Levels per side, best first.")]
Timeframe = Annotated[
    str,
    Query(
        pattern=r"^[1-9][0-9]{0,3}[smhdwMy]$",
        description="Candle length, one the endpoint offers (GET /v1/markets): 1m, 1h, 1d ...",
    ),
]
CandleLimit = Annotated[int, Query(ge=1, le=MAX_CANDLES, description="How many candles.")]


@router.get("", response_model=MarketEndpointList, responses=ERRORS)
async def endpoints(who: Reader, service: Markets) -> MarketEndpointList:
    """The endpoints market data is served for, with the candle timeframes each offers."""
    return MarketEndpointList(items=[MarketEndpointPublic.of(e) for e in service.endpoints()])


@router.get("/{endpoint}/symbols", response_model=SymbolList, responses=ERRORS)
async def symbols(who: Reader, service: Markets, endpoint: Endpoint) -> SymbolList:
    """The endpoint's markets, as unified symbols."""
    return SymbolList(endpoint=endpoint, symbols=list(await service.symbols(endpoint)))


@router.get("/{endpoint}/ticker", response_model=TickerAnswer, responses=ERRORS)
async def ticker(who: Reader, service: Markets, endpoint: Endpoint, symbol: Symbol) -> TickerAnswer:
    """The price feed of one market: last price, best bid and ask, the day's range and volume
    (cached 2 s)."""
    return TickerAnswer.of(await service.ticker(endpoint, symbol))


@router.get("/{endpoint}/order_book", response_model=OrderBookAnswer, responses=ERRORS)
async def order_book(
    who: Reader, service: Markets, endpoint: Endpoint, symbol: Symbol, depth: Depth = 100
) -> OrderBookAnswer:
    """Liquidity depth: the best `depth` bid and ask levels (cached 1 s)."""
    return OrderBookAnswer.of(await service.order_book(endpoint, symbol, depth))


@router.get("/{endpoint}/candles", response_model=CandlesAnswer, responses=ERRORS)
async def candles(
    who: Reader,
    service: Markets,
    endpoint: Endpoint,
    symbol: Symbol,
    timeframe: Timeframe = "1h",
    since: Since = None,
    limit: CandleLimit = 100,
) -> CandlesAnswer:
    """OHLCV candles, oldest first: `limit` of them from `since` on, or the latest `limit`
    without it. The latest are cached for a sixtieth of the timeframe (1 to 60 s); a window
    of closed candles for an hour."""
    found = await service.candles(
        endpoint, symbol, timeframe, since_ms=to_ms(since, "since"), limit=limit
    )
    return CandlesAnswer.of(found)
