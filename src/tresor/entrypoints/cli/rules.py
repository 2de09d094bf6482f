"""``tresor rules add|list|plan|log|enable|disable|mode|remove``: rebalancing rules from the
command line, through the same ``RulesService`` as ``/v1/rules`` (docs/trading.md), on the
embedded runtime. ``--json`` prints the API's shapes (amounts as exact decimal strings).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table

from tresor.bootstrap import Runtime
from tresor.domain.errors import ValidationFailed
from tresor.domain.rebalance import BoundsTrigger, DriftTrigger, RuleSpec, Trigger, parse_targets
from tresor.entrypoints.api.schemas_records import amount as shown
from tresor.entrypoints.api.schemas_records import at
from tresor.entrypoints.api.schemas_rules import RuleLogEntryPublic, RulePublic
from tresor.entrypoints.cli.common import console, fail, print_json, run
from tresor.entrypoints.cli.sync import User, find_connection
from tresor.services.ports.rules import Rule, RuleLogEntry, RuleMode
from tresor.services.rules import DEFAULT_INTERVAL_S, RuleChanges

app = typer.Typer(help="Rebalancing rules: target allocations kept by trading (or dry runs).")
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
RuleArg = Annotated[str, typer.Argument(help="The rule's id (rul_...).")]
EIGHT = Decimal("1e-8")
CENT = Decimal("0.01")


def _number(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        fail(f"{name} must be a number of zero or more, not {text!r}.", None, "validation_failed")
    return value


def _pairs(items: list[str], name: str) -> list[tuple[str, Decimal]]:
    found = []
    for item in items:
        asset, sep, percent = item.partition("=")
        if not sep or not asset.strip():
            fail(
                f"{name} takes ASSET=PERCENT, e.g. BTC=40, not {item!r}.", None, "validation_failed"
            )
        found.append((asset.strip().upper(), _number(percent.strip(), f"{name} {asset}")))
    return found


def _spec(
    targets: list[str],
    quote: str,
    drift: str | None,
    floors: list[str],
    ceilings: list[str],
    min_trade: str,
) -> RuleSpec:
    try:
        chosen = parse_targets(_pairs(targets, "--target"))
    except ValidationFailed as error:
        fail(error.message, error.remedy, error.code)
    low = dict(_pairs(floors, "--floor"))
    high = dict(_pairs(ceilings, "--ceiling"))
    triggers: list[Trigger] = []
    if drift is not None:
        triggers.append(DriftTrigger(_number(drift, "--drift")))
    triggers += [BoundsTrigger(a, low.get(a), high.get(a)) for a in dict.fromkeys([*low, *high])]
    return RuleSpec(chosen, quote.upper(), tuple(triggers), _number(min_trade, "--min-trade"))


def _amount(value: Decimal) -> str:
    """An amount for reading: at most 8 decimals (``--json`` has every digit)."""
    return shown(value.quantize(EIGHT, rounding=ROUND_DOWN) if value.is_finite() else value)


def _when(ms: int | None) -> str:
    return "" if ms is None else at(ms).strftime("%Y-%m-%d %H:%M:%S")


def _triggers(rule: Rule) -> str:
    parts = []
    for t in rule.spec.triggers:
        if isinstance(t, DriftTrigger):
            parts.append(f"drift > {shown(t.max_drift_pp)} pp")
        else:
            if t.floor_pct is not None:
                parts.append(f"{t.asset} < {shown(t.floor_pct)}%")
            if t.ceiling_pct is not None:
                parts.append(f"{t.asset} > {shown(t.ceiling_pct)}%")
    return ", ".join(parts)


def _rules_table(rules: list[Rule]) -> Table:
    table = Table(title="Rules")
    table.add_column("id", no_wrap=True)
    for column in ("targets", "when", "mode"):
        table.add_column(column)
    for r in rules:
        when = [
            _triggers(r),
            f"min trade {shown(r.spec.min_trade)} {r.spec.quote}",
            f"every {r.interval_s} s",
        ]
        if r.enabled:
            when.append(f"next {_when(r.next_check_ms)}")
        table.add_row(
            r.id if r.name is None else f"{r.id}\n{r.name}",
            "\n".join(f"{a} {shown(p)}%" for a, p in r.spec.targets.items()),
            "\n".join(when),
            ("[bold]execute[/]" if r.mode == "execute" else "dry run")
            + ("" if r.enabled else "\n[yellow]disabled[/]"),
        )
    return table


def _show_rules(rules: list[Rule], as_json: bool) -> None:
    if as_json:
        print_json([RulePublic.of(r).model_dump(mode="json") for r in rules])
        return
    if not rules:
        console.print("No rules.")
        return
    console.print(_rules_table(rules))


def _show_entry(entry: RuleLogEntry) -> None:
    console.print(
        f"[bold]{entry.status}[/] ({entry.source}, {entry.mode.replace('_', ' ')}) at "
        f"{_when(entry.at_ms)}; balances taken {_when(entry.balances_ms) or 'never'}"
    )
    if entry.error is not None:
        console.print(f"[red]{entry.error.code}:[/] {entry.error.message}")
        console.print(f"[yellow]What to do:[/] {entry.error.remedy}")
    e = entry.evaluation
    if e is None:
        return
    for reason in e.reasons:
        console.print(f"  {reason}")
    assets = Table(title=f"Portfolio: {shown(e.value)} {e.quote}")
    for column in ("asset", "amount", "price", "value", "now %", "target %", "drift pp"):
        assets.add_column(column, justify="left" if column == "asset" else "right")
    for s in e.assets:
        assets.add_row(
            s.asset,
            _amount(s.amount),
            _amount(s.price),
            shown(s.value.quantize(CENT)),
            shown(s.current_pct),
            shown(s.target_pct),
            shown(s.drift_pp),
        )
    console.print(assets)
    outcomes = {t.index: t for t in entry.trades}
    if e.trades:
        trades = Table(title="Trades (sells first)")
        for column in ("side", "symbol", "amount", f"value {e.quote}", "outcome", "reason"):
            trades.add_column(column)
        for i, t in enumerate(e.trades):
            done = outcomes.get(i)
            outcome: str = "" if done is None else done.status
            if done is not None and done.error is not None:
                outcome += f" ({done.error.code})"
            trades.add_row(
                t.side,
                t.symbol,
                _amount(t.amount),
                shown(t.value.quantize(CENT)),
                outcome,
                t.reason,
            )
        console.print(trades)
    for t in e.skipped:
        console.print(f"  [dim]{t.reason}[/]")
    if e.ignored:
        console.print(f"Not in the targets, left alone: {', '.join(e.ignored)}")
    tolerance = shown(e.tolerance_pp.quantize(CENT))
    console.print(f"After the trades, every asset is within {tolerance} points of its target.")


@app.command("add")
def add(
    user: User,
    target: Annotated[list[str], typer.Option("--target", help="ASSET=PERCENT, repeated.")],
    drift: Annotated[
        str | None, typer.Option("--drift", help="Rebalance when an asset drifts this many points.")
    ] = None,
    floor: Annotated[
        list[str] | None, typer.Option("--floor", help="ASSET=PERCENT: buy back below it.")
    ] = None,
    ceiling: Annotated[
        list[str] | None, typer.Option("--ceiling", help="ASSET=PERCENT: sell down above it.")
    ] = None,
    quote: Annotated[str, typer.Option("--quote", help="The asset trades go through.")] = "USDT",
    min_trade: Annotated[
        str, typer.Option("--min-trade", help="The smallest trade worth making, in the quote.")
    ] = "10",
    interval: Annotated[
        int, typer.Option("--interval", help="Seconds between checks.")
    ] = DEFAULT_INTERVAL_S,
    execute: Annotated[
        bool, typer.Option("--execute", help="Trade (default: a dry run that only logs).")
    ] = False,
    connection: Annotated[
        list[str] | None,
        typer.Option("--connection", help="Only these connections (id or label), repeatable."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A name for the rule.")] = None,
    as_json: Json = False,
) -> None:
    """Add a rule: e.g. tresor rules add --user alice --target BTC=40 --target ETH=30
    --target USDT=30 --drift 5."""
    spec = _spec(target, quote, drift, floor or [], ceiling or [], min_trade)
    mode: RuleMode = "execute" if execute else "dry_run"

    async def job(rt: Runtime) -> Rule:
        owner = await rt.container.access.find_user(user)
        ids = None
        if connection:
            ids = [(await find_connection(rt, user, ref)).id for ref in connection]
        return await rt.container.rules.create(
            owner.id, spec=spec, mode=mode, interval_s=interval, connection_ids=ids, name=name
        )

    rule = run(job)
    _show_rules([rule], as_json)
    if not as_json and mode == "dry_run":
        console.print(
            "A dry run: its checks only log what it would trade. Read them with "
            f"tresor rules log --user {user} {rule.id}; trade with tresor rules mode --user "
            f"{user} {rule.id} execute."
        )


@app.command("list")
def list_rules(user: User, as_json: Json = False) -> None:
    """The user's rules."""

    async def job(rt: Runtime) -> list[Rule]:
        owner = await rt.container.access.find_user(user)
        return await rt.container.rules.rules(owner.id)

    _show_rules(run(job), as_json)


