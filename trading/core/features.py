"""Market bars -> the feature frame: one row per minute bar, the columns of docs/contracts.md.

Two ways in, one set of numbers (a test holds them equal to 1e-9, row for row):

* ``feature_frame(days, iv_history)`` - a whole history of ``DayBars`` at once (backtests). The
  recursive indicators run as linear filters over the concatenated spot arrays, the session
  quantities as cumulative sums per day, and the chain analytics over (T, S) arrays per day.
* ``FeatureBuilder.append(bar)`` - one ``MarketBar`` at a time (the live loop): every indicator
  carries its state forward, so a bar costs the same whatever the length of the history.
  ``FeatureBuilder.from_history(days, iv_history)`` warms a builder with the vectorised path and
  hands the state over.

Definitions (the choices the column list leaves open):

* Bar times are bar **starts** (UTC); a row is known at the bar's end. Time to expiry is measured
  from the bar's end to 15:30 IST of the expiry (the simulator prices the chain at that instant).
* EMAs: ``alpha = 2/(n+1)``, seeded with the first close, continuous across sessions (``ema``: the
  one EMA function; its ``seed`` parameter also gives the SMA-seeded EMA of ``ema_cross``).
* RSI(14) and ATR(10): Wilder's - seeded with the simple mean of the first n changes (RSI) or true
  ranges (ATR), then ``avg += (x - avg)/n``; continuous across sessions, so the first bar of a
  session sees the overnight gap. The first bar ever has true range ``high - low``. NaN until seeded
  (RSI from the 15th bar, ATR from the 10th). RSI is 100 when there were no losses (50 when nothing
  moved).
* Supertrend(10, 3) on ``atr_10``: bands ``(high+low)/2 +- 3 ATR``, the usual final-band ratchet;
  direction starts at +1 when ATR is first known and flips when the close crosses the final band.
* VWAP of the session with typical price ``(h+l+c)/3``; a feed without spot volume (the index
  itself has none on Kite) gives the session's mean typical price instead.
* Opening range: high/low of the bars starting 09:15..09:29 IST; filled from the 09:29 bar on (it
  is complete at that bar's end, 09:30), NaN before and NaN all day if the session has no such bar.
* The chain analytics use the **nearest expiry only**, over the strikes of its window. Missing OI
  or volume counts as 0; padded strikes (NaN) are ignored. ATM = the listed strike nearest to the
  close (half-way goes up, as ``chain.atm_strike``). Premiums are mids (bid/ask both quoted),
  else the LTP. ATM IV = mean of the ATM call and put IV - the chain's ``*_iv`` where finite, else
  ``options.implied_vol`` of the mid with ``r = contracts.risk_free_rate(session)``; the one side
  if only one is known.
* ``call_oi_change``/``put_oi_change``: since the first bar of the session; ``oi_change``: since
  the previous bar of the same session (NaN on a session's first bar, where the expiry may roll).
* ``days_to_expiry`` is ``minutes_to_expiry / 1440`` (calendar days, fractional).
* IV rank/percentile: against the closing ATM IV (the last finite ``atm_iv`` of a session) of the
  last ``IV_WINDOW`` sessions **before** the bar's session - ``iv_history`` for the sessions before
  the frame, then the frame's own sessions. NaN with fewer than ``IV_HISTORY_MIN`` known values;
  the rank is clipped to 0..100 (an IV above the window's high is rank 100).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from operator import itemgetter

import numpy as np
import pandas as pd

from trading.core import contracts, jit
from trading.core.bars import CHAIN_FIELDS, DayBars, MarketBar, OptionChain
from trading.core.filters import recursive
from trading.core.options import SECONDS_PER_YEAR, implied_vol

__all__ = [
    "COLUMNS",
    "EMA_SEEDS",
    "FeatureBuilder",
    "FeatureStream",
    "IV_HISTORY_MIN",
    "IV_WINDOW",
    "ema",
    "feature_frame",
    "truncate_day",
]

COLUMNS: tuple[str, ...] = (
    "session",
    "minute",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "vwap",
    "vix",
    "expected_move",
    "ema_9",
    "ema_20",
    "ema_21",
    "rsi_14",
    "atr_10",
    "supertrend",
    "supertrend_dir",
    "or_high",
    "or_low",
    "day_high",
    "day_low",
    "expiry",
    "days_to_expiry",
    "minutes_to_expiry",
    "is_expiry_day",
    "atm_strike",
    "atm_iv",
    "atm_call",
    "atm_put",
    "straddle_premium",
    "iv_rank",
    "iv_percentile",
    "pcr_oi",
    "pcr_volume",
    "call_oi",
    "put_oi",
    "call_oi_change",
    "put_oi_change",
    "oi_change",
    "max_pain",
    "max_pain_distance",
    "support",
    "resistance",
)

EMA_PERIODS = (9, 20, 21)
RSI_PERIOD = 14
ATR_PERIOD = 10
SUPERTREND_MULT = 3.0
OPENING_RANGE_BARS = 15  # 09:15 ... 09:29
IV_WINDOW = 252
IV_HISTORY_MIN = 20
TRADING_DAYS_PER_YEAR = 252

_NS_PER_MINUTE = 60_000_000_000
_IST_OFFSET_NS = 19_800_000_000_000  # +05:30; India has no daylight saving
_OPEN_NS_OF_DAY = (9 * 60 + 15) * _NS_PER_MINUTE
_CLOSE_NS_OF_DAY = (15 * 60 + 30) * _NS_PER_MINUTE
_NS_PER_DAY = 86_400_000_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

_INT_COLUMNS = ("minute",)
_OBJECT_COLUMNS = ("session", "expiry")
_BOOL_COLUMNS = ("is_expiry_day",)
_CHAIN_COLUMNS = (
    "atm_strike",
    "atm_iv",
    "atm_call",
    "atm_put",
    "straddle_premium",
    "pcr_oi",
    "pcr_volume",
    "call_oi",
    "put_oi",
    "max_pain",
    "support",
    "resistance",
)


# --- time helpers (integer nanoseconds, so both paths do the same arithmetic) -------------------------


def _session_open_ns(d: date) -> int:
    return (d.toordinal() - _EPOCH_ORDINAL) * _NS_PER_DAY + _OPEN_NS_OF_DAY - _IST_OFFSET_NS


def _expiry_close_ns(d: date) -> int:
    return (d.toordinal() - _EPOCH_ORDINAL) * _NS_PER_DAY + _CLOSE_NS_OF_DAY - _IST_OFFSET_NS


def _ns_of(dt: datetime) -> int:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive bar time {dt!r}: bar times must be timezone-aware")
    dt = dt.astimezone(UTC).replace(tzinfo=None)
    return int(np.datetime64(dt, "ns").astype(np.int64))


def _ist_session(ns: int) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + (ns + _IST_OFFSET_NS) // _NS_PER_DAY)


def truncate_day(day: DayBars, end: datetime | np.datetime64 | int) -> DayBars:
    """The bars of ``day`` whose start time is before ``end`` (aware datetime, datetime64 or ns).

    Arrays are views, nothing is copied; the result may have 0 bars.
    """
    if isinstance(end, datetime):
        end_ns = _ns_of(end)
    elif isinstance(end, np.datetime64):
        end_ns = int(end.astype("datetime64[ns]").astype(np.int64))
    else:
        end_ns = int(end)
    n = int(np.searchsorted(day.times.astype("datetime64[ns]").astype(np.int64), end_ns, side="left"))
    arrays = {
        name: getattr(day, name)[:n]
        for name in ("times", "open", "high", "low", "close", "volume", "vix", "strikes", *CHAIN_FIELDS)
    }
    return replace(day, **arrays)


# --- recursive indicators: one step and the same thing over an array ---------------------------------


@dataclass
class _Wilder:
    """Wilder's smoothing of period n: seeded by the mean of the first n inputs."""

    n: int
    count: int = 0
    total: float = 0.0
    value: float = math.nan

    def step(self, x: float) -> float:
        if self.count < self.n:
            self.count += 1
            self.total += x
            if self.count == self.n:
                self.value = self.total / self.n
            return self.value
        self.value = (1.0 / self.n) * x + (1.0 - 1.0 / self.n) * self.value
        return self.value

    def run(self, xs: np.ndarray) -> np.ndarray:
        """``step`` over every element of ``xs``: the seed by hand, the rest as a linear filter."""
        out = np.full(xs.shape[0], np.nan)
        i = 0
        while i < xs.shape[0] and self.count < self.n:
            out[i] = self.step(float(xs[i]))
            i += 1
        if i < xs.shape[0]:
            a = 1.0 / self.n
            y = recursive(a, -(1.0 - a), xs[i:], (1.0 - a) * self.value)
            out[i:] = y
            self.value = float(y[-1])
        return out


