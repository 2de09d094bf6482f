"""The operator's settings reach the services that use them: route quotes' lifetime and
keeping, and the rebalancing rules' fee, balance age and number per user."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tresor.bootstrap import build_runtime
from tresor.config import Settings


async def test_routing_and_rules_take_their_policies_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        route_quote_ttl_seconds=12,
        route_quote_keep_seconds=60,
        rules_fee="0.00075",
        rules_balance_age_seconds=9,
        rules_per_user=3,
    )
    runtime = await build_runtime(settings)
    try:
        routing = runtime.container.routing.policy
        assert (routing.quote_ttl_s, routing.keep_expired_s) == (12.0, 60.0)
        rules = runtime.container.rules.policy
        assert rules.fee == Decimal("0.00075")
        assert (rules.max_balance_age_s, rules.max_rules_per_user) == (9, 3)
        assert [chore.name for chore in runtime.chores] == [
            "track_orders",
            "check_rules",
            "purge_quotes",
            "purge_sessions",
        ]
    finally:
        await runtime.aclose()
