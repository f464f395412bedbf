"""Prices, implied vol and Greeks against textbook values, a second implementation and py_vollib."""

from __future__ import annotations

import math
import warnings
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest

from trading.core import options
from trading.core.options import (
    black76_price,
    bs_price,
    greeks,
    implied_vol,
    implied_vol_black76,
    year_fraction,
)

IST = timezone(timedelta(hours=5, minutes=30))
BACKENDS = ["numba", "numpy"] if options._HAVE_NUMBA else ["numpy"]


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    """Run the test once through the numba kernels and once through the numpy fallback."""
    monkeypatch.setattr(options, "USE_NUMBA", request.param == "numba")
    return request.param


def nifty_grid():
    """Strikes 22,000-26,000 by 50 around spot 24,000, 1-60 days, vols 8-40%, calls and puts."""
    strikes = np.arange(22000.0, 26001.0, 50.0)
    days = np.array([1, 2, 5, 7, 14, 30, 60])
    vols = np.array([0.08, 0.12, 0.2, 0.4])
    k, d, v, c = np.meshgrid(strikes, days, vols, [True, False], indexing="ij")
    return k.ravel(), d.ravel() / 365.0, v.ravel(), c.ravel()


def time_value(price, spot, strike, t, r, is_call, q=0.0):
    forward_intrinsic = spot * np.exp(-q * t) - strike * np.exp(-r * t)
    return price - np.maximum(np.where(is_call, forward_intrinsic, -forward_intrinsic), 0.0)


def ref_price(vol, spot, strike, t, r, is_call, q=0.0):
    """A second, scalar Black-Scholes written from the textbook with math.erf."""
    n = lambda z: 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))  # noqa: E731
    d1 = (math.log(spot / strike) + (r - q + 0.5 * vol * vol) * t) / (vol * math.sqrt(t))
    d2 = d1 - vol * math.sqrt(t)
    if is_call:
        return spot * math.exp(-q * t) * n(d1) - strike * math.exp(-r * t) * n(d2)
    return strike * math.exp(-r * t) * n(-d2) - spot * math.exp(-q * t) * n(-d1)


# --- prices ------------------------------------------------------------------------------------------


def test_hull_stock_option():
    # Hull, Options Futures and Other Derivatives: S=42, K=40, r=10%, sigma=20%, T=0.5
    # d1 = (ln 1.05 + 0.12 * 0.5) / 0.1414 = 0.7693, d2 = 0.6278 -> c = 4.76, p = 0.81
    assert round(bs_price(0.2, 42, 40, 0.5, 0.1, True), 2) == 4.76
    assert round(bs_price(0.2, 42, 40, 0.5, 0.1, False), 2) == 0.81


def test_hull_index_option_with_dividend_yield():
    # Hull: index 930, K=900, r=8%, q=3%, sigma=20%, 2 months -> d1 = 0.5444, d2 = 0.4628, c = 51.83
    assert round(bs_price(0.2, 930, 900, 2 / 12, 0.08, True, q=0.03), 2) == 51.83


def test_hull_futures_option_black76():
    # Hull: put on a future, F=K=20, r=9%, sigma=25%, 4 months -> d1 = 0.0722 = -d2, p = 1.12
    assert round(black76_price(0.25, 20, 20, 4 / 12, 0.09, False), 2) == 1.12


def test_atm_forward_closed_form():
    # r = q = 0 and S = K: c = p = S (2 N(sigma sqrt(T) / 2) - 1) = 100 (2 N(0.1) - 1) = 7.96557
    assert bs_price(0.2, 100, 100, 1.0, 0.0, True) == pytest.approx(7.965567455, abs=1e-8)
    assert bs_price(0.2, 100, 100, 1.0, 0.0, False) == pytest.approx(7.965567455, abs=1e-8)


def test_price_limits_at_zero_vol_or_time():
    # t = 0 -> intrinsic; vol = 0 -> discounted intrinsic of the forward; negative -> NaN
    assert bs_price(0.2, 110, 100, 0.0, 0.05, True) == 10.0
    assert bs_price(0.2, 110, 100, 0.0, 0.05, False) == 0.0
    assert bs_price(0.0, 110, 100, 1.0, 0.05, True) == pytest.approx(110 - 100 * math.exp(-0.05))
    for args in [
        (-0.1, 110, 100, 1, 0.05),
        (0.2, 110, 100, -1, 0.05),
        (0.2, 0, 100, 1, 0.05),
        (0.2, 110, math.nan, 1, 0.05),
    ]:
        assert math.isnan(bs_price(*args, True))


