"""Rebalancing rules on the dashboard, through ``container.rules`` as ``/v1/rules`` does: the
list with a form for a new rule (``trade``), a rule's page (``read``: its targets and
triggers, its plan and its log) and deleting a rule (``trade``).

A rule's page evaluates the plan as ``GET /v1/rules/{id}/plan`` does: on fresh balances, logged
as a ``plan`` entry, never trading. Its log's further pages (``?cursor=``) show the log only,
so paging through the log makes no evaluation.

The form has one row per target asset (its percentage and, optionally, a floor and a ceiling:
the bounds trigger); the rows are checked by the API's ``RuleCreate``, the rule by the service.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import zip_longest
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import StringConstraints, ValidationError

from tresor.domain.access import Scope
from tresor.domain.errors import InputError, TresorError
from tresor.domain.rebalance import parse_targets
from tresor.entrypoints.api.params import Cursor
from tresor.entrypoints.api.schemas_rules import (
    MAX_CONNECTIONS,
    MAX_TARGETS,
    RuleCreate,
    RuleLogEntryPublic,
    RulePublic,
)
from tresor.entrypoints.web.session import Actor, Viewer, WebUser, container_of
from tresor.entrypoints.web.views.trade_common import (
    RuleId,
    connections_of,
    form_error,
    labels_of,
    problem_page,
    traders_of,
)
from tresor.services.rules import DEFAULT_INTERVAL_S

router = APIRouter(include_in_schema=False)
ROWS = 5  # target rows of a new rule's form
LOG_PAGE = 20
Cell = Annotated[str, StringConstraints(max_length=32)]
Cells = Annotated[list[Cell] | None, Form(max_length=MAX_TARGETS)]
ConnectionIds = Annotated[
    list[Annotated[str, StringConstraints(max_length=64)]] | None,
    Form(max_length=MAX_CONNECTIONS),
]
Small = Annotated[str, Form(max_length=32)]


def blank_form() -> dict[str, Any]:
    return {
        "name": "",
        "quote": "USDT",
        "rows": [{"asset": "", "target": "", "floor": "", "ceiling": ""} for _ in range(ROWS)],
        "drift_pp": "5",
        "min_trade": "10",
        "interval_s": str(DEFAULT_INTERVAL_S),
        "mode": "dry_run",
        "enabled": True,
        "connection_ids": [],
    }


async def _rules_page(
    request: Request,
    who: WebUser,
    *,
    form: dict[str, Any] | None = None,
    error: TresorError | None = None,
    notice: str | None = None,
) -> Response:
    who.require(Scope.READ)
    rules = await container_of(request).rules.rules(who.user_id)
    connections = await connections_of(request, who)
    context = {
        "who": who,
        "rules": [RulePublic.of(r) for r in rules],
        "form": form or blank_form(),
        "traders": traders_of(connections),
        "notice": notice,
    }
    return problem_page(request, "trade_rules.html", context, error)


@router.get("/trade/rules")
async def rules_list(
    request: Request,
    who: Viewer,
    deleted: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_]+$")] = None,
) -> Response:
    notice = None if deleted is None else f"Rule {deleted} was deleted, with its log."
    return await _rules_page(request, who, notice=notice)


def _rule_body(form: dict[str, Any]) -> dict[str, Any]:
    """The ``RuleCreate`` body of the form: its non-empty rows as targets and bounds.

    Raises: ValidationFailed (an asset given twice, as the service says it)."""
    rows = [r for r in form["rows"] if any(v.strip() for v in r.values())]
    parse_targets((r["asset"].strip(), Decimal(0)) for r in rows)
    bounds = [
        {
            "asset": r["asset"].strip(),
            "floor_pct": r["floor"].strip() or None,
            "ceiling_pct": r["ceiling"].strip() or None,
        }
        for r in rows
        if r["floor"].strip() or r["ceiling"].strip()
    ]
    return {
        "name": form["name"].strip() or None,
        "targets": {r["asset"].strip(): r["target"].strip() for r in rows},
        "quote": form["quote"].strip() or "USDT",
        "drift_pp": form["drift_pp"].strip() or None,
        "bounds": bounds,
        "min_trade": form["min_trade"].strip() or "10",
        "interval_s": form["interval_s"].strip() or str(DEFAULT_INTERVAL_S),
        "mode": form["mode"],
        "enabled": form["enabled"],
        "connection_ids": form["connection_ids"] or None,
    }


@router.post("/trade/rules")
async def create_rule(
    request: Request,
    who: Actor,
    name: Annotated[str, Form(max_length=100)] = "",
    quote: Small = "USDT",
    asset: Cells = None,
    target: Cells = None,
    floor: Cells = None,
    ceiling: Cells = None,
    drift_pp: Small = "",
    min_trade: Small = "10",
    interval_s: Small = str(DEFAULT_INTERVAL_S),
    mode: Small = "dry_run",
    enabled: Small = "",
    connection_ids: ConnectionIds = None,
) -> Response:
    """A new rule (``POST /v1/rules``); its page next."""
    who.require(Scope.TRADE)
    cells = zip_longest(asset or [], target or [], floor or [], ceiling or [], fillvalue="")
    rows = [{"asset": a, "target": t, "floor": f, "ceiling": c} for a, t, f, c in cells]
    blank = {"asset": "", "target": "", "floor": "", "ceiling": ""}
    form = {
        "name": name,
        "quote": quote,
        "rows": rows + [dict(blank) for _ in range(ROWS - len(rows))],
        "drift_pp": drift_pp,
        "min_trade": min_trade,
        "interval_s": interval_s,
        "mode": mode,
        "enabled": enabled == "on",
        "connection_ids": connection_ids or [],
    }
    try:
        body = RuleCreate.model_validate(_rule_body(form))
    except ValidationError as e:
        return await _rules_page(request, who, form=form, error=form_error(e))
    except InputError as e:
        return await _rules_page(request, who, form=form, error=e)
    try:
        rule = await container_of(request).rules.create(
            who.user_id,
            spec=body.spec(),
            mode=body.mode,
            interval_s=body.interval_s,
            connection_ids=body.connection_ids,
            name=body.name,
            enabled=body.enabled,
        )
    except InputError as e:
        return await _rules_page(request, who, form=form, error=e)
    return RedirectResponse(f"/trade/rules/{rule.id}", status_code=303)


@router.get("/trade/rules/{rule_id}")
async def rule_page(
    request: Request, rule_id: RuleId, who: Viewer, cursor: Cursor = None
) -> Response:
    """The rule, its plan now (first page only) and a page of its log."""
    who.require(Scope.READ)
    service = container_of(request).rules
    rule = await service.get(who.user_id, rule_id)
    plan: RuleLogEntryPublic | None = None
    plan_error: TresorError | None = None
    if cursor is None:
        try:
            plan = RuleLogEntryPublic.of(await service.plan(who.user_id, rule_id))
        except TresorError as e:
            plan_error = e  # logged by the service; the page shows it in place of the plan
    log = await service.log(who.user_id, rule_id, cursor=cursor, limit=LOG_PAGE)
    labels = labels_of(await connections_of(request, who))
    shown = RulePublic.of(rule)
    context = {
        "who": who,
        "rule": shown,
        "bounds": {b.asset: b for b in shown.bounds},
        "labels": labels,
        "plan": plan,
        "plan_error": plan_error,
        "paged": cursor is not None,
        "entries": [RuleLogEntryPublic.of(e) for e in log.items],
        "next_url": None
        if log.next_cursor is None
        else f"/trade/rules/{rule.id}?cursor={log.next_cursor}",
    }
    return problem_page(request, "trade_rule.html", context)


@router.post("/trade/rules/{rule_id}/delete")
async def delete_rule(request: Request, rule_id: RuleId, who: Actor) -> Response:
    """Delete the rule and its log (``DELETE /v1/rules/{id}``)."""
    who.require(Scope.TRADE)
    await container_of(request).rules.delete(who.user_id, rule_id)
    return RedirectResponse(f"/trade/rules?deleted={rule_id}", status_code=303)
