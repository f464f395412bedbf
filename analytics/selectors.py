"""Reads of the analytics API: the journal's filtered trades reduced in the database.

Everything takes a *valid* ``TradeFilterSet`` (``analytics.report_filters.report_filters`` applies the
analytics' mode rule; the caller answers 400 otherwise) and returns plain values. Nothing loads the
trades into Python: totals and sums are one aggregate query, the daily series a ``GROUP BY trade_date``
(the per-day performance rows when only the dates and the mode filter), streaks a window query, and
each breakdown a sum over the pre-aggregated breakdown cells (``journal.cells``) when only the mode,
dates and strategy filter, else one ``GROUP BY`` over the bucket rule of ``journal.buckets`` written as
SQL (``journal.breakdowns``). The figures from those sums are ``analytics.trade_stats.trade_figures``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

import pandas as pd
from django.conf import settings
from django.db import connections
from django.db.models import (
    Case,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    When,
)

from analytics import trade_stats
from analytics.returns import daily_net
from journal import breakdowns as journal_breakdowns
from journal import buckets, cells
from journal import selectors as journal_selectors
from journal.accumulator import join_runs
from journal.filters import TradeFilterSet
from journal.models import StrategyPerformance
from journal.selectors import STRATEGY_COUNTABLE
from trading.core import attribution

# --- Totals and the daily series --------------------------------------------------------------------------


def _plain(qs: QuerySet) -> QuerySet:
    """The filtered trades without the model's default ordering (a sort the aggregates never need)."""
    return qs.order_by()


class _Runs(NamedTuple):
    """The run fields of a performance row (``journal.accumulator.join_runs`` reads them)."""

    trades: int
    first_sign: int
    first_run: int
    last_sign: int
    last_run: int
    best_win_run: int
    best_loss_run: int


def trade_sums(filterset: TradeFilterSet) -> trade_stats.TradeSums:
    """The sufficient statistics of the filtered trades: from the performance rows when they hold the
    filtered set exactly (dates and mode: the per-day rows; a strategy and mode: the strategy's row), else
    one aggregate query over the trades. Streaks join the rows' runs when the rows are of one mode (in
    time order), else come from a window query over the trades."""
    rows, one_mode = _performance_rows(filterset)
    if rows is None or rows.filter(first_sign__isnull=True).exists():
        return _trade_sums_of_trades(filterset)
    counts = ("trades", "wins", "losses", "r_count", "mae_count", "mfe_count", "efficiency_count")
    money = ("net_pnl", "gross_pnl", "total_charges", "sum_wins", "sum_losses", "total_hold_minutes")
    more = ("r_sum", "r_sum_sq", "mae_sum", "mfe_sum", "efficiency_sum")
    got = rows.aggregate(
        **{f"s_{name}": Sum(name) for name in (*counts, *money, *more)},
        max_net=Max("best_trade"),
        min_net=Min("worst_trade"),
    )
    total = {name: got[f"s_{name}"] or 0 for name in (*counts, *money, *more)}
    if not total["trades"]:
        return trade_stats.TradeSums()
    if one_mode:
        win_streak, loss_streak = join_runs(_Runs(*r) for r in rows.values_list(*_Runs._fields))
    else:
        win_streak, loss_streak = streaks(filterset)
    return trade_stats.TradeSums(
        trades=int(total["trades"]),
        wins=int(total["wins"]),
        losses=int(total["losses"]),
        net=total["net_pnl"],
        gross=total["gross_pnl"],
        charges=total["total_charges"],
        sum_wins=total["sum_wins"],
        sum_losses=total["sum_losses"],
        max_net=got["max_net"],
        min_net=got["min_net"],
        r_count=int(total["r_count"]),
        r_sum=total["r_sum"],
        r_sum_sq=total["r_sum_sq"],
        hold_count=int(total["trades"]),
        hold_sum=total["total_hold_minutes"],
        mae_count=int(total["mae_count"]),
        mae_sum=total["mae_sum"],
        mfe_count=int(total["mfe_count"]),
        mfe_sum=total["mfe_sum"],
        efficiency_count=int(total["efficiency_count"]),
        efficiency_sum=float(total["efficiency_sum"]),
        longest_win_streak=win_streak,
        longest_loss_streak=loss_streak,
    )


