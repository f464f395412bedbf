"""European option prices, implied volatility and Greeks for NSE index options.

Model (the project's one choice, see DOMAIN.md section 3): **Black-Scholes on the spot** with
``r`` = the dated risk-free rate (about 5.5%, continuously compounded) and ``q = 0``. NSE index
options are European and cash settled on the index, and there is no weekly future to take a forward
from, so spot plus a rate is the input every feed has. ``q`` stays in the signatures because the
index does pay dividends and a caller may want to test that; the project passes 0. Black-76 on a
forward (``black76_price``, ``implied_vol_black76``) is here for the synthetic forward
``F = K + e^{rT} (C - P)`` at the ATM strike; with ``F = S e^{(r-q)T}`` both give the same numbers.

Units (the same in every function):

* ``vol``: annualised volatility as a fraction (0.15 = 15%).
* ``spot``, ``forward``, ``strike``, ``price``: rupees (index points).
* ``t``: years of 365 days from now to expiry at 15:30 IST (``year_fraction``).
* ``r``, ``q``: continuously compounded annual rates as fractions (0.055 = 5.5%).
* ``is_call``: ``True`` for a call (CE), ``False`` for a put (PE); a bool or a bool array (strings
  such as ``"c"`` raise ``TypeError``: numpy would read ``"p"`` as True).

Greeks (``greeks``), per one long option, not per lot:

* ``delta``: rupees per rupee of spot, dV/dS (call in [0, 1], put in [-1, 0]).
* ``gamma``: change of delta per rupee of spot, d2V/dS2.
* ``vega``: rupees per 1 vol point, dV/dvol / 100 (vol 15% -> 16%).
* ``theta``: rupees per calendar day that passes, -dV/dt / 365 (negative for a long option as a rule).
* ``rho``: rupees per 1% of rate, dV/dr / 100.

Every function broadcasts its arguments like numpy (any shapes); when every argument is a scalar the
result is a Python ``float`` (``greeks`` then returns a dict of floats). Nothing raises on bad
numbers: a result that does not exist is NaN. ``bs_price`` and ``black76_price`` give the limit price,
``D * max(+-(F - K), 0)``, when ``vol * sqrt(t)`` is 0; ``greeks`` is NaN there.

Implied volatility is solved on the out-of-the-money side: an in-the-money price is turned into the
OTM price of the other type by put-call parity, which keeps only the time value and is far better
conditioned. In normalised form (after Jaeckel, "Let's be rational", 2015) the OTM price is
``b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2)`` with ``x = -|ln(F/K)|`` and
``s = vol * sqrt(t)``; ``b`` is convex below ``s_c = sqrt(2|x|)`` and concave above. Below ``s_c``
the solver works on ``ln b`` (deep OTM prices span many decades), above it on ``b`` itself, with
third-order Householder steps (fourth-order convergence) from a closed-form guess: Corrado-Miller
near the money, the Mills-ratio asymptote of ``b`` far from it. Steps stay inside a bracket with a
bisection fallback. NIFTY-like options take about two steps.

The loops run in numba (``cache=True``: compiled once into ``__pycache__``, then loaded in about
0.3 s, on the first call - ``core.jit``) when numba is installed; in a process that
``jit.prefer_python()`` a Greeks call over fewer than ``jit.LARGE`` options runs the same kernel in
Python (the same operations, the same numbers; the IV kernel, whose Python form would raise on a
division numba's IEEE error model lets through, is always compiled); without numba, in vectorised
numpy (same algorithm, same results to ~1e-12, about twice as slow). They run on one thread and release the GIL: 10,000 options take ~3 ms for IV plus
Greeks, and a thread pool inside Celery's forked workers is not worth its risk at that size.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import numpy as np

from trading.core import jit

_HAVE_NUMBA = jit.AVAILABLE

__all__ = [
    "bs_price",
    "black76_price",
    "implied_vol",
    "implied_vol_black76",
    "greeks",
    "year_fraction",
]

# India has had no daylight saving time since 1945, so a fixed offset is exact and needs no tzdata.
IST = timezone(timedelta(hours=5, minutes=30), "IST")
EXPIRY_CLOSE = time(15, 30)
SECONDS_PER_YEAR = 365.0 * 24 * 3600

# The implied-vol and Greeks loops run in numba when it imports; tests switch this off to check the
# numpy fallback.
USE_NUMBA = _HAVE_NUMBA

_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / _SQRT_2PI
_LOG_SQRT_2PI = math.log(_SQRT_2PI)
_MAX_STEPS = 64
# Householder steps converge with order four: once a step is below 1e-4 (relative) the iterate it
# gives is exact to rounding, so no further evaluation is spent to confirm it.
_STEP_TOL = 1e-4
# Total vol s = vol * sqrt(t) is searched below this; a price that needs more is within 1e-23 (relative)
# of its upper bound and has no meaningful implied vol.
_S_MAX = 20.0


def year_fraction(now: datetime, expiry: date) -> float:
    """Years of 365 days from ``now`` (timezone-aware) to ``expiry`` at 15:30 IST; 0.0 once past.

    Raises ``ValueError`` for a naive ``now``: a guessed time zone would shift every price silently.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("year_fraction needs a timezone-aware datetime")
    close = datetime.combine(expiry, EXPIRY_CLOSE, tzinfo=IST)
    return max((close - now).total_seconds(), 0.0) / SECONDS_PER_YEAR


