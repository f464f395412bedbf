"""Every performance figure of the analytics page, defined once (pure: numpy/pandas/scipy, no Django).

Three families, each function documenting its formula and units (docs/analytics.md has the table):

* **Trade figures** from per-trade arrays in exit order (``analytics.returns.TradeColumns``): rupees,
  counts, percentages 0-100, R-multiples. Rupee sums are exact to the paisa (added as integer paise).
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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from analytics.returns import TradeColumns, daily_net_from_trades, daily_returns
from trading.core.chain import TRADING_DAYS_PER_YEAR

ArrayLike = Sequence[float] | np.ndarray | pd.Series

PERIODS = TRADING_DAYS_PER_YEAR  # trading days in a year: the annualisation of every return figure
VAR_CONFIDENCE = 0.95


def _arr(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=float).reshape(-1)


def _rupees(values: ArrayLike) -> float:
    """Sum of rupee amounts, exact to the paisa (summed as integer paise: money has 2 decimals)."""
    a = _arr(values)
    if not np.isfinite(a).all():
        raise ValueError("a rupee amount is missing or not finite")
    return int(np.rint(a * 100.0).astype(np.int64).sum()) / 100.0


def _total(values: np.ndarray) -> float:
    return float(np.sum(values))


def _finite(values: ArrayLike) -> np.ndarray:
    a = _arr(values)
    return a[np.isfinite(a)]


# --- trade figures ---------------------------------------------------------------------------------------


def net_pnl(net: ArrayLike) -> float:
    """Net P&L in rupees: the sum of the trades' net P&L (gross - charges)."""
    return _rupees(_arr(net))


def gross_pnl(gross: ArrayLike) -> float:
    """Gross P&L in rupees: the sum of the trades' P&L before charges."""
    return _rupees(_arr(gross))


def total_charges(charges: ArrayLike) -> float:
    """Charges in rupees: the sum of every trade's itemised charges (brokerage, STT, fees, GST, stamp)."""
    return _rupees(_arr(charges))


def charges_pct_of_gross(charges: ArrayLike, gross: ArrayLike) -> float | None:
    """Share of the gross profit the charges took, in percent: ``total charges / gross P&L x 100``.

    None when the gross P&L is <= 0 (there was no gross profit to take a share of).
    """
    g = gross_pnl(gross)
    return total_charges(charges) / g * 100.0 if g > 0 else None


def trade_count(net: ArrayLike) -> int:
    """Number of trades (wins, losses and scratches)."""
    return int(_arr(net).size)


def win_rate(net: ArrayLike) -> float | None:
    """Winning trades as a percentage of all trades (0-100). A win is net P&L > 0; a scratch (exactly 0)
    counts in the trades but is no win. None without trades."""
    a = _arr(net)
    return float(np.count_nonzero(a > 0)) / a.size * 100.0 if a.size else None


def average_win(net: ArrayLike) -> float | None:
    """Mean net P&L of the winning trades (net > 0), rupees; None without wins."""
    w = _arr(net)
    w = w[w > 0]
    return _rupees(w) / w.size if w.size else None


def average_loss(net: ArrayLike) -> float | None:
    """Mean net P&L of the losing trades (net < 0), rupees, negative; None without losses."""
    lo = _arr(net)
    lo = lo[lo < 0]
    return _rupees(lo) / lo.size if lo.size else None


def payoff_ratio(net: ArrayLike) -> float | None:
    """Average win / |average loss| (a pure number); None without wins or without losses."""
    w, lo = average_win(net), average_loss(net)
    return w / -lo if w is not None and lo is not None else None


def profit_factor(net: ArrayLike) -> float | None:
    """Sum of the wins / |sum of the losses| (a pure number; 0 with losses and no wins); None without losses."""
    a = _arr(net)
    losses = _rupees(a[a < 0])
    return _rupees(a[a > 0]) / -losses if losses < 0 else None


def expectancy(net: ArrayLike) -> float | None:
    """Expectancy in rupees per trade: net P&L / trades. None without trades."""
    a = _arr(net)
    return _rupees(a) / a.size if a.size else None


