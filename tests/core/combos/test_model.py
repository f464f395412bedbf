"""Leg and combo specifications: validation and the exit-level helpers, worked by hand."""

from __future__ import annotations

from datetime import time
from decimal import Decimal as D

import pytest

from trading.core import risk
from trading.core.combos.model import (
    BUY,
    CE,
    DOWN,
    FUT,
    MIS,
    NRML,
    PE,
    SELL,
    UP,
    ComboSpec,
    LegSpec,
    LockAndTrail,
    Momentum,
    ReEntry,
    StrikeRule,
    Threshold,
    locked_profit,
    may_reenter,
    momentum_trigger,
    stop_price,
    target_price,
    trailing_stop_price,
)


def test_stop_target_and_trail_in_points_and_percent():
    # A SELL leg at 150: stop 30% -> 195, target 20 points -> 130; trail 25% of the low 100 -> 125.
    assert stop_price(SELL, 150, Threshold.fraction(0.30)) == pytest.approx(195.0)
    assert target_price(SELL, 150, Threshold.points(20)) == 130.0
    assert trailing_stop_price(SELL, 100, Threshold.fraction(0.25)) == 125.0
    # A BUY leg at 150: stop 40 points -> 110, target 50% -> 225; trail 20 points under a high of 210.
    assert stop_price(BUY, 150, Threshold.points(40)) == 110.0
    assert target_price(BUY, 150, Threshold.fraction(0.5)) == 225.0
    assert trailing_stop_price(BUY, 210, Threshold.points(20)) == 190.0
    # Never below 0: a 100% target on a sold leg is 0; a 200-point stop on a bought 150 is 0.
    assert target_price(SELL, 150, Threshold.fraction(1.0)) == 0.0
    assert stop_price(BUY, 150, Threshold.points(200)) == 0.0


def test_momentum_trigger():
    assert momentum_trigger(120, Momentum(Threshold.points(10), UP)) == 130.0
    assert momentum_trigger(120, Momentum(Threshold.fraction(0.1), DOWN)) == pytest.approx(108.0)
    with pytest.raises(ValueError, match="momentum direction"):
        Momentum(Threshold.points(10), "SIDEWAYS")


def test_re_entry_after_stop_or_target_up_to_n_times_never_after_time():
    rule = ReEntry(max_times=2, after_stop=True, after_target=False)
    assert may_reenter(rule, risk.STOP_LOSS, 0)
    assert may_reenter(rule, risk.TRAILING_STOP, 1)
    assert not may_reenter(rule, risk.STOP_LOSS, 2)
    assert not may_reenter(rule, risk.TARGET, 0)
    assert not may_reenter(rule, risk.TIME_EXIT, 0)
    assert not may_reenter(rule, risk.SQUARE_OFF, 0)
    assert may_reenter(ReEntry(1, after_stop=False, after_target=True), risk.TARGET, 0)
    assert not may_reenter(None, risk.STOP_LOSS, 0)
    with pytest.raises(ValueError, match="max_times"):
        ReEntry(0)
    with pytest.raises(ValueError, match="after_stop or after_target"):
        ReEntry(1, after_stop=False)


def test_lock_and_trail():
    # Reach 5,000 -> lock 2,000; every further 1,000 of peak profit raises the floor by 600.
    rule = LockAndTrail(reach=D("5000"), lock=D("2000"), every=D("1000"), trail_by=D("600"))
    assert locked_profit(rule, D("4999")) is None
    assert locked_profit(rule, D("5000")) == D("2000")
    assert locked_profit(rule, D("5999")) == D("2000")
    assert locked_profit(rule, D("7500")) == D("3200")  # two steps
    assert locked_profit(LockAndTrail(reach=5000, lock=1000), D("90000")) == D("1000")
    with pytest.raises(ValueError, match="between 0 and reach"):
        LockAndTrail(reach=D("1000"), lock=D("2000"))
    with pytest.raises(ValueError, match="both every and trail_by"):
        LockAndTrail(reach=D("1000"), lock=D("500"), every=D("100"))


def test_leg_spec_validation_and_normalisation():
    leg = LegSpec("ce", "sell", 2, "current_week", StrikeRule.atm(1), stop_loss=Threshold.points(30))
    assert (leg.instrument, leg.side, leg.expiry) == (CE, SELL, "CURRENT_WEEK")
    with pytest.raises(ValueError, match="instrument"):
        LegSpec("CALL", SELL)
    with pytest.raises(ValueError, match="side"):
        LegSpec(PE, "SHORT")
    with pytest.raises(ValueError, match="lots"):
        LegSpec(PE, SELL, 0)
    with pytest.raises(ValueError, match="lots"):
        LegSpec(PE, SELL, True)
    with pytest.raises(ValueError, match="re-entry needs a stop"):
        LegSpec(PE, SELL, re_entry=ReEntry(1))
    assert LegSpec(FUT, BUY, expiry="NEXT_MONTH").expiry == "NEXT_MONTH"
    with pytest.raises(ValueError, match="threshold must be positive"):
        Threshold.points(0)
    with pytest.raises(ValueError, match="threshold unit"):
        Threshold(5, "TICKS")


def test_combo_spec_validation():
    legs = (LegSpec(CE, SELL), LegSpec(PE, SELL))
    spec = ComboSpec("s", "nifty", legs, stop_loss=3000, target="4500.50")
    assert spec.index == "NIFTY" and spec.product == MIS
    assert (spec.stop_loss, spec.target) == (D("3000"), D("4500.50"))
    assert ComboSpec("p", "NIFTY", legs, product=NRML, exit_time=None).exit_time is None
    with pytest.raises(ValueError, match="needs an exit time"):
        ComboSpec("s", "NIFTY", legs, exit_time=None)
    with pytest.raises(ValueError, match="after entry time"):
        ComboSpec("s", "NIFTY", legs, entry_time=time(15, 20), exit_time=time(15, 15))
    with pytest.raises(ValueError, match="at least one leg"):
        ComboSpec("s", "NIFTY", ())
    with pytest.raises(ValueError, match="unknown index"):
        ComboSpec("s", "DOWJONES", legs)
    with pytest.raises(ValueError, match="positive amount"):
        ComboSpec("s", "NIFTY", legs, stop_loss=-5)
    with pytest.raises(ValueError, match="product"):
        ComboSpec("s", "NIFTY", legs, product="CNC")
    with pytest.raises(ValueError, match="leg 2 is not a LegSpec"):
        ComboSpec("s", "NIFTY", (legs[0], "PE"))