@app.command("plan")
def plan(user: User, rule_id: RuleArg, as_json: Json = False) -> None:
    """What the rule would trade now, and why (logged; nothing is traded)."""

    async def job(rt: Runtime) -> RuleLogEntry:
        owner = await rt.container.access.find_user(user)
        return await rt.container.rules.plan(owner.id, rule_id)

    entry = run(job)
    if as_json:
        print_json(RuleLogEntryPublic.of(entry).model_dump(mode="json"))
        return
    _show_entry(entry)


@app.command("log")
def show_log(
    user: User,
    rule_id: RuleArg,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Entries.")] = 20,
    as_json: Json = False,
) -> None:
    """The rule's evaluations and executions, newest first."""

    async def job(rt: Runtime) -> list[RuleLogEntry]:
        owner = await rt.container.access.find_user(user)
        return list((await rt.container.rules.log(owner.id, rule_id, limit=limit)).items)

    entries = run(job)
    if as_json:
        print_json([RuleLogEntryPublic.of(e).model_dump(mode="json") for e in entries])
        return
    if not entries:
        console.print("Nothing logged yet.")
        return
    table = Table(title=f"Log of {rule_id}")
    for column in ("id", "at", "source", "status", "trades"):
        table.add_column(column, no_wrap=column != "trades")
    for e in entries:
        trades = [
            f"{t.trade.side} {_amount(t.trade.amount)} {t.trade.asset}: {t.status}"
            for t in e.trades
        ]
        if not e.trades and e.evaluation is not None:
            trades = [f"{t.side} {_amount(t.amount)} {t.asset}" for t in e.evaluation.trades]
        if e.error is not None:
            trades = [f"{e.error.code}: {e.error.message}"]
        source = e.source if e.mode == "execute" else f"{e.source} (dry run)"
        table.add_row(str(e.id), _when(e.at_ms), source, e.status, "\n".join(trades))
    console.print(table)