# --- shared plumbing ---------------------------------------------------------------------------------


def _prepare(values: tuple[Any, ...], is_call: Any) -> tuple[list[np.ndarray], tuple[int, ...], bool]:
    """Float arrays of ``values`` plus +1.0/-1.0 for call/put, their broadcast shape, all-scalar flag."""
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    calls = np.asarray(is_call)
    if calls.dtype.kind not in "biu":  # numpy would read any non-empty string, "p" too, as True
        raise TypeError(f"is_call must be a bool or bool array, not {calls.dtype}")
    calls = calls.astype(bool, copy=False)
    shape = np.broadcast_shapes(calls.shape, *(a.shape for a in arrays))
    scalar = calls.ndim == 0 and all(a.ndim == 0 for a in arrays)
    return [*arrays, np.where(calls, 1.0, -1.0)], shape, scalar


def _kernel_args(arrays: list[np.ndarray], shape: tuple[int, ...]) -> list[np.ndarray]:
    """1-D arrays for a numba kernel; size-1 inputs stay size 1 (the kernel reuses element 0).

    Always C-contiguous and writable (copied if need be): numba compiles one version per array type,
    and read-only broadcast views would add a compilation for each mix of inputs.
    """
    return [
        np.require((a if a.size == 1 else np.broadcast_to(a, shape)).reshape(-1), requirements="CW")
        for a in arrays
    ]


def _flat(arrays: list[np.ndarray], shape: tuple[int, ...]) -> list[np.ndarray]:
    return [np.broadcast_to(a, shape).reshape(-1) for a in arrays]


def _out(value: np.ndarray, shape: tuple[int, ...], scalar: bool) -> Any:
    value = value.reshape(shape)
    return float(value) if scalar else value


# --- prices ------------------------------------------------------------------------------------------


def ndtr(x: Any) -> Any:
    """The standard normal CDF (``scipy.special.ndtr``), scipy imported on the first call: about
    0.15 s of start-up that a process pricing no array of options (``manage.py backtest`` over stored
    quotes, whose one-option Greeks are plain floats) does not pay."""
    from scipy.special import ndtr as scipy_ndtr  # noqa: PLC0415 - see the docstring

    return scipy_ndtr(x)


