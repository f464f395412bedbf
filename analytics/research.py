"""Is it real? The deflated Sharpe ratio, walk-forward analysis and Monte Carlo resampling. Pure:
numpy/pandas/scipy, no Django (the services in ``trading/execution/research.py`` feed them backtests).

* **Deflated Sharpe ratio** (Bailey and Lopez de Prado, "The Deflated Sharpe Ratio", 2014): the
  probability that the best of ``N`` trials has a true Sharpe ratio above zero, once the selection
  among ``N`` trials, the track record's length and its non-normal returns are accounted for.
  Every Sharpe ratio here is **per period** (not annualised).
* **Walk-forward**: rolling in-sample windows choose a candidate (a combination of parameters) from
  the in-sample columns only; the next out-of-sample window trades it; the out-of-sample windows
  stitched end to end are the equity a trader would have had re-optimising on that schedule.
* **Monte Carlo**: the trade sequence reordered (or resampled with replacement), or the daily P&L
  bootstrapped; the distribution of the final P&L and of the max drawdown, 5/50/95% bands of the
  equity, and the probability of touching a capital floor. Seeded (numpy's PCG64): the same seed gives
  the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from analytics import stats

ArrayLike = Sequence[float] | np.ndarray

EULER_GAMMA = float(np.euler_gamma)  # 0.5772...: the Euler-Mascheroni constant of the expected maximum
BANDS = (5.0, 50.0, 95.0)  # percentiles of the Monte Carlo equity bands
CHUNK_CELLS = 2_000_000  # resampled values held at once (16 MB of floats)


# --- the deflated Sharpe ratio ----------------------------------------------------------------------------


def expected_max_sharpe(trials: int, trials_variance: float) -> float:
    """SR0, the Sharpe ratio the best of ``trials`` independent trials reaches by luck alone (per
    period): ``sqrt(V) x ((1 - gamma) x Phi^-1(1 - 1/N) + gamma x Phi^-1(1 - 1/(N e)))``, V the
    variance of the trials' Sharpe ratios (per period), gamma Euler's constant. 0 for one trial."""
    if trials < 1:
        raise ValueError("trials must be at least 1")
    if trials_variance < 0:
        raise ValueError("the variance of the trials' Sharpe ratios cannot be negative")
    if trials == 1:
        return 0.0
    n = float(trials)
    return math.sqrt(trials_variance) * (
        (1.0 - EULER_GAMMA) * float(ndtri(1.0 - 1.0 / n))
        + EULER_GAMMA * float(ndtri(1.0 - 1.0 / (n * math.e)))
    )


def probabilistic_sharpe(
    sharpe: float, benchmark: float, periods: int, skew: float, kurtosis: float
) -> float:
    """PSR: ``Phi((SR - SR*) x sqrt(T - 1) / sqrt(1 - g3 x SR + (g4 - 1) / 4 x SR^2))``, the probability
    that the true Sharpe ratio exceeds ``benchmark`` given ``periods`` observations with skewness g3
    and raw (not excess) kurtosis g4. Per-period ratios; a probability in [0, 1]."""
    if periods < 2:
        raise ValueError("a Sharpe ratio's significance needs at least 2 periods")
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if var <= 0:
        raise ValueError("the returns' skewness and kurtosis give no variance for this Sharpe ratio")
    return float(ndtr((sharpe - benchmark) * math.sqrt(periods - 1) / math.sqrt(var)))


@dataclass(frozen=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of a chosen trial and what went into it (per-period ratios)."""

    sharpe: float  # SR of the chosen trial, per period
    sharpe_zero: float  # SR0, the expected maximum of the trials' Sharpe ratios under no skill
    dsr: float  # probability (0..1) that the chosen trial's true SR is above 0
    periods: int  # T
    trials: int  # N
    trials_variance: float  # V, per period squared
    skew: float  # g3
    kurtosis: float  # g4, raw (a normal sample: 3)

    def as_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def deflated_sharpe(
    sharpe: float, *, periods: int, trials: int, trials_variance: float, skew: float, kurtosis: float
) -> DeflatedSharpe:
    """The deflated Sharpe ratio: PSR against SR0 (``expected_max_sharpe``). ``kurtosis`` is the raw
    kurtosis (pandas' excess kurtosis + 3). Every ratio per period."""
    sr0 = expected_max_sharpe(trials, trials_variance)
    return DeflatedSharpe(
        sharpe=float(sharpe),
        sharpe_zero=sr0,
        dsr=probabilistic_sharpe(sharpe, sr0, periods, skew, kurtosis),
        periods=int(periods),
        trials=int(trials),
        trials_variance=float(trials_variance),
        skew=float(skew),
        kurtosis=float(kurtosis),
    )


