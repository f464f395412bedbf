"""Every performance figure of the analytics page, defined once (pure: numpy/pandas/scipy, no Django).

Three families, each function documenting its formula and units (docs/analytics.md has the table):

* **Trade figures** (``analytics.trade_stats``) from per-trade arrays in exit order: rupees, counts,
  percentages 0-100, R-multiples; ``summary`` gathers them with the two families here.
* **Equity and drawdown figures** from the daily net P&L series (``analytics.returns.daily_net``) and
  the starting capital: rupees, trading days, calendar days. A drawdown is <= 0 (a fall), measured from
  the running peak of the equity, which starts at the capital (a loss on day one is a drawdown).
* **Return figures** from the daily returns (``analytics.returns.daily_returns``), as fractions
  (0.05 = 5%). They equal ``quantstats==0.0.86`` on the same returns (tests/analytics) and follow its
  conventions: 252 periods a year (``periods``); a yearly risk-free rate ``rf`` de-annualised as
  ``(1 + rf)^(1/252) - 1`` and subtracted from each day (Sharpe and Sortino only: quantstats' CAGR,
  volatility and Calmar ignore rf); standard deviations with ddof = 1.

A figure that does not exist for the data (no losses for a profit factor, fewer than two days for a
Sharpe ratio, a series that lost its capital) is ``None``, never NaN or infinity: it serialises to
JSON ``null``. quantstats would give NaN or inf there; that is the one deliberate difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from analytics import trade_stats
from analytics.returns import TradeColumns, daily_net_from_trades, daily_returns
from trading.core.chain import TRADING_DAYS_PER_YEAR

ArrayLike = trade_stats.ArrayLike

PERIODS = TRADING_DAYS_PER_YEAR  # trading days in a year: the annualisation of every return figure
VAR_CONFIDENCE = 0.95


# --- equity and drawdown ---------------------------------------------------------------------------------


def _paise(daily_net: ArrayLike) -> np.ndarray:
    # Rupee sums in integer paise: a drawdown ends exactly when the equity is back at its peak, which a
    # float cumulative sum can miss by 1e-12.
    return np.rint(trade_stats.as_floats(daily_net) * 100.0).astype(np.int64)


def equity_curve(daily_net: pd.Series, capital: float) -> pd.Series:
    """Equity at each day's close, rupees: ``capital + cumulative net P&L`` (paise exact)."""
    cum = np.cumsum(_paise(daily_net))
    return pd.Series(float(capital) + cum / 100.0, index=daily_net.index, name="equity")


def drawdown_curve(daily_net: pd.Series) -> pd.Series:
    """Drawdown at each day's close, rupees (<= 0): cumulative net - its running peak, the peak starting at 0
    (equity - peak equity, the peak starting at the capital)."""
    cum = np.cumsum(_paise(daily_net))
    peak = np.maximum.accumulate(np.maximum(cum, 0))
    return pd.Series((cum - peak) / 100.0, index=daily_net.index, name="drawdown")


def drawdown_ratio_curve(returns: pd.Series) -> pd.Series:
    """Drawdown at each day's close as a fraction of the peak equity (<= 0): ``W / max(1, peak W) - 1`` with
    ``W = prod(1 + r)`` the growth of 1 rupee (= ``quantstats.stats.to_drawdown_series``)."""
    wealth = np.cumprod(1.0 + trade_stats.as_floats(returns))
    peak = np.maximum.accumulate(np.maximum(wealth, 1.0))
    dd = wealth / peak - 1.0
    return pd.Series(np.where(dd == 0, 0.0, dd), index=returns.index, name="drawdown_ratio")


def max_drawdown_rupees(daily_net: pd.Series) -> float:
    """Largest fall of the equity from its running peak, rupees (<= 0; 0 without a fall).

    On the daily series (day closes), so it can be smaller than the per-trade figure of
    ``journal.accumulator.max_drawdown`` (a positive magnitude over the trade sequence)."""
    dd = drawdown_curve(daily_net)
    return float(dd.min()) if len(dd) else 0.0


