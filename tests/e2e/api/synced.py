"""Synced data written straight into a runtime's store, as the sync engine would write it, for
the read API's tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.e2e.api.conftest import Api, Tenant
from tresor.domain.records import (
    ACCOUNT_WIDE,
    AssetBalance,
    BalanceSnapshot,
    Cursor,
    Dataset,
    OrderRecord,
    OrderStatus,
    Side,
    TradeRecord,
    TransferKind,
    TransferRecord,
    TransferStatus,
    ValuedSnapshot,
    flatten,
)

D = Decimal
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z


async def connect(api: Api, tenant: Tenant, label: str = "main") -> tuple[dict[str, str], str]:
    """``tenant``'s read headers and a new connection of theirs."""
    headers = await tenant.headers()
    answer = await api.add(headers, label, read=api.key())
    assert answer.status_code == 201, answer.text
    return headers, answer.json()["id"]


async def user_id(api: Api, headers: dict[str, str]) -> str:
    me = await api.http.get("/v1/me", headers=headers)
    found: str = me.json()["user_id"]
    return found


async def snapshot(
    api: Api,
    connection_id: str,
    taken_ms: int,
    balances: dict[str, tuple[str, str]],
    prices: dict[str, str],
    quote: str = "USD",
) -> None:
    await api.runtime.store.add_snapshot(
        ValuedSnapshot(
            BalanceSnapshot(
                connection_id,
                taken_ms,
                {a: AssetBalance(D(f), D(lk)) for a, (f, lk) in balances.items()},
            ),
            quote,
            {a: D(p) for a, p in prices.items()},
        )
    )


def trade(connection_id: str, n: int, *, symbol: str = "BTC/USDT", **kw: Any) -> TradeRecord:
    fields: dict[str, Any] = {
        "connection_id": connection_id,
        "symbol": symbol,
        "trade_id": f"t{n:04d}",
        "order_id": f"o{n:04d}",
        "side": Side.BUY if n % 2 else Side.SELL,
        "price": D("60000.5"),
        "amount": D("0.001"),
        "cost": D("60.0005"),
        "fee": D("0.00000075"),
        "fee_asset": "BTC",
        "maker": n % 3 == 0,
        "time_ms": T0 + (n // 3) * 1000,  # three trades share each millisecond
    }
    fields.update(kw)
    return TradeRecord(**fields)


def order(connection_id: str, n: int, **kw: Any) -> OrderRecord:
    statuses = list(OrderStatus)
    fields: dict[str, Any] = {
        "connection_id": connection_id,
        "symbol": "ETH/USDT" if n % 2 else "BTC/USDT",
        "order_id": f"{n}",
        "client_order_id": None,
        "side": Side.BUY,
        "type": "limit",
        "status": statuses[n % len(statuses)],
        "time_in_force": "GTC",
        "price": D("100.25"),
        "amount": D("2"),
        "filled": D("1"),
        "cost": D("100.25"),
        "created_ms": T0 + (n // 2) * 1000,
        "updated_ms": T0 + n * 1000,
    }
    fields.update(kw)
    return OrderRecord(**fields)


def transfer(connection_id: str, n: int, **kw: Any) -> TransferRecord:
    fields: dict[str, Any] = {
        "connection_id": connection_id,
        "kind": TransferKind.DEPOSIT if n % 2 else TransferKind.WITHDRAWAL,
        "transfer_id": f"x{n}",
        "asset": "USDT" if n % 3 else "BTC",
        "amount": D("10.5"),
        "fee": D("0"),
        "network": "TRX",
        "status": TransferStatus.OK if n % 4 else TransferStatus.PENDING,
        "tx_id": f"0x{n:08x}",
        "address": None,
        "time_ms": T0 + (n // 2) * 1000,
    }
    fields.update(kw)
    return TransferRecord(**fields)


async def save(api: Api, dataset: Dataset, records: list[Any], market: str = "BTC/USDT") -> None:
    """One page of ``records`` (of one connection) stored with its cursor."""
    cursor = Cursor(
        connection_id=records[0].connection_id,
        dataset=dataset,
        market=ACCOUNT_WIDE if dataset in (Dataset.DEPOSITS, Dataset.WITHDRAWALS) else market,
        position=None,
        synced_until_ms=T0,
        since_ms=0,
    )
    await api.runtime.store.save_page(cursor, flatten(records))
