"""OpeningRangeBreakoutStrategy: first break of the 09:15-09:30 range, one per side per session."""

from __future__ import annotations

import numpy as np

from tests.strategies.frames import em, make_frame, signals_at
from trading.core.strategies.opening_range import OpeningRangeBreakoutStrategy

S = OpeningRangeBreakoutStrategy()
N = 120


def _opening(n: int = N) -> np.ndarray:
    """A 09:15-09:30 range of 24000 +- 30, then flat at its middle."""
    close = np.full(n, 24000.0)
    close[:15] = 24000.0 + 30.0 * np.sin(np.arange(15))
    return close


def test_first_break_above_the_range_fires_call_once():
    close = _opening()
    close[40:] = 24060.0  # above the range high (~24029 + 2) by more than 0.05 x EM
    close[60:70] = 24000.0  # back inside ...
    close[70:] = 24070.0  # ... and out again: not a second breakout
    f = make_frame(N, close=close)
    out = S.generate(f)
    assert signals_at(out) == {40: "CALL"}
    assert f["or_high"].iloc[40] + 0.05 * em(24060, 14) < 24060
    assert "opening-range high" in out["reason"].iloc[40]


def test_both_sides_can_fire_in_one_session():
    close = _opening()
    close[40:] = 24060.0
    close[80:] = 23940.0
    assert signals_at(S.generate(make_frame(N, close=close))) == {40: "CALL", 80: "PUT"}


def test_nothing_before_0930_or_after_the_last_minute():
    close = _opening()
    close[10] = 24100.0  # a spike inside the opening range period
    assert signals_at(S.generate(make_frame(N, close=close))) == {}
    late = _opening(240)
    late[230:] = 24060.0  # 13:05, after last_minute (13:00)
    assert signals_at(S.generate(make_frame(240, close=late))) == {}


def test_range_width_must_be_tradeable():
    close = _opening()
    close[40:] = 24060.0
    narrow = make_frame(N, close=close, or_high=24005.0, or_low=23995.0)  # 10 points < 0.1 x EM
    wide = make_frame(N, close=close, or_high=24050.0, or_low=23800.0)  # 250 points > 0.8 x EM
    assert signals_at(S.generate(narrow)) == {} and signals_at(S.generate(wide)) == {}


def test_one_breakout_per_session_resets_next_session():
    n = 375 + N
    close = np.concatenate([_opening(375), _opening()])
    close[40:375] = 24060.0
    close[375 + 40 :] = 24120.0  # the day opened at 24060: its range is higher
    assert signals_at(S.generate(make_frame(n, close=close))) == {40: "CALL", 415: "CALL"}


def test_high_vix_regime_widens_the_buffer():
    close = _opening()
    close[40:] = 24050.0  # ~19 points past the range high: > 0.05 x 212 (10.6), < 0.1 x 378 (37.8)
    assert signals_at(S.generate(make_frame(N, close=close))) == {40: "CALL"}
    assert signals_at(S.generate(make_frame(N, close=close, vix=25.0))) == {}