def test_put_call_parity_over_grid():
    k, t, v, _ = nifty_grid()
    for q in (0.0, 0.012):
        call = bs_price(v, 24000.0, k, t, 0.055, True, q=q)
        put = bs_price(v, 24000.0, k, t, 0.055, False, q=q)
        parity = 24000.0 * np.exp(-q * t) - k * np.exp(-0.055 * t)
        np.testing.assert_allclose(call - put, parity, rtol=0, atol=1e-9 * 24000)


def test_black76_equals_black_scholes_on_the_forward():
    k, t, v, c = nifty_grid()
    spot, r, q = 24000.0, 0.055, 0.012
    forward = spot * np.exp((r - q) * t)
    np.testing.assert_allclose(
        black76_price(v, forward, k, t, r, c), bs_price(v, spot, k, t, r, c, q=q), rtol=1e-12, atol=1e-9
    )


# --- shapes and types --------------------------------------------------------------------------------


def test_scalar_in_float_out(backend):
    assert type(bs_price(0.2, 42, 40, 0.5, 0.1, True)) is float
    assert type(black76_price(0.2, 42, 40, 0.5, 0.1, False)) is float
    assert type(implied_vol(4.76, 42, 40, 0.5, 0.1, True)) is float
    assert type(implied_vol_black76(4.76, 43, 40, 0.5, 0.1, True)) is float
    assert type(implied_vol(-1.0, 42, 40, 0.5, 0.1, True)) is float  # NaN is a float too
    assert all(type(value) is float for value in greeks(0.2, 42, 40, 0.5, 0.1, True).values())
    assert set(greeks(0.2, 42, 40, 0.5, 0.1, True)) == {"delta", "gamma", "vega", "theta", "rho"}


def test_shapes_broadcast(backend):
    strikes = np.array([23900.0, 24000.0, 24100.0, 24200.0])[None, :]  # (1, 4)
    vols = np.array([0.1, 0.15, 0.2])[:, None]  # (3, 1)
    is_call = np.array([True, False, True, False])  # (4,)
    prices = bs_price(vols, 24000.0, strikes, 7 / 365, 0.055, is_call)
    assert prices.shape == (3, 4)
    ivs = implied_vol(prices, 24000.0, strikes, 7 / 365, 0.055, is_call)
    assert ivs.shape == (3, 4)
    np.testing.assert_allclose(ivs, np.broadcast_to(vols, (3, 4)), atol=1e-10)
    assert all(g.shape == (3, 4) for g in greeks(ivs, 24000.0, strikes, 7 / 365, 0.055, is_call).values())
    # lists work, an empty array gives an empty array, one array argument makes the result an array
    assert implied_vol([4.76, 0.81], 42, 40, 0.5, 0.1, [True, False]).shape == (2,)
    assert implied_vol(np.array([]), 42, 40, 0.5, 0.1, True).shape == (0,)
    assert greeks(0.2, 42, 40, 0.5, 0.1, np.array([True, False]))["delta"].shape == (2,)


def test_option_type_must_be_bool():
    # numpy reads any non-empty string as True, so "p" would silently price a call
    with pytest.raises(TypeError):
        bs_price(0.2, 42, 40, 0.5, 0.1, "p")
    with pytest.raises(TypeError):
        implied_vol(4.76, 42, 40, 0.5, 0.1, np.array(["c", "p"]))
    assert bs_price(0.2, 42, 40, 0.5, 0.1, np.array([1, 0])) == pytest.approx([4.759422, 0.808599], abs=1e-6)


# --- implied volatility ------------------------------------------------------------------------------


def test_implied_vol_hull_round_trip(backend):
    call = bs_price(0.2, 42, 40, 0.5, 0.1, True)
    put = bs_price(0.2, 42, 40, 0.5, 0.1, False)
    assert implied_vol(call, 42, 40, 0.5, 0.1, True) == pytest.approx(0.2, abs=1e-12)
    assert implied_vol(put, 42, 40, 0.5, 0.1, False) == pytest.approx(0.2, abs=1e-12)
    assert implied_vol(51.83295679649086, 930, 900, 2 / 12, 0.08, True, q=0.03) == pytest.approx(
        0.2, abs=1e-12
    )


