"""Payoff of a combo of concrete legs: at expiry and today, extremes, breakevens, Greeks, POP. Pure.

All amounts are rupees for the whole combo (each leg's ``quantity`` = lots x the lot size of its own
contract), as floats; spot, strikes and breakevens are index points. A leg's P&L at a moment is
``sign x quantity x (value - premium)`` with sign +1 for BUY, -1 for SELL.

**Pricing model.** A leg still alive at the evaluation moment is valued by Black-76 on the forward
``F = S e^{r tau}`` (``options.black76_price``), ``tau`` years from the moment to the leg's expiry at
15:30 IST - the same numbers as the project's Black-Scholes on the spot with q = 0. A future alive
at the moment is worth its fair value ``S e^{r tau}``. A leg whose expiry has come is worth its
intrinsic value (options) or the spot (futures).

**"At expiry"** means at the nearest expiry among the legs (15:30 IST). With a single expiry that is
the textbook piecewise-linear payoff. When some legs expire later (a calendar spread), those are
valued by Black-76 at **their entry IV** (``PricedLeg.iv``; the analysis's ``iv`` when a leg has
none), with ``tau`` = the years between the two expiries.

**Maximum profit and loss** (``max_profit``; ``max_loss`` is the *lowest* P&L, a negative number
when a loss is possible) are found analytically, never from the edge of a grid:

* the spot cannot fall below 0, so the value at S = 0 is a finite candidate (options: a CE is worth 0,
  a PE ``K e^{-r tau}``; with ``slope_at_zero`` the P&L just above 0);
* as S grows without bound every leg tends to a straight line ``a S + b`` (CE: ``S - K e^{-r tau}``;
  PE: 0; FUT: ``S e^{r tau}``), so ``slope_at_infinity`` = sum of ``sign x quantity x a``: positive
  means unlimited profit (``max_profit`` None), negative unlimited loss (``max_loss`` None), zero a
  finite limit that is itself a candidate;
* with one expiry the P&L is linear between strikes, so the extremes are among S = 0 and the kinks;
  with later legs the smooth part is also searched for interior extremes (a dense grid up to 4x the
  highest strike, each local extreme refined by a bounded scalar search).

**Breakevens** (index points, ascending): with one expiry, the exact root on each linear segment
(from the segment's known integer slope), or a kink where the P&L is exactly 0; with later legs,
Brent's method in each bracketing interval of a dense grid.

**Probability of profit**: the chance that the P&L at the evaluation expiry is > 0 when the spot
there is lognormal, ``ln S_T ~ N(ln S + (r - iv^2/2) T, iv^2 T)`` (risk-neutral drift, ATM IV),
``T`` from now to that expiry - summed over the spot intervals between breakevens where it is.

**Greeks** (net, for the whole combo): delta in rupees per index point (= units of index held),
gamma per point per point, vega in rupees per 1 vol point, theta in rupees per calendar day - the
units of ``options.greeks`` times ``sign x quantity``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import numpy.typing as npt

from trading.core import calendar as market_calendar
from trading.core import contracts
from trading.core.combos.model import CE, FUT, PE, PricedLeg
from trading.core.options import black76_price, greeks, ndtr, year_fraction

Legs = Sequence[PricedLeg]


def _optimize():  # noqa: ANN202
    """``scipy.optimize``, imported on first use: about 27 MB and 0.6 s of start-up that a process which
    never searches a combination's extremes or breakevens (a backtest, a worker) does not pay."""
    from scipy import optimize  # noqa: PLC0415

    return optimize


def evaluation_expiry(legs: Legs) -> date:
    """The nearest expiry among ``legs``: the date "at expiry" refers to."""
    _check(legs)
    return min(leg.expiry for leg in legs)


def _check(legs: Legs) -> None:
    if not legs:
        raise ValueError("a combo needs at least one leg")
    for i, leg in enumerate(legs):
        if not isinstance(leg, PricedLeg):
            raise ValueError(f"leg {i + 1} is not a PricedLeg")


def _rate(r: float | None, on: date) -> float:
    return contracts.risk_free_rate(on) if r is None else float(r)