def expectancy_r(r_multiple: ArrayLike) -> float | None:
    """Expectancy in R per trade: the mean R-multiple of the trades that have one (net / initial risk).

    Trades without a stop (no initial risk, R is NaN) are left out. None when no trade has an R.
    """
    r = _finite(r_multiple)
    return _total(r) / r.size if r.size else None


def sqn(r_multiple: ArrayLike) -> float | None:
    """System Quality Number (Van Tharp): ``sqrt(N) x mean(R) / std(R)``, std with ddof 1, N the trades
    with an R-multiple (no cap at 100 trades). A pure number; None for N < 2 or std = 0."""
    r = _finite(r_multiple)
    if r.size < 2:
        return None
    sd = float(np.std(r, ddof=1))
    return math.sqrt(r.size) * float(np.mean(r)) / sd if sd > 0 else None


def largest_win(net: ArrayLike) -> float | None:
    """Largest net P&L of a winning trade, rupees; None without wins."""
    a = _arr(net)
    return float(a.max()) if a.size and a.max() > 0 else None


def largest_loss(net: ArrayLike) -> float | None:
    """Largest loss: the most negative net P&L of a losing trade, rupees (< 0); None without losses."""
    a = _arr(net)
    return float(a.min()) if a.size and a.min() < 0 else None


def _longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in ``mask``."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max()) if starts.size else 0


def longest_win_streak(net: ArrayLike) -> int:
    """Most consecutive winning trades (net > 0) in exit order; a loss or a scratch ends a streak."""
    return _longest_run(_arr(net) > 0)


def longest_loss_streak(net: ArrayLike) -> int:
    """Most consecutive losing trades (net < 0) in exit order; a win or a scratch ends a streak."""
    return _longest_run(_arr(net) < 0)


def average_hold_minutes(hold_minutes: ArrayLike) -> float | None:
    """Mean time from entry to exit, minutes (trades with a known hold time); None without any."""
    h = _finite(hold_minutes)
    return _total(h) / h.size if h.size else None


def average_mae(mae: ArrayLike) -> float | None:
    """Mean maximum adverse excursion, rupees (<= 0): the worst unrealised gross P&L of each trade."""
    m = _finite(mae)
    return _rupees(m) / m.size if m.size else None


def average_mfe(mfe: ArrayLike) -> float | None:
    """Mean maximum favourable excursion, rupees (>= 0): the best unrealised gross P&L of each trade."""
    m = _finite(mfe)
    return _rupees(m) / m.size if m.size else None


def exit_efficiencies(gross: ArrayLike, mae: ArrayLike, mfe: ArrayLike) -> np.ndarray:
    """Per trade: ``(gross - MAE) / (MFE - MAE)``, the share of the trade's price range kept at exit.

    A pure number, 1 = exited at the best point, 0 = at the worst. NaN where MAE or MFE is missing or the
    range ``MFE - MAE`` is 0. Not clipped: an exit filled beyond the recorded extremes gives > 1 or < 0.
    """
    g, lo, hi = _arr(gross), _arr(mae), _arr(mfe)
    span = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(span > 0, (g - lo) / np.where(span > 0, span, 1.0), np.nan)


def exit_efficiency(gross: ArrayLike, mae: ArrayLike, mfe: ArrayLike) -> float | None:
    """Mean of ``exit_efficiencies`` over the trades where it exists; None where none has it."""
    e = _finite(exit_efficiencies(gross, mae, mfe))
    return _total(e) / e.size if e.size else None


@dataclass(frozen=True)
class RBin:
    """One bar of the R-multiple histogram: trades with ``low <= R < high`` (None = open end)."""

    low: float | None
    high: float | None
    count: int

    @property
    def label(self) -> str:
        if self.low is None:
            return f"< {self.high:g}R"
        if self.high is None:
            return f">= {self.low:g}R"
        return f"{self.low:g} to {self.high:g}R"


