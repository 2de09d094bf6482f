"""``SqlRoutingStore`` on SQLite and PostgreSQL: a quote and its legs come back exactly as
stored (every amount to the 18th decimal), only to their owner, and of several executions of
one quote under different keys exactly one is recorded; quotes long expired and never executed
are purged, with their legs."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import text

from tests.contract.storage import data
from tresor.adapters.db import routing_store
from tresor.adapters.db.routing_store import SqlRoutingStore
from tresor.adapters.db.uow import Database
from tresor.domain.routing import Leg
from tresor.services.ports import RouteQuote

D = Decimal


def leg(connection_id: str, amount: str, limit: str) -> Leg:
    return Leg(
        connection_id=connection_id,
        exchange="binance",
        symbol="BTC/USDT",
        side="buy",
        amount=D(amount),
        average_price=D("64250.123456789012345678"),
        gross=D("32125.061728394506172839"),
        fee=D("32.125061728394506173"),
        net=D("32157.186790122900679012"),
        limit_price=D(limit),
        reserved=D("0.000000000000000001"),
    )


def quote(
    quote_id: str = "rq_1", user_id: str = "u1", expires_ms: int = 1_767_000_030_000
) -> RouteQuote:
    legs = (leg("c2", "0.5", "64260.5"), leg("c1", "0.25", "64270"))
    return RouteQuote(
        id=quote_id,
        user_id=user_id,
        side="buy",
        base="BTC",
        quote="USDT",
        amount=D("1"),
        legs=legs,
        filled=D("0.75"),
        gross=D("48187.592592591759259258"),
        fee=D("48.187592592591759259"),
        net=D("48235.780185184351018517"),
        average_price=D("64250.123456789012345678"),
        net_price=None,
        shortfall="depth",
        created_ms=1_767_000_000_000,
        expires_ms=expires_ms,
    )


async def store_on(sql: Database, *users: str) -> SqlRoutingStore:
    async with sql.uow() as uow:
        for user_id in users:
            await uow.users.add(data.user(user_id))
        await uow.commit()
    return SqlRoutingStore(sql.engine)


async def test_a_quote_and_its_legs_come_back_exactly_in_order(sql: Database) -> None:
    store = await store_on(sql, "u1")
    stored = quote()
    await store.add_quote(stored)
    assert await store.quote("rq_1", "u1") == stored


async def test_another_users_quote_is_none(sql: Database) -> None:
    store = await store_on(sql, "u1", "u2")
    await store.add_quote(quote())
    assert await store.quote("rq_1", "u2") is None
    assert await store.quote("rq_missing", "u1") is None


async def test_a_quote_is_marked_executed_under_one_key_only(sql: Database) -> None:
    store = await store_on(sql, "u1")
    await store.add_quote(quote())
    marked = await asyncio.gather(
        *(store.mark_executed("rq_1", key=f"key-{i}", now_ms=1_767_000_001_000) for i in range(6))
    )
    assert sorted(marked) == [False] * 5 + [True]
    winner = f"key-{marked.index(True)}"
    found = await store.quote("rq_1", "u1")
    assert found is not None
    assert (found.executed_key, found.executed_ms) == (winner, 1_767_000_001_000)
    assert not await store.mark_executed("rq_1", key=winner, now_ms=1_767_000_002_000)


async def test_quotes_expired_before_a_time_and_never_executed_are_purged_with_their_legs(
    sql: Database,
) -> None:
    store = await store_on(sql, "u1")
    for name, expires in [("old", 1_000), ("old-done", 1_000), ("fresh", 5_000)]:
        await store.add_quote(quote(f"rq_{name}", expires_ms=expires))
    assert await store.mark_executed("rq_old-done", key="k", now_ms=900)
    assert await store.purge_quotes(expired_before_ms=2_000) == 1
    assert await store.quote("rq_old", "u1") is None
    assert await store.quote("rq_old-done", "u1") is not None  # what was done is kept
    assert await store.quote("rq_fresh", "u1") is not None
    legs = await sql.engine.connect()
    try:
        left = (await legs.execute(text("SELECT DISTINCT quote_id FROM route_legs"))).scalars()
        assert sorted(left) == ["rq_fresh", "rq_old-done"]
    finally:
        await legs.close()


async def test_a_long_history_of_quotes_is_purged_in_batches(
    sql: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routing_store, "PURGE_BATCH", 2)
    store = await store_on(sql, "u1")
    for n in range(5):
        await store.add_quote(quote(f"rq_{n}", expires_ms=1_000))
    assert await store.purge_quotes(expired_before_ms=2_000) == 5
    assert await store.purge_quotes(expired_before_ms=2_000) == 0
