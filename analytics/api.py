"""The REST API of analytics, ``/api/analytics/*`` (docs/analytics.md, "API").

Every endpoint takes the journal's filters (``TradeFilterSet``, as ``/api/trades/``) with the analytics'
mode rule: one mode at a time, the configured ``TRADING_MODE`` (PAPER) when none is given, every mode
only for ``mode=ALL`` (an analytics-only value; a backtest run without a mode is its own mode). A bad
filter, an unknown ``by`` or a bad ``rf`` is a 400 naming the parameter. Views are thin: they parse the
request, call ``analytics.selectors`` (the database's sums) and ``analytics.stats`` (the figures).
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors, stats, trade_stats
from analytics.report_filters import ALL_MODES, capital_for, report_filters
from journal.api import TRADE_FILTERS
from journal.filters import TradeFilterSet, refuse_empty_choices
from trading import access
from trading.choices import Mode
from trading.core import attribution

# --- Input ---------------------------------------------------------------------------------------------


def _filters(request: Request) -> tuple[TradeFilterSet, str]:
    """The request's valid filters and mode, or a 400 naming each bad parameter."""
    refuse_empty_choices(request.query_params, TradeFilterSet)
    filters = report_filters(request.query_params)
    if not filters.is_valid():
        raise ValidationError(filters.errors)
    return filters.filterset, filters.mode


def _rf(request: Request) -> float:
    """The yearly risk-free rate (a fraction): ``rf``, else ``ANALYTICS_RISK_FREE_RATE`` (0)."""
    raw = request.query_params.get("rf")
    if raw is None:
        return float(settings.ANALYTICS_RISK_FREE_RATE)
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError({"rf": ["not a number: a yearly rate as a fraction, 0.065 = 6.5%"]}) from None
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise ValidationError({"rf": ["a yearly rate as a fraction, from 0 up to (not including) 1"]})
    return value


def _choice(request: Request, name: str, choices: tuple[str, ...], default: str | None = None) -> str:
    value = request.query_params.get(name, default)
    if value is None or not value.strip():
        raise ValidationError({name: [f"required: one of {', '.join(choices)}"]})
    value = value.strip().lower()
    if value not in choices:
        raise ValidationError({name: [f"unknown {name} {value[:40]!r}: one of {', '.join(choices)}"]})
    return value


# --- Output -------------------------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    """A float for JSON: None for a missing, NaN or infinite value (JSON has none of them)."""
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _day(d) -> str:
    return d.strftime("%Y-%m-%d")


def _series(filterset: TradeFilterSet, mode: str):
    rows = selectors.daily_rows(filterset)
    daily = selectors.daily_series(rows)
    capital = capital_for(mode)
    frame = stats.daily_frame(daily, capital) if len(daily) else None
    return rows, daily, capital, frame


MODE_PARAMETER = OpenApiParameter(
    "mode",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description="One mode (default: the configured TRADING_MODE); ALL mixes every mode",
    enum=[*Mode.values, ALL_MODES],
)
FILTERS = [MODE_PARAMETER if p.name == "mode" else p for p in TRADE_FILTERS]
RF_PARAMETER = OpenApiParameter(
    "rf",
    OpenApiTypes.NUMBER,
    OpenApiParameter.QUERY,
    description="Yearly risk-free rate, a fraction (default ANALYTICS_RISK_FREE_RATE, 0): Sharpe, Sortino",
)
ERRORS = {
    400: OpenApiResponse(description="Bad input: the parameter is named"),
    401: OpenApiResponse(description="Not authenticated"),
    403: OpenApiResponse(description="The role may not read the journal"),
}


# --- Response shapes (the OpenAPI schema) --------------------------------------------------------------------


def _n(**kw) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, **kw)


class _Base(serializers.Serializer):
    mode = serializers.CharField(help_text="The mode of the figures: PAPER, LIVE, BACKTEST or ALL")
    capital = serializers.FloatField(help_text="Starting capital, rupees")