def _price(vol: Any, spot: Any, strike: Any, t: Any, r: Any, q: Any, is_call: Any) -> Any:
    (vol, spot, strike, t, r, q, theta), shape, scalar = _prepare((vol, spot, strike, t, r, q), is_call)
    with np.errstate(all="ignore"):
        valid = (vol >= 0) & (spot > 0) & (strike > 0) & (t >= 0)
        valid &= np.isfinite(vol) & np.isfinite(spot) & np.isfinite(strike) & np.isfinite(t)
        valid &= np.isfinite(r) & np.isfinite(q)
        forward = spot * np.exp((r - q) * t)
        discount = np.exp(-r * t)
        s = vol * np.sqrt(t)
        s_pos = np.where(s > 0, s, 1.0)
        d1 = np.log(forward / strike) / s_pos + 0.5 * s_pos
        d2 = d1 - s_pos
        price = discount * theta * (forward * ndtr(theta * d1) - strike * ndtr(theta * d2))
        intrinsic = discount * np.maximum(theta * (forward - strike), 0.0)
        price = np.where(s > 0, np.maximum(price, 0.0), intrinsic)
    return _out(np.where(valid, price, np.nan), shape, scalar)


def bs_price(vol: Any, spot: Any, strike: Any, t: Any, r: Any, is_call: Any, q: Any = 0.0) -> Any:
    """Black-Scholes(-Merton) price in rupees of a European option on ``spot`` with dividend yield ``q``.

    ``t`` in years; ``vol``, ``r``, ``q`` as fractions. When ``vol * sqrt(t)`` is 0 the price is the
    limit ``e^{-rT} max(+-(F - K), 0)`` with ``F = S e^{(r-q)T}`` (the intrinsic value at ``t = 0``);
    NaN for a negative vol or time, a non-positive spot or strike, or a non-finite input.
    """
    return _price(vol, spot, strike, t, r, q, is_call)


def black76_price(vol: Any, forward: Any, strike: Any, t: Any, r: Any, is_call: Any) -> Any:
    """Black-76 price in rupees of a European option on ``forward``, discounted at ``r`` over ``t`` years.

    Same limits and NaN rules as ``bs_price``.
    """
    # Black-76 is Black-Scholes with q = r: the "spot" then grows at 0, so it is the forward itself.
    return _price(vol, forward, strike, t, r, r, is_call)


# --- Greeks ------------------------------------------------------------------------------------------


def greeks(vol: Any, spot: Any, strike: Any, t: Any, r: Any, is_call: Any, q: Any = 0.0) -> dict[str, Any]:
    """Black-Scholes Greeks of one long option: dict of ``delta, gamma, vega, theta, rho``.

    Units: delta per rupee of spot, gamma per rupee of spot, vega per vol point (dV/dvol / 100), theta
    per calendar day (-dV/dt / 365: what a day passing does to the price), rho per 1% of rate
    (dV/dr / 100). All NaN where ``vol`` or ``t`` is not positive or an input is invalid.
    """
    if USE_NUMBA and _HAVE_NUMBA and _plain_scalars(vol, spot, strike, t, r, q, is_call):
        # One option (the engine's fills): the kernel's body called on the plain floats (compiled
        # itself once the kernels are, ``_numba_kernels``), whichever way the process prefers - the
        # same bits either way (tests/core/test_hot_path.py). The kernel on arrays of one element
        # cost twice as much: ~5.0 us a call against ~2.4 us in Python, ~1.8 us compiled (measured
        # warm, the first call's compilation left out).
        packed = [
            float(vol),
            float(spot),
            float(strike),
            float(t),
            float(r),
            float(q),
            1.0 if is_call else -1.0,
        ]
        try:
            return dict(zip(("delta", "gamma", "vega", "theta", "rho"), _greeks_one(*packed), strict=True))
        except ZeroDivisionError:
            pass  # a vol * sqrt(t) that underflows to 0: numpy's IEEE division below, as the kernel's
        out = np.empty((5, 1))
        kernel = _numba_kernels()[1] if jit.compiled(1) else _greeks_kernel
        kernel(*(np.array([x]) for x in packed), out)
        return {name: float(out[i, 0]) for i, name in enumerate(("delta", "gamma", "vega", "theta", "rho"))}
    arrays, shape, scalar = _prepare((vol, spot, strike, t, r, q), is_call)
    size = math.prod(shape)
    if USE_NUMBA and _HAVE_NUMBA:
        out = np.empty((5, size))
        kernel = _numba_kernels()[1] if jit.compiled(size) else _greeks_kernel
        kernel(*_kernel_args(arrays, shape), out)
    else:
        out = _greeks_numpy(*_flat(arrays, shape))
    return {
        name: _out(out[i], shape, scalar) for i, name in enumerate(("delta", "gamma", "vega", "theta", "rho"))
    }