class _Combo:
    """The legs as arrays plus, per leg, the years ``tau`` it outlives the moment and its vol."""

    def __init__(self, legs: Legs, taus: Sequence[float], vols: Sequence[float], r: float) -> None:
        self.legs = tuple(legs)
        self.kind = np.array([leg.instrument for leg in legs])
        self.weight = np.array([leg.sign * leg.quantity for leg in legs], dtype=float)
        self.strike = np.array([leg.strike if leg.strike is not None else 0.0 for leg in legs], dtype=float)
        self.premium = np.array([leg.premium for leg in legs], dtype=float)
        self.tau = np.asarray(taus, dtype=float)
        self.vol = np.asarray(vols, dtype=float)
        self.r = r
        self.live = self.tau > 0
        self.growth = np.exp(r * self.tau)  # forward / spot
        self.discount = 1.0 / self.growth
        self.is_call, self.is_put, self.is_fut = self.kind == CE, self.kind == PE, self.kind == FUT
        if np.any(self.live & ~self.is_fut & ~(self.vol > 0)):
            i = int(np.flatnonzero(self.live & ~self.is_fut & ~(self.vol > 0))[0])
            raise ValueError(f"leg {i + 1} expires after the evaluation moment and needs an IV to be valued")

    @property
    def smooth(self) -> bool:
        """True when an option leg is priced by the model (the P&L is not piecewise linear)."""
        return bool(np.any(self.live & ~self.is_fut))

    @property
    def kinks(self) -> np.ndarray:
        """Strikes of the option legs settling at the moment: where the P&L bends."""
        return np.unique(self.strike[~self.is_fut & ~self.live])

    def values(self, spots: npt.ArrayLike) -> np.ndarray:
        """Per-unit values, shape (spots, legs)."""
        s = np.asarray(spots, dtype=float).reshape(-1, 1)
        k = self.strike
        intrinsic = np.where(self.is_call, np.maximum(s - k, 0.0), np.maximum(k - s, 0.0))
        value = np.where(self.is_fut, s * self.growth, intrinsic)
        model = self.live & ~self.is_fut
        if model.any():
            sm = np.maximum(s, 1e-300)
            priced = black76_price(
                self.vol[model],
                sm * self.growth[model],
                k[model],
                self.tau[model],
                self.r,
                self.is_call[model],
            )
            # At S = 0 a CE is worth 0 and a PE the discounted strike (Black-76 needs F > 0).
            at_zero = np.where(self.is_call[model], 0.0, k[model] * self.discount[model])
            value[:, model] = np.where(s > 0, priced, at_zero)
        return value

    def pnl(self, spots: npt.ArrayLike) -> np.ndarray:
        """Combo P&L in rupees at each spot."""
        return (self.values(spots) - self.premium) @ self.weight

    def pnl1(self, spot: float) -> float:
        return float(self.pnl([spot])[0])

    def slope_at_zero(self) -> float:
        """dP&L/dS just above S = 0 (rupees per point): only PEs (-1 each) and futures move there."""
        a = np.where(self.is_put, -1.0, 0.0) + np.where(self.is_fut, self.growth, 0.0)
        return float(a @ self.weight)

    def asymptote(self) -> tuple[float, float]:
        """(slope, intercept) of the P&L as S -> infinity: P&L ~ slope x S + intercept."""
        a = np.where(self.is_call, 1.0, 0.0) + np.where(self.is_fut, self.growth, 0.0)
        b = np.where(self.is_call, -self.strike * self.discount, 0.0)
        return float(a @ self.weight), float((b - self.premium) @ self.weight)

    def segment_slope(self, x: float) -> float:
        """Exact slope of the piecewise-linear P&L at a point ``x`` that is not a kink."""
        a = np.where(self.is_call & (x > self.strike), 1.0, 0.0) - np.where(
            self.is_put & (x < self.strike), 1.0, 0.0
        )
        a = a + np.where(self.is_fut, self.growth, 0.0)
        return float(a @ self.weight)

    def scale(self) -> float:
        """A typical price level of the combo (highest strike or futures price), index points."""
        return float(max(np.max(np.where(self.is_fut, self.premium, self.strike)), 1.0))

    def tolerance(self) -> float:
        return 1e-9 * float(np.abs(self.weight).sum())


def _taus_at(legs: Legs, at: datetime) -> list[float]:
    return [year_fraction(at, leg.expiry) for leg in legs]


def _at_expiry(legs: Legs, r: float | None, iv: float | None) -> _Combo:
    expiry = evaluation_expiry(legs)
    at = market_calendar.session_close(expiry)
    vols = [leg.iv if leg.iv is not None else (iv if iv is not None else math.nan) for leg in legs]
    return _Combo(legs, _taus_at(legs, at), vols, _rate(r, expiry))


