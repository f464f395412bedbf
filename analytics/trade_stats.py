"""The trade figures of the analytics (pure: numpy/pandas, no Django): from per-trade arrays in exit
order (``analytics.returns.TradeColumns``) - rupees, counts, percentages 0-100, R-multiples, rupee sums
exact to the paisa (added as integer paise) - and the same figures from a database's sums
(``TradeSums``). The equity, drawdown and return figures are ``analytics.stats``; docs/analytics.md
has the table of all of them. A figure that does not exist for the data is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

ArrayLike = Sequence[float] | np.ndarray | pd.Series


def as_floats(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=float).reshape(-1)


def rupee_sum(values: ArrayLike) -> float:
    """Sum of rupee amounts, exact to the paisa (summed as integer paise: money has 2 decimals)."""
    a = as_floats(values)
    if not np.isfinite(a).all():
        raise ValueError("a rupee amount is missing or not finite")
    return int(np.rint(a * 100.0).astype(np.int64).sum()) / 100.0


def float_sum(values: np.ndarray) -> float:
    return float(np.sum(values))


def finite_values(values: ArrayLike) -> np.ndarray:
    a = as_floats(values)
    return a[np.isfinite(a)]


# --- trade figures ---------------------------------------------------------------------------------------


def net_pnl(net: ArrayLike) -> float:
    """Net P&L in rupees: the sum of the trades' net P&L (gross - charges)."""
    return rupee_sum(as_floats(net))


def gross_pnl(gross: ArrayLike) -> float:
    """Gross P&L in rupees: the sum of the trades' P&L before charges."""
    return rupee_sum(as_floats(gross))


def total_charges(charges: ArrayLike) -> float:
    """Charges in rupees: the sum of every trade's itemised charges (brokerage, STT, fees, GST, stamp)."""
    return rupee_sum(as_floats(charges))


def charges_pct_of_gross(charges: ArrayLike, gross: ArrayLike) -> float | None:
    """Share of the gross profit the charges took, in percent: ``total charges / gross P&L x 100``.

    None when the gross P&L is <= 0 (there was no gross profit to take a share of).
    """
    g = gross_pnl(gross)
    return total_charges(charges) / g * 100.0 if g > 0 else None


def trade_count(net: ArrayLike) -> int:
    """Number of trades (wins, losses and scratches)."""
    return int(as_floats(net).size)


def win_rate(net: ArrayLike) -> float | None:
    """Winning trades as a percentage of all trades (0-100). A win is net P&L > 0; a scratch (exactly 0)
    counts in the trades but is no win. None without trades."""
    a = as_floats(net)
    return float(np.count_nonzero(a > 0)) / a.size * 100.0 if a.size else None


def average_win(net: ArrayLike) -> float | None:
    """Mean net P&L of the winning trades (net > 0), rupees; None without wins."""
    w = as_floats(net)
    w = w[w > 0]
    return rupee_sum(w) / w.size if w.size else None


def average_loss(net: ArrayLike) -> float | None:
    """Mean net P&L of the losing trades (net < 0), rupees, negative; None without losses."""
    lo = as_floats(net)
    lo = lo[lo < 0]
    return rupee_sum(lo) / lo.size if lo.size else None


def payoff_ratio(net: ArrayLike) -> float | None:
    """Average win / |average loss| (a pure number); None without wins or without losses."""
    w, lo = average_win(net), average_loss(net)
    return w / -lo if w is not None and lo is not None else None


def profit_factor(net: ArrayLike) -> float | None:
    """Sum of the wins / |sum of the losses| (a pure number; 0 with losses and no wins); None without losses."""
    a = as_floats(net)
    losses = rupee_sum(a[a < 0])
    return rupee_sum(a[a > 0]) / -losses if losses < 0 else None


def expectancy(net: ArrayLike) -> float | None:
    """Expectancy in rupees per trade: net P&L / trades. None without trades."""
    a = as_floats(net)
    return rupee_sum(a) / a.size if a.size else None