def period_sharpe(returns: ArrayLike) -> float | None:
    """Per-period Sharpe ratio ``mean / std (ddof 1)`` (``analytics.stats.sharpe`` without the
    annualisation). None for fewer than two periods or no variation."""
    value = stats.sharpe(returns, periods=1)
    return None if value is None else float(value)


def deflated_sharpe_of_trials(chosen: ArrayLike, trial_sharpes: ArrayLike) -> DeflatedSharpe | None:
    """The DSR of the chosen trial's returns ``chosen`` (one per period) among ``trial_sharpes``, the
    per-period Sharpe ratios of every trial tried (the chosen one included; N = their count, V their
    variance with ddof 1). Skewness and kurtosis are pandas' (``analytics.stats.skew`` and
    ``kurtosis`` + 3). None when the chosen returns have no Sharpe ratio or fewer than 4 periods, or
    when their moments leave the Sharpe ratio's estimate no variance (a few periods of a steady series:
    ``1 - g3 SR + (g4 - 1)/4 SR^2 <= 0``)."""
    r = np.asarray(chosen, dtype=float)
    r = r[np.isfinite(r)]
    sr = period_sharpe(r)
    g3, excess = stats.skew(r), stats.kurtosis(r)
    if sr is None or g3 is None or excess is None:
        return None
    srs = np.asarray(trial_sharpes, dtype=float)
    srs = srs[np.isfinite(srs)]
    trials = max(int(srs.size), 1)
    variance = float(np.var(srs, ddof=1)) if srs.size > 1 else 0.0
    try:
        return deflated_sharpe(
            sr, periods=int(r.size), trials=trials, trials_variance=variance, skew=g3, kurtosis=excess + 3.0
        )
    except ValueError:
        return None


# --- walk-forward -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """One walk-forward step: periods ``[is_start, is_end)`` choose, ``[oos_start, oos_end)`` trade."""

    number: int
    is_start: int
    is_end: int
    oos_start: int
    oos_end: int


def walk_forward_windows(
    periods: int, *, in_sample: int, out_of_sample: int, step: int | None = None, anchored: bool = False
) -> list[Window]:
    """The windows over ``periods`` periods (sessions): ``in_sample`` periods to choose, then the next
    ``out_of_sample`` to trade; each window starts ``step`` periods (default ``out_of_sample``, never
    fewer) after the one before, so the out-of-sample windows tile the history without overlap. ``anchored``: every
    in-sample window starts at period 0 (an expanding window). A last out-of-sample window shorter than
    ``out_of_sample`` is kept when it has at least one period."""
    if in_sample < 1 or out_of_sample < 1:
        raise ValueError("in_sample and out_of_sample must be at least 1 period")
    step = out_of_sample if step is None else int(step)
    if step < out_of_sample:
        raise ValueError("step: at least out_of_sample, so that no out-of-sample period is traded twice")
    out: list[Window] = []
    start = 0
    while start + in_sample < periods:
        is_end = start + in_sample
        out.append(
            Window(
                number=len(out) + 1,
                is_start=0 if anchored else start,
                is_end=is_end,
                oos_start=is_end,
                oos_end=min(is_end + out_of_sample, periods),
            )
        )
        start += step
    return out


def _sharpe_score(pnl: np.ndarray) -> float:
    value = period_sharpe(pnl)
    return -math.inf if value is None else value


def _net_score(pnl: np.ndarray) -> float:
    return float(np.sum(pnl))


SCORES: dict[str, Callable[[np.ndarray], float]] = {"sharpe": _sharpe_score, "net": _net_score}


@dataclass
class WalkForwardStep:
    """A window's choice: the candidate, its in-sample score and its out-of-sample P&L (rupees)."""

    window: Window
    chosen: int  # index of the candidate
    in_sample_score: float
    in_sample_net: float
    out_of_sample_net: float
    out_of_sample: list[float]  # the chosen candidate's P&L per out-of-sample period