def _at_moment(legs: Legs, now: datetime, iv: float | None, r: float | None) -> _Combo:
    _check(legs)
    vols = [iv if iv is not None else (leg.iv if leg.iv is not None else math.nan) for leg in legs]
    return _Combo(legs, _taus_at(legs, now), vols, _rate(r, market_calendar.ist_date(now)))


def expiry_pnl(
    legs: Legs, spots: npt.ArrayLike, *, r: float | None = None, iv: float | None = None
) -> np.ndarray:
    """P&L in rupees at the nearest expiry (``evaluation_expiry``) for each spot in ``spots``.

    Legs expiring later are valued by Black-76 at their entry IV (``iv``, a fraction, for a leg
    without one). ``r`` defaults to ``contracts.risk_free_rate`` on the evaluation expiry.
    """
    return _at_expiry(legs, r, iv).pnl(spots)


def pnl_today(
    legs: Legs, spots: npt.ArrayLike, *, now: datetime, iv: float | None = None, r: float | None = None
) -> np.ndarray:
    """P&L in rupees at the aware moment ``now`` if the spot were each of ``spots``.

    Every leg alive at ``now`` is valued by Black-76 at ``iv`` (the current IV, fraction) or, when
    ``iv`` is None, at its own ``PricedLeg.iv``; ``r`` defaults to the rate on ``now``'s IST date.
    """
    return _at_moment(legs, now, iv, r).pnl(spots)


# --- extremes and breakevens ------------------------------------------------------------------------


@dataclass(frozen=True)
class Extremes:
    """``max_profit`` and ``max_loss`` (the lowest P&L; negative for a loss) in rupees, None when
    unlimited; the slopes (rupees per index point) that decide it."""

    max_profit: float | None
    max_loss: float | None
    slope_at_zero: float
    slope_at_infinity: float


_REFINED_EXTREMES = 4


def _search_grid(combo: _Combo) -> np.ndarray:
    hi = 4.0 * combo.scale()
    grid = np.concatenate([np.linspace(0.0, hi, 4001)[1:], combo.kinks])
    return np.unique(grid[grid > 0])


def _extremes(combo: _Combo) -> Extremes:
    tol = combo.tolerance()
    slope_inf, intercept = combo.asymptote()
    xs = np.concatenate([[0.0], combo.kinks])
    candidates = list(combo.pnl(xs))
    if abs(slope_inf) <= tol:
        candidates.append(intercept)  # the limit as S -> infinity
    if combo.smooth:
        grid = _search_grid(combo)
        values = combo.pnl(grid)
        candidates.extend(values.tolist())
        for sign in (1.0, -1.0):  # the highest local maxima of sign x P&L, refined between grid points
            v = sign * values
            inner = np.flatnonzero((v[1:-1] > v[:-2]) & (v[1:-1] >= v[2:])) + 1
            # Far from the strikes the curve is flat to rounding and shows many spurious extremes:
            # only the few highest can hold the global one.
            for i in inner[np.argsort(-v[inner], kind="stable")][:_REFINED_EXTREMES]:
                res = _optimize().minimize_scalar(
                    lambda x, s=sign: -s * combo.pnl1(x),
                    bounds=(grid[i - 1], grid[i + 1]),
                    method="bounded",
                    options={"xatol": 1e-9 * grid[i]},
                )
                candidates.append(combo.pnl1(float(res.x)))
    return Extremes(
        max_profit=None if slope_inf > tol else float(max(candidates)),
        max_loss=None if slope_inf < -tol else float(min(candidates)),
        slope_at_zero=combo.slope_at_zero(),
        slope_at_infinity=slope_inf,
    )


def extremes(legs: Legs, *, r: float | None = None, iv: float | None = None) -> Extremes:
    """Maximum profit and loss of the P&L at the nearest expiry (see the module doc)."""
    return _extremes(_at_expiry(legs, r, iv))


def _linear_breakevens(combo: _Combo) -> list[float]:
    tol = combo.tolerance()
    xs = np.concatenate([[0.0], combo.kinks])
    vals = combo.pnl(xs)
    roots = [float(x) for x, v in zip(xs, vals) if x > 0 and abs(v) <= tol]  # kinks exactly at 0
    ends = [*xs[1:], math.inf]
    end_vals = [*vals[1:], math.inf]
    for x0, x1, v0, v1 in zip(xs, ends, vals, end_vals):
        slope = combo.segment_slope(x0 + 1.0 if math.isinf(x1) else 0.5 * (x0 + x1))
        if abs(slope) <= tol or abs(v0) <= tol or abs(v1) <= tol:
            continue  # flat, or the zero is at a kink (already taken)
        root = x0 - v0 / slope  # exact: the slope of a segment is a whole number of units
        if x0 < root < x1:
            roots.append(float(root))
    return sorted(set(roots))


