"""Payoff analysis against hand-worked figures and an independent Black-Scholes written here."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pytest

from trading.core.calendar import IST
from trading.core.combos.model import BUY, CE, FUT, PE, SELL, PricedLeg, priced_leg
from trading.core.combos.payoff import (
    analyse,
    breakevens,
    expiry_pnl,
    extremes,
    net_greeks,
    net_premium,
    pnl_today,
    probability_of_profit,
    spot_grid,
)

EXP = date(2026, 5, 5)
LATER = date(2026, 5, 12)
NOW = datetime(2026, 5, 4, 10, 0, tzinfo=IST)
T = 29.5 / 24 / 365  # 2026-05-04 10:00 -> 2026-05-05 15:30 IST
R = 0.055
IV = 0.15


def leg(kind, side, strike, premium, lots=1, expiry=EXP, iv=None):
    return priced_leg("NIFTY", kind, side, strike, expiry, lots, premium, iv=iv)


def _n(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def bs(spot, strike, t, r, vol, call):
    s = vol * math.sqrt(t)
    d1 = (math.log(spot / strike) + (r + 0.5 * vol * vol) * t) / s
    d2 = d1 - s
    if call:
        return spot * _n(d1) - strike * math.exp(-r * t) * _n(d2)
    return strike * math.exp(-r * t) * _n(-d2) - spot * _n(-d1)


def straddle():
    return [leg(CE, SELL, 24000, 150), leg(PE, SELL, 24000, 140)]


# --- unlimited and bounded extremes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "legs, max_profit, max_loss",
    [
        # Naked short CE: keeps 150 x 65; loses without bound as the index rises.
        ([leg(CE, SELL, 24000, 150)], 9750.0, None),
        # Naked short PE: the index cannot fall below 0, so the loss is (24,000 - 140) x 65.
        ([leg(PE, SELL, 24000, 140)], 9100.0, -1550900.0),
        ([leg(CE, BUY, 24000, 150)], None, -9750.0),
        ([leg(PE, BUY, 24000, 140)], 1550900.0, -9100.0),
        # Long future at 24,050: unlimited profit; at spot 0 it loses 24,050 x 65.
        ([leg(FUT, BUY, None, 24050)], None, -1563250.0),
        ([leg(FUT, SELL, None, 24050)], 1563250.0, None),
        # Covered call: long future + short CE 24,200 @ 70 -> capped at (150 + 70) x 65 above 24,200.
        ([leg(FUT, BUY, None, 24050), leg(CE, SELL, 24200, 70)], 14300.0, -1558700.0),
    ],
)
def test_extremes_of_single_legs_and_a_covered_call(legs, max_profit, max_loss):
    ext = extremes(legs)
    assert (ext.max_profit, ext.max_loss) == (max_profit, max_loss)


def test_unboundedness_comes_from_the_slope_not_the_edge_of_a_grid():
    # Buy 1 lot 24,000 CE @ 150, sell 2 lots 30,000 CE @ 1: on any chart around the money the
    # profit keeps rising, yet it peaks at 30,000 and the loss is unlimited beyond.
    legs = [leg(CE, BUY, 24000, 150), leg(CE, SELL, 30000, 1, lots=2)]
    grid = spot_grid(legs, 24000)
    values = expiry_pnl(legs, grid[grid < 27000])
    assert np.all(np.diff(values[values > -9620]) >= 0)  # looks like unlimited profit near the money
    ext = extremes(legs)
    # At 30,000: (6,000 - 150) + 2 x 1 = 5,852 points x 65 = 380,380; beyond, slope -65 per point.
    assert ext.max_profit == 380380.0
    assert ext.max_loss is None
    assert (ext.slope_at_zero, ext.slope_at_infinity) == (0.0, -65.0)
    # Breakevens: 24,000 + 148 and 30,000 + 5,852.
    assert breakevens(legs) == (24148.0, 35852.0)


def test_a_payoff_that_touches_zero_at_a_kink_has_that_kink_as_breakeven():
    # Buy 24,000 CE @ 100, sell 24,100 CE @ 0: P&L is 0 from 24,100 up, -6,500 below 24,000.
    legs = [leg(CE, BUY, 24000, 100), leg(CE, SELL, 24100, 0)]
    assert breakevens(legs) == (24100.0,)
    ext = extremes(legs)
    assert (ext.max_profit, ext.max_loss) == (0.0, -6500.0)


def test_no_breakeven_when_always_in_profit_or_loss():
    assert breakevens([leg(CE, SELL, 24000, 0.5), leg(CE, BUY, 24000, 0.0)]) == ()


def test_breakevens_of_unequal_lots_are_exact_between_kinks():
    # Sell 2 lots 24,000 PE @ 100, buy 1 lot 23,800 PE @ 40: credit 160 x 65.
    # Below 23,800 the slope is +65 (2 x 65 short minus 65 long); between, +130.
    # Zero at 24,000 - 160/2 = 23,920. Value at 23,800: 65 x (160 - 2 x 200) = -15,600.
    legs = [leg(PE, SELL, 24000, 100, lots=2), leg(PE, BUY, 23800, 40)]
    assert breakevens(legs) == (23920.0,)
    ext = extremes(legs)
    # At 0: 65 x (160 - 2 x 24,000 + 23,800) = 65 x (-24,040) = -1,562,600.
    assert (ext.max_profit, ext.max_loss) == (10400.0, -1562600.0)


# --- today, Greeks, probability of profit ------------------------------------------------------------


def test_pnl_today_against_an_independent_black_scholes():
    spots = [23500.0, 24000.0, 24321.5]
    want = [
        65 * (150 - bs(s, 24000, T, R, IV, True)) + 65 * (140 - bs(s, 24000, T, R, IV, False)) for s in spots
    ]
    assert pnl_today(straddle(), spots, now=NOW, iv=IV, r=R) == pytest.approx(want, rel=1e-10)


def test_future_today_is_worth_its_fair_value():
    got = pnl_today([leg(FUT, BUY, None, 24050)], [24000.0], now=NOW, iv=IV, r=R)[0]
    assert got == pytest.approx(65 * (24000 * math.exp(R * T) - 24050), rel=1e-12)


def test_net_greeks_against_finite_differences_of_an_independent_model():
    legs = [leg(CE, SELL, 24000, 150), leg(PE, SELL, 23800, 60), leg(CE, BUY, 24300, 30, lots=2)]

    def value(spot, vol=IV, t=T):
        total = 0.0
        for lg in legs:
            total += lg.sign * lg.quantity * bs(spot, lg.strike, t, R, vol, lg.instrument == CE)
        return total

    g = net_greeks(legs, spot=24000, now=NOW, iv=IV, r=R)
    h = 0.01
    assert g.delta == pytest.approx((value(24000 + h) - value(24000 - h)) / (2 * h), rel=1e-6)
    assert g.gamma == pytest.approx((value(24000 + 1) - 2 * value(24000) + value(24000 - 1)), rel=1e-4)
    assert g.vega == pytest.approx((value(24000, IV + 1e-5) - value(24000, IV - 1e-5)) / 2e-5 / 100, rel=1e-6)
    dt = 1e-7  # years; theta is -dV/dt per calendar day (t = time left)
    assert g.theta == pytest.approx(
        -(value(24000, t=T + dt) - value(24000, t=T - dt)) / (2 * dt) / 365, rel=1e-5
    )


def test_greeks_of_a_future_and_of_an_expired_leg():
    g = net_greeks([leg(FUT, SELL, None, 24050)], spot=24000, now=NOW, iv=IV, r=R)
    assert g.delta == pytest.approx(-65 * math.exp(R * T))
    assert g.theta == pytest.approx(65 * R * 24000 * math.exp(R * T) / 365)
    after = datetime(2026, 5, 6, 10, 0, tzinfo=IST)  # the 05-05 leg has expired; the 05-12 one is alive
    legs = [leg(CE, SELL, 24000, 150), leg(CE, BUY, 24000, 260, expiry=LATER)]
    g = net_greeks(legs, spot=24100, now=after, iv=IV, r=R)
    t_far = (6 * 24 + 5.5) / 24 / 365
    d_far = _n((math.log(24100 / 24000) + (R + 0.5 * IV * IV) * t_far) / (IV * math.sqrt(t_far)))
    assert g.delta == pytest.approx(65 * (d_far - 1.0), rel=1e-9)  # expired ITM short CE: delta -1


def _lognormal_cdf(x, spot=24000.0, vol=IV, t=T, r=R):
    return _n((math.log(x / spot) - (r - 0.5 * vol * vol) * t) / (vol * math.sqrt(t)))


def test_probability_of_profit_lognormal_at_atm_iv():
    # Short straddle: profit strictly between the breakevens 23,710 and 24,290.
    pop = probability_of_profit(straddle(), spot=24000, now=NOW, iv=IV, r=R)
    assert pop == pytest.approx(_lognormal_cdf(24290) - _lognormal_cdf(23710), rel=1e-12)
    # Long call: profit above 24,150.
    pop = probability_of_profit([leg(CE, BUY, 24000, 150)], spot=24000, now=NOW, iv=IV, r=R)
    assert pop == pytest.approx(1 - _lognormal_cdf(24150), rel=1e-12)
    # At the expiry moment the outcome is known.
    at_close = datetime(2026, 5, 5, 15, 30, tzinfo=IST)
    assert probability_of_profit(straddle(), spot=24100, now=at_close, iv=IV, r=R) == 1.0
    assert probability_of_profit(straddle(), spot=24400, now=at_close, iv=IV, r=R) == 0.0


# --- the whole analysis ------------------------------------------------------------------------------


def test_analyse_short_straddle():
    a = analyse(straddle(), spot=24000, now=NOW, iv=IV, r=R)
    assert a.evaluation_expiry == EXP
    assert (a.max_profit, a.max_loss, a.breakevens) == (18850.0, None, (23710.0, 24290.0))
    assert a.net_premium == 18850.0
    assert np.all(np.diff(a.spots) > 0)
    assert {23710.0, 24000.0, 24290.0} <= set(a.spots.tolist())
    at = dict(zip(a.spots.tolist(), a.at_expiry.tolist()))
    assert at[24000.0] == 18850.0 and at[23710.0] == 0.0 and at[24290.0] == 0.0
    i = int(np.flatnonzero(a.spots == 24000.0)[0])
    assert a.today[i] == pytest.approx(
        65 * (290 - bs(24000, 24000, T, R, IV, True) - bs(24000, 24000, T, R, IV, False))
    )
    assert a.greeks.theta > 0 and a.greeks.gamma < 0 and a.greeks.vega < 0
    assert 0 < a.probability_of_profit < 1


def test_analyse_uses_the_given_grid_and_net_premium_ignores_futures():
    legs = [leg(FUT, BUY, None, 24050), leg(PE, BUY, 23800, 60)]
    a = analyse(legs, spot=24000, now=NOW, iv=IV, r=R, spots=[23000.0, 25000.0])
    assert a.spots.tolist() == [23000.0, 25000.0]
    # 23,000: future -1,050, put +800 - 60 -> (-1,050 + 740) x 65 = -20,150.
    assert a.at_expiry.tolist() == [-20150.0, (950 - 60) * 65.0]
    assert net_premium(legs) == -3900.0
    # The put floors the loss at 23,800: (23,800 - 24,050 - 60) x 65 = -20,150.
    assert (a.max_profit, a.max_loss) == (None, -20150.0)


def test_bad_inputs_are_refused_with_the_field_named():
    with pytest.raises(ValueError, match="type"):
        PricedLeg("XX", BUY, 24000, EXP, 1, 10.0, 65)
    with pytest.raises(ValueError, match="side"):
        PricedLeg(CE, "HOLD", 24000, EXP, 1, 10.0, 65)
    with pytest.raises(ValueError, match="strike"):
        PricedLeg(CE, BUY, -5, EXP, 1, 10.0, 65)
    with pytest.raises(ValueError, match="strike"):
        PricedLeg(CE, BUY, None, EXP, 1, 10.0, 65)
    with pytest.raises(ValueError, match="no strike"):
        PricedLeg(FUT, BUY, 24000, EXP, 1, 24000.0, 65)
    with pytest.raises(ValueError, match="lots"):
        PricedLeg(CE, BUY, 24000, EXP, 0, 10.0, 65)
    with pytest.raises(ValueError, match="premium"):
        PricedLeg(CE, BUY, 24000, EXP, 1, -1.0, 65)
    with pytest.raises(ValueError, match="premium"):
        PricedLeg(CE, BUY, 24000, EXP, 1, float("nan"), 65)
    with pytest.raises(ValueError, match="expiry"):
        PricedLeg(CE, BUY, 24000, "2026-05-05", 1, 10.0, 65)
    with pytest.raises(ValueError, match="at least one leg"):
        extremes([])
    # A leg that outlives the evaluation expiry needs an IV to be valued there.
    with pytest.raises(ValueError, match="leg 2 .* needs an IV"):
        extremes([leg(CE, SELL, 24000, 150), leg(CE, BUY, 24000, 260, expiry=LATER)])
    with pytest.raises(ValueError, match="positive"):
        analyse(straddle(), spot=24000, now=NOW, iv=0.0)


def test_calendar_of_futures_is_linear_with_the_far_future_at_its_fair_value():
    # Sell the 05-05 future at 24,000, buy the 05-12 one at 24,100 (no weekly future exists; this
    # only exercises the model). At the near expiry: 65 x (-(S - 24,000) + S e^{r 7/365} - 24,100).
    legs = [leg(FUT, SELL, None, 24000), leg(FUT, BUY, None, 24100, expiry=LATER)]
    g = math.exp(R * 7 / 365)
    ext = extremes(legs, r=R)
    assert ext.max_profit is None  # the carry grows with the spot
    assert ext.max_loss == pytest.approx(-6500.0)  # at spot 0
    assert ext.slope_at_infinity == pytest.approx(65 * (g - 1))
    assert breakevens(legs, r=R) == pytest.approx((100 / (g - 1),), rel=1e-12)