def test_implied_vol_round_trip_over_nifty_grid(backend):
    k, t, v, c = nifty_grid()
    spot, r = 24000.0, 0.055
    price = bs_price(v, spot, k, t, r, c)
    iv = implied_vol(price, spot, k, t, r, c)
    tv = time_value(price, spot, k, t, r, c)
    worth = tv > 0.5
    assert worth.sum() > 2000
    np.testing.assert_allclose(iv[worth], v[worth], rtol=0, atol=1e-10)
    # below 50 paise of time value: a finite, sane estimate, or NaN when the price is the intrinsic value
    cheap = ~worth
    assert np.all(np.isnan(iv[cheap]) | ((iv[cheap] > 0.0) & (iv[cheap] < 5.0)))
    readable = cheap & (tv > 1e-4)
    np.testing.assert_allclose(iv[readable], v[readable], rtol=1e-6)


@pytest.mark.parametrize("days", [1, 2])
def test_implied_vol_deep_itm_and_otm_near_expiry(backend, days):
    strikes = np.array([15000.0, 20000.0, 23000.0, 23900.0, 24000.0, 24100.0, 25000.0, 28000.0, 35000.0])
    t = days / 365.0
    for is_call in (True, False):
        for vol in (0.08, 0.2, 0.6, 1.5):
            price = bs_price(vol, 24000.0, strikes, t, 0.055, is_call)
            iv = implied_vol(price, 24000.0, strikes, t, 0.055, is_call)
            tv = time_value(price, 24000.0, strikes, t, 0.055, is_call)
            np.testing.assert_allclose(iv[tv > 0.5], vol, atol=1e-10)
            assert np.all(np.isnan(iv) | ((iv > 0) & (iv < 5.0)))


def test_implied_vol_wide_domain_round_trip(backend):
    rng = np.random.default_rng(20240611)
    n = 4000
    spot = np.exp(rng.uniform(np.log(50), np.log(60000), n))
    strike = spot * np.exp(rng.normal(0.0, 0.3, n))
    t = np.exp(rng.uniform(np.log(1 / 365 / 24), np.log(3), n))
    r = rng.uniform(-0.01, 0.12, n)
    q = rng.uniform(0.0, 0.05, n)
    vol = np.exp(rng.uniform(np.log(0.02), np.log(3.0), n))
    is_call = rng.random(n) < 0.5
    price = bs_price(vol, spot, strike, t, r, is_call, q=q)
    iv = implied_vol(price, spot, strike, t, r, is_call, q=q)
    tv = time_value(price, spot, strike, t, r, is_call, q=q)
    np.testing.assert_allclose(iv[tv > 0.5], vol[tv > 0.5], rtol=0, atol=1e-10)
    assert np.all(np.isnan(iv) | ((iv > 0) & (iv < 20.0)))


def test_implied_vol_black76_round_trip(backend):
    k, t, v, c = nifty_grid()
    forward = 24000.0 * np.exp(0.055 * t)
    price = black76_price(v, forward, k, t, 0.055, c)
    iv = implied_vol_black76(price, forward, k, t, 0.055, c)
    worth = time_value(price, 24000.0, k, t, 0.055, c) > 0.5
    np.testing.assert_allclose(iv[worth], v[worth], atol=1e-10)