@dataclass
class WalkForwardResult:
    """Every window's choice, the stitched out-of-sample P&L and the stability of the choices."""

    steps: list[WalkForwardStep]
    oos_periods: list[int]  # the period numbers of the stitched series, in order
    oos_pnl: list[float]  # rupees per period, stitched
    stability: dict[str, Any] = field(default_factory=dict)

    @property
    def oos_equity(self) -> list[float]:
        """Cumulative out-of-sample P&L (rupees) after each stitched period."""
        return [float(x) for x in np.cumsum(self.oos_pnl)]


def walk_forward(
    pnl: np.ndarray | Sequence[Sequence[float]],
    windows: Sequence[Window],
    *,
    score: str | Callable[[np.ndarray], float] = "sharpe",
    candidates: Sequence[Mapping[str, Any]] | None = None,
) -> WalkForwardResult:
    """Choose a candidate per window from its in-sample P&L alone and trade it out of sample.

    ``pnl``: candidates x periods, each candidate's net P&L per period (rupees; 0 for a period without
    trades). ``score`` ranks the in-sample columns (``"sharpe"``: per-period Sharpe ratio, ``"net"``:
    total P&L, or a function of a 1-D array); the first of equal scores wins. The chooser is handed
    ``pnl[:, is_start:is_end]`` only, so nothing out of sample can sway it. ``candidates``: the
    parameters of each row, for the stability figures (``parameter_stability``).
    """
    matrix = np.asarray(pnl, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] < 1:
        raise ValueError("pnl must be candidates x periods")
    rank = SCORES[score] if isinstance(score, str) else score
    steps: list[WalkForwardStep] = []
    oos_periods: list[int] = []
    oos_pnl: list[float] = []
    for w in windows:
        if w.oos_start < w.is_end or w.oos_end > matrix.shape[1]:
            raise ValueError(f"window {w.number} does not fit the periods or looks back into its sample")
        chosen, best = choose(matrix[:, w.is_start : w.is_end], rank)
        out = matrix[chosen, w.oos_start : w.oos_end]
        steps.append(
            WalkForwardStep(
                window=w,
                chosen=chosen,
                in_sample_score=best,
                in_sample_net=float(np.sum(matrix[chosen, w.is_start : w.is_end])),
                out_of_sample_net=float(np.sum(out)),
                out_of_sample=[float(x) for x in out],
            )
        )
        oos_periods.extend(range(w.oos_start, w.oos_end))
        oos_pnl.extend(float(x) for x in out)
    result = WalkForwardResult(steps=steps, oos_periods=oos_periods, oos_pnl=oos_pnl)
    result.stability = parameter_stability([s.chosen for s in steps], candidates)
    return result


def choose(in_sample: np.ndarray, rank: Callable[[np.ndarray], float]) -> tuple[int, float]:
    """The row of ``in_sample`` (candidates x in-sample periods) with the highest score, and its
    score; the first row among equals."""
    scores = [rank(row) for row in in_sample]
    best = int(np.argmax(scores))
    return best, float(scores[best])


def parameter_stability(chosen: Sequence[int], candidates: Sequence[Mapping[str, Any]] | None) -> dict:
    """How stable the choices are from window to window: the number of changes of candidate between
    consecutive windows, the share of windows (%) that chose the most frequent candidate, and per
    numeric parameter its values, mean and coefficient of variation (std / |mean|, ddof 0)."""
    chosen = list(chosen)
    out: dict[str, Any] = {"windows": len(chosen), "changes": 0, "modal_share": None, "parameters": {}}
    if not chosen:
        return out
    out["changes"] = sum(1 for a, b in zip(chosen, chosen[1:]) if a != b)
    counts = np.bincount(np.asarray(chosen))
    out["modal_candidate"] = int(np.argmax(counts))
    out["modal_share"] = round(100.0 * float(counts.max()) / len(chosen), 2)
    if candidates:
        names = sorted({k for i in chosen for k in candidates[i]})
        for name in names:
            values = [candidates[i].get(name) for i in chosen]
            entry: dict[str, Any] = {"values": values}
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                arr = np.asarray(values, dtype=float)
                mean = float(arr.mean())
                entry["mean"] = mean
                entry["cv"] = float(arr.std()) / abs(mean) if mean else None
            out["parameters"][name] = entry
    return out


