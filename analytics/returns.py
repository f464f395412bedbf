"""From trades to the daily net P&L series on the trading calendar and to daily returns (pure, no Django).

Definitions (docs/analytics.md, "Daily series"):

* A trade belongs to the IST date of its exit (``trade_date``, DESIGN.md "Rules of the money").
* The daily net P&L series runs over every trading day (``trading.core.calendar``) from the first to the
  last day (or the ``start``/``end`` given); a trading day without trades counts as 0. A day with trades
  that the calendar does not list as a trading day (a special session) is kept as it is.
* Daily returns on a capital base: ``r_d = net_d / E_{d-1}`` where ``E_{d-1} = capital + sum of net
  before day d`` is the equity at the day's start. Compounding them gives back the rupee equity
  exactly: ``capital * prod(1 + r) = capital + cumulative net``. Once the equity at a day's start is
  <= 0 the capital is lost and that day's return (and every later one) is NaN: undefined, not 0.

Money is in rupees. Inputs may be ``Decimal`` (the database's type), ``int`` or ``float``; series are
float64 (the vectorised math). A day's net is summed in integer paise, so it is exact (the database keeps
2 decimals) and a drawdown ends on the day the equity is back at its peak to the paisa.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd

from trading.core import calendar as market_calendar

Number = float | int | Decimal

__all__ = [
    "TradeRecord",
    "TradeColumns",
    "daily_net",
    "daily_net_from_trades",
    "daily_returns",
    "equity_at_start",
]


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One closed trade as analytics reads it: a journal row reduced to plain values.

    ``trade_date``: IST date of the exit. Money in rupees: ``net_pnl`` (after charges), ``gross_pnl``,
    ``charges`` (total), ``mae`` (worst unrealised gross P&L, <= 0) and ``mfe`` (best, >= 0).
    ``entry_time``/``exit_time``: aware datetimes. ``hold_minutes``: minutes held (from the times when
    not given). ``r_multiple``: net P&L / initial risk (None without a stop).
    """

    trade_date: date
    net_pnl: Number
    gross_pnl: Number = 0
    charges: Number = 0
    entry_time: datetime | None = None
    exit_time: datetime | None = None
    hold_minutes: Number | None = None
    r_multiple: Number | None = None
    mae: Number | None = None
    mfe: Number | None = None


def _f(value: Number | None) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class TradeColumns:
    """Trades as columns of float64 arrays, in exit order (the order streaks are counted in).

    Missing values (no stop, no MAE recorded...) are NaN. ``trade_date`` is ``datetime64[D]``.
    Build it with ``from_records`` or directly from a database ``values_list`` already ordered by exit.
    """

    trade_date: np.ndarray
    net: np.ndarray
    gross: np.ndarray
    charges: np.ndarray
    hold_minutes: np.ndarray
    r_multiple: np.ndarray
    mae: np.ndarray
    mfe: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.net)
        for name in ("trade_date", "gross", "charges", "hold_minutes", "r_multiple", "mae", "mfe"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"TradeColumns.{name} has {len(getattr(self, name))} values, net has {n}")

    def __len__(self) -> int:
        return len(self.net)

    @classmethod
    def from_records(cls, records: Iterable[TradeRecord]) -> TradeColumns:
        """Columns of ``records`` sorted by exit (IST date, then exit time; input order breaks ties)."""
        rows = sorted(
            records,
            key=lambda t: (t.trade_date, t.exit_time.timestamp() if t.exit_time is not None else -math.inf),
        )

        def hold(t: TradeRecord) -> float:
            if t.hold_minutes is not None:
                return float(t.hold_minutes)
            if t.entry_time is not None and t.exit_time is not None:
                return (t.exit_time - t.entry_time).total_seconds() / 60.0
            return math.nan

        return cls(
            trade_date=np.array([t.trade_date for t in rows], dtype="datetime64[D]"),
            net=np.array([_f(t.net_pnl) for t in rows], dtype=float),
            gross=np.array([_f(t.gross_pnl) for t in rows], dtype=float),
            charges=np.array([_f(t.charges) for t in rows], dtype=float),
            hold_minutes=np.array([hold(t) for t in rows], dtype=float),
            r_multiple=np.array([_f(t.r_multiple) for t in rows], dtype=float),
            mae=np.array([_f(t.mae) for t in rows], dtype=float),
            mfe=np.array([_f(t.mfe) for t in rows], dtype=float),
        )


def _as_date(value: date | np.datetime64 | pd.Timestamp) -> date:
    if isinstance(value, pd.Timestamp) and value.tz is None and value == value.normalize():
        return value.date()  # a pandas date (midnight, naive), e.g. from a DatetimeIndex
    if isinstance(value, datetime):
        raise TypeError(f"{value!r} is a datetime: pass the IST date of the exit (trade_date)")
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).date()


