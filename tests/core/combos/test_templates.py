"""Every template, resolved on the hand-made chain, against maximum profit/loss and breakevens
worked by hand (NIFTY lot 65 for the 2026-05-05 and 2026-05-12 expiries)."""

from __future__ import annotations

import math
from datetime import date, time

import pytest

from trading.core import contracts
from trading.core.combos import templates
from trading.core.combos.model import BUY, CE, MIS, NRML, PE, SELL, ComboSpec, Threshold, priced_leg
from trading.core.combos.payoff import breakevens, expiry_pnl, extremes
from trading.core.combos.resolve import resolve_combo

from .conftest import FAR, LOT, NEAR, ON

R = 0.055


def legs_of(spec: ComboSpec, chains):
    return resolve_combo(spec, on=ON, chains=chains)


def shape(legs):
    return [(leg.instrument, leg.side, leg.strike, leg.expiry, leg.premium, leg.lot_size) for leg in legs]


def test_lot_size_of_these_contracts_is_65():
    assert contracts.lot_size("NIFTY", NEAR) == LOT == contracts.lot_size("NIFTY", FAR)


def test_short_straddle(chains):
    spec = templates.short_straddle()
    assert spec.product == MIS and spec.entry_time == time(9, 20) and spec.exit_time == time(15, 15)
    assert all(leg.stop_loss == Threshold.fraction(0.25) for leg in spec.legs)
    legs = legs_of(spec, chains)
    assert shape(legs) == [(CE, SELL, 24000, NEAR, 150, 65), (PE, SELL, 24000, NEAR, 140, 65)]
    # Credit 150 + 140 = 290 points x 65 = 18,850; loss unlimited above; breakevens 24,000 -+ 290.
    ext = extremes(legs)
    assert ext.max_profit == 18850.0
    assert ext.max_loss is None
    assert ext.slope_at_infinity == -65.0  # the short CE alone grows past every strike
    assert breakevens(legs) == (23710.0, 24290.0)


def test_short_strangle(chains):
    legs = legs_of(templates.short_strangle(), chains)  # 4 steps of 50 out: 24,200 CE, 23,800 PE
    assert shape(legs) == [(CE, SELL, 24200, NEAR, 70, 65), (PE, SELL, 23800, NEAR, 60, 65)]
    # Credit 70 + 60 = 130 x 65 = 8,450; breakevens 23,800 - 130 and 24,200 + 130.
    ext = extremes(legs)
    assert (ext.max_profit, ext.max_loss) == (8450.0, None)
    assert breakevens(legs) == (23670.0, 24330.0)


def test_iron_condor(chains):
    legs = legs_of(templates.iron_condor(), chains)
    assert shape(legs) == [
        (CE, BUY, 24400, NEAR, 25, 65),
        (PE, BUY, 23600, NEAR, 20, 65),
        (CE, SELL, 24200, NEAR, 70, 65),
        (PE, SELL, 23800, NEAR, 60, 65),
    ]
    # Credit 70 + 60 - 25 - 20 = 85 -> 5,525. Wings 200 wide: loss (200 - 85) x 65 = 7,475 either side.
    ext = extremes(legs)
    assert (ext.max_profit, ext.max_loss) == (5525.0, -7475.0)
    assert ext.slope_at_infinity == 0.0 and ext.slope_at_zero == 0.0
    assert breakevens(legs) == (23715.0, 24285.0)


def test_iron_butterfly(chains):
    legs = legs_of(templates.iron_butterfly(), chains)
    assert shape(legs) == [
        (CE, BUY, 24200, NEAR, 70, 65),
        (PE, BUY, 23800, NEAR, 60, 65),
        (CE, SELL, 24000, NEAR, 150, 65),
        (PE, SELL, 24000, NEAR, 140, 65),
    ]
    # Credit 290 - 130 = 160 -> 10,400; loss (200 - 160) x 65 = 2,600; breakevens 24,000 -+ 160.
    ext = extremes(legs)
    assert (ext.max_profit, ext.max_loss) == (10400.0, -2600.0)
    assert breakevens(legs) == (23840.0, 24160.0)


def test_bull_call_spread(chains):
    legs = legs_of(templates.bull_call_spread(), chains)
    assert shape(legs) == [(CE, BUY, 24000, NEAR, 150, 65), (CE, SELL, 24200, NEAR, 70, 65)]
    # Debit 80 -> loss 5,200; profit (200 - 80) x 65 = 7,800; breakeven 24,000 + 80.
    ext = extremes(legs)
    assert (ext.max_profit, ext.max_loss) == (7800.0, -5200.0)
    assert breakevens(legs) == (24080.0,)


def test_bear_put_spread(chains):
    legs = legs_of(templates.bear_put_spread(), chains)
    assert shape(legs) == [(PE, BUY, 24000, NEAR, 140, 65), (PE, SELL, 23800, NEAR, 60, 65)]
    # Debit 80 -> loss 5,200; profit 120 x 65 = 7,800; breakeven 24,000 - 80.
    ext = extremes(legs)
    assert (ext.max_profit, ext.max_loss) == (7800.0, -5200.0)
    assert breakevens(legs) == (23920.0,)


def test_bull_put_spread(chains):
    legs = legs_of(templates.bull_put_spread(), chains)
    assert shape(legs) == [(PE, BUY, 23800, NEAR, 60, 65), (PE, SELL, 24000, NEAR, 140, 65)]
    # Credit 80 -> profit 5,200; loss (200 - 80) x 65 = 7,800; breakeven 24,000 - 80.
    ext = extremes(legs)
    assert (ext.max_profit, ext.max_loss) == (5200.0, -7800.0)
    assert breakevens(legs) == (23920.0,)


