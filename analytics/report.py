"""The analytics report: every figure, chart and table of ``/analytics/`` and of the tearsheet.

One generator: ``build_report(filters)`` takes the journal's filters (``TradeFilterSet``'s parameters,
so a backtest run's report is ``backtest_run=<id>``) and returns a ``Report`` that the page renders
(``analytics/page.html``) and the tearsheet writes as one self-contained file
(``analytics.tearsheet``; ``manage.py report --out FILE.html``). The figures are the pure functions of
``analytics.stats``, ``analytics.returns``, ``trading.core.attribution`` and ``journal.buckets``
(docs/analytics.md); this module only reads the journal and arranges their results.

Modes: a report is of one mode. Without ``mode`` it is the configured ``TRADING_MODE`` (the journal's
default), unless a backtest run is named (a run fixes its mode); ``mode=`` (the filter bar's "All
modes") or ``mode=ALL`` mixes every mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, ExtractMinute, TruncDate
from django.utils import timezone

from analytics import heatmap, research, stats, trade_stats
from analytics.report_filters import ReportFilters, capital_for
from analytics.returns import TradeColumns, daily_net_from_trades
from journal import buckets
from journal.filters import TradeFilterSet
from trading import formats
from trading.core import attribution
from trading.core.calendar import IST

SCATTER_MAX_POINTS = 2000  # the most recent trades on the MAE/MFE chart
# The report's Monte Carlo (trade order shuffled, seed MONTE_CARLO_SEED): MONTE_CARLO_RUNS paths, fewer
# (not under MONTE_CARLO_MIN_RUNS) when paths x trades would pass MONTE_CARLO_CELLS - the page's time.
MONTE_CARLO_RUNS = 1000
MONTE_CARLO_MIN_RUNS = 100
MONTE_CARLO_CELLS = 2_000_000
MONTE_CARLO_SEED = 0

# Per trade, in exit order: what the figures read (``TradeColumns``) and what the groups need.
_COLUMNS = (
    "trade_date",
    "net_pnl",
    "gross_pnl",
    "total_charges",
    "hold_duration_minutes",
    "r_multiple",
    "mae",
    "mfe",
    "strategy_name",
)
# The Greeks attribution stored on each trade by record_trade (trading.core.attribution), read as it is.
_ATTRIBUTION_COLUMNS = tuple(f"{c}_pnl" for c in attribution.COMPONENTS)


def _now() -> datetime:
    """When a report is made (IST): its "generated" line and the tearsheet's file name."""
    return timezone.localtime()


# --- The report ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One figure as shown: label, text, CSS class (win/loss colour), and a hint (formula, unit)."""

    key: str
    label: str
    text: str
    css: str = ""
    hint: str = ""
    sub: str = ""  # a second reading under the figure (the R of an expectancy, the % of a drawdown)


@dataclass
class Report:
    """Everything a report shows. ``charts`` is the JSON the charts draw from (report.js)."""

    title: str
    mode: str
    filters: list[tuple[str, str]]
    query: str
    capital: float
    generated_at: datetime
    trades: int
    summary: dict[str, Any]
    key_figures: list[Figure]
    figure_groups: list[tuple[str, list[Figure]]]
    monthly: dict[str, Any]
    breakdowns: list[dict[str, Any]]
    strategies: list[dict[str, Any]]
    attribution: dict[str, Any]
    charts: dict[str, Any] = field(default_factory=dict)
    monte_carlo: dict[str, Any] | None = None  # ``monte_carlo_section``

    @property
    def has_trades(self) -> bool:
        return self.trades > 0

    @property
    def strategy_columns(self) -> tuple[tuple[str, str], ...]:
        return STRATEGY_COLUMNS


def _f(value) -> float:
    return math.nan if value is None else float(value)


def _floats(values) -> np.ndarray:
    return np.array([_f(v) for v in values], dtype=float)


def _json(value: float | None) -> float | None:
    """A float for JSON: None for NaN/inf (JSON has no NaN)."""
    return None if value is None or not math.isfinite(float(value)) else round(float(value), 6)