def _to_paise(values: np.ndarray) -> np.ndarray:
    rupees = np.asarray(values, dtype=float)
    if not np.isfinite(rupees).all():
        raise ValueError("a net P&L is missing or not finite")
    return np.rint(rupees * 100.0)


def _daily(
    days: np.ndarray, paise: np.ndarray, start: date | None, end: date | None, exchange: str
) -> pd.Series:
    """The series from one (day, paise) pair per trade or per day; sums exact in paise."""
    uniq, inverse = np.unique(days.astype("datetime64[D]"), return_inverse=True)
    sums = np.bincount(inverse, weights=paise, minlength=uniq.size) if uniq.size else np.zeros(0)
    first = uniq[0].astype(object) if uniq.size else None
    last = uniq[-1].astype(object) if uniq.size else None
    lo = start if start is not None else (first if first is not None else end)
    hi = end if end is not None else (last if last is not None else start)
    if lo is None or hi is None:
        return pd.Series([], index=pd.DatetimeIndex([], name="date"), dtype=float, name="net")
    if hi < lo:
        raise ValueError(f"end {hi} is before start {lo}")
    if first is not None and (first < lo or last > hi):
        outside = first if first < lo else last
        raise ValueError(f"P&L on {outside} lies outside the period {lo} to {hi}")
    calendar = np.array(market_calendar.trading_days(lo, hi, exchange), dtype="datetime64[D]")
    index = np.union1d(calendar, uniq)
    values = np.zeros(index.size)
    values[np.searchsorted(index, uniq)] = sums / 100.0
    return pd.Series(values, index=pd.DatetimeIndex(index, name="date"), dtype=float, name="net")


def daily_net(
    by_day: Mapping[date, Number] | Iterable[tuple[date, Number]],
    *,
    start: date | None = None,
    end: date | None = None,
    exchange: str = "NSE",
) -> pd.Series:
    """Net P&L per day (rupees to the paisa, float64) on the trading calendar of ``exchange``.

    ``by_day``: (IST date, net) pairs or a mapping - e.g. a database ``GROUP BY trade_date``; a date
    may repeat (its values are added, exactly, in paise). The index is every trading day from ``start``
    (default: the first day given) to ``end`` (default: the last), plus any day given that is not a
    trading day; days without P&L are 0. A naive ``DatetimeIndex`` named ``date``, ascending. Empty when
    nothing is given and no ``start``/``end``. A day outside ``[start, end]`` raises ``ValueError``.
    """
    items = list(by_day.items() if isinstance(by_day, Mapping) else by_day)
    days = np.array([_as_date(d) for d, _ in items], dtype="datetime64[D]")
    paise = _to_paise(np.array([float(v) for _, v in items], dtype=float))
    return _daily(days, paise, start, end, exchange)


def daily_net_from_trades(
    trades: Iterable[TradeRecord] | TradeColumns,
    *,
    start: date | None = None,
    end: date | None = None,
    exchange: str = "NSE",
) -> pd.Series:
    """``daily_net`` of the trades' net P&L grouped by their exit's IST date (vectorised for columns)."""
    if isinstance(trades, TradeColumns):
        return _daily(trades.trade_date, _to_paise(trades.net), start, end, exchange)
    return daily_net(((t.trade_date, t.net_pnl) for t in trades), start=start, end=end, exchange=exchange)


def _check_capital(capital: Number) -> float:
    c = float(capital)
    if not (math.isfinite(c) and c > 0):
        raise ValueError(f"starting capital must be a positive number of rupees, not {capital!r}")
    return c


def equity_at_start(net: pd.Series, capital: Number) -> pd.Series:
    """Equity at each day's start (rupees): ``capital + sum of net before the day``."""
    c = _check_capital(capital)
    values = np.asarray(net, dtype=float)
    before = np.concatenate(([0.0], np.cumsum(values)[:-1])) if values.size else values
    return pd.Series(c + before, index=net.index, name="equity_start")


def daily_returns(net: pd.Series, capital: Number) -> pd.Series:
    """Daily returns (fractions, 0.01 = 1%) on a capital base: ``net_d / equity at day d's start``.

    ``net``: the ``daily_net`` series; ``capital``: starting capital in rupees (> 0). NaN from the first
    day whose starting equity is <= 0 (the capital is lost; a return on it is undefined).
    """
    start_equity = equity_at_start(net, capital).to_numpy()
    values = np.asarray(net, dtype=float)
    lost = np.maximum.accumulate(start_equity <= 0) if values.size else start_equity <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(lost, np.nan, values / np.where(lost, 1.0, start_equity))
    return pd.Series(r, index=net.index, name="return")
