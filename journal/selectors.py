"""Reads of the journal: the filtered set, its totals, and pages of its history.

Everything here takes a *valid* ``TradeFilterSet`` (the caller checks ``is_valid()`` and answers 400
otherwise), or None for the whole journal (an unfiltered request need not build one). When only the date range and the mode filter the set, its size and totals come from the
per-day rows of ``DailyPerformance`` (a few thousand rows) instead of a COUNT(*) or SUM over the
trades (a million rows); with only a strategy (and a mode), from ``StrategyPerformance``. They agree
with the trades because ``record_trade``/``trade_update``/``trade_delete`` refresh those rows in the
same transaction as the trade.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db import connections
from django.db.models import Count, Q, QuerySet, Sum

from journal.filters import TradeFilterSet
from journal.models import DailyPerformance, StrategyPerformance, Trade

IST = ZoneInfo("Asia/Kolkata")
ZERO = Decimal("0.00")

# Filters that StrategyPerformance (per strategy and mode) counts exactly.
STRATEGY_COUNTABLE = frozenset({"strategy", "mode"})

# The one order of the journal: newest exit first, id breaking ties (index ``trade_exit_desc``).
HISTORY_ORDER = ("-exit_time", "-id")


@dataclass(frozen=True)
class TradeTotals:
    """Totals of a set of trades: counts, win rate in percent, rupees gross/charges/net."""

    trades: int
    wins: int
    win_rate: Decimal
    gross_pnl: Decimal
    total_charges: Decimal
    net_pnl: Decimal

    def as_dict(self) -> dict:
        return {
            "trades": self.trades,
            "wins": self.wins,
            "win_rate": self.win_rate,
            "gross_pnl": self.gross_pnl,
            "total_charges": self.total_charges,
            "net_pnl": self.net_pnl,
        }


def trade_queryset(filterset: TradeFilterSet | None) -> QuerySet:
    """The filtered trades in the journal's order (newest exit first); None: every trade."""
    qs = filterset.qs if filterset is not None else Trade.objects.all()
    return qs.order_by(*HISTORY_ORDER)


def daily_rows(filterset: TradeFilterSet | None) -> QuerySet:
    """The per-day performance rows of a filter's dates and mode (every row without a filter)."""
    data = filterset.form.cleaned_data if filterset is not None else {}
    rows = DailyPerformance.objects.all()
    if data.get("date_from"):
        rows = rows.filter(date__gte=data["date_from"])
    if data.get("date_to"):
        rows = rows.filter(date__lte=data["date_to"])
    if data.get("mode"):
        rows = rows.filter(mode=data["mode"])
    return rows


def _strategy_rows(filterset: TradeFilterSet) -> QuerySet | None:
    """StrategyPerformance rows equivalent to the filters (a strategy, maybe a mode), else None."""
    active = filterset.active_filters
    if "strategy" not in active or not active <= STRATEGY_COUNTABLE:
        return None
    data = filterset.form.cleaned_data
    rows = StrategyPerformance.objects.filter(strategy_name=data["strategy"])
    return rows.filter(mode=data["mode"]) if data.get("mode") else rows


def _performance_rows(filterset: TradeFilterSet | None) -> QuerySet | None:
    """Performance rows whose sums are the filtered set's counts and totals, or None."""
    if filterset is None or filterset.is_daily_countable:
        return daily_rows(filterset)
    return _strategy_rows(filterset)


def trade_count(filterset: TradeFilterSet | None) -> int:
    """How many trades the filters select: from the performance rows when they can tell, else COUNT(*)."""
    rows = _performance_rows(filterset)
    if rows is not None:
        return rows.aggregate(n=Sum("trades"))["n"] or 0
    return filterset.qs.count()


def _win_rate(wins: int, trades: int) -> Decimal:
    if not trades:
        return ZERO
    return (Decimal(wins) * 100 / trades).quantize(Decimal("0.01"), ROUND_HALF_UP)


def trade_totals(filterset: TradeFilterSet | None) -> TradeTotals:
    """Trades, wins, win rate (%), gross, charges and net (rupees) of the filtered set."""
    rows = _performance_rows(filterset)
    if rows is not None:
        agg = rows.aggregate(
            trades=Sum("trades"),
            wins=Sum("wins"),
            gross=Sum("gross_pnl"),
            charges=Sum("total_charges"),
            net=Sum("net_pnl"),
        )
    else:
        agg = filterset.qs.order_by().aggregate(
            trades=Count("id"),
            wins=Count("id", filter=Q(is_winning_trade=True)),
            gross=Sum("gross_pnl"),
            charges=Sum("total_charges"),
            net=Sum("net_pnl"),
        )
    trades, wins = agg["trades"] or 0, agg["wins"] or 0

    def money(value) -> Decimal:
        return Decimal(value or 0).quantize(Decimal("0.01"), ROUND_HALF_UP)

    return TradeTotals(
        trades=trades,
        wins=wins,
        win_rate=_win_rate(wins, trades),
        gross_pnl=money(agg["gross"]),
        total_charges=money(agg["charges"]),
        net_pnl=money(agg["net"]),
    )