def expectancy_r(r_multiple: ArrayLike) -> float | None:
    """Expectancy in R per trade: the mean R-multiple of the trades that have one (net / initial risk).

    Trades without a stop (no initial risk, R is NaN) are left out. None when no trade has an R.
    """
    r = finite_values(r_multiple)
    return float_sum(r) / r.size if r.size else None


def sqn(r_multiple: ArrayLike) -> float | None:
    """System Quality Number (Van Tharp): ``sqrt(N) x mean(R) / std(R)``, std with ddof 1, N the trades
    with an R-multiple (no cap at 100 trades). A pure number; None for N < 2 or std = 0."""
    r = finite_values(r_multiple)
    if r.size < 2:
        return None
    sd = float(np.std(r, ddof=1))
    return math.sqrt(r.size) * float(np.mean(r)) / sd if sd > 0 else None


def largest_win(net: ArrayLike) -> float | None:
    """Largest net P&L of a winning trade, rupees; None without wins."""
    a = as_floats(net)
    return float(a.max()) if a.size and a.max() > 0 else None


def largest_loss(net: ArrayLike) -> float | None:
    """Largest loss: the most negative net P&L of a losing trade, rupees (< 0); None without losses."""
    a = as_floats(net)
    return float(a.min()) if a.size and a.min() < 0 else None


def _longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in ``mask``."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max()) if starts.size else 0


def longest_win_streak(net: ArrayLike) -> int:
    """Most consecutive winning trades (net > 0) in exit order; a loss or a scratch ends a streak."""
    return _longest_run(as_floats(net) > 0)


def longest_loss_streak(net: ArrayLike) -> int:
    """Most consecutive losing trades (net < 0) in exit order; a win or a scratch ends a streak."""
    return _longest_run(as_floats(net) < 0)


def average_hold_minutes(hold_minutes: ArrayLike) -> float | None:
    """Mean time from entry to exit, minutes (trades with a known hold time); None without any."""
    h = finite_values(hold_minutes)
    return float_sum(h) / h.size if h.size else None


def average_mae(mae: ArrayLike) -> float | None:
    """Mean maximum adverse excursion, rupees (<= 0): the worst unrealised gross P&L of each trade."""
    m = finite_values(mae)
    return rupee_sum(m) / m.size if m.size else None


def average_mfe(mfe: ArrayLike) -> float | None:
    """Mean maximum favourable excursion, rupees (>= 0): the best unrealised gross P&L of each trade."""
    m = finite_values(mfe)
    return rupee_sum(m) / m.size if m.size else None


def exit_efficiencies(gross: ArrayLike, mae: ArrayLike, mfe: ArrayLike) -> np.ndarray:
    """Per trade: ``(gross - MAE) / (MFE - MAE)``, the share of the trade's price range kept at exit.

    A pure number, 1 = exited at the best point, 0 = at the worst. NaN where MAE or MFE is missing or the
    range ``MFE - MAE`` is 0. Not clipped: an exit filled beyond the recorded extremes gives > 1 or < 0.
    """
    g, lo, hi = as_floats(gross), as_floats(mae), as_floats(mfe)
    span = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(span > 0, (g - lo) / np.where(span > 0, span, 1.0), np.nan)


def exit_efficiency(gross: ArrayLike, mae: ArrayLike, mfe: ArrayLike) -> float | None:
    """Mean of ``exit_efficiencies`` over the trades where it exists; None where none has it."""
    e = finite_values(exit_efficiencies(gross, mae, mfe))
    return float_sum(e) / e.size if e.size else None


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
    r = finite_values(r_multiple)
    n = round((high - low) / width)
    if not math.isclose(low + n * width, high):
        raise ValueError(f"({high} - {low}) is not a whole number of bins of {width}")
    edges = [round(low + k * width, 12) for k in range(n + 1)]  # 0.30000000000000004 -> 0.3
    inner = np.histogram(r[(r >= low) & (r < high)], bins=np.array(edges))[0] if n else []
    bins = [RBin(None, low, int(np.count_nonzero(r < low)))]
    bins += [RBin(edges[k], edges[k + 1], int(inner[k])) for k in range(n)]
    bins.append(RBin(high, None, int(np.count_nonzero(r >= high))))
    return bins


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