def _plain_scalars(*values: Any) -> bool:
    """True when every value is a Python float or int and the last (``is_call``) a bool."""
    *numbers, is_call = values
    if type(is_call) is not bool:
        return False
    for v in numbers:  # a loop, not all(...) over a generator: the engine asks for each fill
        kind = type(v)
        if kind is not float and kind is not int:
            return False
    return True


def _ncdf(z: float) -> float:
    return 0.5 * math.erfc(-z / _SQRT2)


def _pick(a: np.ndarray, i: int) -> float:
    return a[i] if a.shape[0] > 1 else a[0]


def _greeks_one(sig, sp, k, tt, rr, qq, th):  # type: ignore[no-untyped-def]
    """(delta, gamma, vega, theta, rho) of one option, NaNs for an invalid input: the Greeks kernel's
    body, called by it (compiled with it) and by ``greeks`` for one option of plain floats."""
    if not (sig > 0.0 and sp > 0.0 and k > 0.0 and tt > 0.0):
        return math.nan, math.nan, math.nan, math.nan, math.nan
    if not (sig < math.inf and sp < math.inf and k < math.inf and tt < math.inf):
        return math.nan, math.nan, math.nan, math.nan, math.nan
    if not (math.isfinite(rr) and math.isfinite(qq)):
        return math.nan, math.nan, math.nan, math.nan, math.nan
    sqrt_t = math.sqrt(tt)
    s = sig * sqrt_t
    d1 = (math.log(sp / k) + (rr - qq) * tt) / s + 0.5 * s
    d2 = d1 - s
    div = math.exp(-qq * tt)
    disc = math.exp(-rr * tt)
    nd1 = _ncdf(th * d1)
    nd2 = _ncdf(th * d2)
    spot_pdf = sp * div * _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
    return (
        th * div * nd1,
        spot_pdf / (sp * sp * s),
        spot_pdf * sqrt_t / 100.0,
        (-spot_pdf * sig / (2.0 * sqrt_t) + th * (qq * sp * div * nd1 - rr * k * disc * nd2)) / 365.0,
        th * k * tt * disc * nd2 / 100.0,
    )


def _greeks_kernel(vol, spot, strike, t, r, q, theta, out):  # type: ignore[no-untyped-def]
    """Fill ``out[0..4, i]`` with delta, gamma, vega, theta, rho; inputs are 1-D of length n or 1."""
    for i in range(out.shape[1]):
        sig, sp, k, tt = _pick(vol, i), _pick(spot, i), _pick(strike, i), _pick(t, i)
        rr, qq, th = _pick(r, i), _pick(q, i), _pick(theta, i)
        delta, gamma, vega, theta_day, rho = _greeks_one(sig, sp, k, tt, rr, qq, th)
        out[0, i] = delta
        out[1, i] = gamma
        out[2, i] = vega
        out[3, i] = theta_day
        out[4, i] = rho