@dataclass
class _Ema:
    """EMA with ``alpha = 2/(n+1)`` seeded with the first input (``value``: a seed already known)."""

    n: int
    value: float = math.nan

    @property
    def alpha(self) -> float:
        return 2.0 / (self.n + 1.0)

    def step(self, x: float) -> float:
        if math.isnan(self.value):
            self.value = x
        else:
            self.value = self.alpha * x + (1.0 - self.alpha) * self.value
        return self.value

    def run(self, xs: np.ndarray) -> np.ndarray:
        if xs.shape[0] == 0:
            return np.empty(0)
        out = np.empty(xs.shape[0])
        i = 0
        if math.isnan(self.value):
            out[0] = self.step(float(xs[0]))
            i = 1
        if i < xs.shape[0]:
            a = self.alpha
            y = recursive(a, -(1.0 - a), xs[i:], (1.0 - a) * self.value)
            out[i:] = y
            self.value = float(y[-1])
        return out


EMA_SEEDS: tuple[str, ...] = ("first", "sma")


def ema(values: np.ndarray, n: int, *, seed: str = "first") -> np.ndarray:
    """EMA(``n``) of ``values`` with ``alpha = 2/(n+1)``: ``y = (1 - alpha) y_prev + alpha x``.

    ``seed`` is where the recursion starts: ``"first"`` (the feature frame's EMAs, which the 14
    strategies read) from the first value; ``"sma"`` from the mean of the first ``n`` values (NaN
    before the n-th; the convention of backtrader and TA-Lib), summed exactly (``math.fsum``).
    One recursion for both (``_Ema.run``), so the two differ only in their start.
    """
    xs = np.asarray(values, dtype=float)
    if seed == "first":
        return _Ema(n).run(xs)
    if seed != "sma":
        raise ValueError(f"EMA seed {seed!r}: one of {', '.join(EMA_SEEDS)}")
    out = np.full(xs.shape[0], np.nan)
    if xs.shape[0] < n:
        return out
    start = math.fsum(xs[:n].tolist()) / n
    out[n - 1] = start
    out[n:] = _Ema(n, start).run(xs[n:])
    return out