def test_implied_vol_nan_outside_bounds_never_raises(backend):
    s, k, t, r = 42.0, 40.0, 0.5, 0.1
    lower_call = s - k * math.exp(-r * t)  # 3.95
    lower_put = k * math.exp(-r * t) - 30.0  # put struck 40 on spot 30
    cases = [
        (lower_call - 0.01, s, k, t, r, True),  # below the discounted intrinsic value
        (lower_call, s, k, t, r, True),  # on it: no time value, no vol
        (s, s, k, t, r, True),  # a call worth the spot
        (s + 1, s, k, t, r, True),
        (lower_put - 0.01, 30.0, k, t, r, False),
        (k * math.exp(-r * t), s, k, t, r, False),  # a put worth the discounted strike
        (0.0, s, k, t, r, True),
        (-1.0, s, k, t, r, True),
        (4.76, s, k, 0.0, r, True),  # expired
        (4.76, s, k, -0.1, r, True),
        (4.76, -s, k, t, r, True),
        (4.76, s, 0.0, t, r, True),
        (4.76, s, -k, t, r, True),
        (math.nan, s, k, t, r, True),
        (4.76, math.inf, k, t, r, True),
        (4.76, s, k, math.inf, r, True),
        (4.76, s, k, t, math.nan, True),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for case in cases:
            assert math.isnan(implied_vol(*case)), case
        vector = implied_vol(
            np.array([c[0] for c in cases]),
            [c[1] for c in cases],
            [c[2] for c in cases],
            [c[3] for c in cases],
            [c[4] for c in cases],
            [c[5] for c in cases],
        )
        assert np.isnan(vector).all()
        assert math.isnan(implied_vol_black76(50.0, 42.0, 40.0, 0.5, 0.1, True))


def test_implied_vol_just_inside_the_bounds(backend):
    # a rupee of time value on a deep ITM call, and a call a rupee below the spot: both solvable
    s, k, t, r = 24000.0, 20000.0, 7 / 365, 0.055
    low = implied_vol(s - k * math.exp(-r * t) + 1.0, s, k, t, r, True)
    high = implied_vol(s - 1.0, s, k, t, r, True)
    assert 0 < low < 1 and math.isfinite(high) and high > 5
    assert bs_price(low, s, k, t, r, True) == pytest.approx(s - k * math.exp(-r * t) + 1.0, abs=1e-8)


def test_solver_steps_stay_few(backend):
    # Speed guard: the closed-form guess leaves about two Householder steps per NIFTY option.
    k, t, v, c = nifty_grid()
    price = bs_price(v, 24000.0, k, t, 0.055, c)
    _, steps = options._implied_vol_and_steps(price, 24000.0, k, t, 0.055, 0.0, c)
    worth = time_value(price, 24000.0, k, t, 0.055, c) > 0.5
    assert steps[worth].mean() < 2.6
    assert steps[worth].max() <= 6


def test_numba_and_numpy_agree(monkeypatch):
    if not options._HAVE_NUMBA:
        pytest.skip("numba not installed")
    k, t, v, c = nifty_grid()
    price = bs_price(v, 24000.0, k, t, 0.055, c)
    fast = implied_vol(price, 24000.0, k, t, 0.055, c)
    fast_greeks = greeks(fast, 24000.0, k, t, 0.055, c)
    monkeypatch.setattr(options, "USE_NUMBA", False)
    slow = implied_vol(price, 24000.0, k, t, 0.055, c)
    slow_greeks = greeks(slow, 24000.0, k, t, 0.055, c)
    worth = time_value(price, 24000.0, k, t, 0.055, c) > 0.5
    np.testing.assert_allclose(fast[worth], slow[worth], atol=1e-12)
    assert np.array_equal(np.isnan(fast), np.isnan(slow))
    for name in fast_greeks:
        np.testing.assert_allclose(fast_greeks[name], slow_greeks[name], rtol=1e-9, atol=1e-12)


@pytest.mark.filterwarnings("ignore:py_vollib is deprecated:DeprecationWarning")
def test_matches_py_vollib_where_time_value_is_worth_something():
    from py_vollib.black_scholes_merton.implied_volatility import implied_volatility

    rng = np.random.default_rng(7)
    n = 400
    strike = 24000.0 + 50.0 * rng.integers(-40, 41, n)
    t = rng.integers(1, 61, n) / 365.0
    vol = rng.uniform(0.08, 0.4, n)
    is_call = rng.random(n) < 0.5
    price = bs_price(vol, 24000.0, strike, t, 0.055, is_call)
    keep = time_value(price, 24000.0, strike, t, 0.055, is_call) > 0.5
    ours = implied_vol(price, 24000.0, strike, t, 0.055, is_call)
    for i in np.flatnonzero(keep):
        theirs = implied_volatility(
            price[i], 24000.0, strike[i], t[i], 0.055, 0.0, "c" if is_call[i] else "p"
        )
        assert abs(ours[i] - theirs) < 1e-8, (strike[i], t[i], vol[i], is_call[i])


# --- Greeks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vol, spot, strike, t, r, q, is_call",
    [
        (0.2, 42.0, 40.0, 0.5, 0.1, 0.0, True),
        (0.2, 42.0, 40.0, 0.5, 0.1, 0.0, False),
        (0.2, 930.0, 900.0, 2 / 12, 0.08, 0.03, True),
        (0.14, 24000.0, 24200.0, 3 / 365, 0.055, 0.0, True),
        (0.14, 24000.0, 23500.0, 3 / 365, 0.055, 0.0, False),
        (0.3, 24000.0, 26000.0, 45 / 365, 0.055, 0.012, True),
    ],
)
def test_greeks_match_finite_differences(backend, vol, spot, strike, t, r, q, is_call):
    g = greeks(vol, spot, strike, t, r, is_call, q=q)

    def p(**bump):
        args = dict(vol=vol, spot=spot, strike=strike, t=t, r=r, is_call=is_call, q=q) | bump
        return ref_price(**args)

    ds, dv, dt, dr = spot * 1e-6, 1e-6, t * 1e-5, 1e-6
    delta = (p(spot=spot + ds) - p(spot=spot - ds)) / (2 * ds)
    gamma = (p(spot=spot + 30 * ds) - 2 * p() + p(spot=spot - 30 * ds)) / (30 * ds) ** 2
    vega = (p(vol=vol + dv) - p(vol=vol - dv)) / (2 * dv) / 100
    theta = -(p(t=t + dt) - p(t=t - dt)) / (2 * dt) / 365
    rho = (p(r=r + dr) - p(r=r - dr)) / (2 * dr) / 100
    assert g["delta"] == pytest.approx(delta, rel=1e-6, abs=1e-9)
    assert g["gamma"] == pytest.approx(gamma, rel=1e-3, abs=1e-9)
    assert g["vega"] == pytest.approx(vega, rel=1e-6, abs=1e-9)
    assert g["theta"] == pytest.approx(theta, rel=1e-5, abs=1e-9)
    assert g["rho"] == pytest.approx(rho, rel=1e-6, abs=1e-9)
    assert g["theta"] < 0 and g["gamma"] > 0 and g["vega"] > 0
    assert bs_price(vol, spot, strike, t, r, is_call, q=q) == pytest.approx(p(), rel=1e-12)