def _greeks_numpy(vol, spot, strike, t, r, q, theta):  # type: ignore[no-untyped-def]
    """``_greeks_kernel`` on arrays: returns the (5, n) array."""
    with np.errstate(all="ignore"):
        valid = (vol > 0) & (spot > 0) & (strike > 0) & (t > 0)
        for value in (vol, spot, strike, t, r, q):
            valid &= np.isfinite(value)
        sqrt_t = np.sqrt(t)
        s = vol * sqrt_t
        d1 = (np.log(spot / strike) + (r - q) * t) / s + 0.5 * s
        d2 = d1 - s
        div = np.exp(-q * t)
        disc = np.exp(-r * t)
        nd1 = ndtr(theta * d1)
        nd2 = ndtr(theta * d2)
        spot_pdf = spot * div * _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
        out = np.stack(
            [
                theta * div * nd1,
                spot_pdf / (spot * spot * s),
                spot_pdf * sqrt_t / 100.0,
                (-spot_pdf * vol / (2.0 * sqrt_t) + theta * (q * spot * div * nd1 - r * strike * disc * nd2))
                / 365.0,
                theta * strike * t * disc * nd2 / 100.0,
            ]
        )
    return np.where(valid, out, np.nan)


# --- implied volatility ------------------------------------------------------------------------------
#
# The solver works on one OTM option in normalised form: x = -|ln(F/K)| <= 0 and beta = undiscounted
# OTM price / sqrt(F K), which must lie in (0, e^{x/2}); it returns the total vol s = vol * sqrt(t).
# With h = x/s the normalised vega is b'(s) = exp(-(h^2 + s^2/4)/2) / sqrt(2 pi), and the ratios
# b''/b' = (h^2 - s^2/4)/s and b'''/b' = (b''/b')^2 - 3 h^2/s^2 - 1/4 cost no extra exp or erfc.
# The scalar functions are plain Python that numba compiles as they are; ``_solve_s_numpy`` repeats
# the same steps on arrays for the fallback.


def _s_guess(beta: float, x: float, ex: float, s_c: float, b_c: float, log_beta: float) -> float:
    """First guess of s: Corrado-Miller near the money, the Mills-ratio asymptote far out of it."""
    sh = 0.5 * (ex - 1.0 / ex)  # sinh(x/2) <= 0: the normalised (F - K) / 2
    a = beta - sh
    cm = _SQRT_2PI / (ex + 1.0 / ex) * (a + math.sqrt(max(a * a - 4.0 * sh * sh / math.pi, 0.0)))
    if beta >= b_c:
        return cm if cm > s_c else s_c
    if 0.0 < cm < s_c and x > -1.5 * cm:  # |x/s| < 1.5: Corrado-Miller is good to a few percent
        return cm
    # Far out of the money b = b'(s) * (R(-h - s/2) - R(-h + s/2)), R the Mills ratio; two terms of
    # its asymptotic series give ln b = -x^2 / (2 s^2) + L(s), solved by fixed point from the s at
    # which a pure -x^2 / (2 s^2) law would match b at s_c.
    s = -x / math.sqrt(2.0 * math.log(b_c / beta) - 0.5 * x)
    for _ in range(2):
        h = x / s
        d_lo = -h - 0.5 * s
        d_hi = -h + 0.5 * s
        ac = d_lo * d_hi
        corr = max(1.0 - (d_lo * d_lo + ac + d_hi * d_hi) / (ac * ac), 0.05)
        arg = 2.0 * (math.log(s * corr / ac) - 0.125 * s * s - _LOG_SQRT_2PI - log_beta)
        if not arg > 0.0:
            break
        s = min(-x / math.sqrt(arg), s_c)
    return s