# --- Monte Carlo ------------------------------------------------------------------------------------------

METHODS = ("shuffle", "resample", "bootstrap")


@dataclass
class MonteCarloResult:
    """Distribution of the resampled paths. Rupees; drawdowns are magnitudes (>= 0)."""

    method: str
    runs: int
    seed: int
    steps: int
    capital: float
    floor: float | None
    bands: dict[str, list[float]]  # "p5"/"p50"/"p95" -> cumulative P&L at each of ``marks``
    final_pnl: dict[str, float]  # p5/p50/p95/mean of the final P&L
    max_drawdown: dict[str, float]  # p5/p50/p95/mean of the max drawdown
    below_floor: float | None  # share of paths (0..1) whose equity touched the floor or fell below it
    observed: dict[str, float]  # the original sequence's final P&L and max drawdown
    marks: list[int] = field(default_factory=list)  # the step (0 = before the first) of each band point

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def resample_indices(n: int, runs: int, method: str, rng: np.random.Generator) -> np.ndarray:
    """runs x n indices into the sequence. ``shuffle``: a random order of the n items per path
    (``rng.permuted`` of 0..n-1 along each row: Fisher-Yates, row after row); ``resample``/``bootstrap``:
    n draws with replacement (``rng.integers(0, n, (runs, n))``). One call to the generator either way."""
    if method == "shuffle":
        return rng.permuted(np.broadcast_to(np.arange(n), (runs, n)), axis=1)
    if method in ("resample", "bootstrap"):
        return rng.integers(0, n, size=(runs, n))
    raise ValueError(f"method must be one of {', '.join(METHODS)}")


def max_drawdowns(paths: np.ndarray) -> np.ndarray:
    """Largest fall of each row's cumulative P&L from its running peak, the peak starting at 0 (the
    capital): a magnitude >= 0 per row."""
    equity = np.concatenate([np.zeros((paths.shape[0], 1)), np.cumsum(paths, axis=1)], axis=1)
    return np.max(np.maximum.accumulate(equity, axis=1) - equity, axis=1)


def _quartet(values: np.ndarray) -> dict[str, float]:
    lo, mid, hi = np.percentile(values, BANDS)
    return {"p5": float(lo), "p50": float(mid), "p95": float(hi), "mean": float(np.mean(values))}