@pytest.mark.filterwarnings("ignore:py_vollib is deprecated:DeprecationWarning")
def test_greeks_match_py_vollib_conventions(backend):
    from py_vollib.black_scholes_merton.greeks import analytical

    for flag in ("c", "p"):
        g = greeks(0.14, 24000.0, 24200.0, 5 / 365, 0.055, flag == "c", q=0.01)
        for name in ("delta", "gamma", "vega", "theta", "rho"):
            theirs = getattr(analytical, name)(flag, 24000.0, 24200.0, 5 / 365, 0.055, 0.14, 0.01)
            assert g[name] == pytest.approx(theirs, rel=1e-9), (flag, name)


def test_greeks_nan_where_undefined(backend):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = greeks(
            [0.2, 0.0, -0.1, math.nan, 0.2, 0.2],
            [42.0, 42.0, 42.0, 42.0, -42.0, 42.0],
            40.0,
            [0.5, 0.5, 0.5, 0.5, 0.5, 0.0],
            0.1,
            True,
        )
    for values in g.values():
        assert math.isfinite(values[0])
        assert np.isnan(values[1:]).all()


# --- time to expiry ----------------------------------------------------------------------------------


def test_year_fraction_to_1530_ist():
    # 09:15 IST on expiry day: 6 h 15 min to the 15:30 close
    now = datetime(2025, 1, 2, 9, 15, tzinfo=IST)
    assert year_fraction(now, date(2025, 1, 2)) == pytest.approx(6.25 / (365 * 24))
    # the same instant in UTC gives the same answer; a week earlier adds 7/365
    assert year_fraction(now.astimezone(UTC), date(2025, 1, 2)) == pytest.approx(6.25 / (365 * 24))
    assert year_fraction(now, date(2025, 1, 9)) == pytest.approx(7 / 365 + 6.25 / (365 * 24))
    assert type(year_fraction(now, date(2025, 1, 2))) is float


def test_year_fraction_zero_once_past():
    assert year_fraction(datetime(2025, 1, 2, 15, 30, tzinfo=IST), date(2025, 1, 2)) == 0.0
    assert year_fraction(datetime(2025, 1, 2, 10, 1, tzinfo=UTC), date(2025, 1, 2)) == 0.0  # 15:31 IST
    assert year_fraction(datetime(2025, 1, 3, 9, 15, tzinfo=IST), date(2025, 1, 2)) == 0.0


def test_year_fraction_needs_aware_datetime():
    with pytest.raises(ValueError):
        year_fraction(datetime(2025, 1, 2, 9, 15), date(2025, 1, 2))
