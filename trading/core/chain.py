"""Option-chain analytics for one expiry (DOMAIN.md sections 3 and 4), vectorised with numpy.

Inputs are array-likes aligned by strike (``strikes[i]`` with ``call_oi[i]``, ``put_oi[i]``). Open
interest and volume may be in contracts or units - every result here is a ratio or a strike, except
``pain_curve``, which is in (OI unit) x (index points). A missing OI/volume (NaN) counts as 0.
Which expiries to feed is the caller's choice; the project default is the nearest weekly.

Ties are settled towards the lower strike everywhere (max pain, support/resistance, strike by delta),
so a result never depends on the order the chain arrived in.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike

LONG_BUILDUP = "LONG_BUILDUP"
SHORT_COVERING = "SHORT_COVERING"
SHORT_BUILDUP = "SHORT_BUILDUP"
LONG_UNWINDING = "LONG_UNWINDING"
NEUTRAL = "NEUTRAL"
OI_BUILDUPS = (LONG_BUILDUP, SHORT_COVERING, SHORT_BUILDUP, LONG_UNWINDING, NEUTRAL)

TRADING_DAYS_PER_YEAR = 252


def _amounts(values: ArrayLike) -> np.ndarray:
    return np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)


def _sorted_chain(strikes: ArrayLike, *columns: ArrayLike) -> tuple[np.ndarray, ...]:
    k = np.asarray(strikes, dtype=float).ravel()
    cols = [_amounts(c).ravel() for c in columns]
    if any(c.shape != k.shape for c in cols):
        raise ValueError("strikes and OI arrays must have the same length")
    order = np.argsort(k, kind="stable")
    return (k[order], *(c[order] for c in cols))


# --- ratios and levels -------------------------------------------------------------------------------


def pcr(put_oi: ArrayLike, call_oi: ArrayLike) -> float:
    """Put-call ratio: sum of put OI / sum of call OI (or of volumes). NaN when the call sum is 0."""
    puts, calls = float(_amounts(put_oi).sum()), float(_amounts(call_oi).sum())
    return puts / calls if calls != 0 else math.nan


def pain_curve(strikes: ArrayLike, call_oi: ArrayLike, put_oi: ArrayLike) -> np.ndarray:
    """Writers' payout if the expiry settled at each strike, in the order of ``strikes``.

    pain(P) = sum_K callOI(K) * max(P - K, 0) + putOI(K) * max(K - P, 0), for P in ``strikes``;
    units: OI unit x index points.
    """
    k = np.asarray(strikes, dtype=float).ravel()
    c, p = _amounts(call_oi).ravel(), _amounts(put_oi).ravel()
    if not (k.shape == c.shape == p.shape):
        raise ValueError("strikes and OI arrays must have the same length")
    diff = k[:, None] - k[None, :]  # [candidate P, strike K] = P - K
    return (np.clip(diff, 0, None) * c[None, :] + np.clip(-diff, 0, None) * p[None, :]).sum(axis=1)


def max_pain(strikes: ArrayLike, call_oi: ArrayLike, put_oi: ArrayLike) -> float:
    """Max-pain strike: the candidate settlement (from the strike set) with the smallest pain.

    Ties go to the lower strike; NaN for an empty chain. Not the same as the largest-OI strike.
    """
    k, c, p = _sorted_chain(strikes, call_oi, put_oi)
    if k.size == 0:
        return math.nan
    return float(k[int(np.argmin(pain_curve(k, c, p)))])


def support_resistance(strikes: ArrayLike, call_oi: ArrayLike, put_oi: ArrayLike) -> tuple[float, float]:
    """(support, resistance): the strike with the highest put OI and the one with the highest call OI.

    Ties go to the lower strike; (NaN, NaN) for an empty chain.
    """
    k, c, p = _sorted_chain(strikes, call_oi, put_oi)
    if k.size == 0:
        return math.nan, math.nan
    return float(k[int(np.argmax(p))]), float(k[int(np.argmax(c))])


# --- OI build-up -------------------------------------------------------------------------------------


def oi_buildup(price_change: float, oi_change: float) -> str:
    """Classify a move: price up + OI up = LONG_BUILDUP, up + down = SHORT_COVERING, down + up =
    SHORT_BUILDUP, down + down = LONG_UNWINDING; NEUTRAL when either change is 0 or NaN."""
    return str(oi_buildup_array(np.asarray([price_change]), np.asarray([oi_change]))[0])


def oi_buildup_array(price_change: ArrayLike, oi_change: ArrayLike) -> np.ndarray:
    """Element-wise ``oi_buildup`` over aligned arrays; returns an array of the label strings."""
    dp = np.asarray(price_change, dtype=float)
    doi = np.asarray(oi_change, dtype=float)
    up, down = dp > 0, dp < 0
    oi_up, oi_down = doi > 0, doi < 0
    return np.select(
        [up & oi_up, up & oi_down, down & oi_up, down & oi_down],
        [LONG_BUILDUP, SHORT_COVERING, SHORT_BUILDUP, LONG_UNWINDING],
        default=NEUTRAL,
    ).astype(object)


# --- strike selection --------------------------------------------------------------------------------


def atm_strike(spot: float, step: float) -> float:
    """The strike on the ``step`` grid nearest to ``spot`` (a spot exactly half-way rounds up)."""
    if step <= 0:
        raise ValueError(f"strike step must be positive, got {step!r}")
    return float(math.floor(spot / step + 0.5) * step)


def select_strike(spot: float, step: float, option_type: str, steps_otm: int = 0) -> float:
    """ATM strike moved ``steps_otm`` steps out of the money: up for a call (CE), down for a put (PE).

    A negative ``steps_otm`` goes in the money.
    """
    ot = str(option_type).strip().upper()
    if ot not in ("CE", "PE"):
        raise ValueError(f"option type {option_type!r}: expected 'CE' or 'PE'")
    direction = 1 if ot == "CE" else -1
    return atm_strike(spot, step) + direction * steps_otm * step


def strike_by_delta(strikes: ArrayLike, deltas: ArrayLike, target: float) -> float:
    """The strike whose delta is closest to ``target`` (signed: use negative targets for puts).

    Strikes with a NaN delta are skipped; ties go to the lower strike; ValueError if none is left.
    """
    k = np.asarray(strikes, dtype=float).ravel()
    d = np.asarray(deltas, dtype=float).ravel()
    if k.shape != d.shape:
        raise ValueError("strikes and deltas must have the same length")
    ok = ~np.isnan(d)
    if not ok.any():
        raise ValueError("no strike has a delta")
    k, d = k[ok], d[ok]
    order = np.argsort(k, kind="stable")
    k, d = k[order], d[order]
    return float(k[int(np.argmin(np.abs(d - target)))])


# --- volatility --------------------------------------------------------------------------------------


def _history(history: ArrayLike) -> np.ndarray:
    h = np.asarray(history, dtype=float).ravel()
    return h[~np.isnan(h)]


def iv_rank(iv: float, history: ArrayLike) -> float:
    """IV rank in percent: (iv - low) / (high - low) * 100 over ``history`` (the last 252 sessions' IV).

    Not clipped (an IV above the window's high gives > 100). NaN for an empty history or a zero range.
    """
    h = _history(history)
    if h.size == 0 or math.isnan(iv):
        return math.nan
    low, high = float(h.min()), float(h.max())
    return (iv - low) / (high - low) * 100.0 if high > low else math.nan


def iv_percentile(iv: float, history: ArrayLike) -> float:
    """IV percentile: share of ``history`` sessions with IV strictly below ``iv``, in percent.

    NaN for an empty history.
    """
    h = _history(history)
    if h.size == 0 or math.isnan(iv):
        return math.nan
    return float(np.count_nonzero(h < iv)) / h.size * 100.0


def expected_move(spot: ArrayLike, vix: ArrayLike, days: float = 1.0) -> float | np.ndarray:
    """One-sigma expected move in index points over ``days`` trading days: spot * vix/100 * sqrt(days/252).

    ``vix`` is India VIX in percent (15 = 15%). VIX 15, spot 25,800, 1 day -> ~243.8 points.
    """
    out = (
        np.asarray(spot, dtype=float)
        * np.asarray(vix, dtype=float)
        / 100.0
        * np.sqrt(days / TRADING_DAYS_PER_YEAR)
    )
    return float(out) if out.ndim == 0 else out


def synthetic_forward(
    strike: ArrayLike, call_price: ArrayLike, put_price: ArrayLike, r: float, t: ArrayLike
) -> float | np.ndarray:
    """Forward implied by put-call parity at one strike: F = K + e^{rT} (C - P).

    ``r`` continuously compounded annual fraction, ``t`` years to expiry, prices in rupees.
    """
    out = np.asarray(strike, dtype=float) + np.exp(r * np.asarray(t, dtype=float)) * (
        np.asarray(call_price, dtype=float) - np.asarray(put_price, dtype=float)
    )
    return float(out) if out.ndim == 0 else out