def _smooth_breakevens(combo: _Combo) -> list[float]:
    tol = combo.tolerance()
    grid = _search_grid(combo)
    values = combo.pnl(grid)
    roots = [float(x) for x, v in zip(grid, values) if abs(v) <= tol]
    for i in np.flatnonzero(values[:-1] * values[1:] < 0):
        roots.append(float(_optimize().brentq(combo.pnl1, grid[i], grid[i + 1], xtol=1e-9, rtol=1e-14)))
    slope_inf, _ = combo.asymptote()
    x, v = float(grid[-1]), float(values[-1])
    if abs(v) > tol and v * slope_inf < 0:  # heading for zero beyond the grid: one more root
        hi = x
        for _ in range(60):
            hi *= 2.0
            if combo.pnl1(hi) * v < 0:
                roots.append(float(_optimize().brentq(combo.pnl1, x, hi, xtol=1e-9, rtol=1e-14)))
                break
    return sorted(set(roots))


def _breakevens(combo: _Combo) -> tuple[float, ...]:
    return tuple(_smooth_breakevens(combo) if combo.smooth else _linear_breakevens(combo))


def breakevens(legs: Legs, *, r: float | None = None, iv: float | None = None) -> tuple[float, ...]:
    """Spots (index points, ascending) where the P&L at the nearest expiry is 0 (module doc)."""
    return _breakevens(_at_expiry(legs, r, iv))


# --- Greeks and probability of profit ---------------------------------------------------------------


@dataclass(frozen=True)
class NetGreeks:
    """Greeks of the whole combo: ``delta`` rupees per index point, ``gamma`` per point per point,
    ``vega`` rupees per vol point, ``theta`` rupees per calendar day."""

    delta: float
    gamma: float
    vega: float
    theta: float


def net_greeks(
    legs: Legs, *, spot: float, now: datetime, iv: float | None = None, r: float | None = None
) -> NetGreeks:
    """Net Greeks at ``spot`` and the aware moment ``now``, each option at ``iv`` (or its own IV).

    A future contributes delta ``e^{r tau}`` and theta ``-r S e^{r tau} / 365`` per unit; an option
    already expired contributes only its intrinsic delta (0 or +-1).
    """
    combo = _at_moment(legs, now, iv, r)
    delta = gamma = vega = theta = 0.0
    for i, leg in enumerate(combo.legs):
        w, tau = combo.weight[i], combo.tau[i]
        if leg.instrument == FUT:
            delta += w * combo.growth[i]
            if tau > 0:
                theta += w * (-combo.r * spot * combo.growth[i] / 365.0)
        elif tau <= 0:
            k = float(leg.strike)
            delta += w * ((1.0 if spot > k else 0.0) if leg.instrument == CE else (-1.0 if spot < k else 0.0))
        else:
            g = greeks(combo.vol[i], spot, leg.strike, tau, combo.r, leg.instrument == CE)
            delta += w * g["delta"]
            gamma += w * g["gamma"]
            vega += w * g["vega"]
            theta += w * g["theta"]
    return NetGreeks(float(delta), float(gamma), float(vega), float(theta))


def _lognormal_cdf(x: float, spot: float, vol: float, t: float, r: float) -> float:
    if x <= 0:
        return 0.0
    if math.isinf(x):
        return 1.0
    s = vol * math.sqrt(t)
    return float(ndtr((math.log(x / spot) - (r - 0.5 * vol * vol) * t) / s))


def _probability_of_profit(
    combo: _Combo, roots: Sequence[float], *, spot: float, vol: float, t: float, r: float
) -> float:
    tol = combo.tolerance()
    if not (t > 0 and vol > 0):
        return 1.0 if combo.pnl1(spot * math.exp(r * max(t, 0.0))) > tol else 0.0
    edges = [0.0, *roots, math.inf]
    pop = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        probe = 2.0 * lo + 1.0 if math.isinf(hi) else 0.5 * (lo + hi)
        if combo.pnl1(probe) > tol:
            pop += _lognormal_cdf(hi, spot, vol, t, r) - _lognormal_cdf(lo, spot, vol, t, r)
    return min(max(pop, 0.0), 1.0)


