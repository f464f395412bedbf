"""The margin estimate on combos worked by hand (NIFTY, spot 24,000, lot 65, defaults 6% / 3% / 2%)."""

from __future__ import annotations

from datetime import date

import pytest

from trading.core.combos.margin import (
    COVERED,
    FUTURE,
    LONG_OPTION,
    UNCOVERED_SHORT,
    MarginParams,
    estimate_margin,
    uncovered_short_margin,
)
from trading.core.combos.model import BUY, CE, FUT, PE, SELL, priced_leg

EXP = date(2026, 5, 5)
LATER = date(2026, 5, 12)
SPOT = 24000.0


def leg(kind, side, strike, premium, lots=1, expiry=EXP):
    return priced_leg("NIFTY", kind, side, strike, expiry, lots, premium)


def kinds(est):
    return [(item.kind, item.legs, item.quantity, item.amount) for item in est.items]


def test_short_straddle_two_uncovered_shorts():
    # Each ATM short: max(6% x 24,000 - 0, 3% x 24,000) + 2% x 24,000 = 1,440 + 480 = 1,920 per unit,
    # x 65 = 124,800; two legs 249,600.
    est = estimate_margin([leg(CE, SELL, 24000, 150), leg(PE, SELL, 24000, 140)], spot=SPOT)
    assert est.is_estimate and not est.fully_covered
    assert kinds(est) == [(UNCOVERED_SHORT, (0,), 65, 124800.0), (UNCOVERED_SHORT, (1,), 65, 124800.0)]
    assert est.total == 249600.0


def test_short_strangle_out_of_the_money_relief():
    # 200 points OTM each: 1,440 - 0.5 x 200 = 1,340 (> floor 720), + 480 = 1,820 x 65 = 118,300 each.
    est = estimate_margin([leg(CE, SELL, 24200, 70), leg(PE, SELL, 23800, 60)], spot=SPOT)
    assert est.total == 236600.0


def test_far_otm_short_hits_the_floor():
    # 2,000 points OTM: 1,440 - 1,000 = 440 < floor 720 -> 720 + 480 = 1,200 x 65 = 78,000.
    assert uncovered_short_margin(CE, 26000, SPOT, 65) == 78000.0
    assert uncovered_short_margin(PE, 22000, SPOT, 65) == 78000.0
    # In the money there is no relief: a 24,000 PE at spot 23,000 -> 6% + 2% of 23,000 = 1,840 x 65.
    assert uncovered_short_margin(PE, 24000, 23000, 65) == pytest.approx(119600.0)


def test_iron_condor_fully_covered_needs_its_max_loss():
    legs = [
        leg(CE, BUY, 24400, 25),
        leg(PE, BUY, 23600, 20),
        leg(CE, SELL, 24200, 70),
        leg(PE, SELL, 23800, 60),
    ]
    est = estimate_margin(legs, spot=SPOT)
    # Credit 85; wings 200: max loss (200 - 85) x 65 = 7,475.
    assert est.fully_covered
    assert kinds(est) == [(COVERED, (0, 1, 2, 3), 260, 7475.0)]
    assert est.total == 7475.0


def test_credit_and_debit_spreads():
    # Bull put: sell 24,000 PE @ 140, buy 23,800 PE @ 60: max loss (200 - 80) x 65 = 7,800.
    assert estimate_margin([leg(PE, BUY, 23800, 60), leg(PE, SELL, 24000, 140)], spot=SPOT).total == 7800.0
    # Bull call (debit): buy 24,000 CE @ 150, sell 24,200 CE @ 70: the long is in the money of the
    # short and covers it; the most it can lose is the debit 80 x 65 = 5,200.
    debit = [leg(CE, BUY, 24000, 150), leg(CE, SELL, 24200, 70)]
    assert estimate_margin(debit, spot=SPOT).total == 5200.0
    # Read literally (cover only from further out of the money) the short is naked:
    # 1,820 x 65 = 118,300 plus the long's premium 150 x 65 = 9,750.
    literal = estimate_margin(debit, spot=SPOT, params=MarginParams(itm_long_covers=False))
    assert kinds(literal) == [(UNCOVERED_SHORT, (1,), 65, 118300.0), (LONG_OPTION, (0,), 65, 9750.0)]
    assert literal.total == 128050.0