def r_distribution(
    r_multiple: ArrayLike, *, width: float = 0.5, low: float = -3.0, high: float = 5.0
) -> list[RBin]:
    """Histogram of the R-multiples: bins ``[low + k w, low + (k+1) w)`` from ``low`` to ``high``, plus an
    open bin below ``low`` and one at or above ``high``. Fixed edges so charts of two filters compare.
    Trades without an R are left out."""
    if not (width > 0 and high > low):
        raise ValueError(f"bad R histogram: width {width}, from {low} to {high}")
    r = _finite(r_multiple)
    n = round((high - low) / width)
    if not math.isclose(low + n * width, high):
        raise ValueError(f"({high} - {low}) is not a whole number of bins of {width}")
    edges = [round(low + k * width, 12) for k in range(n + 1)]  # 0.30000000000000004 -> 0.3
    inner = np.histogram(r[(r >= low) & (r < high)], bins=np.array(edges))[0] if n else []
    bins = [RBin(None, low, int(np.count_nonzero(r < low)))]
    bins += [RBin(edges[k], edges[k + 1], int(inner[k])) for k in range(n)]
    bins.append(RBin(high, None, int(np.count_nonzero(r >= high))))
    return bins


# --- equity and drawdown ---------------------------------------------------------------------------------


def _paise(daily_net: ArrayLike) -> np.ndarray:
    # Rupee sums in integer paise: a drawdown ends exactly when the equity is back at its peak, which a
    # float cumulative sum can miss by 1e-12.
    return np.rint(_arr(daily_net) * 100.0).astype(np.int64)


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
    wealth = np.cumprod(1.0 + _arr(returns))
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
    r = _arr(returns)
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
    r = _arr(returns)
    return r if r.size and np.isfinite(r).all() else None


def daily_risk_free(rf: float, periods: int = PERIODS) -> float:
    """A yearly risk-free rate (fraction) as a rate per trading day: ``(1 + rf)^(1/periods) - 1``."""
    return (1.0 + rf) ** (1.0 / periods) - 1.0


def excess_returns(returns: ArrayLike, rf: float = 0.0, periods: int = PERIODS) -> np.ndarray:
    """Daily returns less the de-annualised risk-free rate (``rf`` yearly, a fraction; 0 leaves them as is)."""
    r = _arr(returns)
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
    return math.sqrt(_total(x[x < 0] ** 2) / x.size)


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
    months = pd.Series(_arr(returns), index=returns.index).groupby(_month_keys(returns.index))
    return {str(key): _compounded(group) for key, group in months}