def max_drawdown_ratio(returns: ArrayLike) -> float | None:
    """Largest fall of the compounded equity from its peak, a fraction (<= 0): ``min(W / peak W) - 1``,
    peak starting at 1 (= ``quantstats.stats.max_drawdown``). None for an empty or a NaN-holding series."""
    r = trade_stats.as_floats(returns)
    if r.size == 0 or not np.isfinite(r).all():
        return None
    wealth = np.cumprod(1.0 + r)
    peak = np.maximum.accumulate(np.maximum(wealth, 1.0))
    return float(min((wealth / peak).min(), 1.0) - 1.0)


@dataclass(frozen=True)
class DrawdownSpell:
    """A time under water: from the first day the equity closed below its peak to the last.

    ``trading_days``: days of the series in the spell; ``calendar_days``: ``(end - start).days + 1`` (the
    "days" of ``quantstats.stats.drawdown_details``); ``depth``: the deepest drawdown in it, rupees (< 0)
    on ``valley``; ``recovered``: False when the series ends under water.
    """

    start: date
    valley: date
    end: date
    trading_days: int
    calendar_days: int
    depth: float
    recovered: bool


def drawdown_spells(daily_net: pd.Series) -> list[DrawdownSpell]:
    """Every spell under water of the daily series, in time order."""
    dd = _paise(daily_net)
    cum = np.cumsum(dd)
    under = (cum - np.maximum.accumulate(np.maximum(cum, 0))) < 0
    depth = cum - np.maximum.accumulate(np.maximum(cum, 0))
    days = [d.date() for d in pd.DatetimeIndex(daily_net.index)]
    spells: list[DrawdownSpell] = []
    i, n = 0, len(days)
    while i < n:
        if not under[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and under[j + 1]:
            j += 1
        k = i + int(np.argmin(depth[i : j + 1]))
        spells.append(
            DrawdownSpell(
                start=days[i],
                valley=days[k],
                end=days[j],
                trading_days=j - i + 1,
                calendar_days=(days[j] - days[i]).days + 1,
                depth=float(depth[k]) / 100.0,
                recovered=j + 1 < n,
            )
        )
        i = j + 1
    return spells


def longest_drawdown(daily_net: pd.Series) -> DrawdownSpell | None:
    """The spell under water with the most trading days (the earliest of equals); None without any."""
    spells = drawdown_spells(daily_net)
    return max(spells, key=lambda s: s.trading_days) if spells else None


def recovery_factor(daily_net: pd.Series) -> float | None:
    """Net P&L / |max drawdown|, both rupees on the daily series (a pure number, negative for a net loss).

    None without a drawdown. Not quantstats' ``recovery_factor`` (|sum of simple returns| / |max drawdown
    ratio|, which loses the sign and mixes a sum with a compounded fall)."""
    mdd = max_drawdown_rupees(daily_net)
    return (int(_paise(daily_net).sum()) / 100.0) / -mdd if mdd < 0 else None


# --- return figures (equal to quantstats 0.0.86) ---------------------------------------------------------


def _returns(returns: ArrayLike) -> np.ndarray | None:
    r = trade_stats.as_floats(returns)
    return r if r.size and np.isfinite(r).all() else None


def daily_risk_free(rf: float, periods: int = PERIODS) -> float:
    """A yearly risk-free rate (fraction) as a rate per trading day: ``(1 + rf)^(1/periods) - 1``."""
    return (1.0 + rf) ** (1.0 / periods) - 1.0


def excess_returns(returns: ArrayLike, rf: float = 0.0, periods: int = PERIODS) -> np.ndarray:
    """Daily returns less the de-annualised risk-free rate (``rf`` yearly, a fraction; 0 leaves them as is)."""
    r = trade_stats.as_floats(returns)
    return r - daily_risk_free(rf, periods) if rf else r


def cagr(returns: ArrayLike, periods: int = PERIODS) -> float | None:
    """Compound annual growth rate, a fraction: ``prod(1 + r)^(periods / N) - 1``, N = days in the series
    (trading days, so years = N / 252). No risk-free rate (quantstats ignores it here too)."""
    r = _returns(returns)
    if r is None:
        return None
    wealth = float(np.prod(1.0 + r))
    return wealth ** (periods / r.size) - 1.0 if wealth >= 0 else None


def annual_volatility(returns: ArrayLike, periods: int = PERIODS) -> float | None:
    """Annualised volatility, a fraction: ``std(r, ddof 1) x sqrt(periods)``. None for fewer than 2 days."""
    r = _returns(returns)
    if r is None or r.size < 2:
        return None
    return float(np.std(r, ddof=1)) * math.sqrt(periods)


def sharpe(returns: ArrayLike, rf: float = 0.0, periods: int = PERIODS) -> float | None:
    """Annualised Sharpe ratio: ``mean(x) / std(x, ddof 1) x sqrt(periods)`` with ``x`` the excess returns
    (``r - ((1 + rf)^(1/periods) - 1)``). None for fewer than 2 days or a zero deviation."""
    r = _returns(returns)
    if r is None or r.size < 2:
        return None
    x = excess_returns(r, rf, periods)
    sd = float(np.std(x, ddof=1))
    return float(np.mean(x)) / sd * math.sqrt(periods) if sd > 0 else None


def downside_deviation(returns: ArrayLike, rf: float = 0.0, periods: int = PERIODS) -> float | None:
    """Sortino's downside deviation per day: ``sqrt(sum of x^2 over days with x < 0 / N)``, N = ALL days,
    ``x`` the excess returns."""
    r = _returns(returns)
    if r is None:
        return None
    x = excess_returns(r, rf, periods)
    return math.sqrt(trade_stats.float_sum(x[x < 0] ** 2) / x.size)


def sortino(returns: ArrayLike, rf: float = 0.0, periods: int = PERIODS) -> float | None:
    """Annualised Sortino ratio: ``mean(x) / downside_deviation x sqrt(periods)``. None without a down day."""
    r = _returns(returns)
    if r is None:
        return None
    down = downside_deviation(r, rf, periods)
    x = excess_returns(r, rf, periods)
    return float(np.mean(x)) / down * math.sqrt(periods) if down else None


def calmar(returns: ArrayLike, periods: int = PERIODS) -> float | None:
    """Calmar ratio: ``CAGR / |max drawdown ratio|`` (a pure number). None without a drawdown."""
    c, mdd = cagr(returns, periods), max_drawdown_ratio(returns)
    return c / -mdd if c is not None and mdd is not None and mdd < 0 else None


def skew(returns: ArrayLike) -> float | None:
    """Sample skewness, bias-corrected (adjusted Fisher-Pearson G1, as pandas and quantstats):
    ``n sqrt(n - 1) / (n - 2) x m3 / m2^1.5`` with ``m_k = sum (r - mean)^k``. None for n < 3; 0 for a
    constant series."""
    r = _returns(returns)
    if r is None or r.size < 3:
        return None
    n = r.size
    d = r - r.mean()
    m2, m3 = float(np.sum(d**2)), float(np.sum(d**3))
    if m2 == 0:
        return 0.0
    return n * math.sqrt(n - 1) / (n - 2) * m3 / m2**1.5


def kurtosis(returns: ArrayLike) -> float | None:
    """Sample excess kurtosis, bias-corrected (G2, as pandas and quantstats; a normal sample gives ~0):
    ``n (n + 1) (n - 1) m4 / ((n - 2) (n - 3) m2^2) - 3 (n - 1)^2 / ((n - 2) (n - 3))``. None for n < 4;
    0 for a constant series."""
    r = _returns(returns)
    if r is None or r.size < 4:
        return None
    n = r.size
    d = r - r.mean()
    m2, m4 = float(np.sum(d**2)), float(np.sum(d**4))
    if m2 == 0:
        return 0.0
    adj = 3.0 * (n - 1) ** 2 / ((n - 2) * (n - 3))
    return n * (n + 1) * (n - 1) * m4 / ((n - 2) * (n - 3) * m2**2) - adj


def value_at_risk(returns: ArrayLike, confidence: float = VAR_CONFIDENCE) -> float | None:
    """One-day Value at Risk, parametric (normal), a fraction, negative for a loss:
    ``mean + std(ddof 1) x Phi^-1(1 - confidence)`` (quantstats' ``value_at_risk``)."""
    r = _returns(returns)
    if r is None or r.size < 2:
        return None
    return float(np.mean(r)) + float(np.std(r, ddof=1)) * float(ndtri(1.0 - confidence))


def conditional_value_at_risk(returns: ArrayLike, confidence: float = VAR_CONFIDENCE) -> float | None:
    """One-day CVaR (expected shortfall), historical, a fraction, negative for a loss: the mean of the days
    at or below the ``1 - confidence`` quantile (linear interpolation between order statistics), as
    quantstats' ``conditional_value_at_risk(method="historical")``."""
    r = _returns(returns)
    if r is None:
        return None
    q = float(np.quantile(r, 1.0 - confidence))
    tail = r[r <= q]
    return float(np.mean(tail)) if tail.size else None


def best_day(returns: ArrayLike) -> float | None:
    """Highest daily return, a fraction."""
    r = _returns(returns)
    return float(r.max()) if r is not None else None


def worst_day(returns: ArrayLike) -> float | None:
    """Lowest daily return, a fraction."""
    r = _returns(returns)
    return float(r.min()) if r is not None else None


def _month_keys(index: pd.Index) -> np.ndarray:
    return pd.DatetimeIndex(index).strftime("%Y-%m").to_numpy()


def _compounded(group: pd.Series) -> float | None:
    value = float(np.prod(1.0 + group.to_numpy())) - 1.0
    return value if math.isfinite(value) else None


def monthly_returns(returns: pd.Series) -> dict[str, float | None]:
    """Compounded return of each calendar month present, ``{"YYYY-MM": prod(1 + r) - 1}`` (fractions), in
    time order (quantstats' ``monthly_returns`` cells); None for a month after the capital was lost."""
    months = pd.Series(trade_stats.as_floats(returns), index=returns.index).groupby(
        _month_keys(returns.index)
    )
    return {str(key): _compounded(group) for key, group in months}


def yearly_returns(returns: pd.Series) -> dict[int, float | None]:
    """Compounded return of each calendar year present, ``{year: prod(1 + r) - 1}`` (quantstats' EOY)."""
    years = pd.Series(trade_stats.as_floats(returns), index=returns.index).groupby(
        pd.DatetimeIndex(returns.index).year.to_numpy()
    )
    return {int(key): _compounded(group) for key, group in years}


def monthly_net(daily_net: pd.Series) -> dict[str, float]:
    """Net P&L of each calendar month present, ``{"YYYY-MM": rupees}``, in time order."""
    paise = pd.Series(_paise(daily_net), index=daily_net.index)
    return {str(k): int(v) / 100.0 for k, v in paise.groupby(_month_keys(daily_net.index)).sum().items()}


# --- all of it -------------------------------------------------------------------------------------------


def daily_frame(daily_net: pd.Series, capital: float) -> pd.DataFrame:
    """One row per day of the series: ``net``, ``equity`` (close), ``drawdown`` (rupees),
    ``return`` and ``drawdown_ratio`` (fractions) - the data of the equity, drawdown and daily charts."""
    r = daily_returns(daily_net, capital)
    return pd.DataFrame(
        {
            "net": trade_stats.as_floats(daily_net),
            "equity": equity_curve(daily_net, capital),
            "drawdown": drawdown_curve(daily_net),
            "return": r,
            "drawdown_ratio": drawdown_ratio_curve(r),
        },
        index=daily_net.index,
    )


def summary(
    trades: TradeColumns,
    *,
    capital: float,
    rf: float = 0.0,
    start: date | None = None,
    end: date | None = None,
    exchange: str = "NSE",
    periods: int = PERIODS,
) -> dict[str, Any]:
    """Every scalar figure of ``trades`` (in exit order) on a ``capital`` base (rupees), ``rf`` yearly.

    Keys and units as the functions above; the daily series runs from ``start`` (default: the first exit
    day) to ``end`` (default: the last). Return figures are None when the capital was lost.
    """
    net, gross, charges = trades.net, trades.gross, trades.charges
    daily = daily_net_from_trades(trades, start=start, end=end, exchange=exchange)
    return {
        "trades": trade_stats.trade_count(net),
        "net_pnl": trade_stats.net_pnl(net),
        "gross_pnl": trade_stats.gross_pnl(gross),
        "charges": trade_stats.total_charges(charges),
        "charges_pct_of_gross": trade_stats.charges_pct_of_gross(charges, gross),
        "win_rate": trade_stats.win_rate(net),
        "wins": int(np.count_nonzero(net > 0)),
        "losses": int(np.count_nonzero(net < 0)),
        "average_win": trade_stats.average_win(net),
        "average_loss": trade_stats.average_loss(net),
        "payoff_ratio": trade_stats.payoff_ratio(net),
        "profit_factor": trade_stats.profit_factor(net),
        "expectancy": trade_stats.expectancy(net),
        "expectancy_r": trade_stats.expectancy_r(trades.r_multiple),
        "sqn": trade_stats.sqn(trades.r_multiple),
        "largest_win": trade_stats.largest_win(net),
        "largest_loss": trade_stats.largest_loss(net),
        "longest_win_streak": trade_stats.longest_win_streak(net),
        "longest_loss_streak": trade_stats.longest_loss_streak(net),
        "average_hold_minutes": trade_stats.average_hold_minutes(trades.hold_minutes),
        "average_mae": trade_stats.average_mae(trades.mae),
        "average_mfe": trade_stats.average_mfe(trades.mfe),
        "exit_efficiency": trade_stats.exit_efficiency(gross, trades.mae, trades.mfe),
        **daily_figures(daily, capital=capital, rf=rf, periods=periods),
    }


def daily_figures(
    daily: pd.Series, *, capital: float, rf: float = 0.0, periods: int = PERIODS
) -> dict[str, Any]:
    """The equity, drawdown and return figures of a daily net P&L series (``returns.daily_net``) on a
    ``capital`` base (rupees), ``rf`` yearly: the second half of ``summary``."""
    r = daily_returns(daily, capital)
    spell = longest_drawdown(daily)
    mdd = max_drawdown_rupees(daily)
    paise = _paise(daily)
    return {
        "capital": float(capital),
        "days": len(daily),
        "start": daily.index[0].date() if len(daily) else None,
        "end": daily.index[-1].date() if len(daily) else None,
        "final_equity": float(capital) + int(paise.sum()) / 100.0,
        "max_drawdown": mdd,
        "max_drawdown_ratio": max_drawdown_ratio(r),
        "longest_drawdown_days": spell.trading_days if spell else 0,
        "longest_drawdown_calendar_days": spell.calendar_days if spell else 0,
        "recovery_factor": recovery_factor(daily),
        "best_day_net": float(paise.max()) / 100.0 if paise.size else None,
        "worst_day_net": float(paise.min()) / 100.0 if paise.size else None,
        "cagr": cagr(r, periods),
        "annual_volatility": annual_volatility(r, periods),
        "sharpe": sharpe(r, rf, periods),
        "sortino": sortino(r, rf, periods),
        "calmar": calmar(r, periods),
        "skew": skew(r),
        "kurtosis": kurtosis(r),
        "value_at_risk": value_at_risk(r),
        "conditional_value_at_risk": conditional_value_at_risk(r),
        "best_day": best_day(r),
        "worst_day": worst_day(r),
        "risk_free_rate": rf,
        "periods_per_year": periods,
    }