@dataclass
class _Trades:
    """The filtered trades as columns, in exit order."""

    cols: TradeColumns
    strategy: list[str]
    attribution: dict[str, np.ndarray]


def _load(filterset: TradeFilterSet) -> _Trades:
    rows = list(filterset.qs.order_by("exit_time", "id").values_list(*_COLUMNS, *_ATTRIBUTION_COLUMNS))
    n = len(_COLUMNS)
    main = list(zip(*[r[:n] for r in rows], strict=True)) if rows else [()] * n
    extra = list(zip(*[r[n:] for r in rows], strict=True)) if rows else [()] * len(_ATTRIBUTION_COLUMNS)
    cols = TradeColumns(
        trade_date=np.array(main[0], dtype="datetime64[D]"),
        net=_floats(main[1]),
        gross=_floats(main[2]),
        charges=_floats(main[3]),
        hold_minutes=_floats(main[4]),
        r_multiple=_floats(main[5]),
        mae=_floats(main[6]),
        mfe=_floats(main[7]),
    )
    parts = {"gross": cols.gross}
    parts.update({c: _floats(v) for c, v in zip(attribution.COMPONENTS, extra, strict=True)})
    return _Trades(cols=cols, strategy=list(main[8]), attribution=parts)


def _subset(cols: TradeColumns, idx: np.ndarray) -> TradeColumns:
    return TradeColumns(
        trade_date=cols.trade_date[idx],
        net=cols.net[idx],
        gross=cols.gross[idx],
        charges=cols.charges[idx],
        hold_minutes=cols.hold_minutes[idx],
        r_multiple=cols.r_multiple[idx],
        mae=cols.mae[idx],
        mfe=cols.mfe[idx],
    )