def _day_rows(filterset: TradeFilterSet) -> QuerySet:
    """The per-day performance rows (with trades) of a daily-countable filter: its dates and mode."""
    return journal_selectors.daily_rows(filterset).filter(trades__gt=0)


def _performance_rows(filterset: TradeFilterSet) -> tuple[QuerySet | None, bool]:
    """(rows, of one mode) of the performance table that holds exactly the filtered trades, in time
    order; (None, False) when none does."""
    active = filterset.active_filters
    data = filterset.form.cleaned_data
    one_mode = bool(data.get("mode"))
    if filterset.is_daily_countable:
        return _day_rows(filterset).order_by("date", "mode"), one_mode
    if "strategy" in active and active <= STRATEGY_COUNTABLE:
        rows = StrategyPerformance.objects.filter(strategy_name=data["strategy"], trades__gt=0)
        if one_mode:
            rows = rows.filter(mode=data["mode"])
        return rows.order_by("mode"), one_mode
    return None, False


def _trade_sums_of_trades(filterset: TradeFilterSet) -> trade_stats.TradeSums:
    """The sums over the trades themselves: one aggregate query plus the streaks' window query."""
    qs = _plain(filterset.qs)
    win, loss = Q(net_pnl__gt=0), Q(net_pnl__lt=0)
    ranged = Q(mfe__gt=F("mae"))
    row = qs.aggregate(
        trades=Count("id"),
        wins=Count("id", filter=win),
        losses=Count("id", filter=loss),
        net=Sum("net_pnl"),
        gross=Sum("gross_pnl"),
        charges=Sum("total_charges"),
        sum_wins=Sum("net_pnl", filter=win),
        sum_losses=Sum("net_pnl", filter=loss),
        max_net=Max("net_pnl"),
        min_net=Min("net_pnl"),
        r_count=Count("r_multiple"),
        r_sum=Sum("r_multiple"),
        r_sum_sq=Sum(F("r_multiple") * F("r_multiple")),
        hold_count=Count("hold_duration_minutes"),
        hold_sum=Sum("hold_duration_minutes"),
        mae_count=Count("mae"),
        mae_sum=Sum("mae"),
        mfe_count=Count("mfe"),
        mfe_sum=Sum("mfe"),
        efficiency_count=Count("id", filter=ranged),
        efficiency_sum=Sum(
            Case(
                When(
                    ranged,
                    then=ExpressionWrapper(
                        (F("gross_pnl") - F("mae")) * 1.0 / (F("mfe") - F("mae")), output_field=FloatField()
                    ),
                ),
                output_field=FloatField(),
            )
        ),
    )
    values = {
        k: (v if v is not None else (None if k in ("max_net", "min_net") else 0)) for k, v in row.items()
    }
    win_streak, loss_streak = streaks(filterset) if values["trades"] else (0, 0)
    return trade_stats.TradeSums(**values, longest_win_streak=win_streak, longest_loss_streak=loss_streak)


def _inner(qs: QuerySet, *fields: str) -> tuple[str, tuple, str]:
    """The filtered queryset as a subquery of ``fields`` (SQL, params, database alias)."""
    sql, params = _plain(qs).values(*fields).query.sql_with_params()
    return sql, tuple(params), qs.db


def streaks(filterset: TradeFilterSet) -> tuple[int, int]:
    """(longest run of wins, longest run of losses) in exit order (exit time, id): the islands of equal
    sign (win +1, loss -1, scratch 0) found with two row numbers, in the database."""
    inner, params, alias = _inner(filterset.qs, "id", "exit_time", "net_pnl")
    sql = f"""
        SELECT s, MAX(n) FROM (
            SELECT s, COUNT(*) AS n FROM (
                SELECT s, ROW_NUMBER() OVER (ORDER BY exit_time, id)
                          - ROW_NUMBER() OVER (PARTITION BY s ORDER BY exit_time, id) AS g
                FROM (SELECT id, exit_time,
                             CASE WHEN net_pnl > 0 THEN 1 WHEN net_pnl < 0 THEN -1 ELSE 0 END AS s
                      FROM ({inner}) AS t) AS x
            ) AS y GROUP BY s, g
        ) AS z GROUP BY s
    """
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        runs = {int(s): int(n) for s, n in cursor.fetchall()}
    return runs.get(1, 0), runs.get(-1, 0)


