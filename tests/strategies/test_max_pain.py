"""MaxPainStrategy: expiry-week pull toward max pain, strongest on expiry day."""

from __future__ import annotations

from tests.strategies.frames import em, make_frame, signals_at, steps
from trading.core.strategies.max_pain import MaxPainStrategy

S = MaxPainStrategy()
N = 100


def _frame(
    max_pain: float, *, turn: float = -10.0, days: float = 1.0, expiry_day: bool = False, vix: float = 14.0
):
    """Spot 24000 until row 70, then a step of ``turn`` points (a step down puts close under EMA9)."""
    close = steps(N, (0, 24000.0), (70, 24000.0 + turn))
    return make_frame(
        N, close=close, max_pain=max_pain, days_to_expiry=days, is_expiry_day=expiry_day, vix=vix
    )


def test_far_above_max_pain_and_turning_down_fires_put():
    out = S.generate(_frame(23800.0))  # 190 points above, threshold 0.6 x 212 = 127
    assert signals_at(out) == {70: "PUT"}
    assert "190 above max pain 23800" in out["reason"].iloc[70] and "expiry week" in out["reason"].iloc[70]


def test_far_below_max_pain_and_turning_up_fires_call():
    assert signals_at(S.generate(_frame(24200.0, turn=10.0))) == {70: "CALL"}


def test_silent_outside_expiry_week_near_max_pain_or_before_first_minute():
    assert signals_at(S.generate(_frame(23800.0, days=5.0))) == {}
    assert signals_at(S.generate(_frame(23900.0))) == {}  # 90 < 127 points
    early = make_frame(N, close=steps(N, (0, 24000.0), (20, 23990.0)), max_pain=23800.0, days_to_expiry=1.0,
                       ema_9=steps(N, (0, 24000.0), (60, 23980.0)))  # fmt: skip
    assert 20 not in signals_at(S.generate(early))  # 09:35 is before first_minute (10:15)


def test_expiry_day_has_a_lower_threshold_and_more_strength():
    assert 0.35 * em(24000, 14) < 90 < 0.6 * em(24000, 14)
    assert signals_at(S.generate(_frame(23900.0, days=0.3, expiry_day=True))) == {70: "PUT"}
    week = S.generate(_frame(23800.0, days=1.0))["strength"].iloc[70]
    day = S.generate(_frame(23800.0, days=0.3, expiry_day=True))["strength"].iloc[70]
    assert day > week > 0
    assert "expiry day" in S.generate(_frame(23800.0, days=0.3, expiry_day=True))["reason"].iloc[70]


def test_high_vix_regime_widens_the_threshold():
    # VIX 25: 0.9 x 378 = 340 points; 190 points is not far enough
    assert signals_at(S.generate(_frame(23800.0, vix=25.0))) == {}
    assert signals_at(S.generate(_frame(23600.0, vix=25.0))) == {70: "PUT"}
