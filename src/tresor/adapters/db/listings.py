"""The trades' and orders' listing statement (``SqlSyncStore.trades``/``orders``), newest first
on the (connection, symbol, time) index: ``newest_per_symbol``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    true,
    tuple_,
)

from tresor.adapters.db.tables import ConnectionRow

CONNECTIONS: Table = ConnectionRow.__table__  # type: ignore[assignment]
_NO_BOUND = -(2**63)  # older than any time


# the filters each listing takes, by their parameters' names (``_per_symbol``)
TRADE_FILTERS = frozenset({"since", "until", "side", "symbol", "asset"})
ORDER_FILTERS = frozenset({"since", "until", "side", "status", "symbol"})
_LISTED = {"trades": ("time_ms", "trade_id"), "orders": ("created_ms", "order_id")}


def newest_per_symbol(table: Table, given: frozenset[str], dialect: str) -> Any:
    """The newest ``:n`` trades or orders of the connections ``:ids`` that pass the filters
    ``given`` (the names of its parameters), newest first, on the (connection, symbol, time)
    index: the connections' symbols are found one index seek each (a loose index scan: the
    next symbol after the last), a time before which no row can be in the answer is found, and
    the rows since that bound are merged and sorted. Two such bounds are taken, the later one
    wins: each symbol's ``n``-th newest row that passes the filters (no row older than the
    newest of these can be in the answer: that symbol alone has ``n`` rows since), and, of
    ``P`` symbols, the oldest of each symbol's ``ceil(n / P)``-th newest, when every symbol has
    that many (together they are at least ``n`` rows, all since that time). The first is tight
    when one symbol is busy and the others quiet, the second when they trade alike (with 50
    symbols interleaved the first left 5,000 rows to sort for a page of 100, the second about
    150). On PostgreSQL each symbol's rows since the bound are a LATERAL subquery (its
    newest ``n``), so the planner reads them from the index whatever it estimates of the bound
    (a join let it scan the whole table, 28 ms for 100,000 trades). Its cost grows with the
    symbols and ``n``, not with the history (docs/benchmarks.md). The order and the keyset
    (``:at``, ``:connection``, ``:part``, ``:key``: the last row of the page before) are those
    of ``_filtered``."""
    time_col, id_col = _LISTED[table.name]
    time = table.c[time_col]

    def row_conds(t: Any) -> list[ColumnElement[bool]]:
        at = t.c[time_col]
        conds: list[ColumnElement[bool]] = []
        if "since" in given:
            conds.append(at >= bindparam("since"))
        if "until" in given:
            conds.append(at < bindparam("until"))
        if "at" in given:
            conds.append(at <= bindparam("at"))  # the index's range; the tuple decides
            before = tuple_(
                bindparam("at", type_=time.type),
                bindparam("connection", type_=table.c.connection_id.type),
                bindparam("part", type_=table.c.symbol.type),
                bindparam("key", type_=table.c[id_col].type),
            )
            conds.append(tuple_(at, t.c.connection_id, t.c.symbol, t.c[id_col]) < before)
        if "side" in given:
            conds.append(t.c.side == bindparam("side"))
        if "status" in given:
            conds.append(t.c.status == bindparam("status"))
        return conds

    first, after = table.alias("first"), table.alias("after")
    nth, near = table.alias("nth"), table.alias("near")
    pair = (
        select(
            CONNECTIONS.c.id.label("connection_id"),
            select(func.min(first.c.symbol))
            .where(first.c.connection_id == CONNECTIONS.c.id)
            .scalar_subquery()
            .label("symbol"),
        )
        .where(CONNECTIONS.c.id.in_(bindparam("ids", expanding=True)))
        .cte("pair", recursive=True)
    )
    last = pair.alias("last")
    pair = pair.union_all(
        select(
            last.c.connection_id,
            select(func.min(after.c.symbol))
            .where(after.c.connection_id == last.c.connection_id, after.c.symbol > last.c.symbol)
            .scalar_subquery(),
        ).where(last.c.symbol.is_not(None))
    )
    symbols: list[ColumnElement[bool]] = []
    if "symbol" in given:
        symbols.append(pair.c.symbol == bindparam("symbol"))
    if "base" in given:
        symbols.append(
            or_(
                pair.c.symbol.like(bindparam("base"), escape="\\"),
                pair.c.symbol.like(bindparam("quote"), escape="\\"),
            )
        )

    def newest(t: Any, skip: Any) -> Any:
        """A symbol's ``skip + 1``-th newest row that passes the filters: its time."""
        return (
            select(t.c[time_col])
            .where(
                t.c.connection_id == pair.c.connection_id,
                t.c.symbol == pair.c.symbol,
                *row_conds(t),
            )
            .order_by(t.c[time_col].desc())
            .limit(1)
            .offset(skip)
            .scalar_subquery()
        )

    listed = [pair.c.symbol.is_not(None), *symbols]
    many = select(func.count()).select_from(pair).where(*listed).scalar_subquery()
    n = bindparam("n", type_=Integer)
    edge = (
        select(
            pair.c.connection_id,
            pair.c.symbol,
            newest(nth, bindparam("skip", type_=Integer)).label("bound_ms"),
            newest(near, (n + many - 1) // func.nullif(many, 0) - 1).label("near_ms"),
        )
        .where(*listed)
        .cte("edge")
    )
    by_one = select(func.max(edge.c.bound_ms)).scalar_subquery()
    by_all = select(
        case((func.count(edge.c.near_ms) == func.count(), func.min(edge.c.near_ms)))
    ).scalar_subquery()
    oldest = func.coalesce(
        case((by_all > func.coalesce(by_one, _NO_BOUND), by_all), else_=by_one), _NO_BOUND
    )
    order = (time_col, "connection_id", "symbol", id_col)
    if dialect == "postgresql":
        rows = (
            select(table)
            .where(
                table.c.connection_id == edge.c.connection_id,
                table.c.symbol == edge.c.symbol,
                time >= oldest,
                *row_conds(table),
            )
            .order_by(time.desc(), table.c[id_col].desc())
            .limit(n)
            .lateral("since")
        )
        return (
            select(*(rows.c[c.name] for c in table.columns))
            .select_from(edge)
            .join(rows, true())
            .order_by(*(rows.c[name].desc() for name in order))
            .limit(n)
        )
    return (
        select(table)
        .join(
            edge,
            and_(table.c.connection_id == edge.c.connection_id, table.c.symbol == edge.c.symbol),
        )
        .where(time >= oldest, *row_conds(table))
        .order_by(*(table.c[name].desc() for name in order))
        .limit(n)
    )