@dataclass(frozen=True)
class DailyRows:
    """Per IST trade date with trades: net P&L (rupees) and trades, oldest first."""

    days: list[date]
    net: list[Decimal | float]
    trades: list[int]


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def daily_rows(filterset: TradeFilterSet) -> DailyRows:
    """Net P&L and trades per trade date of the filtered trades: from ``DailyPerformance`` when only the
    dates and the mode filter (a row per day and mode, refreshed with every trade), else a ``GROUP BY``."""
    if filterset.is_daily_countable:
        rows = _day_rows(filterset)
        per_day = rows.values("date").annotate(n=Sum("trades"), net=Sum("net_pnl")).order_by("date")
        per_day = per_day.values_list("date", "n", "net")
    else:
        per_day = _plain(filterset.qs).values("trade_date").annotate(n=Count("*"), net=Sum("net_pnl"))
        per_day = per_day.order_by("trade_date").values_list("trade_date", "n", "net")
    triples = [(_as_date(d), int(n), net) for d, n, net in per_day]
    return DailyRows([d for d, _, _ in triples], [net for _, _, net in triples], [n for _, n, _ in triples])


def daily_series(rows: DailyRows) -> pd.Series:
    """The daily net P&L series on the trading calendar (``returns.daily_net``) of ``rows``."""
    return daily_net(list(zip(rows.days, rows.net, strict=True)))


# --- Breakdowns ---------------------------------------------------------------------------------------------


# The breakdowns' definitions are the journal's (its cells group the same SQL); the API reads them here.
Breakdown = journal_breakdowns.Breakdown
breakdowns = journal_breakdowns.breakdowns
configured_dimensions = journal_breakdowns.configured_dimensions
BREAKDOWN_NAMES = journal_breakdowns.BREAKDOWN_NAMES
CELL_FILTERS = frozenset({"mode", "date_from", "date_to", "strategy"})


