"""A deterministic NIFTY-like market: spot, India VIX and option chains with OI and volume.

``MarketSimulator`` produces the same ``DayBars``/``MarketBar`` shapes as the live and replay feeds,
so backtests, paper runs and tests meet trends, reversals, gaps, VIX spikes and expiry-day decay
without any real data. Pure numpy/pandas; no Django. What is modelled and what is not is written up
in ``docs/simulator.md``.

Determinism: everything is drawn from ``np.random.default_rng([seed, day_ordinal, stream])``, one
generator per session and purpose, and the only thing carried from one session to the next is a
small state (spot close, log VIX, market regime, the OI of the listed expiries). ``day(d)`` replays
the cheap part of every earlier session (spot, VIX, OI; no option pricing) once, in order, so asking
for a day directly gives exactly the arrays reached by walking the days in order.

Shapes: a session is ``T = 375`` minute bars (09:15 ... 15:29 IST, bar time = bar start, UTC), two
expiries (``E = 2``: the nearest weekly and the current monthly, or the next monthly when the
nearest weekly is the monthly) and ``S = 41`` strikes (ATM +- 20 steps, re-centred on every bar).
A chain row is the market at the bar's close, ``time + 1 minute``, which is also the instant used
for time to expiry: the 15:29 bar of an expiry day is priced at ``t = 0`` (intrinsic value).

Units: prices in rupees on the 0.05 tick; ``*_iv`` annualised fraction (the vol used to price);
``*_oi`` open interest in units (lots x lot size of the contract); ``*_volume`` **cumulative
volume traded in the session so far**, in units, as an NSE option chain or a Kite quote reports it;
spot ``volume`` a synthetic per-minute volume (U-shaped) for VWAP.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from trading.core import calendar as market_calendar
from trading.core import contracts
from trading.core.bars import DayBars, MarketBar
from trading.core.filters import recursive
from trading.core.options import SECONDS_PER_YEAR, bs_price, year_fraction

__all__ = ["MarketSimulator", "SimParams", "atm_vol", "BARS_PER_SESSION", "TICK"]

BARS_PER_SESSION = 375
SUBSTEPS = 4  # price sub-steps per minute, for the bar's high and low
TICK = 0.05
MINUTES_PER_YEAR = 252 * BARS_PER_SESSION
_MINUTE = np.timedelta64(60, "s").astype("timedelta64[ns]")

# Day types (the shape of one session) and market regimes (which day types are likely, persistent).
RANGE, TREND_UP, TREND_DOWN, REVERSAL = 0, 1, 2, 3
SIDEWAYS, BULL, BEAR = 0, 1, 2
_DAY_TYPE_ODDS = {
    SIDEWAYS: (0.55, 0.15, 0.15, 0.15),
    BULL: (0.30, 0.45, 0.10, 0.15),
    BEAR: (0.30, 0.10, 0.45, 0.15),
}
# Random streams of one session: the spot/VIX/OI path and the quotes (bid/ask/LTP noise, volume)
# are separate so that replaying the path of earlier days never has to draw the quote numbers.
_STREAM_DAY, _STREAM_INTRADAY, _STREAM_LISTING, _STREAM_QUOTES = 0, 1, 2, 3
_WARMUP_ORDINAL = 0  # date ordinals start at 1, so 0 cannot clash with a session's stream


@dataclass(frozen=True)
class SimParams:
    """Knobs of the simulated market; the defaults give a NIFTY-like year (see docs/simulator.md)."""

    # India VIX: OU on log VIX, bounded softly to (vix_floor, vix_cap).
    vix_long_run: float = 14.0
    vix_floor: float = 9.0
    vix_cap: float = 60.0
    vix_mean_reversion: float = 6.0  # per year (half-life ~29 sessions)
    vix_vol: float = 0.75  # annual vol of log VIX
    vix_spot_corr: float = -0.7
    vix_overnight_share: float = 0.3  # share of the daily VIX variance that arrives overnight
    # Spot.
    realised_to_implied: float = 0.68  # diffusive vol / VIX; with trends, gaps and jumps close-to-close ~0.82
    gap_vol: float = 0.35  # overnight gap sd, in daily sigmas
    drift_annual: float = 0.08
    open_vol_boost: float = 1.5  # intraday U-shape: extra vol at the open ...
    open_decay_minutes: float = 20.0
    close_vol_boost: float = 0.6  # ... and into the close
    close_decay_minutes: float = 30.0
    regime_persistence: float = 0.93  # chance a market regime lasts one more session
    trend_strength: tuple[float, float] = (0.6, 1.5)  # drift of a trend day, in daily sigmas
    range_half_life: tuple[float, float] = (30.0, 90.0)  # minutes, mean reversion of a range day
    day_type_vol: tuple[float, float, float, float] = (0.85, 1.0, 1.0, 1.1)  # RANGE, UP, DOWN, REVERSAL
    # Jumps (Poisson): mostly down, larger when VIX is high, VIX spikes with a down jump.
    jumps_per_year: float = 8.0
    jump_down_share: float = 0.65
    jump_overnight_share: float = 0.5
    jump_min: float = 0.008
    jump_scale: float = 0.008  # mean of the exponential part of the size
    jump_vix_down: float = 10.0  # d(log VIX) per unit of down jump (2% -> +22% VIX)
    jump_vix_up: float = 4.0
    # Implied vol surface.
    skew: float = 0.8  # linear term in m = ln(K/F)/sqrt(t): puts richer, calls cheaper
    smile: float = 1.5  # quadratic term in m
    smile_t_floor_days: float = 1.0  # sqrt(t) in m never below this many days
    smile_bounds: tuple[float, float] = (0.7, 2.5)  # smile multiplier of the ATM vol
    # Quotes.
    spread_min: float = 0.05
    spread_pct: float = 0.001  # of the premium
    spread_per_step: float = 0.004  # rupees per strike step away from ATM
    spread_open_widen: float = 0.8  # extra spread at 09:15, decaying over ~10 minutes
    spread_far_expiry: float = 1.5  # the second expiry is less liquid
    # Open interest (lots; converted to units with the contract's lot size). Rates are per session.
    oi_weekly_lots: float = 400_000.0  # scale of one side's OI of a weekly expiry
    oi_monthly_factor: float = 1.5
    oi_initial_share: float = 1.0  # OI already open when an expiry enters the chain, x scale
    oi_daily_add: float = 0.2  # fresh writing, x scale
    oi_unwind_base: float = 0.15  # share of OI closed anywhere ...
    oi_unwind_atm: float = 0.2  # ... extra at the money (closed)
    oi_unwind_itm: float = 2.0  # ... where the option went in the money (mostly rolled) ...
    oi_unwind_far: float = 2.0  # ... and where it is far out of the money (rolled closer)
    oi_roll_share: float = 0.8  # share of the ITM/far unwinding re-written OTM near the new spot
    oi_roll_response: float = 0.1  # put roll share x exp(+k m), call roll share x exp(-k m)
    oi_expiry_day_unwind: float = 2.5  # base closing x this on expiry day
    oi_trend_response: float = 0.15  # puts written x exp(+k m), calls x exp(-k m), m = momentum
    oi_momentum_decay: float = 0.6  # momentum = decay x yesterday's + today's return (daily sigmas)
    oi_pcr_feedback: float = 1.0  # writing leans against the open PCR: puts x PCR^-k/2, calls x PCR^k/2
    oi_write_centre: float = 0.7  # writing peaks this many kernel widths OTM
    oi_write_width: float = 0.8
    oi_far: float = 1.5  # "far OTM" starts this many kernel widths away
    oi_width_bounds: tuple[float, float] = (0.012, 0.022)  # kernel width, log-moneyness
    oi_pcr_dispersion: float = 0.1  # log sd of the put/call tilt of a new expiry
    oi_round_major: float = 1.5  # extra weight of strikes on 10 steps (500 for NIFTY)
    oi_round_minor: float = 0.6  # extra weight of strikes on 2 steps (100 for NIFTY)
    oi_grid_steps: int = 80  # OI kept on ATM +- this many steps of the listing day
    # Volume (lots per session, x OI scale).
    volume_turnover_near: float = 5.0
    volume_turnover_far: float = 0.6
    volume_expiry_day: float = 3.0
    volume_width: float = 0.5  # kernel width (in OI kernel widths) around the ATM
    spot_volume_per_minute: float = 100_000.0
    window_steps: int = 20  # chain = ATM +- this many steps


# --- small pure helpers ------------------------------------------------------------------------------


def _softplus(y: np.ndarray | float) -> np.ndarray:
    return np.logaddexp(0.0, y)


def _bound_vix(raw: np.ndarray | float, lo: float, hi: float) -> np.ndarray:
    """Squash an unbounded VIX level into (lo, hi); the identity (to 0.01) well inside the range."""
    floored = lo + _softplus(np.asarray(raw, dtype=float) - lo)
    return hi - _softplus(hi - floored)


def _unbound_vix(vix: float, lo: float, hi: float) -> float:
    """Inverse of ``_bound_vix``."""
    if not lo < vix < hi:
        raise ValueError(f"VIX {vix} must lie strictly between {lo} and {hi}")
    floored = hi - math.log(math.expm1(hi - vix))
    return lo + math.log(math.expm1(floored - lo))


def atm_vol(vix: np.ndarray | float, t: np.ndarray | float, params: SimParams | None = None) -> np.ndarray:
    """ATM implied vol (fraction) for time to expiry ``t`` (years) given India VIX (points).

    VIX is the 30-day vol. The variance term structure mean-reverts like the VIX process: the
    average variance over ``t`` is ``lr^2 + (VIX^2 - lr^2) f(t)/f(30d)`` with
    ``f(t) = (1 - e^{-kt})/(kt)``, so short expiries are above VIX when VIX is above its long-run
    level (inverted curve) and below it when VIX is low.
    """
    p = params or SimParams()
    v = np.asarray(vix, dtype=float) / 100.0
    t = np.maximum(np.asarray(t, dtype=float), 0.0)
    lr = p.vix_long_run / 100.0
    k = p.vix_mean_reversion

    def f(x: np.ndarray | float) -> np.ndarray:
        kx = k * np.asarray(x, dtype=float)
        small = kx < 1e-8
        return np.where(small, 1.0, -np.expm1(-kx) / np.where(small, 1.0, kx))

    var = lr * lr + (v * v - lr * lr) * f(t) / f(30.0 / 365.0)
    return np.sqrt(np.maximum(var, 0.25 * v * v))


def _u_shape(p: SimParams) -> np.ndarray:
    """Intraday vol multiplier per minute (high at the open and the close), RMS 1."""
    i = np.arange(BARS_PER_SESSION, dtype=float)
    u = (
        1.0
        + p.open_vol_boost * np.exp(-i / p.open_decay_minutes)
        + p.close_vol_boost * np.exp(-(BARS_PER_SESSION - 1 - i) / p.close_decay_minutes)
    )
    return u / np.sqrt(np.mean(u * u))


def _ar1(e: np.ndarray, phi: float) -> np.ndarray:
    """y_j = phi * y_{j-1} + e_j with y_{-1} = 0 (a random walk when phi == 1)."""
    if phi >= 1.0:
        return np.cumsum(e)
    return recursive(1.0, -phi, e)


def _ticks(price: np.ndarray) -> np.ndarray:
    """Tick count -> rupees, rounded to 2 decimals so values compare equal to their printed form."""
    return np.round(price * TICK, 2)


# --- state carried between sessions ------------------------------------------------------------------


@dataclass(frozen=True)
class _OIGrid:
    """OI of one expiry on a fixed strike grid for its whole life (lots, [put, call] x strikes)."""

    lo: float
    step: float
    strikes: np.ndarray  # (G,)
    pref: np.ndarray  # (2, G) writing preference of each strike (round strikes, noise), fixed
    target: float  # OI scale of this expiry, lots per side
    lots: np.ndarray  # (2, G) at the last close


@dataclass(frozen=True)
class _State:
    """What one session hands to the next."""

    spot: float
    log_vix: float  # log of the unbounded VIX
    regime: int
    momentum: float  # recent daily returns in daily sigmas, decayed (drives OI writing)
    oi: dict[date, _OIGrid]


@dataclass
class _Path:
    """The cheap part of one session: spot, VIX, OI on the grids (no option prices)."""

    session: date
    times: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    vix: np.ndarray
    sigma: np.ndarray  # per-minute spot vol (fraction)
    day_return: np.ndarray  # ln(close/open of session) in daily sigmas, clipped
    expiries: tuple[date, ...]
    grids: tuple[_OIGrid, ...]
    widths: tuple[float, ...]  # kernel width (log-moneyness) per expiry
    logm: tuple[np.ndarray, ...]  # (T, G) ln(K/close) per expiry
    oi: tuple[np.ndarray, ...]  # (T, 2, G) lots per expiry
    end: _State


# --- the simulator -----------------------------------------------------------------------------------


class MarketSimulator:
    """Deterministic simulated market of one index from ``start`` on.

    ``spot0`` and ``vix0`` are the close of the session before the first simulated one (the last row
    of ``warmup_history``). Every public method is deterministic for ``seed`` and independent of the
    order of calls.
    """

    def __init__(
        self,
        index: str = "NIFTY",
        seed: int = 0,
        start: date = date(2025, 1, 1),
        spot0: float = 24000.0,
        vix0: float = 14.0,
        params: SimParams | None = None,
        cache_days: int = 4,
    ) -> None:
        self.index = contracts.index_spec(index).name
        self.exchange = contracts.index_spec(index).exchange  # whose holidays apply
        self.seed = int(seed)
        self.params = params or SimParams()
        self.start = start
        self.first_session = (
            start
            if market_calendar.is_trading_day(start, self.exchange)
            else market_calendar.next_trading_day(start, self.exchange)
        )
        self.spot0 = float(spot0)
        self.vix0 = float(vix0)
        p = self.params
        self._u = _u_shape(p)
        self._activity = self._u / self._u.sum()
        # Down jumps push log VIX up on average; aim the mean reversion lower by as much, so VIX
        # still centres on ``vix_long_run``.
        mean_jump = p.jump_min + p.jump_scale
        jump_drift = (
            (p.jumps_per_year / p.vix_mean_reversion)
            * mean_jump
            * (p.jump_down_share * p.jump_vix_down - (1.0 - p.jump_down_share) * 0.7 * p.jump_vix_up)
        )
        self._log_vix_centre = math.log(p.vix_long_run) - jump_drift
        self._offsets = np.arange(-p.window_steps, p.window_steps + 1, dtype=float)
        self._initial = _State(
            spot=self.spot0,
            log_vix=math.log(_unbound_vix(self.vix0, p.vix_floor, p.vix_cap)),
            regime=SIDEWAYS,
            momentum=0.0,
            oi={},
        )
        self._states: dict[date, _State] = {}  # end-of-session state, contiguous from first_session
        self._last_done: date | None = None
        self._cache: OrderedDict[date, DayBars] = OrderedDict()
        self._cache_days = cache_days
        self._expiry_cache: dict[date, tuple[date, ...]] = {}

    # --- public API ----------------------------------------------------------------------------------

    def day(self, d: date) -> DayBars:
        """The whole session ``d`` (a trading day on or after the first session) as ``DayBars``."""
        self._check_session(d)
        cached = self._cache.get(d)
        if cached is not None:
            self._cache.move_to_end(d)
            return cached
        path = self._path(d, self._open_state(d))
        self._remember(path)
        bars = self._price(path)
        self._cache[d] = bars
        while len(self._cache) > self._cache_days:
            self._cache.popitem(last=False)
        return bars

    def days(self, start: date, end: date) -> Iterator[DayBars]:
        """Every session from ``start`` to ``end`` inclusive (clipped to the first session)."""
        for d in market_calendar.trading_days(max(start, self.first_session), end, self.exchange):
            yield self.day(d)

    def bars(self, start_dt: datetime, end_dt: datetime) -> Iterator[MarketBar]:
        """Minute bars whose start time lies in ``[start_dt, end_dt)`` (aware datetimes)."""
        lo, hi = _ns(start_dt), _ns(end_dt)
        first = max(_ist_date(start_dt), self.first_session)
        for d in market_calendar.trading_days(first, _ist_date(end_dt), self.exchange):
            db = self.day(d)
            ns = db.times.astype(np.int64)
            for i in np.nonzero((ns >= lo) & (ns < hi))[0]:
                yield db.bar(int(i))

    def snapshot(self, at: datetime) -> MarketBar:
        """The last bar completed at ``at`` (its start + 1 minute <= ``at``), across sessions.

        Raises ``ValueError`` before the first simulated bar has completed.
        """
        at_ns = _ns(at)
        d = _ist_date(at)
        if d >= self.first_session and market_calendar.is_trading_day(d, self.exchange):
            db = self.day(d)
            n = int(np.searchsorted(db.times.astype(np.int64) + _MINUTE.astype(np.int64), at_ns, "right"))
            if n > 0:
                return db.bar(n - 1)
        prev = market_calendar.previous_trading_day(d, self.exchange)
        if prev < self.first_session:
            raise ValueError(f"no simulated bar has completed at {at}")
        db = self.day(prev)
        return db.bar(len(db) - 1)

    def chain_expiries(self, d: date) -> tuple[date, ...]:
        """The two expiries of the chains on session ``d``, nearest first."""
        got = self._expiry_cache.get(d)
        if got is None:
            got = self._expiry_cache[d] = _chain_expiries(self.index, d)
        return got

    def warmup_history(self, days: int = 252) -> pd.DataFrame:
        """Daily closes of the ``days`` sessions before the first one: spot_close, vix_close, atm_iv.

        Indexed by session date (ascending); the last row is ``spot0``/``vix0``. Drawn from the same
        daily dynamics as the simulation (log-VIX OU, spot returns scaled by VIX and correlated with
        its changes, the same day types), generated backwards from the start (the stationary AR(1) of
        log VIX is time-reversible). ``atm_iv`` is the ATM vol of the nearest expiry at 15:30.
        """
        p = self.params
        sessions: list[date] = []
        d = self.first_session
        for _ in range(days):
            d = market_calendar.previous_trading_day(d, self.exchange)
            sessions.append(d)
        sessions.reverse()
        n = len(sessions)
        rng = np.random.default_rng([self.seed, _WARMUP_ORDINAL, 9])
        kappa = p.vix_mean_reversion
        phi = math.exp(-kappa / 252.0)
        mu = self._log_vix_centre
        innov_sd = p.vix_vol * math.sqrt((1.0 - phi * phi) / (2.0 * kappa))
        eps = rng.standard_normal(n)
        x = np.empty(n)
        x[-1] = self._initial.log_vix
        for i in range(n - 1, 0, -1):
            x[i - 1] = mu + phi * (x[i] - mu) + innov_sd * eps[i]
        vix = _bound_vix(np.exp(x), p.vix_floor, p.vix_cap)
        eta = np.zeros(n)
        eta[1:] = (x[1:] - mu - phi * (x[:-1] - mu)) / innov_sd
        xi = rng.standard_normal(n)
        gap = rng.standard_normal(n)
        # Day types from the same regime chain as the simulation (its switching is symmetric, so
        # running it forwards over the warm-up is as good as backwards).
        u = rng.random((n, 5))
        day_type = np.empty(n, dtype=np.int64)
        regime = SIDEWAYS
        for i in range(n):
            if u[i, 0] > p.regime_persistence:
                regime = (regime + 1 + int(u[i, 1] * 2.0)) % 3
            odds = np.cumsum(_DAY_TYPE_ODDS[regime])
            day_type[i] = min(int(np.searchsorted(odds / odds[-1], u[i, 2], side="right")), 3)
        strength = p.trend_strength[0] + u[:, 3] * (p.trend_strength[1] - p.trend_strength[0])
        sign = np.where(u[:, 4] < 0.5, 1.0, -1.0)
        trend = np.select(
            [day_type == TREND_UP, day_type == TREND_DOWN, day_type == REVERSAL],
            [strength, -strength, -0.3 * strength * sign],
            0.0,
        )
        # A range day's mean reversion leaves about 0.38 of a random walk's close-to-open move.
        diffusive = np.asarray(p.day_type_vol)[day_type] * np.where(day_type == RANGE, 0.38, 1.0)
        rho = p.vix_spot_corr
        prev_vix = np.concatenate([[vix[0]], vix[:-1]])
        sig = p.realised_to_implied * prev_vix / 100.0 / math.sqrt(252.0)
        jump_size = (p.jump_min + rng.exponential(p.jump_scale, n)) * np.sqrt(prev_vix / p.vix_long_run)
        jumps = np.where(
            rng.random(n) < p.jumps_per_year / 252.0,
            np.where(rng.random(n) < p.jump_down_share, -jump_size, 0.7 * jump_size),
            0.0,
        )
        ret = (
            sig * (0.9 * trend + diffusive * (rho * eta + math.sqrt(1 - rho * rho) * xi) + p.gap_vol * gap)
            + jumps
            + p.drift_annual / 252.0
        )
        ret[0] = 0.0
        log_spot = math.log(self.spot0) - (np.cumsum(ret[::-1])[::-1] - ret)
        # ``log_spot[i] = ln(spot0) - sum(ret[i+1:])``: the close of session i.
        spot = np.exp(log_spot)
        atm = np.empty(n)
        for i, s in enumerate(sessions):
            expiry = self.chain_expiries(s)[0]
            t = year_fraction(market_calendar.session_close(s), expiry)
            atm[i] = float(atm_vol(vix[i], t, p))
        frame = pd.DataFrame(
            {"spot_close": spot, "vix_close": vix, "atm_iv": atm},
            index=pd.Index(sessions, name="date"),
        )
        return frame

    # --- the path ------------------------------------------------------------------------------------

    def _check_session(self, d: date) -> None:
        if d < self.first_session:
            raise ValueError(f"{d} is before the first simulated session {self.first_session}")
        if not market_calendar.is_trading_day(d, self.exchange):
            raise ValueError(f"{d} is not a trading day")

    def _open_state(self, d: date) -> _State:
        """The state at the open of session ``d``: replays the paths of earlier sessions once."""
        if d == self.first_session:
            return self._initial
        prev = market_calendar.previous_trading_day(d, self.exchange)
        if prev not in self._states:
            begin = (
                self.first_session
                if self._last_done is None
                else market_calendar.next_trading_day(self._last_done, self.exchange)
            )
            state = self._initial if self._last_done is None else self._states[self._last_done]
            for s in market_calendar.trading_days(begin, prev, self.exchange):
                path = self._path(s, state)
                self._remember(path)
                state = path.end
        return self._states[prev]

    def _remember(self, path: _Path) -> None:
        if path.session not in self._states:
            self._states[path.session] = path.end
            if self._last_done is None or path.session > self._last_done:
                self._last_done = path.session

    def _path(self, d: date, st: _State) -> _Path:
        """Spot, VIX and OI of session ``d`` from the state at its open."""
        p = self.params
        T = BARS_PER_SESSION
        ordinal = d.toordinal()
        rng_d = np.random.default_rng([self.seed, ordinal, _STREAM_DAY])
        u = rng_d.random(8)
        zg = rng_d.standard_normal(2)

        regime = st.regime
        if u[0] > p.regime_persistence:
            regime = (regime + 1 + int(u[1] * 2.0)) % 3
        odds = np.cumsum(_DAY_TYPE_ODDS[regime])
        day_type = min(int(np.searchsorted(odds / odds[-1], u[2], side="right")), 3)
        strength = p.trend_strength[0] + u[3] * (p.trend_strength[1] - p.trend_strength[0])

        # Overnight: VIX mean-reverts and moves with the gap; jumps land overnight or intraday.
        rho = p.vix_spot_corr
        rho_c = math.sqrt(1.0 - rho * rho)
        vix_close_prev = float(_bound_vix(math.exp(st.log_vix), p.vix_floor, p.vix_cap))
        sig_daily = p.realised_to_implied * vix_close_prev / 100.0 / math.sqrt(252.0)
        log_vix_open = (
            st.log_vix
            + p.vix_mean_reversion / 252.0 * (self._log_vix_centre - st.log_vix)
            + p.vix_vol * math.sqrt(p.vix_overnight_share / 252.0) * (rho * zg[0] + rho_c * zg[1])
        )
        gap = p.gap_vol * sig_daily * zg[0] + p.drift_annual / 252.0
        intraday_jumps: list[tuple[int, float, float]] = []  # (sub-step, d ln S, d ln VIX)
        for _ in range(int(rng_d.poisson(p.jumps_per_year / 252.0))):
            ju = rng_d.random(3)
            size = (p.jump_min + rng_d.exponential(p.jump_scale)) * math.sqrt(vix_close_prev / p.vix_long_run)
            if ju[0] < p.jump_down_share:
                jump, jump_vix = -size, p.jump_vix_down * size
            else:
                jump, jump_vix = 0.7 * size, -p.jump_vix_up * 0.7 * size
            if ju[1] < p.jump_overnight_share:
                gap += jump
                log_vix_open += jump_vix
            else:
                intraday_jumps.append((int(ju[2] * T * SUBSTEPS), jump, jump_vix))

        # Intraday drift (in per-minute sigmas) of the day type; a range day mean-reverts instead.
        drift = np.zeros(T)
        phi = 1.0
        if day_type == TREND_UP:
            drift[:] = strength / math.sqrt(T)
        elif day_type == TREND_DOWN:
            drift[:] = -strength / math.sqrt(T)
        elif day_type == REVERSAL:
            turn = int(T * (0.3 + 0.35 * u[4]))
            sign = 1.0 if u[5] < 0.5 else -1.0
            drift[:turn] = sign * strength * math.sqrt(T) / turn
            drift[turn:] = -sign * 1.3 * strength * math.sqrt(T) / (T - turn)
        else:
            half_life = p.range_half_life[0] + u[6] * (p.range_half_life[1] - p.range_half_life[0])
            phi = 0.5 ** (1.0 / (half_life * SUBSTEPS))

        rng_i = np.random.default_rng([self.seed, ordinal, _STREAM_INTRADAY])
        z = rng_i.standard_normal((T, SUBSTEPS))
        zv = rng_i.standard_normal(T)
        zvol = rng_i.standard_normal(T)
        z_minute = z.sum(axis=1) / math.sqrt(SUBSTEPS)

        # VIX first (it needs only the spot shocks), then spot with vol from the VIX of the minute before.
        sx = p.vix_vol * math.sqrt((1.0 - p.vix_overnight_share) / MINUTES_PER_YEAR)
        dx = sx * (rho * (z_minute + drift) + rho_c * zv)
        for sub, _jump, jump_vix in intraday_jumps:
            dx[sub // SUBSTEPS] += jump_vix
        log_vix = log_vix_open + np.cumsum(dx)
        vix = _bound_vix(np.exp(log_vix), p.vix_floor, p.vix_cap)
        vix_open = float(_bound_vix(math.exp(log_vix_open), p.vix_floor, p.vix_cap))
        vix_before = np.concatenate([[vix_open], vix[:-1]])
        sigma = (
            p.realised_to_implied
            * vix_before
            / 100.0
            / math.sqrt(MINUTES_PER_YEAR)
            * self._u
            * p.day_type_vol[day_type]
        )
        steps = (sigma / math.sqrt(SUBSTEPS))[:, None] * z + (drift * sigma / SUBSTEPS)[:, None]
        y = _ar1(steps.ravel(), phi)
        for sub, jump, _jump_vix in intraday_jumps:
            y[sub:] += jump
        day_open = st.spot * math.exp(gap)
        sub_path = day_open * np.exp(y).reshape(T, SUBSTEPS)
        close = sub_path[:, -1].copy()
        bar_open = np.concatenate([[day_open], close[:-1]])
        high = np.maximum(bar_open, sub_path.max(axis=1))
        low = np.minimum(bar_open, sub_path.min(axis=1))
        minute_ret = np.abs(np.log(close / bar_open)) / sigma
        volume = np.rint(
            p.spot_volume_per_minute * self._u**1.5 * np.exp(0.25 * zvol) * (1.0 + 0.5 * minute_ret)
        )
        day_return = np.clip(np.log(close / day_open) / sig_daily, -2.5, 2.5)
        momentum = np.clip(p.oi_momentum_decay * st.momentum + day_return, -3.0, 3.0)

        # OI of the two expiries on their grids.
        expiries = self.chain_expiries(d)
        open_dt = market_calendar.session_open(d)
        grids: list[_OIGrid] = []
        widths: list[float] = []
        logms: list[np.ndarray] = []
        ois: list[np.ndarray] = []
        new_oi: dict[date, _OIGrid] = {}
        for e in expiries:
            tau = year_fraction(open_dt, e)
            width = float(
                np.clip(atm_vol(vix_open, tau, p) * math.sqrt(tau + 1.0 / 252.0), *p.oi_width_bounds)
            )
            grid = st.oi.get(e)
            if grid is None:
                grid = self._list_expiry(e, d, day_open, width)
            logm = np.log(grid.strikes[None, :] / close[:, None])
            oi = self._oi_flow(grid, logm, width, momentum, is_expiry_day=(e == d))
            grids.append(grid)
            widths.append(width)
            logms.append(logm)
            ois.append(oi)
            if e > d:
                new_oi[e] = _OIGrid(grid.lo, grid.step, grid.strikes, grid.pref, grid.target, oi[-1])

        open_ns = np.datetime64(open_dt.astimezone(UTC).replace(tzinfo=None), "ns")
        times = open_ns + np.arange(T) * _MINUTE
        end = _State(
            spot=float(close[-1]),
            log_vix=float(log_vix[-1]),
            regime=regime,
            momentum=float(momentum[-1]),
            oi=new_oi,
        )
        return _Path(
            session=d,
            times=times,
            open=bar_open,
            high=high,
            low=low,
            close=close,
            volume=volume,
            vix=vix,
            sigma=sigma,
            day_return=day_return,
            expiries=expiries,
            grids=tuple(grids),
            widths=tuple(widths),
            logm=tuple(logms),
            oi=tuple(ois),
            end=end,
        )

    def _list_expiry(self, expiry: date, d: date, spot: float, width: float) -> _OIGrid:
        """The OI an expiry already carries when it enters the chain (built over earlier weeks)."""
        p = self.params
        rng = np.random.default_rng([self.seed, expiry.toordinal(), _STREAM_LISTING])
        step = float(contracts.strike_step(self.index, d))
        half = p.oi_grid_steps
        lo = round(spot / step) * step - half * step
        strikes = lo + step * np.arange(2 * half + 1, dtype=float)
        k = np.rint(strikes / step).astype(np.int64)
        round_weight = 1.0 + p.oi_round_major * (k % 10 == 0) + p.oi_round_minor * (k % 2 == 0)
        pref = np.exp(0.35 * rng.standard_normal((2, strikes.size))) * round_weight
        monthly = expiry == contracts.monthly_expiry(self.index, expiry.year, expiry.month)
        target = p.oi_weekly_lots * (p.oi_monthly_factor if monthly else 1.0)
        tilt = math.exp(p.oi_pcr_dispersion * rng.standard_normal())
        # Built over weeks at varying spots: a wider version of the writing kernel.
        zz = np.log(strikes / spot) / width
        c, w = p.oi_write_centre, 1.3 * p.oi_write_width
        put = pref[0] * np.exp(-0.5 * ((zz + c) / w) ** 2)
        call = pref[1] * np.exp(-0.5 * ((zz - c) / w) ** 2)
        lots = np.stack(
            [
                target * p.oi_initial_share * tilt * put / put.sum(),
                target * p.oi_initial_share / tilt * call / call.sum(),
            ]
        )
        return _OIGrid(lo=lo, step=step, strikes=strikes, pref=pref, target=target, lots=lots)

    def _oi_flow(
        self, grid: _OIGrid, logm: np.ndarray, width: float, momentum: np.ndarray, is_expiry_day: bool
    ) -> np.ndarray:
        """OI (lots) per minute on the grid, shape (T, 2, G).

        What was open at 09:15 unwinds at a rate set by where the strike sits against spot: a little
        everywhere, more at the money, much more in the money and far out of it, where most of it
        is rolled (re-written out of the money near the current spot, on the same side). Fresh
        writing lands out of the money: puts below, calls above, leaning with the market's
        momentum (put writing under a rising market, call writing over a falling one) and against
        a lopsided book. Linear in the open OI, so it vectorises over the whole session.
        """
        p = self.params
        a = self._activity[:, None]
        z = logm / width
        c, w = p.oi_write_centre, p.oi_write_width
        write = np.empty((2,) + z.shape)
        write[0] = grid.pref[0] * np.exp(-0.5 * ((z + c) / w) ** 2)
        write[1] = grid.pref[1] * np.exp(-0.5 * ((z - c) / w) ** 2)
        write /= write.sum(axis=2, keepdims=True) + 1e-300

        near = np.abs(logm[0]) <= p.window_steps * grid.step / grid.strikes.mean()
        pcr_open = (grid.lots[0][near].sum() + 1.0) / (grid.lots[1][near].sum() + 1.0)
        lean = math.exp(-0.5 * p.oi_pcr_feedback * math.log(pcr_open))
        tilt = lean * np.exp(p.oi_trend_response * momentum)[:, None]
        fresh = grid.target * p.oi_daily_add * a * np.stack([tilt, 1.0 / tilt])  # (2, T, 1)

        itm = np.empty_like(write)
        itm[0] = 1.0 / (1.0 + np.exp(-z / 0.25))  # a put is in the money above spot
        itm[1] = 1.0 - itm[0]
        far = 1.0 / (1.0 + np.exp(-(np.abs(z) - p.oi_far) / 0.3)) * (1.0 - itm)
        atm = np.exp(-0.5 * (z / 0.3) ** 2)
        moved = p.oi_unwind_itm * itm + p.oi_unwind_far * far
        # Under a rising market put writers roll up and call writers cover; the reverse when it falls.
        # Both lean against a lopsided book too, which keeps the PCR in a plausible band.
        lean_roll = lean * np.exp(p.oi_roll_response * momentum)[:, None]  # (T, 1)
        roll_share = np.minimum(p.oi_roll_share * np.stack([lean_roll, 1.0 / lean_roll]), 1.0)
        rolled_rate = roll_share * moved
        closed_rate = p.oi_unwind_base + p.oi_unwind_atm * atm + (1.0 - roll_share) * moved
        if is_expiry_day:  # positions are closed into the settlement
            closed_rate = closed_rate + (p.oi_expiry_day_unwind - 1.0) * p.oi_unwind_base
        total_rate = rolled_rate + closed_rate
        gone = np.minimum(np.cumsum(a * total_rate, axis=1), 0.95)  # share of the open OI, (2, T, G)
        step_gone = np.diff(gone, axis=1, prepend=0.0) * grid.lots[:, None, :]
        rolled = (step_gone * rolled_rate / np.maximum(total_rate, 1e-12)).sum(axis=2, keepdims=True)
        added = np.cumsum((fresh + rolled) * write, axis=1)
        out = grid.lots[:, None, :] * (1.0 - gone) + added
        return out.transpose(1, 0, 2)

    # --- the chains ----------------------------------------------------------------------------------

    def _price(self, path: _Path) -> DayBars:
        """Option chains of both expiries for every bar of the session, vectorised (T, E, S)."""
        p = self.params
        d = path.session
        T, E, S = BARS_PER_SESSION, len(path.expiries), self._offsets.size
        close = path.close
        rng = np.random.default_rng([self.seed, d.toordinal(), _STREAM_QUOTES])

        strikes = np.empty((T, E, S))
        t = np.empty((T, E))
        first_close = market_calendar.session_open(d) + timedelta(minutes=1)
        minutes = np.arange(T) * 60.0 / SECONDS_PER_YEAR
        for e, (expiry, grid) in enumerate(zip(path.expiries, path.grids)):
            atm_strike = np.rint(close / grid.step) * grid.step
            strikes[:, e, :] = atm_strike[:, None] + grid.step * self._offsets[None, :]
            t[:, e] = np.maximum(year_fraction(first_close, expiry) - minutes, 0.0)
        r = float(contracts.risk_free_rate(d))

        atm = atm_vol(path.vix[:, None], t, p)
        forward = close[:, None] * np.exp(r * t)
        m = (
            np.log(strikes / forward[:, :, None])
            / np.sqrt(np.maximum(t, p.smile_t_floor_days / 365.0))[:, :, None]
        )
        vol = atm[:, :, None] * np.clip(1.0 - p.skew * m + p.smile * m * m, *p.smile_bounds)
        spot3 = close[:, None, None]
        t3 = t[:, :, None]
        call = bs_price(vol, spot3, strikes, t3, r, True)
        put = np.maximum(call - spot3 + strikes * np.exp(-r * t3), 0.0)

        # Quotes in ticks: the spread widens for far strikes, cheap premiums (relatively), the open,
        # high VIX and the less liquid second expiry.
        widen = (
            (1.0 + p.spread_open_widen * np.exp(-np.arange(T) / 10.0))[:, None, None]
            * np.sqrt(path.vix / p.vix_long_run)[:, None, None]
            * np.array([1.0] + [p.spread_far_expiry] * (E - 1))[None, :, None]
        )
        far = p.spread_per_step * np.abs(self._offsets)[None, None, :]
        noise = rng.uniform(-1.0, 1.0, size=(2, T, E, S))
        quotes = {}
        for side, price, u in (("call", call, noise[0]), ("put", put, noise[1])):
            spread = np.maximum(
                np.ceil((p.spread_min + p.spread_pct * price + far) * widen / TICK - 1e-9), 1.0
            )
            mid = price / TICK
            bid = np.maximum(np.rint(mid - 0.5 * spread), 1.0)
            ask = bid + spread
            ltp = np.clip(np.rint(mid + 0.5 * spread * u), bid, ask)
            quotes[f"{side}_bid"] = _ticks(bid)
            quotes[f"{side}_ask"] = _ticks(ask)
            quotes[f"{side}_ltp"] = _ticks(ltp)

        oi, volume = self._chain_oi_volume(path, strikes, rng)
        return DayBars(
            index=self.index,
            session=d,
            times=path.times,
            open=path.open,
            high=path.high,
            low=path.low,
            close=close,
            volume=path.volume,
            vix=path.vix,
            expiries=path.expiries,
            strikes=strikes,
            call_ltp=quotes["call_ltp"],
            call_bid=quotes["call_bid"],
            call_ask=quotes["call_ask"],
            call_oi=oi[1],
            call_volume=volume[1],
            call_iv=vol,
            put_ltp=quotes["put_ltp"],
            put_bid=quotes["put_bid"],
            put_ask=quotes["put_ask"],
            put_oi=oi[0],
            put_volume=volume[0],
            put_iv=vol.copy(),
        )

    def _chain_oi_volume(
        self, path: _Path, strikes: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """OI and cumulative session volume in units on the window strikes, ([put, call], T, E, S)."""
        p = self.params
        T, E, S = strikes.shape
        oi = np.zeros((2, T, E, S))
        volume = np.zeros((2, T, E, S))
        activity = self._activity * (
            1.0 + 0.5 * np.abs(np.diff(np.log(path.close), prepend=np.log(path.open[0]))) / path.sigma
        )
        side_tilt = np.exp(0.3 * np.stack([-path.day_return, path.day_return]))  # puts trade on falls
        for e, (expiry, grid) in enumerate(zip(path.expiries, path.grids)):
            lot = float(contracts.lot_size(self.index, expiry))
            G = grid.strikes.size
            z = path.logm[e] / (p.volume_width * path.widths[e])
            kernel = np.exp(-0.5 * z * z) + 0.02
            kernel /= kernel.sum(axis=1, keepdims=True)
            turnover = p.volume_turnover_near if e == 0 else p.volume_turnover_far
            if expiry == path.session:
                turnover *= p.volume_expiry_day
            per_side = grid.target * turnover
            strike_noise = np.exp(0.3 * rng.standard_normal((2, G)))
            minute_noise = np.exp(0.3 * rng.standard_normal((2, T)))
            idx = np.rint((strikes[:, e, :] - grid.lo) / grid.step).astype(np.int64)
            valid = (idx >= 0) & (idx < G)
            idx = np.clip(idx, 0, G - 1)
            for side in (0, 1):
                minute = np.rint(
                    per_side
                    * (activity * side_tilt[side] * minute_noise[side])[:, None]
                    * kernel
                    * strike_noise[side][None, :]
                )
                cum = np.cumsum(minute, axis=0)
                volume[side, :, e] = np.take_along_axis(cum, idx, axis=1) * valid * lot
                lots = np.rint(np.take_along_axis(path.oi[e][:, side], idx, axis=1))
                oi[side, :, e] = lots * valid * lot
        return oi, volume


# --- module helpers ----------------------------------------------------------------------------------


def _chain_expiries(index: str, d: date) -> tuple[date, date]:
    """Nearest expiry and current monthly of ``d``; the next monthly when those are the same.

    ``contracts.nearest_weekly`` is the monthly itself in a monthly-expiry week and for indices
    without weeklies, so the second chain is always a monthly later than the first.
    """
    first = contracts.nearest_weekly(index, d)
    second = contracts.current_monthly(index, d)
    y, m = first.year, first.month
    while second <= first:
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        second = contracts.monthly_expiry(index, y, m)
    return first, second


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _ns(dt: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime (naive = UTC)."""
    aware = _aware(dt).astimezone(UTC)
    return int(np.datetime64(aware.replace(tzinfo=None), "ns").astype(np.int64))


def _ist_date(dt: datetime) -> date:
    return _aware(dt).astimezone(market_calendar.IST).date()