def test_partly_covered_short():
    # Sell 2 lots 24,200 CE @ 70, buy 1 lot 24,400 CE @ 25 at spot 24,000.
    # Covered pair (1 lot each): max loss (200 - 45) x 65 = 10,075.
    # Uncovered lot: 1,820 x 65 = 118,300. Total 128,375.
    est = estimate_margin([leg(CE, SELL, 24200, 70, lots=2), leg(CE, BUY, 24400, 25)], spot=SPOT)
    assert not est.fully_covered
    assert kinds(est) == [(COVERED, (0, 1), 130, 10075.0), (UNCOVERED_SHORT, (0,), 65, 118300.0)]
    assert est.total == 128375.0


def test_cover_must_be_the_same_type_and_expiry():
    # Calendar: the far CE does not cover the near short CE -> 124,800 + 260 x 65 = 141,700.
    est = estimate_margin([leg(CE, BUY, 24000, 260, expiry=LATER), leg(CE, SELL, 24000, 150)], spot=SPOT)
    assert kinds(est) == [(UNCOVERED_SHORT, (1,), 65, 124800.0), (LONG_OPTION, (0,), 65, 16900.0)]
    # A long PE does not cover a short CE.
    est = estimate_margin([leg(PE, BUY, 24000, 140), leg(CE, SELL, 24000, 150)], spot=SPOT)
    assert est.total == 124800.0 + 9100.0


def test_longs_only_and_futures():
    # Long straddle: premiums (150 + 140) x 65 = 18,850.
    est = estimate_margin([leg(CE, BUY, 24000, 150), leg(PE, BUY, 24000, 140)], spot=SPOT)
    assert est.total == 18850.0 and est.fully_covered
    # Short future at 24,050: (6% + 2%) x 24,050 x 65 = 125,060.
    est = estimate_margin([leg(FUT, SELL, None, 24050)], spot=SPOT)
    assert kinds(est) == [(FUTURE, (0,), 65, pytest.approx(125060.0))]
    # Covered call on a long future: the short CE has no option cover.
    est = estimate_margin([leg(FUT, BUY, None, 24050), leg(CE, SELL, 24200, 70)], spot=SPOT)
    assert est.total == pytest.approx(118300.0 + 125060.0)


def test_covered_options_with_a_future_alongside():
    # A bull put spread (7,800) plus a short future (125,060).
    legs = [leg(PE, BUY, 23800, 60), leg(PE, SELL, 24000, 140), leg(FUT, SELL, None, 24050)]
    est = estimate_margin(legs, spot=SPOT)
    assert est.fully_covered
    assert kinds(est) == [(COVERED, (0, 1), 130, 7800.0), (FUTURE, (2,), 65, pytest.approx(125060.0))]


def test_covered_spreads_in_two_expiries_add_up():
    # Bull put 05-05 (7,800) and bear call 05-12: sell 24,000 CE @ 260, buy 24,200 CE @ 160:
    # credit 100, loss (200 - 100) x 65 = 6,500. Total 14,300.
    legs = [
        leg(PE, BUY, 23800, 60),
        leg(PE, SELL, 24000, 140),
        leg(CE, BUY, 24200, 160, expiry=LATER),
        leg(CE, SELL, 24000, 260, expiry=LATER),
    ]
    est = estimate_margin(legs, spot=SPOT)
    assert kinds(est) == [(COVERED, (0, 1), 130, 7800.0), (COVERED, (2, 3), 130, 6500.0)]


def test_parameters_and_bad_input():
    params = MarginParams(span_pct=0.10, floor_pct=0.05, exposure_pct=0.03)
    # ATM short: 10% x 24,000 + 3% x 24,000 = 3,120 x 65 = 202,800.
    assert estimate_margin([leg(CE, SELL, 24000, 150)], spot=SPOT, params=params).total == pytest.approx(
        202800.0
    )
    with pytest.raises(ValueError, match="span_pct"):
        MarginParams(span_pct=1.5)
    with pytest.raises(ValueError, match="spot"):
        estimate_margin([leg(CE, SELL, 24000, 150)], spot=0)
    with pytest.raises(ValueError, match="at least one leg"):
        estimate_margin([], spot=SPOT)