def _sums_sql(sums: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(sql for _, sql in sums)


@dataclass(frozen=True)
class GroupRow:
    """One row of a breakdown: its key, label and the figures of its trades."""

    key: str
    label: str
    figures: dict


def _grouped_live(
    filterset: TradeFilterSet, by: Breakdown, columns: tuple[str, ...], sums: str
) -> list[tuple]:
    """``(key, *sums)`` per group of ``by``: one GROUP BY in the database over the filtered trades'
    ``columns`` (the subquery ``t``)."""
    qs = filterset.qs
    annotations = by.annotations() if by.annotations else {}
    if annotations:
        qs = qs.annotate(**annotations)
    inner, params, alias = _inner(qs, *columns, *by.fields, *annotations)
    vendor = connections[alias].vendor
    join = by.join(vendor) if by.join else ""
    # PostgreSQL would inline the subquery and work out its IST minute (a time-zone conversion) once per
    # bucket the CASE tries; OFFSET 0 keeps it a subquery, computed once per trade.
    fence = " OFFSET 0" if vendor == "postgresql" and annotations else ""
    sql = f"SELECT {by.key_sql(vendor)} AS k, {sums} FROM ({inner}{fence}) AS t {join} GROUP BY 1"
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def from_cells(filterset: TradeFilterSet, by: Breakdown) -> bool:
    """True when the breakdown cells (``journal.cells``) hold exactly the groups of ``by`` over the
    filtered trades: only mode, dates and strategy filter (``CELL_FILTERS``), the cells are enabled
    (``ANALYTICS_BREAKDOWN_CELLS``) and were built with ``by``'s buckets (``cells.usable``)."""
    return (
        settings.ANALYTICS_BREAKDOWN_CELLS
        and filterset.active_filters <= CELL_FILTERS
        and filterset.qs.db == "default"
        and cells.usable(by)
    )


def _grouped(
    filterset: TradeFilterSet,
    by: Breakdown,
    columns: tuple[str, ...],
    sums: tuple[tuple[str, str], ...],
    source: str = "auto",
) -> list[tuple]:
    """``(key, label, *sums)`` per group of ``by`` over the filtered trades: from the cells when they
    hold them (``from_cells``; ``source`` "cells" or "live" forces one), else one GROUP BY over the
    trades."""
    use_cells = source == "cells" or (source == "auto" and from_cells(filterset, by))
    if use_cells:
        data = filterset.form.cleaned_data
        fetched = cells.groups(
            by.name,
            [name for name, _ in sums],
            mode=data.get("mode") or None,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            strategy=data.get("strategy") or None,
        )
    else:
        fetched = _grouped_live(filterset, by, columns, _sums_sql(sums))
    out = []
    for k, *values in fetched:
        key_text = buckets.MISSING.key if k is None else str(k)
        out.append((key_text, by.label_of(key_text), *values))
    return out


def _ordered(rows: list[GroupRow], by: Breakdown, value: str) -> list[GroupRow]:
    """Bucketed rows in the buckets' order (``na`` last), months in time order, the others by
    ``figures[value]``, largest first."""
    if by.dimension:
        order = {k: i for i, k in enumerate(by.dimension.keys())}
        return sorted(rows, key=lambda r: order[r.key])
    if by.name == "month":
        return sorted(rows, key=lambda r: r.key)
    return sorted(rows, key=lambda r: (r.key == "na", -(r.figures[value] or 0.0), r.key))


def breakdown(filterset: TradeFilterSet, by: Breakdown, source: str = "auto") -> list[GroupRow]:
    """The breakdown ``by`` of the filtered trades: trade figures per group (``trade_stats.trade_figures``),
    from the breakdown cells when they hold it (``from_cells``), else one GROUP BY over the trades."""
    rows = []
    for key, label, n, wins, losses, net, sum_wins, sum_losses, r_count, r_sum in _grouped(
        filterset, by, ("net_pnl", "r_multiple"), journal_breakdowns.TRADE_SUMS, source
    ):
        if not n:
            continue
        sums = trade_stats.TradeSums(
            trades=int(n),
            wins=int(wins or 0),
            losses=int(losses or 0),
            net=net or 0,
            sum_wins=sum_wins or 0,
            sum_losses=sum_losses or 0,
            r_count=int(r_count or 0),
            r_sum=r_sum or 0,
        )
        rows.append(GroupRow(key, label, trade_stats.trade_figures(sums)))
    return _ordered(rows, by, "net_pnl")


ATTRIBUTION_COLUMNS = journal_breakdowns.ATTRIBUTION_PARTS


def attribution_groups(filterset: TradeFilterSet, by: Breakdown, source: str = "auto") -> list[GroupRow]:
    """The stored Greeks attribution of the filtered trades summed per group of ``by``: ``trades``,
    ``attributed`` (trades with the snapshots), ``gross_pnl`` (all), ``gross_attributed`` and the five
    parts (rupees, over the attributed trades: they add up to ``gross_attributed``). From the cells when
    they hold them, as ``breakdown``."""
    rows = []
    for key, label, n, attributed, gross, gross_attributed, *parts in _grouped(
        filterset, by, ("gross_pnl", *ATTRIBUTION_COLUMNS), journal_breakdowns.ATTRIBUTION_SUMS, source
    ):
        if not n:
            continue
        figures = {
            "trades": int(n),
            "attributed": int(attributed or 0),
            "gross_pnl": trade_stats.paisa(gross),
            "gross_attributed": trade_stats.paisa(gross_attributed),
        }
        figures.update({c: trade_stats.paisa(v) for c, v in zip(attribution.COMPONENTS, parts, strict=True)})
        rows.append(GroupRow(key, label, figures))
    return _ordered(rows, by, "gross_attributed")
