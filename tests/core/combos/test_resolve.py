"""Expiry rules on known calendars and strike rules on a hand-made chain."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from trading.core.combos.model import (
    BUY,
    CE,
    CURRENT_MONTH,
    CURRENT_WEEK,
    FUT,
    NEXT_MONTH,
    NEXT_WEEK,
    PE,
    SELL,
    ComboSpec,
    LegSpec,
    StrikeRule,
)
from trading.core.combos.resolve import (
    ChainSnapshot,
    resolve_combo,
    resolve_expiry,
    resolve_leg,
    resolve_strike,
)

from .conftest import NEAR, NEAR_CE, NEAR_PE, ON, snapshot


@pytest.mark.parametrize(
    "on, rules",
    [
        # Monday 2026-05-04: weeklies on Tuesdays, the May monthly on the last Tuesday (26th).
        (ON, (date(2026, 5, 5), date(2026, 5, 12), date(2026, 5, 26), date(2026, 6, 30))),
        # On the monthly expiry day itself that contract is still the current week and month.
        (date(2026, 5, 26), (date(2026, 5, 26), date(2026, 6, 2), date(2026, 5, 26), date(2026, 6, 30))),
        # The day after, June is the current month and July the next.
        (date(2026, 5, 27), (date(2026, 6, 2), date(2026, 6, 9), date(2026, 6, 30), date(2026, 7, 28))),
        # Holi on Tuesday 2026-03-03 moves that weekly to Monday 03-02; the February monthly (24th) has
        # passed, and Mahavir Jayanti on Tuesday 03-31 moves the March monthly to the 30th.
        (date(2026, 2, 27), (date(2026, 3, 2), date(2026, 3, 10), date(2026, 3, 30), date(2026, 4, 28))),
        # Diwali Balipratipada on Tuesday 2026-11-10 and Guru Nanak's birthday on Tuesday 11-24 move
        # that weekly and the November monthly to the Mondays before.
        (date(2026, 11, 2), (date(2026, 11, 3), date(2026, 11, 9), date(2026, 11, 23), date(2026, 12, 29))),
        # Before September 2025 NIFTY expired on Thursdays.
        (date(2025, 3, 3), (date(2025, 3, 6), date(2025, 3, 13), date(2025, 3, 27), date(2025, 4, 24))),
    ],
)
def test_expiry_rules(on, rules):
    got = tuple(
        resolve_expiry(rule, "NIFTY", on) for rule in (CURRENT_WEEK, NEXT_WEEK, CURRENT_MONTH, NEXT_MONTH)
    )
    assert got == rules


def test_monthly_only_index_refuses_weekly_rules():
    assert resolve_expiry(CURRENT_MONTH, "BANKNIFTY", ON) == date(2026, 5, 26)
    assert resolve_expiry(NEXT_MONTH, "banknifty", ON) == date(2026, 6, 30)
    with pytest.raises(ValueError, match="BANKNIFTY lists no weekly expiries"):
        resolve_expiry(CURRENT_WEEK, "BANKNIFTY", ON)
    with pytest.raises(ValueError, match="expiry rule"):
        resolve_expiry("FORTNIGHT", "NIFTY", ON)
    with pytest.raises(ValueError, match="FUT expiry rule"):
        LegSpec(FUT, BUY, expiry=CURRENT_WEEK)


@pytest.fixture
def chain():
    return snapshot(NEAR_CE, NEAR_PE)


def test_atm_and_steps(chain):
    assert resolve_strike(StrikeRule.atm(), CE, chain) == 24000
    assert resolve_strike(StrikeRule.atm(2), CE, chain) == 24100
    assert resolve_strike(StrikeRule.atm(2), PE, chain) == 23900
    assert resolve_strike(StrikeRule.atm(-1), CE, chain) == 23950  # in the money
    # ATM is the grid strike nearest the spot; half-way rounds up (chain.atm_strike).
    assert resolve_strike(StrikeRule.atm(), CE, snapshot(NEAR_CE, NEAR_PE, spot=24024.9)) == 24000
    assert resolve_strike(StrikeRule.atm(), CE, snapshot(NEAR_CE, NEAR_PE, spot=24025.0)) == 24050
    # Beyond the listed window: the nearest listed strike.
    assert resolve_strike(StrikeRule.atm(30), CE, chain) == 24500


def test_closest_premium(chain):
    # CE LTPs: 24,200 -> 70, 24,250 -> 58.75 (filled): Rs 66 is 4 from 70 and 7.25 from 58.75.
    assert resolve_strike(StrikeRule.premium(66), CE, chain) == 24200
    assert resolve_strike(StrikeRule.premium(60), PE, chain) == 23800
    # Equidistant from two strikes: the lower one. PE 23,700 -> 40, 23,750 -> 50 (filled).
    assert resolve_strike(StrikeRule.premium(45), PE, chain) == 23700


def _n(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_closest_delta_from_ivs():
    strikes = np.arange(23500.0, 24501.0, 50.0)
    t, r, vol, spot = 2 / 365, 0.055, 0.15, 24000.0
    snap = ChainSnapshot.from_prices(
        spot=spot,
        step=50,
        strikes=strikes,
        call_ltp=np.ones_like(strikes),
        put_ltp=np.ones_like(strikes),
        call_iv=np.full(strikes.shape, vol),
        put_iv=np.full(strikes.shape, vol),
        t=t,
        r=r,
    )
    d1 = (np.log(spot / strikes) + (r + 0.5 * vol * vol) * t) / (vol * math.sqrt(t))
    call_delta = np.array([_n(x) for x in d1])
    want_ce = strikes[np.argmin(np.abs(call_delta - 0.25))]
    want_pe = strikes[np.argmin(np.abs((call_delta - 1.0) + 0.25))]
    assert resolve_strike(StrikeRule.delta(0.25), CE, snap) == want_ce
    assert resolve_strike(StrikeRule.delta(-0.25), PE, snap) == want_pe  # the sign is ignored
    assert want_ce > spot > want_pe
    with pytest.raises(ValueError, match="no deltas"):
        resolve_strike(StrikeRule.delta(0.25), CE, snapshot(NEAR_CE, NEAR_PE))


def test_straddle_width(chain):
    # ATM straddle 150 + 140 = 290; 0.5 x 290 = 145: CE 24,145 -> 24,150, PE 23,855 -> 23,850.
    assert chain.straddle_premium() == 290
    assert resolve_strike(StrikeRule.straddle_width(0.5), CE, chain) == 24150
    assert resolve_strike(StrikeRule.straddle_width(0.5), PE, chain) == 23850
    assert resolve_strike(StrikeRule.straddle_width(1), CE, chain) == 24300  # 24,290 -> 24,300


def test_exact_strike(chain):
    assert resolve_strike(StrikeRule.exact(23650), PE, chain) == 23650
    with pytest.raises(ValueError, match="23625 is not listed"):
        resolve_strike(StrikeRule.exact(23625), PE, chain)


def test_strike_rule_validation():
    with pytest.raises(ValueError, match="whole number"):
        StrikeRule.atm(1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        StrikeRule.delta(1.2)
    with pytest.raises(ValueError, match="premium"):
        StrikeRule.premium(0)
    with pytest.raises(ValueError, match="strike rule"):
        StrikeRule("NEAREST", 1)
    with pytest.raises(ValueError, match="option type"):
        resolve_strike(StrikeRule.atm(), FUT, snapshot(NEAR_CE, NEAR_PE))


def test_resolve_leg_and_combo(chains):
    leg = resolve_leg(
        LegSpec(PE, SELL, 2, CURRENT_WEEK, StrikeRule.atm(4)), index="NIFTY", on=ON, chains=chains
    )
    assert (leg.instrument, leg.side, leg.strike, leg.expiry, leg.lots, leg.premium, leg.lot_size) == (
        PE,
        SELL,
        23800,
        NEAR,
        2,
        60,
        65,
    )
    assert leg.quantity == 130 and leg.iv is None
    # The monthly chain is missing: the error names the rule and the date.
    spec = ComboSpec("x", "NIFTY", (LegSpec(CE, BUY, expiry=CURRENT_MONTH),))
    with pytest.raises(ValueError, match="CURRENT_MONTH expiry 2026-05-26"):
        resolve_combo(spec, on=ON, chains=chains)
    # A future needs the future's price in the chain of its month.
    monthly = snapshot(NEAR_CE, NEAR_PE)
    with pytest.raises(ValueError, match="no future price"):
        resolve_leg(
            LegSpec(FUT, SELL, expiry=CURRENT_MONTH),
            index="NIFTY",
            on=ON,
            chains={date(2026, 5, 26): monthly},
        )
    with_future = ChainSnapshot(
        spot=monthly.spot,
        step=monthly.step,
        strikes=monthly.strikes,
        call_ltp=monthly.call_ltp,
        put_ltp=monthly.put_ltp,
        future_ltp=24080.0,
    )
    fut = resolve_leg(
        LegSpec(FUT, SELL, expiry=CURRENT_MONTH),
        index="NIFTY",
        on=ON,
        chains={date(2026, 5, 26): with_future},
    )
    assert (fut.strike, fut.premium, fut.expiry, fut.lot_size) == (None, 24080.0, date(2026, 5, 26), 65)


def test_snapshot_sorts_and_checks_its_arrays():
    snap = ChainSnapshot(spot=100, step=10, strikes=[110, 90, 100], call_ltp=[1, 11, 5], put_ltp=[11, 1, 5])
    assert snap.strikes.tolist() == [90, 100, 110] and snap.call_ltp.tolist() == [11, 5, 1]
    assert math.isnan(snap.ltp(95, CE))
    with pytest.raises(ValueError, match="one value per strike"):
        ChainSnapshot(spot=100, step=10, strikes=[90, 100], call_ltp=[1], put_ltp=[1, 2])
    with pytest.raises(ValueError, match="no strikes"):
        ChainSnapshot(spot=100, step=10, strikes=[], call_ltp=[], put_ltp=[])
