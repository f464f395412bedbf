"""Reads of the analytics API: the journal's filtered trades reduced in the database.

Everything takes a *valid* ``TradeFilterSet`` (``analytics.report_filters.report_filters`` applies the
analytics' mode rule; the caller answers 400 otherwise) and returns plain values. Nothing loads the
trades into Python: totals and sums are one aggregate query, the daily series a ``GROUP BY trade_date``
(the per-day performance rows when only the dates and the mode filter), streaks a window query, and
each breakdown one ``GROUP BY`` over the bucket rule of ``analytics.buckets`` written as SQL
(``Dimension.sql_case``). The figures from those sums are ``analytics.trade_stats.trade_figures``.
"""

from __future__ import annotations

from collections.abc import Callable
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
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, ExtractMinute, TruncDate

from analytics import buckets, trade_stats
from analytics.returns import daily_net
from journal import selectors as journal_selectors
from journal.accumulator import join_runs
from journal.filters import TradeFilterSet
from journal.models import StrategyPerformance
from journal.selectors import STRATEGY_COUNTABLE
from trading.choices import ExitType, Side
from trading.core import attribution
from trading.core.calendar import IST

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


@dataclass(frozen=True)
class Breakdown:
    """A breakdown: what it groups by, and how the database computes each trade's group."""

    name: str
    label: str
    fields: tuple[str, ...]  # the trade's columns the value reads (the subquery's columns)
    annotations: Callable[[], dict] | None  # ORM expressions of the subquery (IST times), by name
    value: Callable[[str], str]  # SQL of the group key over the subquery ``t`` (vendor -> SQL)
    dimension: buckets.Dimension | None = None  # bucketed: the key is the bucket rule's
    join: Callable[[str], str] | None = None  # a join that makes one row per value (tags)
    labels: Callable[[str], str] | None = None  # label of a key (categorical)


def _days_to_expiry(vendor: str) -> str:
    if vendor == "postgresql":
        return "(t.expiry_date - t.entry_day)"
    return "CAST(julianday(t.expiry_date) - julianday(t.entry_day) AS INTEGER)"


def _iv_percentile(vendor: str) -> str:
    if vendor == "postgresql":
        return (
            "CASE WHEN jsonb_typeof(t.entry_features -> 'iv_percentile') = 'number' "
            "THEN (t.entry_features ->> 'iv_percentile')::float8 END"
        )
    return (
        "CASE WHEN json_type(t.entry_features, '$.iv_percentile') IN ('integer', 'real') "
        "THEN json_extract(t.entry_features, '$.iv_percentile') END"
    )


def _tag_join(vendor: str) -> str:
    # One row per tag (tags are stored ",a,b,"); a trade without tags keeps one row with no tag.
    if vendor == "postgresql":
        return "LEFT JOIN LATERAL unnest(string_to_array(btrim(t.tags, ','), ',')) AS tg(tag) ON TRUE"
    quoted = "replace(replace(trim(t.tags, ','), '\\', '\\\\'), '\"', '\\\"')"
    return f"""JOIN json_each('["' || replace({quoted}, ',', '","') || '"]') AS tg"""


def _tag_value(vendor: str) -> str:
    return (
        "COALESCE(NULLIF(tg.tag, ''), 'na')"
        if vendor == "postgresql"
        else "COALESCE(NULLIF(tg.value, ''), 'na')"
    )


def _month(vendor: str) -> str:
    return "to_char(t.trade_date, 'YYYY-MM')" if vendor == "postgresql" else "substr(t.trade_date, 1, 7)"


def _column(name: str) -> Callable[[str], str]:
    return lambda vendor: f"t.{name}"


def _entry_ist() -> dict:
    return {
        "entry_minute": ExtractHour("entry_time", tzinfo=IST) * 60 + ExtractMinute("entry_time", tzinfo=IST),
        "entry_weekday": ExtractIsoWeekDay("entry_time", tzinfo=IST) - 1,
        "entry_day": TruncDate("entry_time", tzinfo=IST),
    }


def _choice_label(choices) -> Callable[[str], str]:
    names = dict(choices)
    return lambda key: str(names.get(key, key))


def configured_dimensions() -> dict[str, buckets.Dimension]:
    """The bucketed breakdowns with the configured bounds (``ANALYTICS_VIX_BOUNDS``,
    ``ANALYTICS_PCR_BOUNDS``; the defaults of ``analytics.buckets``)."""
    return buckets.dimensions(
        vix_bounds=tuple(settings.ANALYTICS_VIX_BOUNDS) or buckets.DEFAULT_VIX_BOUNDS,
        pcr_bounds=tuple(settings.ANALYTICS_PCR_BOUNDS) or buckets.DEFAULT_PCR_BOUNDS,
    )