def _figures(s: dict[str, Any]) -> tuple[list[Figure], list[tuple[str, list[Figure]]]]:
    """The key-figure strip and the full table of figures, formatted."""
    inr, pct, frac, ratio = formats.inr, formats.percent, formats.fraction_percent, formats.ratio

    def fig(key: str, label: str, text: str, css: str = "", hint: str = "", sub: str = "") -> Figure:
        return Figure(key, label, text, css, hint, sub)

    exp_r = s["expectancy_r"]
    key = [
        fig(
            "net_pnl",
            "Net P&L",
            formats.inr(s["net_pnl"], plus=True),
            formats.pnl_class(s["net_pnl"]),
            "after charges",
        ),
        fig("trades", "Trades", formats.grouped(s["trades"], 0)),
        fig("win_rate", "Win rate", pct(s["win_rate"]), hint="net > 0"),
        fig("profit_factor", "Profit factor", ratio(s["profit_factor"]), hint="wins / |losses|"),
        fig(
            "expectancy",
            "Expectancy",
            inr(s["expectancy"]),
            formats.pnl_class(s["expectancy"]),
            "per trade",
            f"{ratio(exp_r)}R per trade" if exp_r is not None else "per trade",
        ),
        fig(
            "max_drawdown",
            "Max drawdown",
            inr(s["max_drawdown"]),
            "loss" if s["max_drawdown"] else "",
            "from the equity's peak",
            f"{frac(s['max_drawdown_ratio'])} of the peak" if s["max_drawdown_ratio"] else "",
        ),
        fig("sharpe", "Sharpe", ratio(s["sharpe"]), hint="annualised, 252 days"),
        fig("charges_pct_of_gross", "Charges / gross", pct(s["charges_pct_of_gross"])),
    ]
    days = s["longest_drawdown_days"]
    groups = [
        (
            "P&L",
            [
                fig("net_pnl", "Net P&L", inr(s["net_pnl"]), formats.pnl_class(s["net_pnl"])),
                fig("gross_pnl", "Gross P&L", inr(s["gross_pnl"]), formats.pnl_class(s["gross_pnl"])),
                fig("charges", "Charges", inr(s["charges"])),
                fig("charges_pct_of_gross", "Charges % of gross", pct(s["charges_pct_of_gross"])),
                fig("capital", "Starting capital", inr(s["capital"], 0)),
                fig("final_equity", "Final equity", inr(s["final_equity"])),
            ],
        ),
        (
            "Trades",
            [
                fig(
                    "trades",
                    "Trades",
                    f"{formats.grouped(s['trades'], 0)} ({s['wins']} won, {s['losses']} lost)",
                ),
                fig("win_rate", "Win rate", pct(s["win_rate"])),
                fig("average_win", "Average win", inr(s["average_win"]), formats.pnl_class(s["average_win"])),
                fig(
                    "average_loss",
                    "Average loss",
                    inr(s["average_loss"]),
                    formats.pnl_class(s["average_loss"]),
                ),
                fig("payoff_ratio", "Payoff ratio", ratio(s["payoff_ratio"])),
                fig("profit_factor", "Profit factor", ratio(s["profit_factor"])),
                fig("expectancy", "Expectancy", inr(s["expectancy"]), formats.pnl_class(s["expectancy"])),
                fig("expectancy_r", "Expectancy (R)", ratio(exp_r) + ("R" if exp_r is not None else "")),
                fig("sqn", "SQN", ratio(s["sqn"])),
                fig("largest_win", "Largest win", inr(s["largest_win"]), formats.pnl_class(s["largest_win"])),
                fig(
                    "largest_loss",
                    "Largest loss",
                    inr(s["largest_loss"]),
                    formats.pnl_class(s["largest_loss"]),
                ),
                fig(
                    "streaks",
                    "Longest streaks",
                    f"{s['longest_win_streak']} won, {s['longest_loss_streak']} lost",
                ),
                fig("average_hold", "Average hold", formats.minutes(s["average_hold_minutes"])),
            ],
        ),
        (
            "Equity and drawdown",
            [
                fig(
                    "max_drawdown",
                    "Max drawdown",
                    inr(s["max_drawdown"]),
                    "loss" if s["max_drawdown"] else "",
                ),
                fig("max_drawdown_ratio", "Max drawdown %", frac(s["max_drawdown_ratio"])),
                fig("longest_drawdown", "Longest drawdown", f"{days} trading day{'s' if days != 1 else ''}"),
                fig("recovery_factor", "Recovery factor", ratio(s["recovery_factor"])),
                fig("best_day_net", "Best day", inr(s["best_day_net"]), formats.pnl_class(s["best_day_net"])),
                fig(
                    "worst_day_net",
                    "Worst day",
                    inr(s["worst_day_net"]),
                    formats.pnl_class(s["worst_day_net"]),
                ),
                fig("days", "Trading days", formats.grouped(s["days"], 0)),
            ],
        ),
        (
            "Returns (daily, on the capital)",
            [
                fig("cagr", "CAGR", frac(s["cagr"]), formats.pnl_class(s["cagr"])),
                fig("annual_volatility", "Annual volatility", frac(s["annual_volatility"])),
                fig("sharpe", "Sharpe", ratio(s["sharpe"])),
                fig("sortino", "Sortino", ratio(s["sortino"])),
                fig("calmar", "Calmar", ratio(s["calmar"])),
                fig("skew", "Skew", ratio(s["skew"])),
                fig("kurtosis", "Excess kurtosis", ratio(s["kurtosis"])),
                fig("value_at_risk", "VaR 95% (1 day)", frac(s["value_at_risk"], 2)),
                fig("conditional_value_at_risk", "CVaR 95% (1 day)", frac(s["conditional_value_at_risk"], 2)),
                fig("best_day", "Best day %", frac(s["best_day"], 2)),
                fig("worst_day", "Worst day %", frac(s["worst_day"], 2)),
            ],
        ),
        (
            "Excursions",
            [
                fig("average_mae", "Average MAE", inr(s["average_mae"]), formats.pnl_class(s["average_mae"])),
                fig("average_mfe", "Average MFE", inr(s["average_mfe"]), formats.pnl_class(s["average_mfe"])),
                fig("exit_efficiency", "Exit efficiency", frac(s["exit_efficiency"], 0)),
            ],
        ),
    ]
    return key, groups