def _solve_s(beta: float, x: float) -> tuple[float, int]:
    """Total implied vol s with b(x, s) = beta (x <= 0) and the number of evaluations; NaN outside bounds."""
    ex = math.exp(0.5 * x)
    emx = 1.0 / ex
    if not (beta > 0.0 and beta < ex and x <= 0.0):
        return math.nan, 0
    s_c = math.sqrt(-2.0 * x)
    b_c = 0.5 * ex - emx * _ncdf(-s_c)  # b(x, s_c); the first N() is N(0) there
    log_beta = math.log(beta)
    # Below b_c the root is in (0, s_c) where b is convex and ln b is the better conditioned objective.
    lower = beta < b_c
    lo, hi = (0.0, s_c) if lower else (s_c, _S_MAX)
    s = _s_guess(beta, x, ex, s_c, b_c, log_beta)
    if not (s > 0.0 and lo <= s <= hi):
        s = 0.5 * (lo + hi)
    n_steps = 0
    for _ in range(_MAX_STEPS):
        n_steps += 1
        h = x / s
        t = 0.5 * s
        b = ex * _ncdf(h + t) - emx * _ncdf(h - t)
        vega = _INV_SQRT_2PI * math.exp(-0.5 * (h * h + t * t))
        c2 = (h * h - t * t) / s
        c3 = c2 * c2 - 3.0 * h * h / (s * s) - 0.25
        if lower:
            if not b > 0.0:  # underflow, or rounding at a tiny s: the root lies above
                lo = s
                s = 0.5 * (lo + hi)
                continue
            g = vega / b
            f = math.log(b) - log_beta
            fp = g
            h2 = c2 - g  # f''/f' for f = ln b
            h3 = c3 - 3.0 * c2 * g + 2.0 * g * g  # f'''/f'
        else:
            f = b - beta
            fp = vega
            h2 = c2
            h3 = c3
        if f == 0.0:
            break
        if f < 0.0:
            lo = s
        else:
            hi = s
        nu = -f / fp
        denom = 1.0 + nu * (h2 + h3 * nu / 6.0)
        ds = nu * (1.0 + 0.5 * h2 * nu) / denom if denom > 0.0 else nu
        s_new = s + ds
        if not (s_new > lo and s_new < hi):
            s_new = 0.5 * (lo + hi)
        elif abs(ds) <= _STEP_TOL * s and abs(nu) <= _STEP_TOL * s:
            s = s_new
            break
        s = s_new
        if hi - lo <= 1e-15 * s:
            break
    if s >= 0.999 * _S_MAX:
        return math.nan, n_steps
    return s, n_steps


def _iv_kernel(price, spot, strike, t, r, q, theta, out, steps):  # type: ignore[no-untyped-def]
    """Fill ``out[i]`` with implied vols and ``steps[i]`` with evaluations; inputs are 1-D, length n or 1."""
    for i in range(out.shape[0]):
        p, sp, k, tt = _pick(price, i), _pick(spot, i), _pick(strike, i), _pick(t, i)
        rr, qq, th = _pick(r, i), _pick(q, i), _pick(theta, i)
        out[i] = math.nan
        steps[i] = 0
        if not (p > 0.0 and sp > 0.0 and k > 0.0 and tt > 0.0):
            continue
        if not (p < math.inf and sp < math.inf and k < math.inf and tt < math.inf):
            continue
        if not (math.isfinite(rr) and math.isfinite(qq)):
            continue
        f = sp * math.exp((rr - qq) * tt)
        undiscounted = p * math.exp(rr * tt)
        x = math.log(f / k)
        if th * x > 0.0:  # in the money: keep the time value, the OTM option of the other type
            undiscounted -= th * (f - k)
        s, n_steps = _solve_s(undiscounted / math.sqrt(f * k), -abs(x))
        out[i] = s / math.sqrt(tt)
        steps[i] = n_steps


_compiled_kernels: tuple | None = None


