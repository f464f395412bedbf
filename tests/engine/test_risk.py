"""Risk rules: sizing, VIX-scaled exits, time rules, limits, circuit breaker, kill switch (pure)."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from trading.core import risk
from trading.core.calendar import IST
from trading.core.risk import RiskConfig, RiskState

CFG = RiskConfig(capital=Decimal("500000"), risk_per_trade=0.01, max_lots=50)


def ist(h, m, d=date(2025, 11, 19)):
    return datetime.combine(d, time(h, m), tzinfo=IST)


def test_sizing_rounds_down_to_whole_lots_of_the_risk_budget():
    # Budget 5,000; risk 30 a unit x 75 = 2,250 a lot -> 2 lots (2.22 rounded down).
    s = risk.position_size(entry=Decimal("100"), stop=Decimal("70"), lot_size=75, cfg=CFG)
    assert (s.lots, s.quantity, s.risk_amount) == (2, 150, Decimal("4500.00"))
    assert s.decision.allowed


def test_sizing_is_capped_by_the_strategy_allocation_and_refuses_zero_lots():
    capped = risk.position_size(
        entry=Decimal("100"), stop=Decimal("99"), lot_size=75, cfg=CFG, allocation=Decimal("20000")
    )
    assert capped.lots == 2  # 20,000 / (100 x 75) = 2.67 -> 2, though risk alone allows 66
    too_far = risk.position_size(entry=Decimal("500"), stop=Decimal("400"), lot_size=75, cfg=CFG)
    assert too_far.lots == 0 and too_far.decision.reason == risk.R_SIZE_ZERO
    poor = risk.position_size(
        entry=Decimal("100"), stop=Decimal("90"), lot_size=75, cfg=CFG, allocation=Decimal("5000")
    )
    assert poor.lots == 0 and poor.decision.reason == risk.R_ALLOCATION
    assert (
        risk.position_size(entry=Decimal("100"), stop=Decimal("99.5"), lot_size=75, cfg=CFG).lots
        == CFG.max_lots
    )


def test_exit_levels_widen_with_india_vix_and_sit_on_the_tick():
    calm = risk.exit_levels(Decimal("100"), 15.0, CFG)
    assert (calm.stop, calm.target) == (Decimal("70.00"), Decimal("160.00"))
    stormy = risk.exit_levels(Decimal("100"), 30.0, CFG)
    assert stormy.stop < calm.stop and stormy.target > calm.target
    assert stormy.trail_fraction > calm.trail_fraction
    odd = risk.exit_levels(Decimal("87.35"), 13.3, CFG)
    for level in (odd.stop, odd.target, odd.trail_activation):
        assert level % Decimal("0.05") == 0


def test_time_rules_no_entries_after_cutoff_square_off_at_1515():
    assert risk.session_gate(ist(10, 0), CFG).allowed
    assert risk.session_gate(ist(9, 16), CFG).reason == risk.R_BEFORE_ENTRY_START
    assert risk.session_gate(ist(14, 45), CFG).reason == risk.R_AFTER_CUTOFF
    assert risk.session_gate(ist(10, 0, date(2025, 11, 22)), CFG).reason == risk.R_OUTSIDE_SESSION  # Saturday
    later = RiskConfig(no_entry_after=time(15, 0))
    assert risk.session_gate(ist(14, 50), later).allowed
    kw = dict(
        mark=Decimal("100"),
        stop=Decimal("70"),
        target=Decimal("160"),
        trail=None,
        expiry=date(2025, 11, 25),
        entry_time=ist(10, 0),
        kill_switch=False,
        cfg=CFG,
    )
    assert risk.exit_check(at=ist(15, 14), **kw) is None
    assert risk.exit_check(at=ist(15, 15), **kw).exit_type == risk.SQUARE_OFF


def test_exit_rules_in_order():
    base = dict(
        at=ist(11, 0),
        stop=Decimal("70"),
        target=Decimal("160"),
        trail=Decimal("110"),
        expiry=date(2025, 11, 25),
        entry_time=ist(10, 0),
        cfg=CFG,
    )
    assert risk.exit_check(mark=Decimal("69"), kill_switch=True, **base).exit_type == risk.KILL_SWITCH
    assert risk.exit_check(mark=Decimal("70"), kill_switch=False, **base).exit_type == risk.STOP_LOSS
    assert risk.exit_check(mark=Decimal("105"), kill_switch=False, **base).exit_type == risk.TRAILING_STOP
    assert risk.exit_check(mark=Decimal("165"), kill_switch=False, **base).exit_type == risk.TARGET
    assert risk.exit_check(mark=Decimal("120"), kill_switch=False, **base) is None
    expired = dict(base, expiry=date(2025, 11, 18))
    assert risk.exit_check(mark=None, kill_switch=False, **expired).exit_type == risk.EXPIRY
    held = RiskConfig(max_hold_minutes=30)
    assert (
        risk.exit_check(mark=Decimal("120"), kill_switch=False, **dict(base, cfg=held)).exit_type
        == risk.TIME_EXIT
    )


def test_trailing_stop_follows_the_high_water_once_activated():
    lv = risk.exit_levels(Decimal("100"), 15.0, CFG)
    assert risk.trail_level(Decimal("110"), lv.trail_fraction, lv.trail_activation) is None
    assert risk.trail_level(Decimal("150"), lv.trail_fraction, lv.trail_activation) == Decimal("120.00")


def test_expiry_settles_at_intrinsic_value():
    assert risk.intrinsic_value("CE", 24000, 24123.4) == Decimal("123.40")
    assert risk.intrinsic_value("PE", 24000, 24123.4) == Decimal("0.00")
    assert risk.is_expired(date(2025, 11, 18), ist(15, 30, date(2025, 11, 18)))
    assert not risk.is_expired(date(2025, 11, 18), ist(15, 29, date(2025, 11, 18)))


def test_daily_loss_limit_trips_the_breaker_until_the_next_session():
    cfg = RiskConfig(daily_loss_limit=Decimal("5000"), max_consecutive_losses=10)
    st = RiskState()
    st.roll_session(date(2025, 11, 19))
    assert risk.record_close(st, Decimal("3000"), cfg) == ""
    assert risk.record_close(st, Decimal("-4000"), cfg) == ""
    reason = risk.record_close(st, Decimal("-4500"), cfg)
    assert "daily loss limit" in reason and st.circuit_breaker
    gate = risk.entry_gate(
        state=st, cfg=cfg, at=ist(11, 0), open_total=0, open_for_strategy=0, strategy_max_open=1
    )
    assert gate.reason == risk.R_BREAKER
    st.roll_session(date(2025, 11, 20))
    assert not st.circuit_breaker and st.realised_pnl == 0
    assert risk.entry_gate(
        state=st,
        cfg=cfg,
        at=ist(11, 0, date(2025, 11, 20)),
        open_total=0,
        open_for_strategy=0,
        strategy_max_open=1,
    ).allowed


def test_consecutive_losses_trip_the_breaker_a_win_resets_the_run():
    cfg = RiskConfig(daily_loss_limit=Decimal("1000000"), max_consecutive_losses=3)
    st = RiskState(session=date(2025, 11, 19))
    for net in ("-10", "-10", "5", "-10", "0"):  # net 0 is a loss: a win is net > 0
        assert risk.record_close(st, Decimal(net), cfg) == ""
    assert st.consecutive_losses == 2
    assert "consecutive losses" in risk.record_close(st, Decimal("-1"), cfg)
    assert st.circuit_breaker


def test_kill_switch_blocks_entries_and_limits_are_checked_in_order():
    st = RiskState(session=date(2025, 11, 19), kill_switch=True)
    kw = dict(cfg=CFG, at=ist(11, 0), strategy_max_open=1)
    assert risk.entry_gate(state=st, open_total=0, open_for_strategy=0, **kw).reason == risk.R_KILL_SWITCH
    st.kill_switch = False
    assert (
        risk.entry_gate(state=st, open_total=0, open_for_strategy=0, db_available=False, **kw).reason
        == risk.R_DATABASE
    )
    assert (
        risk.entry_gate(state=st, open_total=CFG.max_open_positions, open_for_strategy=0, **kw).reason
        == risk.R_MAX_OPEN
    )
    assert (
        risk.entry_gate(state=st, open_total=1, open_for_strategy=1, **kw).reason == risk.R_MAX_OPEN_STRATEGY
    )
    assert risk.entry_gate(state=st, open_total=1, open_for_strategy=0, **kw).allowed


def test_cooldown_starts_at_the_accepted_signal():
    assert risk.cooldown_gate(ist(10, 0), ist(10, 10), 15).reason == risk.R_COOLDOWN
    assert risk.cooldown_gate(ist(10, 0), ist(10, 15), 15).allowed
    assert risk.cooldown_gate(ist(10, 0), ist(10, 0), 15).allowed  # the same bar run again
    assert risk.cooldown_gate(None, ist(10, 0), 15).allowed