class SummarySerializer(_Base):
    """Every scalar figure (docs/analytics.md): rupees, percentages 0-100, fractions, numbers."""

    trades = serializers.IntegerField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    net_pnl = serializers.FloatField()
    gross_pnl = serializers.FloatField()
    charges = serializers.FloatField()
    charges_pct_of_gross = _n()
    win_rate = _n(help_text="percent, 0-100")
    average_win = _n()
    average_loss = _n()
    payoff_ratio = _n()
    profit_factor = _n()
    expectancy = _n(help_text="rupees per trade")
    expectancy_r = _n(help_text="R per trade")
    sqn = _n()
    largest_win = _n()
    largest_loss = _n()
    longest_win_streak = serializers.IntegerField()
    longest_loss_streak = serializers.IntegerField()
    average_hold_minutes = _n()
    average_mae = _n()
    average_mfe = _n()
    exit_efficiency = _n()
    days = serializers.IntegerField(help_text="days of the daily series (trading days, first to last)")
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField(allow_null=True)
    final_equity = serializers.FloatField()
    max_drawdown = serializers.FloatField(help_text="rupees, <= 0")
    max_drawdown_ratio = _n(help_text="fraction, <= 0")
    longest_drawdown_days = serializers.IntegerField()
    longest_drawdown_calendar_days = serializers.IntegerField()
    recovery_factor = _n()
    best_day_net = _n()
    worst_day_net = _n()
    cagr = _n()
    annual_volatility = _n()
    sharpe = _n()
    sortino = _n()
    calmar = _n()
    skew = _n()
    kurtosis = _n(help_text="excess")
    value_at_risk = _n(help_text="95%, one day, normal; a negative fraction")
    conditional_value_at_risk = _n(help_text="95%, one day, historical; a negative fraction")
    best_day = _n()
    worst_day = _n()
    risk_free_rate = serializers.FloatField()
    periods_per_year = serializers.IntegerField()


class EquityPointSerializer(serializers.Serializer):
    date = serializers.DateField()
    net = serializers.FloatField(help_text="the day's net P&L, rupees")
    equity = serializers.FloatField(help_text="capital + cumulative net at the day's close, rupees")


class EquitySerializer(_Base):
    points = EquityPointSerializer(many=True)


class DrawdownPointSerializer(serializers.Serializer):
    date = serializers.DateField()
    drawdown = serializers.FloatField(help_text="rupees below the peak, <= 0")
    drawdown_ratio = _n(help_text="fraction below the peak of the compounded returns, <= 0")


class SpellSerializer(serializers.Serializer):
    start = serializers.DateField()
    valley = serializers.DateField()
    end = serializers.DateField()
    trading_days = serializers.IntegerField()
    calendar_days = serializers.IntegerField()
    depth = serializers.FloatField(help_text="rupees, < 0")
    recovered = serializers.BooleanField()


class DrawdownSerializer(_Base):
    max_drawdown = serializers.FloatField()
    max_drawdown_ratio = _n()
    longest_drawdown_days = serializers.IntegerField()
    points = DrawdownPointSerializer(many=True)
    spells = SpellSerializer(many=True)


# "return" is a Python keyword: these shapes are built with type().
DayPointSerializer = type(
    "DayPointSerializer",
    (serializers.Serializer,),
    {
        "date": serializers.DateField(),
        "trades": serializers.IntegerField(),
        "net": serializers.FloatField(help_text="the day's net P&L, rupees"),
        "equity": serializers.FloatField(),
        "return": _n(help_text="the day's return on the equity at its start, a fraction"),
    },
)


class DailySerializer(_Base):
    days = DayPointSerializer(many=True)


MonthSerializer = type(
    "MonthSerializer",
    (serializers.Serializer,),
    {
        "month": serializers.CharField(help_text="YYYY-MM"),
        "trades": serializers.IntegerField(),
        "net": serializers.FloatField(),
        "return": _n(help_text="compounded return of the month, a fraction"),
    },
)
YearSerializer = type(
    "YearSerializer",
    (serializers.Serializer,),
    {
        "year": serializers.IntegerField(),
        "trades": serializers.IntegerField(),
        "net": serializers.FloatField(),
        "return": _n(help_text="compounded return of the year, a fraction"),
    },
)


class MonthlySerializer(_Base):
    months = MonthSerializer(many=True)
    years = YearSerializer(many=True)


class BreakdownRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    trades = serializers.IntegerField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    win_rate = _n(help_text="percent")
    net_pnl = serializers.FloatField()
    expectancy = _n(help_text="rupees per trade")
    profit_factor = _n()
    average_r = _n()


class BreakdownSerializer(serializers.Serializer):
    mode = serializers.CharField()
    by = serializers.CharField()
    label = serializers.CharField()
    rows = BreakdownRowSerializer(many=True)


class AttributionRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    trades = serializers.IntegerField()
    attributed = serializers.IntegerField(help_text="trades with entry and exit snapshots")
    gross_pnl = serializers.FloatField(help_text="of every trade in the group, rupees")
    gross_attributed = serializers.FloatField(help_text="of the attributed trades: the sum of the parts")
    delta = serializers.FloatField()
    gamma = serializers.FloatField()
    theta = serializers.FloatField()
    vega = serializers.FloatField()
    residual = serializers.FloatField()