def _numba_kernels() -> tuple:
    """(IV kernel, Greeks kernel) compiled by numba, on the first call that runs compiled. The helpers
    they call are rebound to their compiled versions first (numba resolves globals at compile time);
    the Python kernels then call those, which gives the same numbers."""
    global _compiled_kernels, _ncdf, _pick, _greeks_one, _s_guess, _solve_s
    if _compiled_kernels is None:
        # error_model="numpy": IEEE division (inf/nan) instead of Python's ZeroDivisionError checks.
        _ncdf = jit.njit(_ncdf, error_model="numpy")
        _pick = jit.njit(_pick, error_model="numpy")
        _greeks_one = jit.njit(_greeks_one, error_model="numpy")
        _s_guess = jit.njit(_s_guess, error_model="numpy")
        _solve_s = jit.njit(_solve_s, error_model="numpy")
        _compiled_kernels = (
            jit.njit(_iv_kernel, error_model="numpy"),
            jit.njit(_greeks_kernel, error_model="numpy"),
        )
    return _compiled_kernels


def _s_guess_numpy(beta, x, ex, s_c, b_c, log_beta):  # type: ignore[no-untyped-def]
    sh = 0.5 * (ex - 1.0 / ex)
    a = beta - sh
    cm = _SQRT_2PI / (ex + 1.0 / ex) * (a + np.sqrt(np.maximum(a * a - 4.0 * sh * sh / np.pi, 0.0)))
    s = -x / np.sqrt(2.0 * np.log(b_c / beta) - 0.5 * x)
    for _ in range(2):
        h = x / s
        d_lo = -h - 0.5 * s
        d_hi = -h + 0.5 * s
        ac = d_lo * d_hi
        corr = np.maximum(1.0 - (d_lo * d_lo + ac + d_hi * d_hi) / (ac * ac), 0.05)
        arg = 2.0 * (np.log(s * corr / ac) - 0.125 * s * s - _LOG_SQRT_2PI - log_beta)
        s = np.where(arg > 0, np.minimum(-x / np.sqrt(arg), s_c), s)
    near = (cm > 0) & (cm < s_c) & (x > -1.5 * cm)
    return np.where(beta >= b_c, np.where(cm > s_c, cm, s_c), np.where(near, cm, s))