def _end_of_ist_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=IST)


def trade_history_page(
    filterset: TradeFilterSet | None, *, page: int, page_size: int, columns: tuple[str, ...] | None = None
) -> tuple[list, int]:
    """Page ``page`` (1-based) of ``page_size`` filtered trades, newest first, and the set's size.
    The trades are Trade instances, or value tuples of ``columns`` when given.

    With date/mode filters only, the page is found without an OFFSET over the history: the per-day
    counts (newest day first) locate the day where the page starts, the query starts at the end of
    that day through the exit-time index, and OFFSET skips only that day's newer trades. A strategy
    (and mode) filter takes its total from StrategyPerformance, any other filter from COUNT(*); both
    page with OFFSET.
    """
    offset = (page - 1) * page_size
    qs = trade_queryset(filterset)
    if columns:
        qs = qs.values_list(*columns)
    if filterset is not None and not filterset.is_daily_countable:
        total = trade_count(filterset)
        if offset >= total:
            return [], total
        return list(qs[offset : offset + page_size]), total

    rows = daily_rows(filterset)
    if offset == 0:
        total = rows.aggregate(n=Sum("trades"))["n"] or 0
        return (list(qs[:page_size]) if total else []), total

    located = _page_start_day(rows, offset)
    if located is None:
        return [], rows.aggregate(n=Sum("trades"))["n"] or 0
    day, before, total = located
    # A trade's day is the IST date of its exit, so "on or before that day" is an exit-time bound.
    start = qs.filter(exit_time__lt=_end_of_ist_day(day))
    within = offset - before
    return list(start[within : within + page_size]), total


def _page_start_day(rows: QuerySet, offset: int) -> tuple[date, int, int] | None:
    """The day (newest first) holding the ``offset``-th trade of the per-day ``rows``, the number of
    trades on newer days, and the total; None past the end. One query: the running sum is a window
    function over the few thousand per-day rows, computed in the database."""
    per_day = rows.order_by().values("date").annotate(n=Sum("trades"))
    inner, params = per_day.query.get_compiler(using=per_day.db).as_sql()
    sql = (
        "SELECT day, before, total FROM ("
        " SELECT d.date AS day, d.n AS n,"
        " COALESCE(SUM(d.n) OVER (ORDER BY d.date DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)"
        " AS before,"
        " SUM(d.n) OVER () AS total"
        f" FROM ({inner}) d"
        ") w WHERE before + n > %s ORDER BY day DESC LIMIT 1"
    )
    with connections[per_day.db].cursor() as cursor:
        cursor.execute(sql, (*params, offset))
        row = cursor.fetchone()
    if row is None:
        return None
    day = row[0] if isinstance(row[0], date) else date.fromisoformat(row[0])  # SQLite gives text
    return day, int(row[1]), int(row[2])


# --- The desk's summary (home page) ------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodNet:
    """Net P&L (rupees) and trades of one mode over ``start``..``end`` (IST trade dates)."""

    label: str
    start: date
    end: date
    trades: int
    net_pnl: Decimal


def period_nets(*, mode: str, today: date) -> list[PeriodNet]:
    """Today's, this week's (from Monday) and this month's net P&L of ``mode``, from the per-day rows."""
    periods = (
        ("Today", today),
        ("This week", today - timedelta(days=today.weekday())),
        ("This month", today.replace(day=1)),
    )
    first = min(start for _, start in periods)
    rows = list(
        DailyPerformance.objects.filter(mode=mode, date__gte=first, date__lte=today).values_list(
            "date", "trades", "net_pnl"
        )
    )
    out = []
    for label, start in periods:
        inside = [(n, net) for d, n, net in rows if d >= start]
        out.append(
            PeriodNet(
                label=label,
                start=start,
                end=today,
                trades=sum(n for n, _ in inside),
                net_pnl=sum((net for _, net in inside), ZERO),
            )
        )
    return out


def daily_net_rows(*, mode: str | None, start: date | None = None) -> list[tuple[date, Decimal]]:
    """(IST date, net P&L) of every day with trades of ``mode`` (None: every mode), oldest first."""
    rows = DailyPerformance.objects.filter(trades__gt=0)
    if mode:
        rows = rows.filter(mode=mode)
    if start is not None:
        rows = rows.filter(date__gte=start)
    per_day = rows.order_by("date").values("date").annotate(net=Sum("net_pnl")).values_list("date", "net")
    return list(per_day)


def recent_trades(*, mode: str, n: int = 5) -> list[Trade]:
    """The ``n`` trades of ``mode`` that closed last, newest first."""
    return list(Trade.objects.filter(entry_mode=mode).order_by(*HISTORY_ORDER)[:n])
