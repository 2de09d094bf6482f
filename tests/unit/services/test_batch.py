"""The batch service on fakes (the order desk, the key store): how long a batch holds its key,
and that a batch taken over while one of its operations is still being handled elsewhere is
not answered for good with that operation's "in progress"."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support.clock import FakeClock
from tests.unit.services.test_routing import FakeDesk, FakeKeys
from tresor.domain.errors import IdempotencyInProgress
from tresor.domain.orders import OrderRequest
from tresor.services.batch import PARALLEL, BatchService, CreateOrder
from tresor.services.trading import KEY_LOCK_MS

USER = "u1"


def create(connection: str = "c1") -> CreateOrder:
    return CreateOrder(
        OrderRequest(
            connection_id=connection,
            symbol="BTC/USDT",
            side="buy",
            type="limit",
            amount=Decimal("0.01"),
            price=Decimal("50000"),
            time_in_force="GTC",
        )
    )


def batches() -> tuple[BatchService, FakeDesk, FakeKeys, FakeClock]:
    desk, keys, clock = FakeDesk(), FakeKeys(), FakeClock()
    return BatchService(orders=desk, store=keys, clock=clock), desk, keys, clock  # type: ignore[arg-type]


async def test_a_batch_holds_its_key_as_long_as_its_operations_may_take() -> None:
    service, _, keys, clock = batches()
    now = int(clock.now().timestamp() * 1000)
    await service.run(USER, [create()] * (2 * PARALLEL + 1), idempotency_key="b1")
    await service.run(USER, [create()], idempotency_key="b2")
    assert keys.records[(USER, "b1")].locked_until_ms == now + 3 * KEY_LOCK_MS  # three waves
    assert keys.records[(USER, "b2")].locked_until_ms == now + KEY_LOCK_MS


async def test_a_batch_with_an_operation_in_progress_elsewhere_is_not_answered_for_good() -> None:
    service, desk, keys, _ = batches()
    desk.refuse["busy"] = IdempotencyInProgress(details={"idempotency_key": "b3#1"})
    with pytest.raises(IdempotencyInProgress):
        await service.run(USER, [create(), create("busy")], idempotency_key="b3")
    assert not keys.records[(USER, "b3")].done  # asked again later, it runs again
    assert [key for _, key, _ in desk.placed] == ["b3#0", "b3#1"]
    assert {source for _, _, source in desk.placed} == {"batch"}