def _solve_s_numpy(beta: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_solve_s`` on 1-D arrays: the same guess, steps and bracket, all options stepping together."""
    s_out = np.full(beta.shape, np.nan)
    steps = np.zeros(beta.shape, dtype=np.int64)
    with np.errstate(all="ignore"):
        ex = np.exp(0.5 * x)
        idx = np.flatnonzero((beta > 0) & (beta < ex) & (x <= 0))
        beta, x, ex = beta[idx], x[idx], ex[idx]
        emx = 1.0 / ex
        s_c = np.sqrt(-2.0 * x)
        b_c = 0.5 * ex - emx * ndtr(-s_c)
        log_beta = np.log(beta)
        lower = beta < b_c
        lo = np.where(lower, 0.0, s_c)
        hi = np.where(lower, s_c, _S_MAX)
        s = _s_guess_numpy(beta, x, ex, s_c, b_c, log_beta)
        s = np.where((s > 0) & (lo <= s) & (s <= hi), s, 0.5 * (lo + hi))
        active = np.arange(idx.size)
        for step in range(1, _MAX_STEPS + 1):
            if active.size == 0:
                break
            steps[idx[active]] = step
            sa, xa, low = s[active], x[active], lower[active]
            lo_a, hi_a = lo[active], hi[active]
            h = xa / sa
            t = 0.5 * sa
            b = ex[active] * ndtr(h + t) - emx[active] * ndtr(h - t)
            vega = _INV_SQRT_2PI * np.exp(-0.5 * (h * h + t * t))
            c2 = (h * h - t * t) / sa
            c3 = c2 * c2 - 3.0 * h * h / (sa * sa) - 0.25
            g = vega / b
            f = np.where(low, np.log(b) - log_beta[active], b - beta[active])
            fp = np.where(low, g, vega)
            h2 = np.where(low, c2 - g, c2)
            h3 = np.where(low, c3 - 3.0 * c2 * g + 2.0 * g * g, c3)
            underflow = low & ~(b > 0)
            lo_a = np.where((f < 0) | underflow, sa, lo_a)
            hi_a = np.where((f > 0) & ~underflow, sa, hi_a)
            nu = -f / fp
            denom = 1.0 + nu * (h2 + h3 * nu / 6.0)
            ds = np.where(denom > 0, nu * (1.0 + 0.5 * h2 * nu) / denom, nu)
            s_new = sa + ds
            outside = underflow | ~((s_new > lo_a) & (s_new < hi_a))
            s_new = np.where(outside, 0.5 * (lo_a + hi_a), s_new)
            done = ~underflow & (f == 0)
            s_new = np.where(done, sa, s_new)
            done |= ~outside & (np.abs(ds) <= _STEP_TOL * sa) & (np.abs(nu) <= _STEP_TOL * sa)
            done |= ~underflow & (hi_a - lo_a <= 1e-15 * s_new)
            s[active], lo[active], hi[active] = s_new, lo_a, hi_a
            active = active[~done]
        s_out[idx] = np.where(s >= 0.999 * _S_MAX, np.nan, s)
    return s_out, steps


def _iv_numpy(price, spot, strike, t, r, q, theta):  # type: ignore[no-untyped-def]
    """``_iv_kernel`` on arrays: returns (vols, steps)."""
    with np.errstate(all="ignore"):
        valid = (price > 0) & (spot > 0) & (strike > 0) & (t > 0)
        for value in (price, spot, strike, t, r, q):
            valid &= np.isfinite(value)
        forward = spot * np.exp((r - q) * t)
        x = np.log(forward / strike)
        undiscounted = price * np.exp(r * t) - np.where(theta * x > 0, theta * (forward - strike), 0.0)
        beta = np.where(valid, undiscounted / np.sqrt(forward * strike), np.nan)
        s, steps = _solve_s_numpy(beta, -np.abs(x))
        return s / np.sqrt(t), steps


def _implied_vol_and_steps(price, spot, strike, t, r, q, is_call):  # type: ignore[no-untyped-def]
    """Implied vols shaped like the broadcast inputs, the solver's evaluations per option, scalar flag."""
    arrays, shape, scalar = _prepare((price, spot, strike, t, r, q), is_call)
    size = math.prod(shape)
    if USE_NUMBA and _HAVE_NUMBA:
        vols = np.empty(size)
        steps = np.empty(size, dtype=np.int64)
        _numba_kernels()[0](*_kernel_args(arrays, shape), vols, steps)  # always compiled (see the doc)
    else:
        vols, steps = _iv_numpy(*_flat(arrays, shape))
    return _out(vols, shape, scalar), steps.reshape(shape)


def implied_vol(price: Any, spot: Any, strike: Any, t: Any, r: Any, is_call: Any, q: Any = 0.0) -> Any:
    """Black-Scholes implied volatility (fraction, 0.15 = 15%) of an option priced ``price`` rupees.

    NaN, never an exception, when the price is not strictly inside the no-arbitrage bounds (call:
    ``max(S e^{-qT} - K e^{-rT}, 0)`` to ``S e^{-qT}``; put: ``max(K e^{-rT} - S e^{-qT}, 0)`` to
    ``K e^{-rT}``), when ``t <= 0``, or when an input is non-positive or not finite. Inside the bounds
    it agrees with Jaeckel's "Let's be rational" (py_vollib) to ~1e-13 in vol while the time value is
    worth a few paise; below that it is the best estimate the double-precision price allows.
    """
    return _implied_vol_and_steps(price, spot, strike, t, r, q, is_call)[0]


def implied_vol_black76(price: Any, forward: Any, strike: Any, t: Any, r: Any, is_call: Any) -> Any:
    """Black-76 implied volatility (fraction) of an option priced ``price`` rupees on ``forward``.

    Same bounds and NaN rules as ``implied_vol`` with ``S e^{-qT}`` replaced by ``F e^{-rT}``.
    """
    # As in black76_price: q = r turns the spot into the forward.
    return _implied_vol_and_steps(price, forward, strike, t, r, r, is_call)[0]