def _group_row(label: str, cols: TradeColumns) -> dict[str, Any]:
    """The columns of a breakdown row from the trades of one group."""
    net = trade_stats.net_pnl(cols.net)
    return {
        "label": label,
        "trades": len(cols),
        "win_rate": formats.percent(trade_stats.win_rate(cols.net)),
        "net_value": net,
        "net": formats.inr(net),
        "css": formats.pnl_class(net),
        "expectancy": formats.inr(trade_stats.expectancy(cols.net)),
        "profit_factor": formats.ratio(trade_stats.profit_factor(cols.net)),
        "average_r": formats.ratio(trade_stats.expectancy_r(cols.r_multiple)),
    }


def _with_bars(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    biggest = max((abs(r["net_value"]) for r in rows), default=0.0)
    for r in rows:
        r["bar"] = f"{(abs(r['net_value']) / biggest * 100) if biggest else 0:.1f}"
    return rows


ORDERED_BY_BUCKET = ("entry_time", "weekday", "days_to_expiry", "vix_regime")


def _labels(dimension: buckets.Dimension, values: list) -> np.ndarray:
    """The bucket label of each value (``Dimension.of``, called once per distinct value)."""
    numbers = np.array([math.nan if v is None else float(v) for v in values], dtype=float)
    distinct, inverse = np.unique(numbers, return_inverse=True)
    names = np.array(
        [dimension.of(None if math.isnan(v) else v).label for v in distinct] or [""], dtype=object
    )
    return names[inverse] if len(numbers) else np.array([], dtype=object)


def _month_labels(months: np.ndarray) -> np.ndarray:
    distinct, inverse = np.unique(months.astype(str), return_inverse=True)
    return np.array([buckets.month_label(m) for m in distinct], dtype=object)[inverse]


def _breakdowns(data: _Trades, filterset: TradeFilterSet) -> list[dict[str, Any]]:
    """Breakdown tables by strategy, option type, exit type, entry time, weekday, days to expiry, VIX
    regime and month (the buckets of ``journal.buckets``); with multi-leg trades among them also by
    combo template and by kind of leg (sold or bought CE or PE). The entry's IST minute, weekday and date
    come from the database (no date-times to parse)."""
    if not len(data.cols):
        return []
    qs = (
        filterset.qs.order_by("exit_time", "id")
        .annotate(
            _hour=ExtractHour("entry_time", tzinfo=IST),
            _minute=ExtractMinute("entry_time", tzinfo=IST),
            _weekday=ExtractIsoWeekDay("entry_time", tzinfo=IST),
            _day=TruncDate("entry_time", tzinfo=IST),
        )
        .values_list(
            "instrument_type",
            "exit_type",
            "expiry_date",
            "vix_entry",
            "_hour",
            "_minute",
            "_weekday",
            "_day",
            "side",
            "combo__template",
            "combo_id",
        )
    )
    rows = list(qs)
    kind, exit_type, expiry, vix, hour, minute, weekday, day, side, template, combo = (
        list(c) for c in zip(*rows, strict=True)
    )
    dims = buckets.dimensions()
    months = np.array([f"{d}"[:7] for d in data.cols.trade_date.astype("datetime64[M]")], dtype=object)
    keys: dict[str, tuple[str, np.ndarray]] = {
        "strategy": ("Strategy", np.array(data.strategy, dtype=object)),
        "instrument_type": (
            "Option type",
            np.array(["CE" if k == "CALL" else "PE" for k in kind], dtype=object),
        ),
        "exit_type": ("Exit type", np.array([e.replace("_", " ").title() for e in exit_type], dtype=object)),
        "entry_time": (
            "Entry time (IST)",
            _labels(dims["entry_time"], [h * 60 + m for h, m in zip(hour, minute, strict=True)]),
        ),
        "weekday": ("Weekday", _labels(dims["weekday"], [w - 1 for w in weekday])),
        "days_to_expiry": (
            "Days to expiry",
            _labels(dims["days_to_expiry"], [(e - d).days for e, d in zip(expiry, day, strict=True)]),
        ),
        "vix_regime": ("VIX regime at entry", _labels(dims["vix_regime"], vix)),
        "month": ("Month", _month_labels(months)),
    }
    if any(combo):  # multi-leg trades: their combos' templates, and each kind of leg
        keys["combo"] = (
            "Combo (its legs' trades)",
            np.array(
                [(t or "custom") if c else "Single option" for t, c in zip(template, combo, strict=True)],
                dtype=object,
            ),
        )
        keys["leg"] = (
            "Leg (side and type)",
            np.array(
                [
                    f"{'Sold' if sd == 'SHORT' else 'Bought'} {'CE' if k == 'CALL' else 'PE'}"
                    for sd, k in zip(side, kind, strict=True)
                ],
                dtype=object,
            ),
        )
    out = []
    for name, (label, values) in keys.items():
        groups: dict[str, list[int]] = {}
        for i, v in enumerate(values.tolist()):
            groups.setdefault(v, []).append(i)
        rows = [_group_row(k, _subset(data.cols, np.array(idx))) for k, idx in groups.items()]
        if name in ORDERED_BY_BUCKET:
            order = {b.label: i for i, b in enumerate(dims[name].buckets)}
            rows.sort(key=lambda r: order.get(r["label"], len(order)))
        elif name != "month":
            rows.sort(key=lambda r: -r["net_value"])
        out.append({"name": name, "label": label, "rows": _with_bars(rows)})
    return out


def _strategies(data: _Trades, capital: float) -> list[dict[str, Any]]:
    """The comparison table: one row per strategy with its figures (and the raw values to sort on)."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(data.strategy):
        groups.setdefault(name, []).append(i)
    rows = []
    for name, idx in sorted(groups.items()):
        s = stats.summary(_subset(data.cols, np.array(idx)), capital=capital)
        values = {
            "trades": s["trades"],
            "win_rate": s["win_rate"],
            "net_pnl": s["net_pnl"],
            "profit_factor": s["profit_factor"],
            "expectancy": s["expectancy"],
            "expectancy_r": s["expectancy_r"],
            "max_drawdown": s["max_drawdown"],
            "sharpe": s["sharpe"],
        }
        rows.append(
            {
                "name": name,
                "sort": {k: ("" if v is None else v) for k, v in values.items()},
                "cells": [
                    (formats.grouped(s["trades"], 0), ""),
                    (formats.percent(s["win_rate"]), ""),
                    (formats.inr(s["net_pnl"]), formats.pnl_class(s["net_pnl"])),
                    (formats.ratio(s["profit_factor"]), ""),
                    (formats.inr(s["expectancy"]), formats.pnl_class(s["expectancy"])),
                    (formats.ratio(s["expectancy_r"]), formats.pnl_class(s["expectancy_r"])),
                    (formats.inr(s["max_drawdown"]), "loss" if s["max_drawdown"] else ""),
                    (formats.ratio(s["sharpe"]), ""),
                ],
            }
        )
    return rows


STRATEGY_COLUMNS = (
    ("trades", "Trades"),
    ("win_rate", "Win rate"),
    ("net_pnl", "Net P&L"),
    ("profit_factor", "Profit factor"),
    ("expectancy", "Expectancy"),
    ("expectancy_r", "Avg R"),
    ("max_drawdown", "Max drawdown"),
    ("sharpe", "Sharpe"),
)


def _attribution(data: _Trades) -> dict[str, Any]:
    """Greeks attribution per strategy (the stacked bars) and its totals."""
    if not len(data.cols):
        return {"rows": [], "attributed": 0, "trades": 0}
    per = attribution.aggregate(data.strategy, data.attribution)
    rows = []
    for name, agg in sorted(per.items()):
        if not agg["attributed"]:
            continue
        rows.append(
            {
                "name": name,
                "trades": agg["trades"],
                "attributed": agg["attributed"],
                "gross": formats.inr(agg["gross_attributed"]),
                "parts": {c: _json(agg[c]) for c in attribution.COMPONENTS},
                "texts": [
                    (c, formats.inr(agg[c]), formats.pnl_class(agg[c])) for c in attribution.COMPONENTS
                ],
            }
        )
    return {
        "rows": rows,
        "components": attribution.COMPONENTS,
        "attributed": sum(r["attributed"] for r in rows),
        "trades": len(data.cols),
    }


def build_report(filters: ReportFilters, *, capital: float | None = None, rf: float = 0.0) -> Report:
    """The report of the filtered trades (``filters`` must be valid)."""
    if not filters.is_valid():
        raise ValueError(f"invalid filters: {dict(filters.errors)}")
    capital = float(capital if capital is not None else capital_for(filters.mode))
    data = _load(filters.filterset)
    cols = data.cols
    summary = stats.summary(cols, capital=capital, rf=rf)
    dates: list[str] = []
    frame = pd.DataFrame()
    if len(cols):
        daily = daily_net_from_trades(cols)
        frame = stats.daily_frame(daily, capital)
        dates = [d.strftime("%Y-%m-%d") for d in frame.index]
    else:
        daily = pd.Series([], dtype=float)
    returns = frame["return"] if len(frame) else pd.Series([], dtype=float)
    key_figures, groups = _figures(summary)
    r_bins = trade_stats.r_distribution(cols.r_multiple)
    scatter_ok = np.isfinite(cols.mae) & np.isfinite(cols.mfe)
    idx = np.flatnonzero(scatter_ok)[-SCATTER_MAX_POINTS:]
    attr = _attribution(data)
    charts = {
        "daily": {
            "dates": dates,
            "net": [_json(v) for v in frame["net"]] if len(frame) else [],
            "equity": [_json(v) for v in frame["equity"]] if len(frame) else [],
            "drawdown": [_json(v) for v in frame["drawdown"]] if len(frame) else [],
        },
        "r": {
            "labels": [b.label for b in r_bins],
            "counts": [b.count for b in r_bins],
            "total": int(sum(b.count for b in r_bins)),
        },
        "scatter": {
            "points": [
                {"x": _json(cols.mae[i]), "y": _json(cols.mfe[i]), "win": bool(cols.net[i] > 0)} for i in idx
            ],
            "shown": int(idx.size),
            "total": int(np.count_nonzero(scatter_ok)),
        },
        "attribution": {
            "labels": [r["name"] for r in attr["rows"]],
            "components": list(attribution.COMPONENTS),
            "values": {c: [r["parts"][c] for r in attr["rows"]] for c in attribution.COMPONENTS},
        },
        "capital": capital,
    }
    now = _now()
    return Report(
        title=f"Tearsheet: {', '.join(f'{k} {v}' for k, v in filters.labels())}",
        mode=filters.mode,
        filters=filters.labels(),
        query=filters.query(),
        capital=capital,
        generated_at=now,
        trades=len(cols),
        summary=summary,
        key_figures=key_figures,
        figure_groups=groups,
        monthly=heatmap.monthly_heatmap(daily, returns),
        breakdowns=_breakdowns(data, filters.filterset),
        strategies=_strategies(data, capital),
        attribution=attr,
        charts=charts,
        monte_carlo=monte_carlo_section(cols.net, capital),
    )


def monte_carlo_runs(trades: int) -> int:
    """Paths of the report's Monte Carlo for ``trades`` trades (see ``MONTE_CARLO_CELLS``)."""
    return max(MONTE_CARLO_MIN_RUNS, min(MONTE_CARLO_RUNS, MONTE_CARLO_CELLS // max(trades, 1)))


def monte_carlo_section(net: np.ndarray, capital: float) -> dict[str, Any] | None:
    """The report's Monte Carlo: the trades' net P&L (exit order) shuffled ``monte_carlo_runs(n)`` times
    (seed ``MONTE_CARLO_SEED``), the floor ``MONTE_CARLO_FLOOR`` x capital (setting, default 0.9): the
    result, its SVG bands and the floor in rupees. None without trades."""
    if not len(net):
        return None
    runs = monte_carlo_runs(len(net))
    floor = capital * float(settings.MONTE_CARLO_FLOOR)
    result = research.monte_carlo(
        net, method="shuffle", runs=runs, seed=MONTE_CARLO_SEED, capital=capital, floor=floor
    )
    return {"result": result, "chart": research.band_polylines(result), "floor": floor}