def probability_of_profit(
    legs: Legs, *, spot: float, now: datetime, iv: float, r: float | None = None
) -> float:
    """Probability (0..1) that the P&L at the nearest expiry is positive, the spot lognormal at the
    ATM IV ``iv`` (fraction) from ``now`` (module doc)."""
    expiry = evaluation_expiry(legs)
    combo = _at_expiry(legs, r, iv)
    rate = _rate(r, market_calendar.ist_date(now))
    t = year_fraction(now, expiry)
    return _probability_of_profit(combo, _breakevens(combo), spot=spot, vol=iv, t=t, r=rate)


# --- the whole analysis -----------------------------------------------------------------------------


def net_premium(legs: Legs) -> float:
    """Rupees received (+) or paid (-) for the option legs at entry; futures move no premium."""
    _check(legs)
    return float(-sum(leg.sign * leg.quantity * leg.premium for leg in legs if leg.is_option))


def spot_grid(legs: Legs, spot: float, *, points: int = 201) -> np.ndarray:
    """Spots (index points, ascending) for a payoff chart: an even grid over the strikes and the spot
    with room either side (half their range, at least 4% of spot), plus every strike exactly."""
    _check(legs)
    marks = [spot, *(leg.strike for leg in legs if leg.strike is not None)]
    lo, hi = min(marks), max(marks)
    pad = max(0.5 * (hi - lo), 0.04 * spot)
    grid = np.linspace(max(lo - pad, 0.0), hi + pad, points)
    return np.unique(np.concatenate([grid, [m for m in marks[1:]]]))


@dataclass(frozen=True, eq=False)
class PayoffAnalysis:
    """Everything the strategy builder shows for a set of legs (rupees for the whole combo).

    ``spots`` the chart grid (index points) with the P&L ``at_expiry`` (at ``evaluation_expiry``)
    and ``today`` (at ``now``, current IV) on it; ``max_profit`` / ``max_loss`` (lowest P&L,
    negative for a loss; None when unlimited); ``breakevens`` index points ascending;
    ``net_premium`` rupees received (+) or paid (-) at entry; ``greeks``; ``probability_of_profit``
    0..1; ``slope_at_zero`` / ``slope_at_infinity`` rupees per index point.
    """

    evaluation_expiry: date
    spots: np.ndarray
    at_expiry: np.ndarray
    today: np.ndarray
    max_profit: float | None
    max_loss: float | None
    breakevens: tuple[float, ...]
    net_premium: float
    greeks: NetGreeks
    probability_of_profit: float
    slope_at_zero: float
    slope_at_infinity: float


def analyse(
    legs: Legs,
    *,
    spot: float,
    now: datetime,
    iv: float,
    r: float | None = None,
    spots: npt.ArrayLike | None = None,
) -> PayoffAnalysis:
    """The payoff analysis of ``legs`` at ``spot`` on the aware moment ``now`` with ATM IV ``iv``.

    ``iv`` (fraction) prices every leg today, drives the probability of profit, and values a later
    leg at the nearest expiry when it has no entry IV of its own. ``r`` defaults to the dated
    risk-free rate on ``now``'s IST date. ``spots`` defaults to ``spot_grid`` plus the breakevens.
    """
    _check(legs)
    if not (spot > 0 and iv > 0):
        raise ValueError("spot and iv must be positive")
    rate = _rate(r, market_calendar.ist_date(now))
    expiry = evaluation_expiry(legs)
    at_exp = _at_expiry(legs, rate, iv)
    today = _at_moment(legs, now, iv, rate)
    ext = _extremes(at_exp)
    roots = _breakevens(at_exp)
    grid = spot_grid(legs, spot) if spots is None else np.asarray(spots, dtype=float)
    if spots is None:
        grid = np.unique(np.concatenate([grid, roots]))
    t = year_fraction(now, expiry)
    return PayoffAnalysis(
        evaluation_expiry=expiry,
        spots=grid,
        at_expiry=at_exp.pnl(grid),
        today=today.pnl(grid),
        max_profit=ext.max_profit,
        max_loss=ext.max_loss,
        breakevens=roots,
        net_premium=net_premium(legs),
        greeks=net_greeks(legs, spot=spot, now=now, iv=iv, r=rate),
        probability_of_profit=_probability_of_profit(at_exp, roots, spot=spot, vol=iv, t=t, r=rate),
        slope_at_zero=ext.slope_at_zero,
        slope_at_infinity=ext.slope_at_infinity,
    )
