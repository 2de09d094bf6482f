"""``/v1/rules``: rebalancing rules (docs/trading.md, "Rebalancing rules").

Creating, changing and deleting a rule needs the ``trade`` scope (an ``execute`` rule trades);
reading rules, their plans and their log needs ``read``. ``GET /v1/rules/{id}/plan`` evaluates
the rule now and logs it; it never trades. Another user's rule is 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from tresor.entrypoints.api.deps import Reader, Rules, TradeScope
from tresor.entrypoints.api.params import Cursor
from tresor.entrypoints.api.schemas_rules import (
    RuleCreate,
    RuleList,
    RuleLogEntryPublic,
    RuleLogPage,
    RulePublic,
    RuleUpdate,
)
from tresor.services.rules import DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT, RuleChanges

router = APIRouter(prefix="/v1/rules", tags=["rules"])
RuleId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$", examples=["rul_3f2a"])
]
LogLimit = Annotated[int, Query(ge=1, le=MAX_LOG_LIMIT, description="Entries per page.")]

ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "missing or invalid token"},
    403: {"description": "the token lacks the route's scope"},
    404: {"description": "no such rule or connection (or not yours)"},
    422: {
        "description": "validation_failed (the targets, triggers, interval ... with the reason), "
        "trade_key_required, key errors"
    },
    503: {"description": "the balances could not be read (exchange_unavailable, rate_limited)"},
}


@router.post("", response_model=RulePublic, status_code=201, responses=ERRORS)
async def create_rule(body: RuleCreate, who: TradeScope, service: Rules) -> RulePublic:
    """A new rule. Targets add up to exactly 100; give a drift (`drift_pp`), bounds, or both.
    Enabled rules are first checked at once, then every `interval_s` seconds; in `dry_run`
    mode a check only logs what it would trade."""
    rule = await service.create(
        who.user_id,
        spec=body.spec(),
        mode=body.mode,
        interval_s=body.interval_s,
        connection_ids=body.connection_ids,
        name=body.name,
        enabled=body.enabled,
    )
    return RulePublic.of(rule)


@router.get("", response_model=RuleList, responses=ERRORS)
async def list_rules(who: Reader, service: Rules) -> RuleList:
    """Your rules, oldest first."""
    return RuleList(items=[RulePublic.of(r) for r in await service.rules(who.user_id)])


@router.get("/{rule_id}", response_model=RulePublic, responses=ERRORS)
async def get_rule(rule_id: RuleId, who: Reader, service: Rules) -> RulePublic:
    return RulePublic.of(await service.get(who.user_id, rule_id))


@router.patch("/{rule_id}", response_model=RulePublic, responses=ERRORS)
async def update_rule(
    rule_id: RuleId, body: RuleUpdate, who: TradeScope, service: Rules
) -> RulePublic:
    """Enable or disable a rule, switch it between `dry_run` and `execute`, change its
    interval, name or connections."""
    changes = RuleChanges(
        enabled=body.enabled,
        mode=body.mode,
        interval_s=body.interval_s,
        name=body.name,
        connection_ids=body.connection_ids,
        given=frozenset(body.model_fields_set & {"name", "connection_ids"}),
    )
    return RulePublic.of(await service.update(who.user_id, rule_id, changes))


@router.delete("/{rule_id}", status_code=204, responses=ERRORS)
async def delete_rule(rule_id: RuleId, who: TradeScope, service: Rules) -> Response:
    """Delete a rule and its log."""
    await service.delete(who.user_id, rule_id)
    return Response(status_code=204)


@router.get("/{rule_id}/plan", response_model=RuleLogEntryPublic, responses=ERRORS)
async def plan_rule(rule_id: RuleId, who: Reader, service: Rules) -> RuleLogEntryPublic:
    """Evaluate the rule now, on fresh balances: whether it triggers, why, and the trades it
    would make (sells first). Logged; nothing is traded."""
    return RuleLogEntryPublic.of(await service.plan(who.user_id, rule_id))


@router.get("/{rule_id}/log", response_model=RuleLogPage, responses=ERRORS)
async def rule_log(
    rule_id: RuleId,
    who: Reader,
    service: Rules,
    limit: LogLimit = DEFAULT_LOG_LIMIT,
    cursor: Cursor = None,
) -> RuleLogPage:
    """Every evaluation of the rule and every execution with its trades, newest first; pass
    `next_cursor` back as `cursor` for the next page."""
    page = await service.log(who.user_id, rule_id, cursor=cursor, limit=limit)
    return RuleLogPage(
        items=[RuleLogEntryPublic.of(e) for e in page.items], next_cursor=page.next_cursor
    )