def breakdowns(dims: dict[str, buckets.Dimension] | None = None) -> dict[str, Breakdown]:
    """Every breakdown of the API by name (``by=``), the bucketed ones on ``dims`` (configured bounds)."""
    d = dims or buckets.dimensions()
    mp = "CASE WHEN t.spot_price_entry > 0 AND t.max_pain_entry IS NOT NULL THEN (t.spot_price_entry - t.max_pain_entry) * 100.0 / t.spot_price_entry END"

    def bucketed(name: str, fields: tuple[str, ...], value: Callable[[str], str], ann=None) -> Breakdown:
        dim = d[name]
        return Breakdown(name, dim.label, fields, ann, value, dimension=dim)

    items = [
        Breakdown("strategy", "Strategy", ("strategy_name",), None, _column("strategy_name")),
        Breakdown(
            "instrument_type",
            "Option type",
            ("instrument_type",),
            None,
            lambda v: (
                "CASE t.instrument_type WHEN 'CALL' THEN 'CE' WHEN 'PUT' THEN 'PE' ELSE t.instrument_type END"
            ),
        ),
        Breakdown("side", "Side", ("side",), None, _column("side"), labels=_choice_label(Side.choices)),
        Breakdown(
            "exit_type",
            "Exit type",
            ("exit_type",),
            None,
            _column("exit_type"),
            labels=_choice_label(ExitType.choices),
        ),
        bucketed("entry_time", (), _column("entry_minute"), _entry_ist),
        bucketed("weekday", (), _column("entry_weekday"), _entry_ist),
        bucketed("days_to_expiry", ("expiry_date",), _days_to_expiry, _entry_ist),
        bucketed(
            "expiry_day",
            ("expiry_date",),
            lambda v: f"CASE WHEN {_days_to_expiry(v)} = 0 THEN 1 ELSE 0 END",
            _entry_ist,
        ),
        bucketed("vix_regime", ("vix_entry",), _column("vix_entry")),
        bucketed("pcr", ("pcr_entry",), _column("pcr_entry")),
        bucketed("iv_percentile", ("entry_features",), _iv_percentile),
        bucketed("max_pain_distance", ("spot_price_entry", "max_pain_entry"), lambda v: mp),
        Breakdown("tag", "Tag", ("tags",), None, _tag_value, join=_tag_join),
        Breakdown("month", "Month", ("trade_date",), None, _month, labels=buckets.month_label),
    ]
    return {b.name: b for b in items}


BREAKDOWN_NAMES: tuple[str, ...] = tuple(breakdowns())

_SUMS = """
    COUNT(*),
    SUM(CASE WHEN t.net_pnl > 0 THEN 1 ELSE 0 END),
    SUM(CASE WHEN t.net_pnl < 0 THEN 1 ELSE 0 END),
    SUM(t.net_pnl),
    SUM(CASE WHEN t.net_pnl > 0 THEN t.net_pnl ELSE 0 END),
    SUM(CASE WHEN t.net_pnl < 0 THEN t.net_pnl ELSE 0 END),
    COUNT(t.r_multiple),
    SUM(t.r_multiple)
"""


@dataclass(frozen=True)
class GroupRow:
    """One row of a breakdown: its key, label and the figures of its trades."""

    key: str
    label: str
    figures: dict


def _grouped(filterset: TradeFilterSet, by: Breakdown, columns: tuple[str, ...], sums: str) -> list[tuple]:
    """``(key, label, *sums)`` per group of ``by``: one GROUP BY in the database over the filtered
    trades' ``columns`` (the subquery ``t``)."""
    qs = filterset.qs
    annotations = by.annotations() if by.annotations else {}
    if annotations:
        qs = qs.annotate(**annotations)
    inner, params, alias = _inner(qs, *columns, *by.fields, *annotations)
    vendor = connections[alias].vendor
    value = by.value(vendor)
    key = by.dimension.sql_case(value) if by.dimension else value
    join = by.join(vendor) if by.join else ""
    # PostgreSQL would inline the subquery and work out its IST minute (a time-zone conversion) once per
    # bucket the CASE tries; OFFSET 0 keeps it a subquery, computed once per trade.
    fence = " OFFSET 0" if vendor == "postgresql" and annotations else ""
    sql = f"SELECT {key} AS k, {sums} FROM ({inner}{fence}) AS t {join} GROUP BY 1"
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    out = []
    for k, *values in fetched:
        key_text = "na" if k is None else str(k)
        if by.dimension:
            label = by.dimension.label_of(key_text)
        elif by.labels and key_text != "na":
            label = by.labels(key_text)
        else:
            label = buckets.MISSING.label if key_text == "na" else key_text
        out.append((key_text, label, *values))
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


