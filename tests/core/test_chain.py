"""Chain analytics against small chains worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trading.core import chain

# A four-strike chain built so that max pain is none of the "big OI" strikes.
STRIKES = [100, 110, 120, 130]
CALL_OI = [5, 10, 10, 60]
PUT_OI = [40, 20, 10, 6]


def test_pcr_by_hand():
    # puts 40 + 20 + 10 + 6 = 76; calls 5 + 10 + 10 + 60 = 85; 76 / 85 = 0.894117...
    assert chain.pcr(PUT_OI, CALL_OI) == pytest.approx(76 / 85)
    # volumes work the same way; NaN counts as 0: (300 + 0) / (100 + 150) = 1.2
    assert chain.pcr([300, math.nan], [100, 150]) == pytest.approx(1.2)
    assert math.isnan(chain.pcr([10, 20], [0, 0]))


def test_pain_curve_and_max_pain_by_hand():
    # pain(P) = sum_K callOI(K)*max(P-K,0) + putOI(K)*max(K-P,0)
    # P=100: calls 0;                        puts 20*10 + 10*20 + 6*30 = 200+200+180 = 580
    # P=110: calls 5*10 = 50;                puts 10*10 + 6*20 = 100+120 = 220  -> 270
    # P=120: calls 5*20 + 10*10 = 200;       puts 6*10 = 60                     -> 260
    # P=130: calls 5*30 + 10*20 + 10*10 = 450; puts 0                          -> 450
    np.testing.assert_allclose(chain.pain_curve(STRIKES, CALL_OI, PUT_OI), [580, 270, 260, 450])
    assert chain.max_pain(STRIKES, CALL_OI, PUT_OI) == 120.0


def test_max_pain_is_not_the_largest_oi_strike():
    total = np.add(CALL_OI, PUT_OI)  # 45, 30, 20, 66 -> 130 has the largest OI
    largest_oi_strike = STRIKES[int(np.argmax(total))]
    assert largest_oi_strike == 130
    assert chain.max_pain(STRIKES, CALL_OI, PUT_OI) == 120.0 != largest_oi_strike
    assert chain.support_resistance(STRIKES, CALL_OI, PUT_OI) == (100.0, 130.0)


def test_max_pain_tie_goes_to_lower_strike_and_order_does_not_matter():
    # Put OI at 130 = 5: pain = [550, 250, 250, 450] -> 110 and 120 tie; the lower, 110, wins.
    put_oi = [40, 20, 10, 5]
    np.testing.assert_allclose(chain.pain_curve(STRIKES, CALL_OI, put_oi), [550, 250, 250, 450])
    assert chain.max_pain(STRIKES, CALL_OI, put_oi) == 110.0
    order = [3, 1, 0, 2]
    shuffled = [np.take(a, order) for a in (STRIKES, CALL_OI, put_oi)]
    assert chain.max_pain(*shuffled) == 110.0
    assert math.isnan(chain.max_pain([], [], []))


def test_oi_buildup():
    assert chain.oi_buildup(+12.5, +1000) == chain.LONG_BUILDUP
    assert chain.oi_buildup(+12.5, -1000) == chain.SHORT_COVERING
    assert chain.oi_buildup(-12.5, +1000) == chain.SHORT_BUILDUP
    assert chain.oi_buildup(-12.5, -1000) == chain.LONG_UNWINDING
    assert chain.oi_buildup(0.0, +1000) == chain.NEUTRAL
    assert chain.oi_buildup(5.0, 0) == chain.NEUTRAL
    labels = chain.oi_buildup_array([1, 1, -1, -1, 0, math.nan], [1, -1, 1, -1, 1, 1])
    assert list(labels) == [
        "LONG_BUILDUP",
        "SHORT_COVERING",
        "SHORT_BUILDUP",
        "LONG_UNWINDING",
        "NEUTRAL",
        "NEUTRAL",
    ]


def test_strike_selection():
    assert chain.atm_strike(24737.0, 50) == 24750.0
    assert chain.atm_strike(24724.99, 50) == 24700.0
    assert chain.atm_strike(24725.0, 50) == 24750.0  # half-way rounds up
    assert chain.select_strike(24737.0, 50, "CE", steps_otm=1) == 24800.0
    assert chain.select_strike(24737.0, 50, "PE", steps_otm=1) == 24700.0
    assert chain.select_strike(24737.0, 50, "PE", steps_otm=-1) == 24800.0  # one ITM
    assert chain.select_strike(24737.0, 50, "CE") == 24750.0
    with pytest.raises(ValueError):
        chain.select_strike(24737.0, 50, "XX")


def test_strike_by_delta():
    strikes = [24600, 24700, 24800, 24900]
    # |0.42 - 0.40| = 0.02 is the closest call delta
    assert chain.strike_by_delta(strikes, [0.70, 0.55, 0.42, 0.30], 0.40) == 24800.0
    # puts: |-0.45 + 0.50| = 0.05 < |-0.58 + 0.50| = 0.08
    assert chain.strike_by_delta(strikes, [-0.30, -0.45, -0.58, -0.70], -0.50) == 24700.0
    assert chain.strike_by_delta(strikes, [0.70, math.nan, 0.42, 0.30], 0.50) == 24800.0
    with pytest.raises(ValueError):
        chain.strike_by_delta(strikes, [math.nan] * 4, 0.5)


def test_iv_rank_and_percentile_by_hand():
    history = [10.0, 12.0, 14.0, 16.0, 20.0]
    # rank = (15 - 10) / (20 - 10) * 100 = 50; below 15: 10, 12, 14 -> 3/5 = 60%
    assert chain.iv_rank(15.0, history) == pytest.approx(50.0)
    assert chain.iv_percentile(15.0, history) == pytest.approx(60.0)
    # strictly below: at 14 only 10 and 12 count -> 40%
    assert chain.iv_percentile(14.0, history) == pytest.approx(40.0)
    assert chain.iv_rank(25.0, history) == pytest.approx(150.0)  # not clipped
    assert math.isnan(chain.iv_rank(15.0, []))
    assert math.isnan(chain.iv_percentile(15.0, []))
    assert math.isnan(chain.iv_rank(12.0, [12.0, 12.0]))  # zero range
    assert chain.iv_percentile(12.0, [12.0, 12.0]) == 0.0


def test_expected_move():
    # 25,800 * 0.15 / sqrt(252) = 3,870 / 15.8745 = 243.79 points
    assert chain.expected_move(25800, 15) == pytest.approx(243.787, abs=1e-3)
    assert chain.expected_move(25800, 15, days=4) == pytest.approx(2 * 243.787, abs=2e-3)
    np.testing.assert_allclose(
        chain.expected_move(np.array([25800.0, 51600.0]), 15), [243.787, 487.574], atol=2e-3
    )


def test_synthetic_forward():
    # F = 24000 + e^{0.055 * 7/365} * (250 - 200) = 24000 + 1.0010553 * 50 = 24050.0528
    t = 7 / 365
    f = chain.synthetic_forward(24000, 250, 200, 0.055, t)
    assert f == pytest.approx(24000 + math.exp(0.055 * t) * 50)
    assert f == pytest.approx(24050.0528, abs=1e-4)
