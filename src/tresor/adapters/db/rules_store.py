"""``SqlRulesStore``: rebalancing rules, their leases and their log (the ``RulesStore`` port).

A rule's spec and an evaluation's report are JSON with every number as exact decimal text, so
they read back identical from SQLite and PostgreSQL. The lease is a token and an expiry on the
rule's row, taken by one conditional UPDATE (as the sync scheduler claims connections), so of
several processes checking rules exactly one claims a due check. A trade is handed to the
router only after a conditional UPDATE moved it from ``planned`` to ``sending``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.engine import RowMapping

from tresor.adapters.db.sql_base import SqlStoreBase
from tresor.adapters.db.tables_rules import RuleLogRow, RuleRow, RuleTradeRow
from tresor.domain.rebalance import (
    AssetState,
    BoundsTrigger,
    DriftTrigger,
    Evaluation,
    PlannedTrade,
    RuleSpec,
    Trigger,
)
from tresor.services.ports.rules import (
    EntryStatus,
    ErrorNote,
    Rule,
    RuleLogEntry,
    RuleTrade,
)

RULES: Table = RuleRow.__table__  # type: ignore[assignment]
LOG: Table = RuleLogRow.__table__  # type: ignore[assignment]
TRADES: Table = RuleTradeRow.__table__  # type: ignore[assignment]


# -- codec -------------------------------------------------------------------------------------
def _d(value: Decimal) -> str:
    return format(value, "f")


def _maybe_d(value: Decimal | None) -> str | None:
    return None if value is None else _d(value)


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _maybe_dec(value: Any) -> Decimal | None:
    return None if value is None else _dec(value)


def triggers_to_json(triggers: Sequence[Trigger]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for t in triggers:
        if isinstance(t, DriftTrigger):
            out.append({"kind": "drift", "max_drift_pp": _d(t.max_drift_pp)})
        else:
            out.append(
                {
                    "kind": "bounds",
                    "asset": t.asset,
                    "floor_pct": _maybe_d(t.floor_pct),
                    "ceiling_pct": _maybe_d(t.ceiling_pct),
                }
            )
    return out


def triggers_from_json(data: Sequence[Mapping[str, Any]]) -> tuple[Trigger, ...]:
    found: list[Trigger] = []
    for t in data:
        if t["kind"] == "drift":
            found.append(DriftTrigger(_dec(t["max_drift_pp"])))
        else:
            found.append(
                BoundsTrigger(t["asset"], _maybe_dec(t["floor_pct"]), _maybe_dec(t["ceiling_pct"]))
            )
    return tuple(found)


def _trade_to_json(t: PlannedTrade) -> dict[str, Any]:
    return {
        "asset": t.asset,
        "symbol": t.symbol,
        "side": t.side,
        "amount": _d(t.amount),
        "value": _d(t.value),
        "reason": t.reason,
    }


def _trade_from_json(d: Mapping[str, Any]) -> PlannedTrade:
    return PlannedTrade(
        d["asset"], d["symbol"], d["side"], _dec(d["amount"]), _dec(d["value"]), d["reason"]
    )


def evaluation_to_json(e: Evaluation) -> dict[str, Any]:
    return {
        "quote": e.quote,
        "value": _d(e.value),
        "assets": [
            {
                "asset": s.asset,
                "amount": _d(s.amount),
                "price": _d(s.price),
                "value": _d(s.value),
                "current_pct": _d(s.current_pct),
                "target_pct": _d(s.target_pct),
                "drift_pp": _d(s.drift_pp),
            }
            for s in e.assets
        ],
        "ignored": list(e.ignored),
        "triggered": e.triggered,
        "scope": e.scope,
        "reasons": list(e.reasons),
        "trades": [_trade_to_json(t) for t in e.trades],
        "skipped": [_trade_to_json(t) for t in e.skipped],
        "fees": _d(e.fees),
        "tolerance_pp": _d(e.tolerance_pp),
    }


def evaluation_from_json(d: Mapping[str, Any]) -> Evaluation:
    return Evaluation(
        quote=d["quote"],
        value=_dec(d["value"]),
        assets=tuple(
            AssetState(
                asset=s["asset"],
                amount=_dec(s["amount"]),
                price=_dec(s["price"]),
                value=_dec(s["value"]),
                current_pct=_dec(s["current_pct"]),
                target_pct=_dec(s["target_pct"]),
                drift_pp=_dec(s["drift_pp"]),
            )
            for s in d["assets"]
        ),
        ignored=tuple(d["ignored"]),
        triggered=bool(d["triggered"]),
        scope=d["scope"],
        reasons=tuple(d["reasons"]),
        trades=tuple(_trade_from_json(t) for t in d["trades"]),
        skipped=tuple(_trade_from_json(t) for t in d["skipped"]),
        fees=_dec(d["fees"]),
        tolerance_pp=_dec(d["tolerance_pp"]),
    )


def _note_to_json(note: ErrorNote | None) -> dict[str, Any] | None:
    return (
        None
        if note is None
        else {"code": note.code, "message": note.message, "remedy": note.remedy}
    )


def _note_from_json(d: Mapping[str, Any] | None) -> ErrorNote | None:
    return None if d is None else ErrorNote(d["code"], d["message"], d["remedy"])


def _rule_values(rule: Rule) -> dict[str, Any]:
    spec = rule.spec
    return {
        "id": rule.id,
        "user_id": rule.user_id,
        "name": rule.name,
        "quote": spec.quote,
        "targets": [[asset, _d(pct)] for asset, pct in spec.targets.items()],
        "triggers": triggers_to_json(spec.triggers),
        "min_trade": spec.min_trade,
        "mode": rule.mode,
        "enabled": rule.enabled,
        "interval_s": rule.interval_s,
        "connection_ids": None if rule.connection_ids is None else list(rule.connection_ids),
        "created_ms": rule.created_ms,
        "updated_ms": rule.updated_ms,
        "next_check_ms": rule.next_check_ms,
    }


def _rule(row: RowMapping) -> Rule:
    ids = row["connection_ids"]
    return Rule(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        spec=RuleSpec(
            targets={asset: _dec(pct) for asset, pct in row["targets"]},
            quote=row["quote"],
            triggers=triggers_from_json(row["triggers"]),
            min_trade=_dec(row["min_trade"]),
        ),
        mode=row["mode"],
        enabled=bool(row["enabled"]),
        interval_s=row["interval_s"],
        connection_ids=None if ids is None else tuple(ids),
        created_ms=row["created_ms"],
        updated_ms=row["updated_ms"],
        next_check_ms=row["next_check_ms"],
    )


def _trade_values(entry_id: int, t: RuleTrade) -> dict[str, Any]:
    return {
        "entry_id": entry_id,
        "idx": t.index,
        "idempotency_key": t.idempotency_key,
        "status": t.status,
        "ticket": t.ticket,
        "filled": t.filled,
        "gross": t.gross,
        "order_ids": list(t.order_ids),
        "error": _note_to_json(t.error),
        "updated_ms": t.updated_ms,
    }


def _entry(row: RowMapping, trades: Sequence[RowMapping]) -> RuleLogEntry:
    report = row["report"]
    evaluation = None if report is None else evaluation_from_json(report)
    planned = evaluation.trades if evaluation is not None else ()
    return RuleLogEntry(
        id=row["id"],
        rule_id=row["rule_id"],
        user_id=row["user_id"],
        at_ms=row["at_ms"],
        source=row["source"],
        mode=row["mode"],
        status=row["status"],
        evaluation=evaluation,
        balances_ms=row["balances_ms"],
        error=_note_from_json(row["error"]),
        trades=tuple(
            RuleTrade(
                index=t["idx"],
                trade=planned[t["idx"]],
                idempotency_key=t["idempotency_key"],
                status=t["status"],
                ticket=t["ticket"],
                filled=_maybe_dec(t["filled"]),
                gross=_maybe_dec(t["gross"]),
                order_ids=tuple(t["order_ids"]),
                error=_note_from_json(t["error"]),
                updated_ms=t["updated_ms"],
            )
            for t in sorted(trades, key=lambda t: cast(int, t["idx"]))
        ),
        finished_ms=row["finished_ms"],
    )


# -- the store ---------------------------------------------------------------------------------
class SqlRulesStore(SqlStoreBase):
    async def add_rule(self, rule: Rule) -> None:
        async with self._writing() as conn:
            await conn.execute(RULES.insert().values(**_rule_values(rule)))

    async def rule(self, rule_id: str, user_id: str | None = None) -> Rule | None:
        stmt = select(RULES).where(RULES.c.id == rule_id)
        if user_id is not None:
            stmt = stmt.where(RULES.c.user_id == user_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        return None if row is None else _rule(row)

    async def rules(self, user_id: str) -> list[Rule]:
        stmt = (
            select(RULES).where(RULES.c.user_id == user_id).order_by(RULES.c.created_ms, RULES.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_rule(row) for row in rows]

    async def save_rule(self, rule: Rule) -> bool:
        values = _rule_values(rule)
        del values["id"], values["user_id"], values["created_ms"]
        async with self._writing() as conn:
            result = await conn.execute(update(RULES).where(RULES.c.id == rule.id).values(**values))
        return bool(result.rowcount)

    async def delete_rule(self, rule_id: str, user_id: str) -> bool:
        async with self._writing() as conn:
            result = await conn.execute(
                RULES.delete().where(RULES.c.id == rule_id, RULES.c.user_id == user_id)
            )
        return bool(result.rowcount)

    def _claimable(self, now_ms: int) -> Any:
        c = RULES.c
        return and_(
            c.enabled.is_(True),
            c.next_check_ms <= now_ms,
            or_(c.lease_until_ms.is_(None), c.lease_until_ms <= now_ms),
        )

    async def due(self, *, now_ms: int, limit: int) -> list[Rule]:
        stmt = (
            select(RULES)
            .where(self._claimable(now_ms))
            .order_by(RULES.c.next_check_ms, RULES.c.id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_rule(row) for row in rows]

    async def claim(
        self, rule_id: str, *, token: str, now_ms: int, until_ms: int, next_check_ms: int
    ) -> bool:
        async with self._writing() as conn:
            result = await conn.execute(
                update(RULES)
                .where(RULES.c.id == rule_id, self._claimable(now_ms))
                .values(lease_token=token, lease_until_ms=until_ms, next_check_ms=next_check_ms)
            )
        return bool(result.rowcount)

    async def renew(self, rule_id: str, *, token: str, until_ms: int) -> bool:
        async with self._writing() as conn:
            result = await conn.execute(
                update(RULES)
                .where(RULES.c.id == rule_id, RULES.c.lease_token == token)
                .values(lease_until_ms=until_ms)
            )
        return bool(result.rowcount)

    async def release(self, rule_id: str, *, token: str) -> None:
        async with self._writing() as conn:
            await conn.execute(
                update(RULES)
                .where(RULES.c.id == rule_id, RULES.c.lease_token == token)
                .values(lease_token=None, lease_until_ms=None)
            )

    async def add_entry(self, entry: RuleLogEntry) -> RuleLogEntry:
        values = {
            "rule_id": entry.rule_id,
            "user_id": entry.user_id,
            "at_ms": entry.at_ms,
            "source": entry.source,
            "mode": entry.mode,
            "status": entry.status,
            "report": None if entry.evaluation is None else evaluation_to_json(entry.evaluation),
            "balances_ms": entry.balances_ms,
            "error": _note_to_json(entry.error),
            "finished_ms": entry.finished_ms,
        }
        async with self._writing() as conn:
            result = await conn.execute(LOG.insert().values(**values).returning(LOG.c.id))
            entry_id = int(result.scalar_one())
        return replace(entry, id=entry_id, trades=())

    async def add_trades(self, entry_id: int, trades: Sequence[RuleTrade]) -> None:
        if not trades:
            return
        async with self._writing() as conn:
            await conn.execute(TRADES.insert(), [_trade_values(entry_id, t) for t in trades])

    async def begin_trade(self, entry_id: int, index: int, *, ticket: str, now_ms: int) -> bool:
        async with self._writing() as conn:
            result = await conn.execute(
                update(TRADES)
                .where(
                    TRADES.c.entry_id == entry_id,
                    TRADES.c.idx == index,
                    TRADES.c.status == "planned",
                )
                .values(status="sending", ticket=ticket, updated_ms=now_ms)
            )
        return bool(result.rowcount)

    async def save_trade(self, entry_id: int, trade: RuleTrade) -> None:
        values = _trade_values(entry_id, trade)
        del values["entry_id"], values["idx"]
        async with self._writing() as conn:
            await conn.execute(
                update(TRADES)
                .where(TRADES.c.entry_id == entry_id, TRADES.c.idx == trade.index)
                .values(**values)
            )

    async def finish_entry(self, entry_id: int, *, status: EntryStatus, now_ms: int) -> None:
        async with self._writing() as conn:
            await conn.execute(
                update(LOG).where(LOG.c.id == entry_id).values(status=status, finished_ms=now_ms)
            )

    async def _with_trades(self, stmt: Any) -> list[RuleLogEntry]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
            ids = [row["id"] for row in rows]
            trades: dict[int, list[RowMapping]] = {i: [] for i in ids}
            if ids:
                found = await conn.execute(select(TRADES).where(TRADES.c.entry_id.in_(ids)))
                for t in found.mappings().all():
                    trades[t["entry_id"]].append(t)
        return [_entry(row, trades[row["id"]]) for row in rows]

    async def entries(
        self, rule_id: str, *, before: int | None = None, limit: int = 100
    ) -> list[RuleLogEntry]:
        stmt = select(LOG).where(LOG.c.rule_id == rule_id)
        if before is not None:
            stmt = stmt.where(LOG.c.id < before)
        return await self._with_trades(stmt.order_by(LOG.c.id.desc()).limit(limit))

    async def last_check(self, rule_id: str) -> RuleLogEntry | None:
        stmt = (
            select(LOG)
            .where(
                LOG.c.rule_id == rule_id,
                LOG.c.source == "check",
                LOG.c.status.not_in(["error", "executing"]),
            )
            .order_by(LOG.c.id.desc())
            .limit(1)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        return None if row is None else _entry(row, ())

    async def unfinished(self, rule_id: str) -> list[RuleLogEntry]:
        stmt = (
            select(LOG)
            .where(LOG.c.rule_id == rule_id, LOG.c.status == "executing")
            .order_by(LOG.c.id)
        )
        return await self._with_trades(stmt)