def _rows_breakdown(filterset: TradeFilterSet, by: Breakdown) -> list[GroupRow] | None:
    """The breakdown from the performance rows when they hold it exactly: by strategy under a mode and/or
    a strategy (``StrategyPerformance``), by month under dates and a mode (``DailyPerformance``); else None."""
    active = filterset.active_filters
    data = filterset.form.cleaned_data
    if by.name == "strategy" and active <= STRATEGY_COUNTABLE:
        rows = StrategyPerformance.objects.filter(trades__gt=0)
        if data.get("strategy"):
            rows = rows.filter(strategy_name=data["strategy"])
        if data.get("mode"):
            rows = rows.filter(mode=data["mode"])
        keyed = [(r.strategy_name, r) for r in rows]
    elif by.name == "month" and filterset.is_daily_countable:
        keyed = [(f"{r.date:%Y-%m}", r) for r in _day_rows(filterset)]
    else:
        return None
    if any(r.first_sign is None for _, r in keyed):
        return None
    groups: dict[str, list] = {}
    for key, row in keyed:
        groups.setdefault(key, []).append(row)
    out = []
    for key, rows in groups.items():

        def total(name: str, rows=rows):
            return sum((getattr(r, name) for r in rows), Decimal(0))

        sums = trade_stats.TradeSums(
            trades=sum(r.trades for r in rows),
            wins=sum(r.wins for r in rows),
            losses=sum(r.losses for r in rows),
            net=total("net_pnl"),
            sum_wins=total("sum_wins"),
            sum_losses=total("sum_losses"),
            r_count=sum(r.r_count for r in rows),
            r_sum=total("r_sum"),
        )
        label = by.labels(key) if by.labels else key
        out.append(GroupRow(key, label, trade_stats.trade_figures(sums)))
    return _ordered(out, by, "net_pnl")


def breakdown(filterset: TradeFilterSet, by: Breakdown) -> list[GroupRow]:
    """The breakdown ``by`` of the filtered trades: trade figures per group (``trade_stats.trade_figures``),
    from the performance rows when they hold it (``_rows_breakdown``), else one GROUP BY."""
    from_rows = _rows_breakdown(filterset, by)
    if from_rows is not None:
        return from_rows
    rows = []
    for key, label, n, wins, losses, net, sum_wins, sum_losses, r_count, r_sum in _grouped(
        filterset, by, ("net_pnl", "r_multiple"), _SUMS
    ):
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


ATTRIBUTION_COLUMNS = tuple(f"{c}_pnl" for c in attribution.COMPONENTS)
_ATTRIBUTION_SUMS = ", ".join(
    [
        "COUNT(*)",
        "COUNT(t.delta_pnl)",
        "SUM(t.gross_pnl)",
        "SUM(CASE WHEN t.delta_pnl IS NOT NULL THEN t.gross_pnl ELSE 0 END)",
        *(f"SUM(t.{c})" for c in ATTRIBUTION_COLUMNS),
    ]
)


def attribution_groups(filterset: TradeFilterSet, by: Breakdown) -> list[GroupRow]:
    """The stored Greeks attribution of the filtered trades summed per group of ``by``: ``trades``,
    ``attributed`` (trades with the snapshots), ``gross_pnl`` (all), ``gross_attributed`` and the five
    parts (rupees, over the attributed trades: they add up to ``gross_attributed``)."""
    rows = []
    for key, label, n, attributed, gross, gross_attributed, *parts in _grouped(
        filterset, by, ("gross_pnl", *ATTRIBUTION_COLUMNS), _ATTRIBUTION_SUMS
    ):
        figures = {
            "trades": int(n),
            "attributed": int(attributed or 0),
            "gross_pnl": trade_stats.paisa(gross),
            "gross_attributed": trade_stats.paisa(gross_attributed),
        }
        figures.update({c: trade_stats.paisa(v) for c, v in zip(attribution.COMPONENTS, parts, strict=True)})
        rows.append(GroupRow(key, label, figures))
    return _ordered(rows, by, "gross_attributed")