def yearly_returns(returns: pd.Series) -> dict[int, float | None]:
    """Compounded return of each calendar year present, ``{year: prod(1 + r) - 1}`` (quantstats' EOY)."""
    years = pd.Series(_arr(returns), index=returns.index).groupby(
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
            "net": _arr(daily_net),
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
        "trades": trade_count(net),
        "net_pnl": net_pnl(net),
        "gross_pnl": gross_pnl(gross),
        "charges": total_charges(charges),
        "charges_pct_of_gross": charges_pct_of_gross(charges, gross),
        "win_rate": win_rate(net),
        "wins": int(np.count_nonzero(net > 0)),
        "losses": int(np.count_nonzero(net < 0)),
        "average_win": average_win(net),
        "average_loss": average_loss(net),
        "payoff_ratio": payoff_ratio(net),
        "profit_factor": profit_factor(net),
        "expectancy": expectancy(net),
        "expectancy_r": expectancy_r(trades.r_multiple),
        "sqn": sqn(trades.r_multiple),
        "largest_win": largest_win(net),
        "largest_loss": largest_loss(net),
        "longest_win_streak": longest_win_streak(net),
        "longest_loss_streak": longest_loss_streak(net),
        "average_hold_minutes": average_hold_minutes(trades.hold_minutes),
        "average_mae": average_mae(trades.mae),
        "average_mfe": average_mfe(trades.mfe),
        "exit_efficiency": exit_efficiency(gross, trades.mae, trades.mfe),
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


# --- the trade figures from sums (a database's aggregates) -----------------------------------------------


@dataclass(frozen=True)
class TradeSums:
    """Sufficient statistics of a set of trades: what one aggregate query (or one GROUP BY row) returns.

    ``trade_figures`` turns them into the trade figures of ``summary``, equal to the per-trade functions
    above on the same trades (tests/analytics/test_api.py checks it). Money in rupees (sums of the
    trades' values, so exact when the database adds its 2-decimal columns); ``r_*``, ``hold_*``,
    ``mae_*``, ``mfe_*``: count and sums over the trades that have the value; ``efficiency_*``: over the
    trades with MFE > MAE, of ``(gross - MAE) / (MFE - MAE)``; streaks: in exit order.
    """

    trades: int = 0
    wins: int = 0
    losses: int = 0
    net: float = 0.0
    gross: float = 0.0
    charges: float = 0.0
    sum_wins: float = 0.0
    sum_losses: float = 0.0
    max_net: float | None = None
    min_net: float | None = None
    r_count: int = 0
    r_sum: float = 0.0
    r_sum_sq: float = 0.0
    hold_count: int = 0
    hold_sum: float = 0.0
    mae_count: int = 0
    mae_sum: float = 0.0
    mfe_count: int = 0
    mfe_sum: float = 0.0
    efficiency_count: int = 0
    efficiency_sum: float = 0.0
    longest_win_streak: int = 0
    longest_loss_streak: int = 0


def paisa(value: Any) -> float:
    """A rupee sum to the paisa (the database adds exactly; SQLite's floats are rounded back)."""
    return round(float(value or 0) * 100.0) / 100.0


def _sample_sd(n: int, total: Any, total_sq: Any) -> float:
    """Standard deviation (ddof 1) from the count, the sum and the sum of squares (Decimal when exact)."""
    if isinstance(total, Decimal) and isinstance(total_sq, Decimal):
        var = float((total_sq - total * total / n) / (n - 1))
    else:
        t, t2 = float(total), float(total_sq)
        var = (t2 - t * t / n) / (n - 1)
        if var <= 1e-12 * max(t2 / n, 1e-300):  # float round-off of equal values, not a spread
            var = 0.0
    return math.sqrt(var) if var > 0 else 0.0


def trade_figures(s: TradeSums) -> dict[str, Any]:
    """The trade figures of ``summary`` (same keys, units and None rules) from a ``TradeSums``."""
    n = int(s.trades)
    wins, losses = int(s.wins), int(s.losses)
    sum_wins, sum_losses = paisa(s.sum_wins), paisa(s.sum_losses)
    gross = paisa(s.gross)
    charges = paisa(s.charges)
    avg_win = sum_wins / wins if wins else None
    avg_loss = sum_losses / losses if losses else None
    r_n = int(s.r_count)
    sd = _sample_sd(r_n, s.r_sum, s.r_sum_sq) if r_n >= 2 else 0.0
    max_net = float(s.max_net) if s.max_net is not None else None
    min_net = float(s.min_net) if s.min_net is not None else None
    return {
        "trades": n,
        "net_pnl": paisa(s.net),
        "gross_pnl": gross,
        "charges": charges,
        "charges_pct_of_gross": charges / gross * 100.0 if gross > 0 else None,
        "win_rate": wins / n * 100.0 if n else None,
        "wins": wins,
        "losses": losses,
        "average_win": avg_win,
        "average_loss": avg_loss,
        "payoff_ratio": avg_win / -avg_loss if avg_win is not None and avg_loss is not None else None,
        "profit_factor": sum_wins / -sum_losses if sum_losses < 0 else None,
        "expectancy": paisa(s.net) / n if n else None,
        "expectancy_r": float(s.r_sum) / r_n if r_n else None,
        "sqn": math.sqrt(r_n) * (float(s.r_sum) / r_n) / sd if r_n >= 2 and sd > 0 else None,
        "largest_win": max_net if max_net is not None and max_net > 0 else None,
        "largest_loss": min_net if min_net is not None and min_net < 0 else None,
        "longest_win_streak": int(s.longest_win_streak),
        "longest_loss_streak": int(s.longest_loss_streak),
        "average_hold_minutes": float(s.hold_sum) / s.hold_count if s.hold_count else None,
        "average_mae": paisa(s.mae_sum) / s.mae_count if s.mae_count else None,
        "average_mfe": paisa(s.mfe_sum) / s.mfe_count if s.mfe_count else None,
        "exit_efficiency": float(s.efficiency_sum) / s.efficiency_count if s.efficiency_count else None,
    }
