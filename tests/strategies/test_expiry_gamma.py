"""ExpiryGammaStrategy: a late burst on expiry day through cheap near-ATM options, tiny size."""

from __future__ import annotations

from tests.strategies.frames import make_frame, ramp, signals_at
from trading.core.strategies.expiry_gamma import ExpiryGammaStrategy

S = ExpiryGammaStrategy()
N = 60


def _frame(
    *,
    start: int = 260,
    slope: float = 3.0,
    expiry_day: bool = True,
    straddle: float = 60.0,
    vix: float = 14.0,
):
    close = ramp(N, 24000.0, at=20, slope=slope)
    return make_frame(N, start_minute=start, close=close, is_expiry_day=expiry_day, straddle_premium=straddle,
                      days_to_expiry=0.05, vix=vix)  # fmt: skip


def test_late_burst_on_expiry_day_fires_with_capped_strength():
    out = S.generate(_frame())
    assert signals_at(out) == {27: "CALL"}  # 8 bars x 3 = 24 >= 0.1 x 212 = 21.2
    assert out["strength"].iloc[27] <= 0.4
    assert out["reason"].iloc[27].startswith("expiry day: spot +24")
    assert signals_at(S.generate(_frame(slope=-3.0))) == {27: "PUT"}


def test_silent_on_other_days_early_in_the_session_or_with_dear_options():
    assert signals_at(S.generate(_frame(expiry_day=False))) == {}
    assert signals_at(S.generate(_frame(start=180))) == {}  # the burst at 12:35 is before 13:30
    assert signals_at(S.generate(_frame(straddle=150.0))) == {}  # > 0.5 x 212 = 106: not cheap


def test_high_vix_regime_needs_a_bigger_burst():
    assert signals_at(S.generate(_frame(vix=25.0))) == {}  # 30 points in 10 bars < 0.15 x 378
    assert signals_at(S.generate(_frame(vix=25.0, slope=6.0))) == {29: "CALL"}