def monte_carlo(
    pnl: ArrayLike,
    *,
    method: str = "shuffle",
    runs: int = 1000,
    seed: int = 0,
    capital: float = 0.0,
    floor: float | None = None,
    max_points: int = 250,
) -> MonteCarloResult:
    """Resample ``pnl`` (net P&L per trade in exit order for ``shuffle``/``resample``, per day for
    ``bootstrap``; rupees) ``runs`` times with ``numpy.random.default_rng(seed)``.

    Bands are the 5th/50th/95th percentiles (numpy's linear interpolation) of the cumulative P&L after
    each step across paths, with a 0 before the first step. ``below_floor``: the share of paths whose
    equity ``capital + cumulative P&L`` is at or below ``floor`` at some step (None without a floor).
    Shuffling keeps the final P&L of every path (only the order, so the drawdowns, change). The bands
    are given at the steps ``marks`` (every step when there are at most ``max_points``).
    """
    values = np.asarray(pnl, dtype=float).reshape(-1)
    if not np.isfinite(values).all():
        raise ValueError("a P&L value is missing or not finite")
    if runs < 1:
        raise ValueError("runs must be at least 1")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    n = values.size
    rng = np.random.default_rng(seed)
    observed = {
        "final_pnl": float(values.sum()),
        "max_drawdown": float(max_drawdowns(values.reshape(1, -1))[0]) if n else 0.0,
    }
    if n == 0:
        zero = {"p5": 0.0, "p50": 0.0, "p95": 0.0, "mean": 0.0}
        return MonteCarloResult(
            method=method,
            runs=int(runs),
            seed=int(seed),
            steps=0,
            capital=float(capital),
            floor=None if floor is None else float(floor),
            bands={"p5": [0.0], "p50": [0.0], "p95": [0.0]},
            final_pnl=dict(zero),
            max_drawdown=dict(zero),
            below_floor=None if floor is None else float(capital <= floor),
            observed=observed,
            marks=[0],
        )
    # The bands are read at most ``max_points`` + 1 steps apart (every step for a short sequence), and
    # the paths are drawn in chunks of at most ``CHUNK_CELLS`` values: memory stays bounded for 40,000
    # trades. The generator's stream is the same whether drawn at once or by rows.
    marks = np.unique(np.linspace(0, n, min(n, max_points) + 1).round().astype(int))
    chunk = max(1, CHUNK_CELLS // n)
    at_marks, finals, drawdowns, touched = [], [], [], []
    for first in range(0, runs, chunk):
        rows = min(chunk, runs - first)
        cumulative = np.zeros((rows, n + 1))
        np.cumsum(values[resample_indices(n, rows, method, rng)], axis=1, out=cumulative[:, 1:])
        at_marks.append(cumulative[:, marks])
        finals.append(cumulative[:, -1].copy())
        lowest = cumulative.min(axis=1)
        np.subtract(np.maximum.accumulate(cumulative, axis=1), cumulative, out=cumulative)
        drawdowns.append(cumulative.max(axis=1))
        if floor is not None:
            touched.append(capital + lowest <= floor)
    lo, mid, hi = np.percentile(np.vstack(at_marks), BANDS, axis=0)
    below = float(np.mean(np.concatenate(touched))) if floor is not None else None
    return MonteCarloResult(
        method=method,
        runs=int(runs),
        seed=int(seed),
        steps=n,
        capital=float(capital),
        floor=None if floor is None else float(floor),
        bands={"p5": lo.tolist(), "p50": mid.tolist(), "p95": hi.tolist()},
        final_pnl=_quartet(np.concatenate(finals)),
        max_drawdown=_quartet(np.concatenate(drawdowns)),
        below_floor=below,
        marks=marks.tolist(),
        observed=observed,
    )


def band_polylines(result: MonteCarloResult, width: int = 720, height: int = 240) -> dict[str, Any] | None:
    """The equity bands (capital + cumulative P&L) as SVG polyline points in a ``width`` x ``height``
    box (x: the step, y: up for more equity), with the equity at the bottom and top of the box. None for
    a result without steps."""
    if not result.steps:
        return None
    series = {k: [result.capital + v for v in values] for k, values in result.bands.items()}
    lo = min(min(v) for v in series.values())
    hi = max(max(v) for v in series.values())
    span = (hi - lo) or 1.0
    xs = [m * width / result.steps for m in result.marks]

    def points(values: list[float]) -> str:
        return " ".join(f"{x:.1f},{height - (v - lo) * height / span:.1f}" for x, v in zip(xs, values))

    return {
        "width": width,
        "height": height,
        "lines": [(key, points(values)) for key, values in series.items()],
        "low": lo,
        "high": hi,
    }


def daily_from_equity(points: Sequence[tuple[Any, float]], sessions: Sequence[Any]) -> np.ndarray:
    """Net P&L per session from an equity curve: ``points`` are (session of the exit, cumulative net
    after that trade) in exit order; a session's P&L is its last cumulative value minus the one before
    it (0 for a session without trades). Sessions outside ``sessions`` count toward the next one."""
    out = np.zeros(len(sessions))
    i, cumulative, before = 0, 0.0, 0.0
    for n, session in enumerate(sessions):
        while i < len(points) and points[i][0] <= session:
            cumulative = float(points[i][1])
            i += 1
        out[n] = cumulative - before
        before = cumulative
    return out


def best_deflated(daily: np.ndarray, score: str = "sharpe") -> tuple[int, DeflatedSharpe | None]:
    """The best row of ``daily`` (trials x periods, net P&L per period) by ``score`` and its deflated
    Sharpe ratio among every trial with a Sharpe ratio (``deflated_sharpe_of_trials``)."""
    matrix = np.asarray(daily, dtype=float)
    best, _ = choose(matrix, SCORES[score])
    srs = [s for s in (period_sharpe(row) for row in matrix) if s is not None]
    return best, deflated_sharpe_of_trials(matrix[best], srs)