def _rsi_value(gain: np.ndarray | float, loss: np.ndarray | float) -> np.ndarray:
    g = np.asarray(gain, dtype=float)
    lo = np.asarray(loss, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 - 100.0 / (1.0 + g / lo)
    rsi = np.where(lo == 0.0, np.where(g > 0.0, 100.0, 50.0), rsi)
    return np.where(np.isnan(g) | np.isnan(lo), np.nan, rsi)


def _supertrend_loop(mult, high, low, close, prev_close, atr, upper, lower, direction, line, trend):  # type: ignore[no-untyped-def]
    """Supertrend's final bands and direction over bars ``0..len(atr)-1``, from the state ``upper``,
    ``lower``, ``direction`` (0: not started), written into ``line`` and ``trend``; the state after
    them returned. Plain Python on floats, which numba compiles as it is (``core.jit``): the same
    operations in the same order either way, on lists or on arrays."""
    for i in range(len(atr)):
        a = atr[i]
        if math.isnan(a):
            line[i] = math.nan
            trend[i] = math.nan
            continue
        hl2 = (high[i] + low[i]) / 2.0
        basic_upper = hl2 + mult * a
        basic_lower = hl2 - mult * a
        if direction == 0:
            upper, lower, direction = basic_upper, basic_lower, 1
        else:
            if basic_upper < upper or prev_close[i] > upper:
                upper = basic_upper
            if basic_lower > lower or prev_close[i] < lower:
                lower = basic_lower
            if direction == 1:
                direction = -1 if close[i] < lower else 1
            else:
                direction = 1 if close[i] > upper else -1
        line[i] = lower if direction == 1 else upper
        trend[i] = float(direction)
    return upper, lower, direction


_supertrend_compiled = None  # _supertrend_loop compiled by numba, on first use


@dataclass
class _Supertrend:
    """Supertrend final bands and direction (``_supertrend_loop``), continued across calls."""

    mult: float = SUPERTREND_MULT
    upper: float = math.nan
    lower: float = math.nan
    direction: int = 0

    def step(
        self, high: float, low: float, close: float, prev_close: float, atr: float
    ) -> tuple[float, float]:
        """One bar (the incremental rows)."""
        line, trend = [math.nan], [math.nan]
        self.upper, self.lower, self.direction = _supertrend_loop(
            self.mult, [high], [low], [close], [prev_close], [atr], self.upper, self.lower, self.direction,
            line, trend,
        )  # fmt: skip
        return line[0], trend[0]

    def run(
        self, high: np.ndarray, low: np.ndarray, close: np.ndarray, prev_close: np.ndarray, atr: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """A session's bars: the line and the direction (NaN until ATR is known), compiled where
        ``jit.compiled`` says, else in Python on floats."""
        n = atr.shape[0]
        line, trend = np.empty(n), np.empty(n)
        state = (self.upper, self.lower, self.direction)
        if jit.compiled(n):
            global _supertrend_compiled
            if _supertrend_compiled is None:
                _supertrend_compiled = jit.njit(_supertrend_loop)
            args = (np.ascontiguousarray(a, dtype=np.float64) for a in (high, low, close, prev_close, atr))
            upper, lower, direction = _supertrend_compiled(
                float(self.mult), *args, float(state[0]), float(state[1]), int(state[2]), line, trend
            )
        else:
            lines, trends = [math.nan] * n, [math.nan] * n
            upper, lower, direction = _supertrend_loop(
                self.mult, high.tolist(), low.tolist(), close.tolist(), prev_close.tolist(), atr.tolist(),
                *state, lines, trends,
            )  # fmt: skip
            line[:], trend[:] = lines, trends
        self.upper, self.lower, self.direction = float(upper), float(lower), int(direction)
        return line, trend


# --- chain analytics over (T, S) arrays ---------------------------------------------------------------


def _mid(bid: np.ndarray, ask: np.ndarray, ltp: np.ndarray) -> np.ndarray:
    """Mid of a two-sided quote, else the LTP; NaN when neither is a positive price."""
    quoted = (bid > 0.0) & (ask > 0.0) & (ask >= bid)
    mid = np.where(quoted, 0.5 * (bid + ask), ltp)
    return np.where(mid > 0.0, mid, np.nan)


def _amounts(values: np.ndarray, valid: np.ndarray, all_valid: bool = False) -> np.ndarray:
    """OI or volume with a missing value (NaN) or a padded strike counted as 0 (``values`` itself,
    not a copy, when ``all_valid`` - every strike listed - and no value is missing)."""
    if all_valid and not np.isnan(values).any():
        return values
    return np.where(valid & ~np.isnan(values), values, 0.0)


def _reduced(close: np.ndarray, strikes: np.ndarray, chain: dict[str, np.ndarray]) -> tuple:
    """The chain's sums over the strikes of each bar (OI, volume), max pain, support, resistance
    (NaN without a listed strike), the ATM strike's column and whether the bar has a chain - in numpy.
    ``_reduce_loop`` is the same per bar, compiled."""
    valid = np.isfinite(strikes)
    every = bool(valid.all())
    k = strikes if every else np.where(valid, strikes, 0.0)
    c_oi = _amounts(chain["call_oi"], valid, every)
    p_oi = _amounts(chain["put_oi"], valid, every)
    has_chain = valid.any(axis=1)

    call_oi = c_oi.sum(axis=1)
    put_oi = p_oi.sum(axis=1)
    call_vol = _amounts(chain["call_volume"], valid, every).sum(axis=1)
    put_vol = _amounts(chain["put_volume"], valid, every).sum(axis=1)

    # Max pain, O(S) per bar with the strikes ascending: for the candidate P = K_j,
    # pain = sum_{K<=P} c (P - K) + sum_{K>=P} p (K - P).
    c_le = np.cumsum(c_oi, axis=1)
    ck_le = np.cumsum(c_oi * k, axis=1)
    p_ge = np.cumsum(p_oi[:, ::-1], axis=1)[:, ::-1]
    pk_ge = np.cumsum((p_oi * k)[:, ::-1], axis=1)[:, ::-1]
    pain = np.where(valid, k * c_le - ck_le + pk_ge - k * p_ge, np.inf)
    rows = np.arange(close.shape[0])
    max_pain = np.where(has_chain, k[rows, np.argmin(pain, axis=1)], np.nan)
    support = np.where(has_chain, k[rows, np.argmax(np.where(valid, p_oi, -1.0), axis=1)], np.nan)
    resistance = np.where(has_chain, k[rows, np.argmax(np.where(valid, c_oi, -1.0), axis=1)], np.nan)

    # ATM: nearest listed strike, the higher one on a tie (the last minimum of the distance).
    dist = np.where(valid, np.abs(strikes - close[:, None]), np.inf)
    atm_idx = strikes.shape[1] - 1 - np.argmin(dist[:, ::-1], axis=1)
    return call_oi, put_oi, call_vol, put_vol, max_pain, support, resistance, atm_idx, has_chain


def _reduce_loop(close, strikes, c_in, p_in, cv_in, pv_in, out, atm_idx, c_le, ck_le, p_ge, pk_ge):  # type: ignore[no-untyped-def]
    """``_reduced`` bar by bar, for numba (``core.jit``): the same operations in the same order -
    the running sums of max pain left to right (and right to left) as ``np.cumsum``, the first
    minimum / maximum as ``argmin`` / ``argmax``, the last nearest strike - except the totals, summed
    in strike order where numpy sums pairwise: equal for OI and volumes, which are whole numbers of
    contracts (exact in a double below 2**53). ``out`` (7, T): the sums, max pain, support,
    resistance; ``c_le`` ... scratch rows of S."""
    T, S = strikes.shape
    for t in range(T):
        listed = False
        c_tot = p_tot = cv_tot = pv_tot = 0.0
        run_c = run_ck = 0.0
        for j in range(S):
            k = strikes[t, j]
            c = c_in[t, j]
            p = p_in[t, j]
            cv = cv_in[t, j]
            pv = pv_in[t, j]
            if math.isfinite(k):
                listed = True
            else:
                k = 0.0
                c = p = cv = pv = 0.0
            c = 0.0 if math.isnan(c) else c
            p = 0.0 if math.isnan(p) else p
            cv = 0.0 if math.isnan(cv) else cv
            pv = 0.0 if math.isnan(pv) else pv
            c_tot += c
            p_tot += p
            cv_tot += cv
            pv_tot += pv
            run_c += c
            run_ck += c * k
            c_le[j] = run_c
            ck_le[j] = run_ck
        run_p = run_pk = 0.0
        for j in range(S - 1, -1, -1):
            k = strikes[t, j]
            p = p_in[t, j]
            if not math.isfinite(k):
                k = 0.0
                p = 0.0
            elif math.isnan(p):
                p = 0.0
            run_p += p
            run_pk += p * k
            p_ge[j] = run_p
            pk_ge[j] = run_pk
        out[0, t] = c_tot
        out[1, t] = p_tot
        out[2, t] = cv_tot
        out[3, t] = pv_tot
        pain_j = -1
        sup_j = res_j = 0
        best_pain = math.inf
        best_sup = best_res = -math.inf
        near_j = S - 1
        near = math.inf
        for j in range(S):
            k = strikes[t, j]
            if math.isfinite(k):
                pain = k * c_le[j] - ck_le[j] + pk_ge[j] - k * p_ge[j]
                c = c_in[t, j]
                p = p_in[t, j]
                c = 0.0 if math.isnan(c) else c
                p = 0.0 if math.isnan(p) else p
                d = abs(k - close[t])
            else:
                pain = math.inf
                c = p = -1.0
                d = math.inf
            if pain < best_pain or pain_j < 0:
                best_pain, pain_j = pain, j
            if p > best_sup:
                best_sup, sup_j = p, j
            if c > best_res:
                best_res, res_j = c, j
            if not d > near:  # the last of equal distances (a NaN close: any strike, unused)
                near, near_j = d, j
        if listed:
            out[4, t] = strikes[t, pain_j]
            out[5, t] = strikes[t, sup_j]
            out[6, t] = strikes[t, res_j]
        else:
            out[4, t] = math.nan
            out[5, t] = math.nan
            out[6, t] = math.nan
        atm_idx[t] = near_j


_reduce_compiled = None  # _reduce_loop compiled by numba, on first use


def _reduced_compiled(close: np.ndarray, strikes: np.ndarray, chain: dict[str, np.ndarray]) -> tuple:
    """``_reduced`` by the compiled ``_reduce_loop`` (its sums, max pain, support, resistance, the
    ATM strike's column)."""
    global _reduce_compiled
    if _reduce_compiled is None:
        _reduce_compiled = jit.njit(_reduce_loop)
    T, S = strikes.shape
    out = np.empty((7, T))
    atm_idx = np.empty(T, dtype=np.int64)
    scratch = np.empty((4, S))
    f64 = np.float64  # the (T, S) views of a day's (T, E, S) arrays as they are: strided, not copied
    _reduce_compiled(
        np.asarray(close, dtype=f64), np.asarray(strikes, dtype=f64),
        *(np.asarray(chain[n], dtype=f64) for n in ("call_oi", "put_oi", "call_volume", "put_volume")),
        out, atm_idx, *scratch,
    )  # fmt: skip
    return (*out, atm_idx)


def _chain_columns(
    close: np.ndarray,
    years: np.ndarray,
    rate: float,
    strikes: np.ndarray,
    chain: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Chain analytics of the nearest expiry for T bars: ``strikes`` and ``chain`` fields (T, S).

    ``_chain_row`` is the same arithmetic for one bar; a test holds the two equal.
    """
    T = close.shape[0]
    if strikes.ndim != 2 or strikes.shape[1] == 0:
        return {name: np.full(T, np.nan) for name in _CHAIN_COLUMNS}
    if jit.compiled(T):  # T bars (a session: Python where preferred)
        call_oi, put_oi, call_vol, put_vol, max_pain, support, resistance, atm_idx = _reduced_compiled(
            close, strikes, chain
        )
        has_chain = ~np.isnan(max_pain)
    else:
        call_oi, put_oi, call_vol, put_vol, max_pain, support, resistance, atm_idx, has_chain = _reduced(
            close, strikes, chain
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        pcr_oi = np.where(call_oi != 0.0, put_oi / call_oi, np.nan)
        pcr_volume = np.where(call_vol != 0.0, put_vol / call_vol, np.nan)
    rows = np.arange(T)
    ok = has_chain & np.isfinite(close)
    atm = np.where(ok, strikes[rows, atm_idx], np.nan)

    def at_atm(name: str) -> np.ndarray:
        return np.where(ok, chain[name][rows, atm_idx], np.nan)

    call_mid = _mid(at_atm("call_bid"), at_atm("call_ask"), at_atm("call_ltp"))
    put_mid = _mid(at_atm("put_bid"), at_atm("put_ask"), at_atm("put_ltp"))
    call_iv = at_atm("call_iv")
    put_iv = at_atm("put_iv")
    need_call = ok & ~np.isfinite(call_iv) & np.isfinite(call_mid)
    if need_call.any():
        call_iv[need_call] = implied_vol(
            call_mid[need_call], close[need_call], atm[need_call], years[need_call], rate, True
        )
    need_put = ok & ~np.isfinite(put_iv) & np.isfinite(put_mid)
    if need_put.any():
        put_iv[need_put] = implied_vol(
            put_mid[need_put], close[need_put], atm[need_put], years[need_put], rate, False
        )
    call_iv = np.where(np.isfinite(call_iv), call_iv, np.nan)
    put_iv = np.where(np.isfinite(put_iv), put_iv, np.nan)
    atm_iv = np.where(
        np.isnan(call_iv), put_iv, np.where(np.isnan(put_iv), call_iv, 0.5 * (call_iv + put_iv))
    )
    return {
        "atm_strike": atm,
        "atm_iv": atm_iv,
        "atm_call": call_mid,
        "atm_put": put_mid,
        "straddle_premium": call_mid + put_mid,
        "pcr_oi": np.where(has_chain, pcr_oi, np.nan),
        "pcr_volume": np.where(has_chain, pcr_volume, np.nan),
        "call_oi": np.where(has_chain, call_oi, np.nan),
        "put_oi": np.where(has_chain, put_oi, np.nan),
        "max_pain": max_pain,
        "support": support,
        "resistance": resistance,
    }


def _mid_scalar(bid: float, ask: float, ltp: float) -> float:
    mid = 0.5 * (bid + ask) if (bid > 0.0 and ask > 0.0 and ask >= bid) else ltp
    return mid if mid > 0.0 else math.nan


def _finite_or_nan(x: float) -> float:
    return x if math.isfinite(x) else math.nan


def _chain_row(close: float, years: float, rate: float, chain: OptionChain) -> dict[str, float]:
    """``_chain_columns`` for one bar and one ``OptionChain`` - scalars where numpy would be slow."""
    strikes = np.asarray(chain.strikes, dtype=float)
    valid = np.isfinite(strikes)
    if strikes.size == 0 or not valid.any():
        return dict.fromkeys(_CHAIN_COLUMNS, math.nan)
    k = np.where(valid, strikes, 0.0)
    c_oi = _amounts(np.asarray(chain.call_oi, dtype=float), valid)
    p_oi = _amounts(np.asarray(chain.put_oi, dtype=float), valid)
    call_oi = float(c_oi.sum())
    put_oi = float(p_oi.sum())
    call_vol = float(_amounts(np.asarray(chain.call_volume, dtype=float), valid).sum())
    put_vol = float(_amounts(np.asarray(chain.put_volume, dtype=float), valid).sum())
    c_le = np.cumsum(c_oi)
    ck_le = np.cumsum(c_oi * k)
    p_ge = np.cumsum(p_oi[::-1])[::-1]
    pk_ge = np.cumsum((p_oi * k)[::-1])[::-1]
    pain = np.where(valid, k * c_le - ck_le + pk_ge - k * p_ge, np.inf)
    out = {
        "pcr_oi": put_oi / call_oi if call_oi != 0.0 else math.nan,
        "pcr_volume": put_vol / call_vol if call_vol != 0.0 else math.nan,
        "call_oi": call_oi,
        "put_oi": put_oi,
        "max_pain": float(k[int(np.argmin(pain))]),
        "support": float(k[int(np.argmax(np.where(valid, p_oi, -1.0)))]),
        "resistance": float(k[int(np.argmax(np.where(valid, c_oi, -1.0)))]),
    }
    if not math.isfinite(close):
        out.update(
            dict.fromkeys(("atm_strike", "atm_iv", "atm_call", "atm_put", "straddle_premium"), math.nan)
        )
        return out
    dist = np.where(valid, np.abs(strikes - close), np.inf)
    i = strikes.size - 1 - int(np.argmin(dist[::-1]))
    atm = float(k[i])
    call_mid = _mid_scalar(float(chain.call_bid[i]), float(chain.call_ask[i]), float(chain.call_ltp[i]))
    put_mid = _mid_scalar(float(chain.put_bid[i]), float(chain.put_ask[i]), float(chain.put_ltp[i]))
    call_iv = float(chain.call_iv[i])
    put_iv = float(chain.put_iv[i])
    if not math.isfinite(call_iv) and math.isfinite(call_mid):
        call_iv = float(implied_vol(np.array([call_mid]), close, atm, years, rate, True)[0])
    if not math.isfinite(put_iv) and math.isfinite(put_mid):
        put_iv = float(implied_vol(np.array([put_mid]), close, atm, years, rate, False)[0])
    call_iv, put_iv = _finite_or_nan(call_iv), _finite_or_nan(put_iv)
    if math.isnan(call_iv):
        atm_iv = put_iv
    elif math.isnan(put_iv):
        atm_iv = call_iv
    else:
        atm_iv = 0.5 * (call_iv + put_iv)
    out.update(
        atm_strike=atm, atm_iv=atm_iv, atm_call=call_mid, atm_put=put_mid, straddle_premium=call_mid + put_mid
    )
    return out


_item_date = itemgetter(0)  # an ``iv_items`` entry's date


def _sorted_window(window: list[float]) -> np.ndarray:
    h = np.asarray(window, dtype=float)
    return np.sort(h[np.isfinite(h)])


def _iv_rank_percentile(iv: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IV rank (clipped 0..100) and percentile of each ``iv`` against the sorted known IVs ``h``."""
    if h.size < IV_HISTORY_MIN:
        nan = np.full(iv.shape, np.nan)
        return nan, nan.copy()
    lo, hi = h[0], h[-1]
    known = np.isfinite(iv)
    if hi > lo:
        rank = np.clip((iv - lo) / (hi - lo) * 100.0, 0.0, 100.0)
    else:
        rank = np.full(iv.shape, np.nan)
    pct = np.searchsorted(h, np.where(known, iv, 0.0), side="left") / h.size * 100.0
    return np.where(known, rank, np.nan), np.where(known, pct, np.nan)


def _iv_rank_percentile_scalar(iv: float, h: np.ndarray) -> tuple[float, float]:
    if h.size < IV_HISTORY_MIN or not math.isfinite(iv):
        return math.nan, math.nan
    lo, hi = float(h[0]), float(h[-1])
    rank = min(max((iv - lo) / (hi - lo) * 100.0, 0.0), 100.0) if hi > lo else math.nan
    return rank, int(np.searchsorted(h, iv, side="left")) / h.size * 100.0


def _as_iv_items(iv_history: pd.Series | pd.DataFrame | None) -> list[tuple[date, float]]:
    if iv_history is None:
        return []
    if isinstance(iv_history, pd.DataFrame):
        iv_history = iv_history["atm_iv"]
    items: list[tuple[date, float]] = []
    for key, value in iv_history.items():
        d = key.date() if isinstance(key, datetime | pd.Timestamp) else key
        if not isinstance(d, date):
            d = pd.Timestamp(d).date()
        items.append((d, float(value)))
    items.sort(key=lambda item: item[0])
    return items


# --- the state the two paths share ---------------------------------------------------------------------


@dataclass
class _State:
    """Everything a bar needs from the bars before it."""

    index: str
    iv_items: list[tuple[date, float]]
    last_ns: int | None = None
    prev_close: float = math.nan
    emas: tuple[_Ema, ...] = field(default_factory=lambda: tuple(_Ema(n) for n in EMA_PERIODS))
    rsi_gain: _Wilder = field(default_factory=lambda: _Wilder(RSI_PERIOD))
    rsi_loss: _Wilder = field(default_factory=lambda: _Wilder(RSI_PERIOD))
    atr: _Wilder = field(default_factory=lambda: _Wilder(ATR_PERIOD))
    supertrend: _Supertrend = field(default_factory=_Supertrend)
    # the current session
    session: date | None = None
    iv_window: np.ndarray = field(default_factory=lambda: np.empty(0))  # sorted known IVs
    session_iv: float = math.nan  # last finite atm_iv of the session
    cum_pv: float = 0.0
    cum_v: float = 0.0
    cum_tp: float = 0.0
    count: int = 0
    day_high: float = -math.inf
    day_low: float = math.inf
    or_high: float = -math.inf
    or_low: float = math.inf
    first_call_oi: float | None = None
    first_put_oi: float | None = None
    prev_total_oi: float = math.nan

    def start_session(self, session: date) -> None:
        """Close the current session (its closing IV joins the history) and open ``session``."""
        # ``iv_items`` is in date order (``_as_iv_items`` sorts it, and a session's IV is appended
        # after the items before it): the cuts by date are bisections, not scans of the history.
        if self.session is not None and math.isfinite(self.session_iv):
            del self.iv_items[bisect_left(self.iv_items, self.session, key=_item_date) :]
            self.iv_items.append((self.session, self.session_iv))
        self.session = session
        end = bisect_left(self.iv_items, session, key=_item_date)
        self.iv_window = _sorted_window([value for _, value in self.iv_items[max(end - IV_WINDOW, 0) : end]])
        self.session_iv = math.nan
        self.cum_pv = self.cum_v = self.cum_tp = 0.0
        self.count = 0
        self.day_high, self.day_low = -math.inf, math.inf
        self.or_high, self.or_low = -math.inf, math.inf
        self.first_call_oi = self.first_put_oi = None
        self.prev_total_oi = math.nan


def _expiry_columns(session: date, expiry: date | None, end_ns: np.ndarray) -> dict[str, np.ndarray]:
    T = end_ns.shape[0]
    if expiry is None:
        return {
            "expiry": np.full(T, None, dtype=object),
            "days_to_expiry": np.full(T, np.nan),
            "minutes_to_expiry": np.full(T, np.nan),
            "is_expiry_day": np.zeros(T, dtype=bool),
        }
    ns_left = np.maximum(_expiry_close_ns(expiry) - end_ns, 0)
    minutes = ns_left / _NS_PER_MINUTE
    return {
        "expiry": np.full(T, expiry, dtype=object),
        "days_to_expiry": minutes / 1440.0,
        "minutes_to_expiry": minutes,
        "is_expiry_day": np.full(T, session == expiry, dtype=bool),
    }


def _expected_move(close: np.ndarray, vix: np.ndarray) -> np.ndarray:
    return close * vix / 100.0 * math.sqrt(1.0 / TRADING_DAYS_PER_YEAR)


def _process_day(state: _State, day: DayBars) -> dict[str, np.ndarray] | None:
    """The rows of one ``DayBars`` (continuing ``state``, which it updates), as column arrays."""
    T = len(day)
    if T == 0:
        return None
    if day.index.upper() != state.index:
        raise ValueError(f"bars of {day.index} given to the {state.index} feature frame")
    times = day.times.astype("datetime64[ns]").astype(np.int64)
    if (state.last_ns is not None and times[0] <= state.last_ns) or np.any(np.diff(times) <= 0):
        raise ValueError(f"bar times of {day.session} are not strictly after the bars before them")
    if day.session != state.session:
        state.start_session(day.session)
    session = day.session
    # Copies, not views: the rows outlive the bars (a stored session is memory-mapped, and a view
    # would keep its whole mapping while the rows are held).
    o, h, lo, c = (np.array(getattr(day, n), dtype=float) for n in ("open", "high", "low", "close"))
    v = np.array(day.volume, dtype=float)
    vix = np.array(day.vix, dtype=float)
    cols: dict[str, np.ndarray] = {}
    cols["session"] = np.full(T, session, dtype=object)
    cols["minute"] = (times - _session_open_ns(session)) // _NS_PER_MINUTE
    cols.update(open=o, high=h, low=lo, close=c, volume=v, vix=vix)

    # Session quantities: running sums continued from the state.
    tp = (h + lo + c) / 3.0
    cum_pv = np.cumsum(np.concatenate([[state.cum_pv], tp * v]))[1:]
    cum_v = np.cumsum(np.concatenate([[state.cum_v], v]))[1:]
    cum_tp = np.cumsum(np.concatenate([[state.cum_tp], tp]))[1:]
    count = state.count + np.arange(1, T + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["vwap"] = np.where(cum_v > 0.0, cum_pv / cum_v, cum_tp / count)
    state.cum_pv, state.cum_v, state.cum_tp, state.count = (
        float(cum_pv[-1]),
        float(cum_v[-1]),
        float(cum_tp[-1]),
        int(count[-1]),
    )
    day_high = np.maximum.accumulate(np.concatenate([[state.day_high], h]))[1:]
    day_low = np.minimum.accumulate(np.concatenate([[state.day_low], lo]))[1:]
    cols["day_high"], cols["day_low"] = day_high, day_low
    state.day_high, state.day_low = float(day_high[-1]), float(day_low[-1])
    in_or = cols["minute"] < OPENING_RANGE_BARS
    or_high = np.maximum.accumulate(np.concatenate([[state.or_high], np.where(in_or, h, -np.inf)]))[1:]
    or_low = np.minimum.accumulate(np.concatenate([[state.or_low], np.where(in_or, lo, np.inf)]))[1:]
    or_known = (cols["minute"] >= OPENING_RANGE_BARS - 1) & np.isfinite(or_high)
    cols["or_high"] = np.where(or_known, or_high, np.nan)
    cols["or_low"] = np.where(or_known, or_low, np.nan)
    state.or_high, state.or_low = float(or_high[-1]), float(or_low[-1])
    cols["expected_move"] = _expected_move(c, vix)

    # Indicators continuous across sessions.
    for ema in state.emas:
        cols[f"ema_{ema.n}"] = ema.run(c)
    prev_close = np.concatenate([[state.prev_close], c[:-1]])
    first_ever = math.isnan(state.prev_close)
    change = c - prev_close
    gains, losses = np.maximum(change, 0.0), np.maximum(-change, 0.0)
    start = 1 if first_ever else 0
    avg_gain = np.full(T, np.nan)
    avg_loss = np.full(T, np.nan)
    avg_gain[start:] = state.rsi_gain.run(gains[start:])
    avg_loss[start:] = state.rsi_loss.run(losses[start:])
    cols["rsi_14"] = _rsi_value(avg_gain, avg_loss)
    tr = np.maximum(h - lo, np.maximum(np.abs(h - prev_close), np.abs(lo - prev_close)))
    if first_ever:
        tr[0] = h[0] - lo[0]
    atr = state.atr.run(tr)
    cols["atr_10"] = atr
    cols["supertrend"], cols["supertrend_dir"] = state.supertrend.run(h, lo, c, prev_close, atr)
    state.prev_close = float(c[-1])
    state.last_ns = int(times[-1])

    # Nearest expiry: time to expiry and the chain analytics.
    expiry = day.expiries[0] if len(day.expiries) else None
    end_ns = times + _NS_PER_MINUTE
    cols.update(_expiry_columns(session, expiry, end_ns))
    if expiry is None:
        chain_cols = _chain_columns(c, np.zeros(T), 0.0, np.empty((T, 0)), {})
    else:
        years = np.maximum(_expiry_close_ns(expiry) - end_ns, 0) / 1e9 / SECONDS_PER_YEAR
        chain = {name: np.asarray(getattr(day, name)[:, 0], dtype=float) for name in CHAIN_FIELDS}
        chain_cols = _chain_columns(
            c, years, contracts.risk_free_rate(session), np.asarray(day.strikes[:, 0], dtype=float), chain
        )
    cols.update(chain_cols)
    iv = chain_cols["atm_iv"]
    finite = np.nonzero(np.isfinite(iv))[0]
    if finite.size:
        state.session_iv = float(iv[finite[-1]])
    cols["iv_rank"], cols["iv_percentile"] = _iv_rank_percentile(iv, state.iv_window)
    cols["max_pain_distance"] = c - chain_cols["max_pain"]

    # OI changes within the session.
    call_oi, put_oi = chain_cols["call_oi"], chain_cols["put_oi"]
    # The session's first known total (a feed may miss the chain on the first bars).
    if state.first_call_oi is None or math.isnan(state.first_call_oi):
        known = np.flatnonzero(~np.isnan(call_oi))
        state.first_call_oi = float(call_oi[known[0]]) if known.size else math.nan
    if state.first_put_oi is None or math.isnan(state.first_put_oi):
        known = np.flatnonzero(~np.isnan(put_oi))
        state.first_put_oi = float(put_oi[known[0]]) if known.size else math.nan
    cols["call_oi_change"] = call_oi - state.first_call_oi
    cols["put_oi_change"] = put_oi - state.first_put_oi
    total = call_oi + put_oi
    cols["oi_change"] = total - np.concatenate([[state.prev_total_oi], total[:-1]])
    state.prev_total_oi = float(total[-1])
    cols["_ns"] = times
    return cols


def _frame_from_columns(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    if not parts:
        index = pd.DatetimeIndex(np.array([], dtype="datetime64[ns]"), name="time").tz_localize("UTC")
        empty = {name: pd.Series([], dtype=_dtype(name)) for name in COLUMNS}
        return pd.DataFrame(empty, index=index)
    ns = np.concatenate([p["_ns"] for p in parts])
    index = pd.DatetimeIndex(ns.astype("datetime64[ns]"), name="time").tz_localize("UTC")
    data = {}
    for name in COLUMNS:
        values = np.concatenate([p[name] for p in parts])
        data[name] = values.astype(_dtype(name), copy=False)
    return pd.DataFrame(data, index=index)


def _dtype(name: str) -> object:
    if name in _OBJECT_COLUMNS:
        return object
    if name in _INT_COLUMNS:
        return np.int64
    if name in _BOOL_COLUMNS:
        return bool
    return np.float64


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _process_bar(state: _State, bar: MarketBar) -> dict:
    """One ``MarketBar`` -> its row (the ``COLUMNS`` + ``_ns``), the arithmetic of ``_process_day``
    done on Python floats so that a bar costs tens of microseconds."""
    if bar.index.upper() != state.index:
        raise ValueError(f"a {bar.index} bar given to the {state.index} feature builder")
    if bar.time.tzinfo is None or bar.time.utcoffset() is None:
        raise ValueError(f"naive bar time {bar.time!r}: bar times must be timezone-aware")
    delta = bar.time - _EPOCH
    ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if state.last_ns is not None and ns <= state.last_ns:
        raise ValueError(f"bar at {bar.time} is not after the last bar")
    session = _ist_session(ns)
    if session != state.session:
        state.start_session(session)
    o, h, lo, c = float(bar.open), float(bar.high), float(bar.low), float(bar.close)
    v, vix = float(bar.volume), float(bar.vix)
    minute = (ns - _session_open_ns(session)) // _NS_PER_MINUTE
    row: dict = {"session": session, "minute": minute, "open": o, "high": h, "low": lo, "close": c}
    row["volume"], row["vix"] = v, vix

    tp = (h + lo + c) / 3.0
    state.cum_pv += tp * v
    state.cum_v += v
    state.cum_tp += tp
    state.count += 1
    row["vwap"] = state.cum_pv / state.cum_v if state.cum_v > 0.0 else state.cum_tp / state.count
    state.day_high = max(state.day_high, h)
    state.day_low = min(state.day_low, lo)
    row["day_high"], row["day_low"] = state.day_high, state.day_low
    if minute < OPENING_RANGE_BARS:
        state.or_high = max(state.or_high, h)
        state.or_low = min(state.or_low, lo)
    or_known = minute >= OPENING_RANGE_BARS - 1 and math.isfinite(state.or_high)
    row["or_high"] = state.or_high if or_known else math.nan
    row["or_low"] = state.or_low if or_known else math.nan
    row["expected_move"] = c * vix / 100.0 * math.sqrt(1.0 / TRADING_DAYS_PER_YEAR)

    for ema in state.emas:
        row[f"ema_{ema.n}"] = ema.step(c)
    pc = state.prev_close
    if math.isnan(pc):
        avg_gain = avg_loss = math.nan
        tr = h - lo
    else:
        change = c - pc
        avg_gain = state.rsi_gain.step(max(change, 0.0))
        avg_loss = state.rsi_loss.step(max(-change, 0.0))
        tr = max(h - lo, abs(h - pc), abs(lo - pc))
    row["rsi_14"] = float(_rsi_value(avg_gain, avg_loss))
    atr = state.atr.step(tr)
    row["atr_10"] = atr
    row["supertrend"], row["supertrend_dir"] = state.supertrend.step(h, lo, c, pc, atr)
    state.prev_close = c
    state.last_ns = ns

    chain = min(bar.chains, key=lambda ch: ch.expiry) if bar.chains else None
    end_ns = ns + _NS_PER_MINUTE
    if chain is None:
        row.update(expiry=None, days_to_expiry=math.nan, minutes_to_expiry=math.nan, is_expiry_day=False)
        chain_cols = dict.fromkeys(_CHAIN_COLUMNS, math.nan)
    else:
        ns_left = max(_expiry_close_ns(chain.expiry) - end_ns, 0)
        minutes = ns_left / _NS_PER_MINUTE
        row.update(
            expiry=chain.expiry,
            days_to_expiry=minutes / 1440.0,
            minutes_to_expiry=minutes,
            is_expiry_day=session == chain.expiry,
        )
        years = ns_left / 1e9 / SECONDS_PER_YEAR
        chain_cols = _chain_row(c, years, contracts.risk_free_rate(session), chain)
    row.update(chain_cols)
    iv = chain_cols["atm_iv"]
    if math.isfinite(iv):
        state.session_iv = iv
    row["iv_rank"], row["iv_percentile"] = _iv_rank_percentile_scalar(iv, state.iv_window)
    row["max_pain_distance"] = c - chain_cols["max_pain"]
    call_oi, put_oi = chain_cols["call_oi"], chain_cols["put_oi"]
    if state.first_call_oi is None or math.isnan(state.first_call_oi):
        state.first_call_oi = call_oi
    if state.first_put_oi is None or math.isnan(state.first_put_oi):
        state.first_put_oi = put_oi
    row["call_oi_change"] = call_oi - state.first_call_oi
    row["put_oi_change"] = put_oi - state.first_put_oi
    total = call_oi + put_oi
    row["oi_change"] = total - state.prev_total_oi
    state.prev_total_oi = total
    row["_ns"] = ns
    return row


# --- public API -------------------------------------------------------------------------------------------


class FeatureBuilder:
    """The feature frame built bar by bar (live) - the same rows as ``feature_frame``.

    ``append(bar)`` returns the new row as a dict (the ``COLUMNS`` plus ``time``, the bar start as an
    aware UTC datetime) at a cost independent of the history's length; ``frame()`` returns every row
    so far as a DataFrame; ``extend(days)`` appends whole sessions through the vectorised path.
    Bars must come in time order; a bar at or before the last one raises ``ValueError``.
    """

    def __init__(self, iv_history: pd.Series | pd.DataFrame | None = None, *, index: str = "NIFTY") -> None:
        self._state = _State(index=index.upper(), iv_items=_as_iv_items(iv_history))
        self._parts: list[dict[str, np.ndarray]] = []
        self._rows: list[dict] = []
        self._frame_cache: pd.DataFrame | None = None

    @classmethod
    def from_history(
        cls,
        days: Iterable[DayBars],
        iv_history: pd.Series | pd.DataFrame | None = None,
        *,
        index: str = "NIFTY",
    ) -> FeatureBuilder:
        """A builder warmed on ``days`` (vectorised); its rows are ``feature_frame(days, iv_history)``."""
        builder = cls(iv_history, index=index)
        builder.extend(days)
        return builder

    @property
    def index(self) -> str:
        return self._state.index

    @property
    def last_time(self) -> datetime | None:
        """Start of the last bar taken in (aware UTC), None before the first."""
        ns = self._state.last_ns
        return None if ns is None else datetime.fromtimestamp(ns / 1e9, tz=UTC)

    def extend(self, days: Iterable[DayBars]) -> pd.DataFrame:
        """Append whole sessions (vectorised); returns the frame of the rows they added."""
        self._flush_rows()
        added = []
        for day in days:
            cols = _process_day(self._state, day)
            if cols is not None:
                added.append(cols)
        self._parts.extend(added)
        self._frame_cache = None
        return _frame_from_columns(added)

    def append(self, bar: MarketBar) -> dict:
        """Take in one bar; return its feature row (``COLUMNS`` + ``time``)."""
        row = _process_bar(self._state, bar)
        self._rows.append(row)
        self._frame_cache = None
        out = {name: row[name] for name in COLUMNS}
        out["time"] = datetime.fromtimestamp(row["_ns"] // 1000 / 1e6, tz=UTC)
        return out

    def frame(self) -> pd.DataFrame:
        """Every row so far, as ``feature_frame`` returns it."""
        if self._frame_cache is None:
            self._flush_rows()
            self._frame_cache = _frame_from_columns(self._parts)
        return self._frame_cache

    def __len__(self) -> int:
        return sum(p["_ns"].shape[0] for p in self._parts) + len(self._rows)

    def _flush_rows(self) -> None:
        if self._rows:
            merged = {
                name: np.array([r[name] for r in self._rows], dtype=_dtype(name))
                for name in (*COLUMNS, "_ns")
            }
            self._parts.append(merged)
            self._rows = []


class FeatureStream:
    """The feature frame one session at a time, in flat memory (the streaming backtest).

    ``day(bars)`` returns the session's rows as column arrays - every name of ``COLUMNS`` with the
    frame's dtype, and ``_ns`` (bar starts, ns since the epoch, UTC) - the very rows
    ``feature_frame`` gives those bars within the whole history; only the state the next session needs
    is kept (the indicators' last values and one closing ATM IV per session).
    """

    def __init__(self, iv_history: pd.Series | pd.DataFrame | None = None, *, index: str = "NIFTY") -> None:
        self._state = _State(index=index.upper(), iv_items=_as_iv_items(iv_history))

    def day(self, day: DayBars) -> dict[str, np.ndarray] | None:
        """The rows of ``day`` (the next session in time order); None when it has no bar."""
        cols = _process_day(self._state, day)
        if cols is None:
            return None
        out = {name: cols[name].astype(_dtype(name), copy=False) for name in COLUMNS}
        out["_ns"] = cols["_ns"]
        return out


def feature_frame(
    days: Iterable[DayBars],
    iv_history: pd.Series | pd.DataFrame | None = None,
    *,
    index: str = "NIFTY",
) -> pd.DataFrame:
    """The feature frame of ``days`` (sessions in time order), one row per bar (docs/contracts.md).

    ``iv_history``: closing ATM IV (fraction) of earlier sessions indexed by date - a Series, or a
    DataFrame with an ``atm_iv`` column such as ``MarketSimulator.warmup_history()``; only dates
    before each bar's session are used. Index: bar starts, UTC, named ``time``.
    """
    return FeatureBuilder(iv_history, index=index).extend(days)