def _change(user: str, rule_id: str, changes: RuleChanges, as_json: bool) -> None:
    async def job(rt: Runtime) -> Rule:
        owner = await rt.container.access.find_user(user)
        return await rt.container.rules.update(owner.id, rule_id, changes)

    _show_rules([run(job)], as_json)


@app.command("enable")
def enable(user: User, rule_id: RuleArg, as_json: Json = False) -> None:
    """Enable a rule (it is checked at once)."""
    _change(user, rule_id, RuleChanges(enabled=True), as_json)


@app.command("disable")
def disable(user: User, rule_id: RuleArg, as_json: Json = False) -> None:
    """Disable a rule: it is no longer checked."""
    _change(user, rule_id, RuleChanges(enabled=False), as_json)


@app.command("mode")
def mode(
    user: User,
    rule_id: RuleArg,
    new_mode: Annotated[str, typer.Argument(help="dry_run or execute")],
    as_json: Json = False,
) -> None:
    """Switch a rule between dry_run (log only) and execute (trade)."""
    if new_mode not in ("dry_run", "execute"):
        fail(f"The mode must be dry_run or execute, not {new_mode!r}.", None, "validation_failed")
    chosen: RuleMode = "execute" if new_mode == "execute" else "dry_run"
    _change(user, rule_id, RuleChanges(mode=chosen), as_json)


@app.command("remove")
def remove(user: User, rule_id: RuleArg) -> None:
    """Delete a rule and its log."""

    async def job(rt: Runtime) -> None:
        owner = await rt.container.access.find_user(user)
        await rt.container.rules.delete(owner.id, rule_id)

    run(job)
    console.print(f"Removed {rule_id}.")