class AttributionSerializer(serializers.Serializer):
    mode = serializers.CharField()
    by = serializers.CharField()
    label = serializers.CharField()
    components = serializers.ListField(child=serializers.CharField())
    rows = AttributionRowSerializer(many=True)
    total = AttributionRowSerializer()


# --- Views ------------------------------------------------------------------------------------------------------


class _AnalyticsView(APIView):
    read_permission = access.VIEW_JOURNAL


class SummaryView(_AnalyticsView):
    """``GET /api/analytics/summary``: every scalar figure of the filtered trades."""

    @extend_schema(
        summary="Every figure: P&L, win rate, expectancy, drawdown, Sharpe, Sortino, VaR...",
        parameters=[*FILTERS, RF_PARAMETER],
        responses={200: SummarySerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        filterset, mode = _filters(request)
        rf = _rf(request)
        figures = trade_stats.trade_figures(selectors.trade_sums(filterset))
        daily = selectors.daily_series(selectors.daily_rows(filterset))
        figures.update(stats.daily_figures(daily, capital=capital_for(mode), rf=rf))
        body: dict[str, Any] = {"mode": mode}
        for key, value in figures.items():
            if key in ("start", "end"):
                body[key] = _day(value) if value is not None else None
            elif isinstance(value, bool | int):
                body[key] = value
            else:
                body[key] = _num(value)
        return Response(body)


class EquityView(_AnalyticsView):
    """``GET /api/analytics/equity``: the equity at each trading day's close."""

    @extend_schema(
        summary="Equity curve: capital + cumulative net P&L per trading day",
        parameters=FILTERS,
        responses={200: EquitySerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        filterset, mode = _filters(request)
        _, daily, capital, frame = _series(filterset, mode)
        points = []
        if frame is not None:
            for day, net, equity in zip(frame.index, frame["net"], frame["equity"], strict=True):
                points.append({"date": _day(day), "net": _num(net), "equity": _num(equity)})
        return Response({"mode": mode, "capital": capital, "points": points})


class DrawdownView(_AnalyticsView):
    """``GET /api/analytics/drawdown``: the drawdown per day, its spells and the largest."""

    @extend_schema(
        summary="Drawdown curve (rupees and fraction), the spells under water, max and longest",
        parameters=FILTERS,
        responses={200: DrawdownSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        filterset, mode = _filters(request)
        _, daily, capital, frame = _series(filterset, mode)
        points = []
        if frame is not None:
            for day, dd, ratio in zip(frame.index, frame["drawdown"], frame["drawdown_ratio"], strict=True):
                points.append({"date": _day(day), "drawdown": _num(dd), "drawdown_ratio": _num(ratio)})
        spells = [
            {
                "start": _day(s.start),
                "valley": _day(s.valley),
                "end": _day(s.end),
                "trading_days": s.trading_days,
                "calendar_days": s.calendar_days,
                "depth": s.depth,
                "recovered": s.recovered,
            }
            for s in stats.drawdown_spells(daily)
        ]
        longest = stats.longest_drawdown(daily)
        returns = frame["return"] if frame is not None else []
        return Response(
            {
                "mode": mode,
                "capital": capital,
                "max_drawdown": stats.max_drawdown_rupees(daily) if len(daily) else 0.0,
                "max_drawdown_ratio": _num(stats.max_drawdown_ratio(returns)),
                "longest_drawdown_days": longest.trading_days if longest else 0,
                "points": points,
                "spells": spells,
            }
        )


class DailyView(_AnalyticsView):
    """``GET /api/analytics/daily``: net P&L, trades, equity and return of every trading day."""

    @extend_schema(
        summary="Daily series: every trading day from the first to the last (days without trades are 0)",
        parameters=FILTERS,
        responses={200: DailySerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        filterset, mode = _filters(request)
        rows, _, capital, frame = _series(filterset, mode)
        trades = dict(zip(rows.days, rows.trades, strict=True))
        days = []
        if frame is not None:
            for day, net, equity, ret in zip(
                frame.index, frame["net"], frame["equity"], frame["return"], strict=True
            ):
                d = day.date()
                days.append(
                    {
                        "date": _day(d),
                        "trades": trades.get(d, 0),
                        "net": _num(net),
                        "equity": _num(equity),
                        "return": _num(ret),
                    }
                )
        return Response({"mode": mode, "capital": capital, "days": days})


class MonthlyView(_AnalyticsView):
    """``GET /api/analytics/monthly``: net P&L, trades and compounded return per month and per year."""

    @extend_schema(
        summary="Monthly and yearly net P&L and compounded returns",
        parameters=FILTERS,
        responses={200: MonthlySerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        filterset, mode = _filters(request)
        rows, daily, capital, frame = _series(filterset, mode)
        months: dict[str, dict] = {}
        years: dict[int, dict] = {}
        for day, n in zip(rows.days, rows.trades, strict=True):
            months.setdefault(f"{day:%Y-%m}", {"trades": 0})["trades"] += n
            years.setdefault(day.year, {"trades": 0})["trades"] += n
        nets = stats.monthly_net(daily) if len(daily) else {}
        rets = stats.monthly_returns(frame["return"]) if frame is not None else {}
        yearly = stats.yearly_returns(frame["return"]) if frame is not None else {}
        year_net: dict[int, float] = {}
        for key, net in nets.items():
            year_net[int(key[:4])] = year_net.get(int(key[:4]), 0.0) + net
        body_months = [
            {
                "month": key,
                "trades": months.get(key, {"trades": 0})["trades"],
                "net": _num(net),
                "return": _num(rets.get(key)),
            }
            for key, net in sorted(nets.items())
        ]
        body_years = [
            {
                "year": year,
                "trades": years.get(year, {"trades": 0})["trades"],
                "net": round(net, 2),
                "return": _num(yearly.get(year)),
            }
            for year, net in sorted(year_net.items())
        ]
        return Response({"mode": mode, "capital": capital, "months": body_months, "years": body_years})


def _by_parameter(*, required: bool, default: str | None = None) -> OpenApiParameter:
    return OpenApiParameter(
        "by",
        OpenApiTypes.STR,
        OpenApiParameter.QUERY,
        required=required,
        enum=list(selectors.BREAKDOWN_NAMES),
        default=default,
        description="What to group by (docs/analytics.md, Breakdowns)",
    )


class BreakdownView(_AnalyticsView):
    """``GET /api/analytics/breakdown?by=...``: trades, win rate, net, expectancy, profit factor and
    average R per group."""

    @extend_schema(
        summary="Breakdown by strategy, option type, side, exit type, entry time, weekday, days to "
        "expiry, expiry day, VIX regime, PCR, IV percentile, max-pain distance, tag or month",
        parameters=[_by_parameter(required=True), *FILTERS],
        responses={200: BreakdownSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        by_name = _choice(request, "by", selectors.BREAKDOWN_NAMES)
        filterset, mode = _filters(request)
        by = selectors.breakdowns(selectors.configured_dimensions())[by_name]
        rows = []
        for row in selectors.breakdown(filterset, by):
            f = row.figures
            rows.append(
                {
                    "key": row.key,
                    "label": row.label,
                    "trades": f["trades"],
                    "wins": f["wins"],
                    "losses": f["losses"],
                    "win_rate": _num(f["win_rate"]),
                    "net_pnl": _num(f["net_pnl"]),
                    "expectancy": _num(f["expectancy"]),
                    "profit_factor": _num(f["profit_factor"]),
                    "average_r": _num(f["expectancy_r"]),
                }
            )
        return Response({"mode": mode, "by": by.name, "label": by.label, "rows": rows})


class AttributionView(_AnalyticsView):
    """``GET /api/analytics/attribution?by=strategy``: the gross P&L of each group split into delta,
    gamma, theta, vega and residual (the parts stored on each trade, summed in the database)."""

    @extend_schema(
        summary="Greeks P&L attribution per strategy (or any breakdown's groups): delta, gamma, theta, "
        "vega, residual",
        parameters=[_by_parameter(required=False, default="strategy"), *FILTERS],
        responses={200: AttributionSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        by_name = _choice(request, "by", selectors.BREAKDOWN_NAMES, default="strategy")
        filterset, mode = _filters(request)
        by = selectors.breakdowns(selectors.configured_dimensions())[by_name]
        groups = selectors.attribution_groups(filterset, by)
        rows = [{"key": g.key, "label": g.label, **g.figures} for g in groups]
        total: dict[str, Any] = {"key": "total", "label": "Total"}
        if by.join is None:  # a trade in one group only: the groups add up to the filtered trades
            for name in ("trades", "attributed"):
                total[name] = sum(r[name] for r in rows)
            for name in ("gross_pnl", "gross_attributed", *attribution.COMPONENTS):
                total[name] = round(sum(r[name] for r in rows), 2)
        else:  # tags: a trade counts under each of its tags, so the total is asked for on its own
            whole = selectors.attribution_groups(filterset, selectors.breakdowns()["side"])
            for name in ("trades", "attributed"):
                total[name] = sum(g.figures[name] for g in whole)
            for name in ("gross_pnl", "gross_attributed", *attribution.COMPONENTS):
                total[name] = round(sum(g.figures[name] for g in whole), 2)
        return Response(
            {
                "mode": mode,
                "by": by.name,
                "label": by.label,
                "components": list(attribution.COMPONENTS),
                "rows": rows,
                "total": total,
            }
        )
