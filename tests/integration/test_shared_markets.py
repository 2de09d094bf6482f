"""The clients of one endpoint share its markets: a fleet of connections loads exchangeInfo
(weight 20, the heaviest part of a balance sync) once an hour, not once per sync."""

from __future__ import annotations

from tests.integration.conftest import MakeAccount
from tresor.domain.connections import Credentials
from tresor.domain.records import CallQuery
from tresor.domain.secrets import Secret


async def test_balance_syncs_of_several_connections_load_the_markets_once(
    make_account: MakeAccount,
) -> None:
    s = await make_account()
    rt = s.runtime
    ids = [s.connection_id]
    for n in range(3):
        account = s.sim.account({"USDT": str(10 + n), "BTC": "0.5"})
        key = s.sim.key(account, {"enableReading": True})
        added = await rt.container.connections.add(
            s.user_id,
            exchange="binance",
            label=f"other {n}",
            endpoint="sim",
            read_key=Credentials(Secret(key["api_key"]), Secret(key["secret"])),
        )
        ids.append(added.id)
    for cid in ids:
        await rt.sync.sync(cid, history=False)
    await rt.request_log.flush()
    calls = await rt.store.calls(CallQuery(connection_ids=tuple(ids), limit=1000))
    paths = [c.call.path.split("?")[0] for c in calls]
    assert paths.count("/api/v3/account") >= len(ids)  # every connection read its balances
    assert paths.count("/api/v3/exchangeInfo") == 1  # the markets, once for all of them
    for cid in ids:
        assert (await rt.store.latest_snapshots([cid]))[cid].snapshot.balances