def test_bear_call_spread(chains):
    legs = legs_of(templates.bear_call_spread(), chains)
    assert shape(legs) == [(CE, BUY, 24200, NEAR, 70, 65), (CE, SELL, 24000, NEAR, 150, 65)]
    # Credit 80 -> profit 5,200; loss 7,800; breakeven 24,000 + 80.
    ext = extremes(legs)
    assert (ext.max_profit, ext.max_loss) == (5200.0, -7800.0)
    assert breakevens(legs) == (24080.0,)


def test_long_straddle(chains):
    legs = legs_of(templates.long_straddle(), chains)
    assert shape(legs) == [(CE, BUY, 24000, NEAR, 150, 65), (PE, BUY, 24000, NEAR, 140, 65)]
    # Debit 290 -> loss 18,850 at 24,000; profit unlimited upwards (and 23,710 x 65 at spot 0).
    ext = extremes(legs)
    assert (ext.max_profit, ext.max_loss) == (None, -18850.0)
    assert breakevens(legs) == (23710.0, 24290.0)


def _n(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _black76_call(forward: float, strike: float, t: float, r: float, vol: float) -> float:
    s = vol * math.sqrt(t)
    d1 = (math.log(forward / strike) + 0.5 * s * s) / s
    return math.exp(-r * t) * (forward * _n(d1) - strike * _n(d1 - s))


def _calendar_pnl(spot: float) -> float:
    """Sell the 05-05 24,000 CE at 150, buy the 05-12 24,000 CE at 260 (IV 14%): P&L on 05-05 15:30."""
    tau = 7 / 365
    far = _black76_call(spot * math.exp(R * tau), 24000.0, tau, R, 0.14)
    return 65 * ((150.0 - max(spot - 24000.0, 0.0)) + (far - 260.0))


def _bisect(f, lo: float, hi: float) -> float:
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if (f(lo) < 0) == (f(mid) < 0):
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def test_calendar_spread_at_the_near_expiry_against_an_independent_black76(chains):
    spec = templates.calendar_spread()
    assert spec.product == NRML and spec.exit_time is None
    legs = legs_of(spec, chains)
    assert shape(legs) == [(CE, BUY, 24000, FAR, 260, 65), (CE, SELL, 24000, NEAR, 150, 65)]
    assert legs[0].iv == 0.14  # the far leg carries its entry IV from the chain
    spots = [23000.0, 23600.0, 23950.0, 24000.0, 24050.0, 24400.0, 25500.0]
    assert expiry_pnl(legs, spots, r=R) == pytest.approx([_calendar_pnl(s) for s in spots], rel=1e-10)
    ext = extremes(legs, r=R)
    # Below the strike the P&L rises with the far call's delta, above it falls with (delta - 1):
    # the peak is at the strike. The low is at spot 0: both calls worthless, the debit 110 x 65 lost.
    assert ext.max_profit == pytest.approx(_calendar_pnl(24000.0), rel=1e-12)
    assert ext.max_loss == pytest.approx(-7150.0, abs=1e-9)
    assert ext.slope_at_infinity == 0.0
    lo = _bisect(_calendar_pnl, 23000.0, 24000.0)
    hi = _bisect(_calendar_pnl, 24000.0, 25000.0)
    assert breakevens(legs, r=R) == pytest.approx((lo, hi), abs=1e-6)


def test_calendar_across_a_lot_revision_uses_each_contracts_lot():
    # On 2025-12-22 the 2025-12-23 weekly still has lot 75 and the 2026-01-06 weekly lot 65.
    near, far = date(2025, 12, 23), date(2026, 1, 6)
    legs = [
        priced_leg("NIFTY", CE, SELL, 26000, near, 1, 100.0),
        priced_leg("NIFTY", CE, BUY, 26000, far, 1, 250.0, iv=0.12),
    ]
    assert [leg.quantity for leg in legs] == [75, 65]
    # At spot 0 both calls are worthless: +100 x 75 - 250 x 65 = 7,500 - 16,250 = -8,750.
    assert expiry_pnl(legs, [0.0])[0] == pytest.approx(-8750.0)
    # Past every strike: the short CE (75 units) outgrows the long one (65): loss unlimited.
    ext = extremes(legs)
    assert ext.max_loss is None and ext.slope_at_infinity == -10.0


def test_template_registry_and_parameters():
    assert sorted(templates.TEMPLATES) == sorted(
        [
            "short_straddle",
            "short_strangle",
            "iron_condor",
            "iron_butterfly",
            "bull_call_spread",
            "bear_put_spread",
            "bull_put_spread",
            "bear_call_spread",
            "long_straddle",
            "calendar_spread",
        ]
    )
    spec = templates.build_template("iron_condor", "BANKNIFTY", lots=2, short_steps=2, wing_steps=3)
    assert spec.index == "BANKNIFTY" and all(leg.lots == 2 for leg in spec.legs)
    assert [leg.strike.value for leg in spec.legs] == [5, 5, 2, 2]
    spec = templates.short_straddle(product=NRML, exit_time=None, stop_loss=5000)
    assert spec.product == NRML and spec.stop_loss == 5000
    with pytest.raises(ValueError, match="unknown template"):
        templates.build_template("jade_lizard")
    with pytest.raises(ValueError, match="at least one strike step"):
        templates.iron_condor(wing_steps=0)
    with pytest.raises(ValueError, match="two different expiries"):
        templates.calendar_spread(near_expiry="CURRENT_WEEK", far_expiry="CURRENT_WEEK")
